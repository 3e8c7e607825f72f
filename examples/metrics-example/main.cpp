// keel-metrics-example: calls through five configured pipelines (one of
// them hedged, one with a fallback and fault rules), one behind a circuit
// breaker and one behind a bulkhead, with scripted outcomes, recorded by
// keel::prometheus.
//
//   keel-metrics-example --print              one round, the exposition on stdout
//   keel-metrics-example [--listen H:P]       serve /metrics, a round every 250 ms
//   keel-metrics-example --config FILE        use FILE (watched: edits reload)
//
// Each round makes fourteen calls, each ending a different way:
//
//   orders-db      answers at once                       -> success
//   orders-db      refused twice, then answers            -> success_after_retry
//   payments-http  reset on every attempt                 -> failure_after_retry
//   payments-http  first attempt hangs past its exchange
//                  timeout, the second answers            -> success_after_retry
//   events-kafka   never connects (connect deadline, x3)  -> timeout
//   inventory-http its circuit breaker is held open (as an
//                  operator's isolate() does): refused    -> rejected
//   search-http    holds its bulkhead's one permit 50 ms  -> success
//   search-http    waits in the queue past its 5 ms
//                  timeout                                -> rejected
//   search-http    finds the queue (of one) full          -> rejected
//   profiles-http  (hedged after 10 ms) the first attempt
//                  hangs, the hedge answers and wins      -> success_after_retry
//   profiles-http  the first attempt answers at 15 ms,
//                  beside a hedge that loses              -> success
//   prices-http    reset; its fallback answers from its
//                  cache                                  -> fallback
//   prices-http    hangs past its exchange timeout; its
//                  fallback has no cached price either    -> timeout
//   prices-http    answers (its fallback does not run)    -> success
//
// prices-http also has fault rules: a seeded 2 ms latency on a quarter of
// its attempts (keel_faults_injected_total), which changes no outcome. The
// example switches fault injection on, as a rehearsal does; a service leaves
// it off unless KEEL_FAULTS=1.
//
// orders-db has adaptive throttling (it answers every call, so it never
// throttles); every configured dependency's retry gate is watched
// (keel_retry_budget_available, keel_throttle_rejection_ratio).
//
// The dependencies are simulated with timers (no network), on a real
// io_context in real time. It exits non-zero if a call ends otherwise.
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/config/registry.hpp>
#include <keel/error.hpp>
#include <keel/fallback.hpp>
#include <keel/fault_injection.hpp>
#include <keel/idempotent.hpp>
#include <keel/prometheus/configure.hpp>
#include <keel/strategy.hpp>

#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::string_view embedded_config = R"(version: 1
defaults:
  retry:
    max_attempts: 3
    backoff: { kind: exponential, initial: 2ms, multiplier: 2.0, max: 20ms, jitter: full }
    retry_on: [transient, timeout]
  timeout: { connect: 20ms, exchange: 60ms, total: 2s }
dependencies:
  orders-db:
    kind: postgres
    # Refuses calls locally once orders-db rejects too many (it never does here).
    adaptive_throttle: { k: 2.0, window: 1m, min_requests: 20, max_rejection: 0.9 }
  payments-http:
    kind: http
    timeout: { exchange: 30ms }
  events-kafka:
    kind: kafka
  profiles-http:
    kind: http
    # A hedge makes its own attempts: the defaults' max_attempts 3 would be an error.
    retry: { max_attempts: 1 }
    hedge: { max_attempts: 2, delay: 10ms }
  prices-http:
    kind: http
    retry: { max_attempts: 1 }
    timeout: { exchange: 30ms }
    # Resets and timeouts are answered by the fallback (a cached price).
    fallback: { on: [transient, timeout] }
    # A rehearsal: 2 ms more on a quarter of the attempts (seeded).
    faults:
      seed: 7
      rules:
        - { kind: latency, rate: 0.25, delay: 2ms }
metrics:
  listen: 127.0.0.1:9464
  buckets: [1ms, 2500us, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 1s]
)";

using attempt_type = keel::config::configured_pipeline::attempt_type;

/// A pipeline that applies strategies (a circuit breaker, a bulkhead), on the
/// same clock as the configured ones.
using guarded_pipeline = keel::basic_pipeline<asio::steady_timer, keel::shared_observer,
                                              asio::any_io_executor, keel::strategy_chain>;

/// What one simulated attempt does.
struct step {
    enum class kind { answer, fail, never_connect, hang } what;
    std::chrono::milliseconds after{0};
    std::error_code error{};
};

/// A simulated dependency: attempt N follows script[N-1] (the last repeats).
/// Like a real client it enforces the connect deadline itself (keel hands it
/// over in the attempt) and stops when keel cancels it.
struct simulated_call {
    asio::io_context* io;
    std::vector<step> script;

    template <class Token>
    auto operator()(const attempt_type& attempt, Token&& token) const {
        const std::size_t i =
            std::min(static_cast<std::size_t>(attempt.number() - 1), script.size() - 1);
        const step s = script[i];
        auto timer = std::make_shared<asio::steady_timer>(*io);
        if (s.what == step::kind::never_connect)
            timer->expires_at(attempt.connect_deadline());
        else if (s.what == step::kind::hang)
            timer->expires_after(1h);
        else
            timer->expires_after(s.after);
        return asio::async_compose<Token, void(std::error_code)>(
            [timer, s, started = false](auto& self, std::error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                if (ec) // cancelled by keel (a deadline) or by the caller
                    return self.complete(ec);
                switch (s.what) {
                case step::kind::answer:
                    return self.complete({});
                case step::kind::fail:
                    return self.complete(s.error);
                case step::kind::never_connect:
                    return self.complete(keel::errc::connect_timeout);
                case step::kind::hang:
                    return self.complete(asio::error::timed_out); // not reached
                }
            },
            token, *io);
    }
};

/// Which pipeline a scenario's call goes through.
enum class through { configured, open_breaker, bulkhead };

/// A scenario's fallback: none, or one that answers from a cache of last
/// prices, which holds the call's price or not.
enum class fallback { none, cached, not_cached };

/// The fallback of a prices-http call: a cached price, when there is one
/// (posted, as an asynchronous operation completes).
struct cached_price {
    asio::io_context* io;
    bool cached;

    template <class Token>
    auto operator()(const keel::fallback_context&, Token&& token) const {
        return asio::async_initiate<Token, void(std::error_code)>(
            [](auto handler, asio::io_context* io, bool cached) {
                asio::post(*io, [handler = std::move(handler), cached]() mutable {
                    std::move(handler)(cached
                                           ? std::error_code()
                                           : make_error_code(std::errc::no_such_file_or_directory));
                });
            },
            token, io, cached);
    }
};

struct scenario {
    const char* dependency;
    const char* what;
    std::vector<step> script;
    keel::call_outcome expected;
    through pipeline = through::configured;
    /// Marked keel::idempotent: a dependency with `hedge:` hedges only such
    /// calls.
    bool idempotent = false;
    enum fallback fallback = fallback::none;
};

std::vector<scenario> scenarios() {
    const std::error_code refused = make_error_code(std::errc::connection_refused);
    const std::error_code reset = make_error_code(std::errc::connection_reset);
    using k = step::kind;
    return {
        {"orders-db", "answers at once", {{k::answer, 1ms}}, keel::call_outcome::success},
        {"orders-db",
         "refused twice, then answers",
         {{k::fail, 1ms, refused}, {k::fail, 1ms, refused}, {k::answer, 2ms}},
         keel::call_outcome::success_after_retry},
        {"payments-http",
         "reset on every attempt",
         {{k::fail, 3ms, reset}},
         keel::call_outcome::failure_after_retry},
        {"payments-http",
         "hangs past its exchange timeout, then answers",
         {{k::hang}, {k::answer, 4ms}},
         keel::call_outcome::success_after_retry},
        {"events-kafka", "never connects", {{k::never_connect}}, keel::call_outcome::timeout},
        {"inventory-http",
         "its breaker is held open",
         {{k::answer, 1ms}},
         keel::call_outcome::rejected,
         through::open_breaker},
        // Started in this order at once: the first takes the one permit,
        // the second waits and times out first (5 ms < 50 ms), the third
        // finds the queue full.
        {"search-http",
         "holds the bulkhead's permit",
         {{k::answer, 50ms}},
         keel::call_outcome::success,
         through::bulkhead},
        {"search-http",
         "waits in the bulkhead's queue past its timeout",
         {{k::answer, 1ms}},
         keel::call_outcome::rejected,
         through::bulkhead},
        {"search-http",
         "finds the bulkhead's queue full",
         {{k::answer, 1ms}},
         keel::call_outcome::rejected,
         through::bulkhead},
        // The hedge starts 10 ms after the first attempt. In the first
        // call the first attempt hangs: the hedge wins and the first is
        // cancelled. In the second the first attempt answers at 15 ms,
        // before the hedge (due at 30 ms), which loses and is cancelled
        // (keel_hedges_total won and lost).
        {"profiles-http",
         "hangs, its hedge answers",
         {{k::hang}, {k::answer, 2ms}},
         keel::call_outcome::success_after_retry,
         through::configured,
         true},
        {"profiles-http",
         "answers beside a slower hedge",
         {{k::answer, 15ms}, {k::answer, 20ms}},
         keel::call_outcome::success,
         through::configured,
         true},
        // keel_fallbacks_total: trigger transient, result success; trigger
        // timeout, result failure (the call keeps its timeout).
        {"prices-http",
         "reset, its fallback answers",
         {{k::fail, 1ms, reset}},
         keel::call_outcome::fallback,
         through::configured,
         false,
         fallback::cached},
        {"prices-http",
         "hangs, its fallback has nothing cached",
         {{k::hang}},
         keel::call_outcome::timeout,
         through::configured,
         false,
         fallback::not_cached},
        {"prices-http",
         "answers, its fallback is not needed",
         {{k::answer, 1ms}},
         keel::call_outcome::success,
         through::configured,
         false,
         fallback::cached},
    };
}

struct options {
    bool print = false;
    std::optional<std::string> listen;
    std::optional<std::string> config;
    int rounds = 0; ///< serving: stop after this many rounds (0: until a signal)
};

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: keel-metrics-example [--print] [--listen HOST:PORT] [--config FILE] "
                 "[--rounds N]\n"
                 "  --print        run one round, write the exposition to stdout, exit\n"
                 "  --listen H:P   serve /metrics there (default: the config's metrics.listen;\n"
                 "                 port 0 picks a free port, printed on stdout)\n"
                 "  --config FILE  the configuration (default: an embedded one); watched\n"
                 "  --rounds N     serving: stop after N rounds (default: until SIGINT/SIGTERM)\n");
    std::exit(code);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "keel-metrics-example: %s needs a value\n", argv[i]);
                usage(2);
            }
            return argv[++i];
        };
        if (arg == "--print")
            o.print = true;
        else if (arg == "--listen")
            o.listen = value();
        else if (arg == "--config")
            o.config = value();
        else if (arg == "--rounds")
            o.rounds = std::stoi(value());
        else if (arg == "--help" || arg == "-h")
            usage(0);
        else {
            std::fprintf(stderr, "keel-metrics-example: unknown argument '%s'\n", argv[i]);
            usage(2);
        }
    }
    return o;
}

/// Runs every scenario once, concurrently; `done(failures)` when all ended.
class round_runner {
public:
    round_runner(asio::io_context& io, keel::config::registry& policies, guarded_pipeline& breaker,
                 guarded_pipeline& bulkhead)
        : io_(io), policies_(policies), breaker_(breaker), bulkhead_(bulkhead),
          scenarios_(scenarios()), reports_(scenarios_.size()) {}

    template <class Done>
    void run(Done done) {
        pending_ = scenarios_.size();
        failures_ = 0;
        for (std::size_t i = 0; i < scenarios_.size(); ++i) {
            const scenario& s = scenarios_[i];
            auto ended = [this, i, done](std::error_code) {
                const scenario& s = scenarios_[i];
                if (reports_[i].outcome != s.expected) {
                    ++failures_;
                    std::fprintf(stderr, "keel-metrics-example: %s (%s) ended %s, expected %s\n",
                                 s.dependency, s.what,
                                 std::string(to_string(reports_[i].outcome)).c_str(),
                                 std::string(to_string(s.expected)).c_str());
                }
                if (--pending_ == 0)
                    done(failures_);
            };
            if (s.pipeline == through::open_breaker)
                breaker_.async_run(simulated_call{&io_, s.script}, reports_[i], ended);
            else if (s.pipeline == through::bulkhead)
                bulkhead_.async_run(simulated_call{&io_, s.script}, reports_[i], ended);
            else if (s.fallback != fallback::none)
                policies_.pipeline(s.dependency)
                    .async_run(
                        keel::with_fallback(simulated_call{&io_, s.script},
                                            cached_price{&io_, s.fallback == fallback::cached},
                                            fallback_on(s.dependency)),
                        reports_[i], ended);
            else if (s.idempotent)
                policies_.pipeline(s.dependency)
                    .async_run(keel::idempotent(simulated_call{&io_, s.script}), reports_[i],
                               ended);
            else
                policies_.pipeline(s.dependency)
                    .async_run(simulated_call{&io_, s.script}, reports_[i], ended);
        }
    }

private:
    /// The fault classes the dependency's `fallback: {on: [...]}` lists (as
    /// loaded now: a reload may change them).
    keel::fault_set fallback_on(std::string_view dependency) const {
        const keel::config::dependency* d = policies_.current()->find(dependency);
        return d && d->fallback_on ? *d->fallback_on : keel::default_fallback_on;
    }

    asio::io_context& io_;
    keel::config::registry& policies_;
    guarded_pipeline& breaker_;
    guarded_pipeline& bulkhead_;
    std::vector<scenario> scenarios_;
    std::vector<keel::call_report> reports_;
    std::size_t pending_ = 0;
    int failures_ = 0;
};

int run(const options& opts) {
    keel::config::document doc = opts.config
                                     ? keel::config::load_file(*opts.config)
                                     : keel::config::load_string(embedded_config, "<embedded>");
    asio::io_context io(1);

    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    const keel::config::metrics_settings settings = doc.metrics;
    keel::config::registry policies(io.get_executor(), std::move(doc),
                                    keel::prometheus::observers_for(metrics, settings));
    keel::prometheus::count_reloads(metrics, policies);
    keel::prometheus::watch_breakers(metrics, policies);
    keel::prometheus::watch_bulkheads(metrics, policies);
    keel::prometheus::watch_retry_gates(metrics, policies);
    keel::prometheus::watch_fault_plans(metrics, policies);
    // A rehearsal: prices-http's fault rules apply (off in every process
    // unless KEEL_FAULTS=1 or this call).
    keel::enable_fault_injection(true);

    // inventory-http's breaker, held open from the start: every call is
    // refused before its operation runs (keel_rejections_total).
    auto breaker = std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{});
    metrics.watch("inventory-http", breaker);
    breaker->isolate(std::chrono::steady_clock::now().time_since_epoch());
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->breaker = breaker;
    keel::pipeline_policy guarded_policy;
    guarded_policy.strategies = chain;
    guarded_pipeline inventory(io, "inventory-http", guarded_policy,
                               keel::shared_observer(metrics.observer_for("inventory-http")));

    // search-http's bulkhead: one attempt at a time, one more waiting at
    // most 5 ms (keel_bulkhead_*, and bulkhead_full / bulkhead_timeout
    // refusals).
    keel::bulkhead_settings one_at_a_time;
    one_at_a_time.max_concurrent = 1;
    one_at_a_time.queue = {1, 5ms};
    auto bulkhead = std::make_shared<keel::bulkhead>(one_at_a_time);
    metrics.watch("search-http", bulkhead);
    auto bulkhead_chain = std::make_shared<keel::strategy_chain>();
    bulkhead_chain->bulkhead = bulkhead;
    keel::pipeline_policy bulkhead_policy;
    bulkhead_policy.strategies = bulkhead_chain;
    guarded_pipeline search(io, "search-http", bulkhead_policy,
                            keel::shared_observer(metrics.observer_for("search-http")));
    round_runner rounds(io, policies, inventory, search);

    if (opts.print) {
        int failures = 0;
        rounds.run([&](int f) { failures = f; });
        io.run();
        const auto families = metrics.registry()->Collect();
        std::cout << ::prometheus::TextSerializer().Serialize(families) << std::flush;
        return failures == 0 ? 0 : 1;
    }

    keel::config::metrics_settings serving = settings;
    if (opts.listen) {
        serving.listen = *opts.listen;
        serving.enabled = true;
    }
    std::unique_ptr<keel::prometheus::exposer> server = keel::prometheus::serve(metrics, serving);
    if (!server) {
        std::fprintf(stderr, "keel-metrics-example: metrics are disabled or metrics.listen is "
                             "empty; give --listen HOST:PORT or use --print\n");
        return 2;
    }
    std::printf("keel-metrics-example: serving %s\n", server->url().c_str());
    std::fflush(stdout);

    std::unique_ptr<keel::config::file_watcher> watcher;
    if (opts.config)
        watcher = keel::config::watch(io.get_executor(), policies, *opts.config);

    int failures = 0;
    int rounds_run = 0;
    bool stopping = false;
    asio::steady_timer pause(io);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void()> next_round = [&] {
        rounds.run([&](int f) {
            failures += f;
            ++rounds_run;
            if (stopping || (opts.rounds > 0 && rounds_run >= opts.rounds)) {
                signals.cancel();
                if (watcher)
                    watcher->stop();
                return;
            }
            pause.expires_after(250ms);
            pause.async_wait([&](std::error_code ec) {
                if (!ec && !stopping)
                    next_round();
            });
        });
    };
    signals.async_wait([&](std::error_code ec, int) {
        if (ec)
            return;
        stopping = true; // the round in progress finishes, then run() returns
        pause.cancel();
        if (watcher)
            watcher->stop();
    });
    next_round();
    io.run();
    std::printf("keel-metrics-example: %d rounds, %d unexpected outcomes\n", rounds_run, failures);
    return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options opts = parse(argc, argv);
    try {
        return run(opts);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "keel-metrics-example: %s\n", e.what());
        return 2;
    }
}
