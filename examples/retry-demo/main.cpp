// keel retry demo: five calls to simulated dependencies, each guarded by a
// pipeline (retry with backoff + timeouts), with a trace of every attempt.
//
// The "services" are steady_timers that complete with a scripted result, so
// the demo needs no network, yet runs on a real io_context in real time
// (about 2 s). It exits non-zero if any call ends differently than expected,
// which makes scripts/demo a smoke test of the library.
//
//   (a) orders-db      refused twice, then OK: exponential backoff   [callback]
//   (b) inventory-api  every attempt hangs: cut at 200 ms, retried   [coroutine, as_result]
//   (c) search-api     hangs too, but the 600 ms total deadline ends it
//   (d) payments-api   a permanent error: not retried                [coroutine, throws]
//   (e) rates-api      429 with Retry-After: the server's delay, capped
#include <keel/as_result.hpp>
#include <keel/keel.hpp>

#include <asio/co_spawn.hpp>
#include <asio/compose.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

// ---- errors of the simulated HTTP services ------------------------------------

// A service's own error codes, as a client wrapper would define them. keel
// retries by fault class, so we register a classifier for the category.
enum class service_errc { too_many_requests = 1, card_declined };

class service_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "demo.service"; }
    std::string message(int value) const override {
        switch (static_cast<service_errc>(value)) {
        case service_errc::too_many_requests:
            return "429 Too Many Requests";
        case service_errc::card_declined:
            return "402 Card declined";
        }
        return "unknown service error";
    }
};

const std::error_category& service_category() {
    static const service_category_impl instance;
    return instance;
}

template <>
struct std::is_error_code_enum<service_errc> : std::true_type {};

std::error_code make_error_code(service_errc e) {
    return {static_cast<int>(e), service_category()};
}

bool classify_service_error(const std::error_code& ec, keel::fault_class& out) {
    // Unknown errors are permanent by default; throttling must be said.
    out = ec == service_errc::too_many_requests ? keel::fault_class::throttled
                                                : keel::fault_class::permanent;
    return true;
}

// ---- a simulated dependency ---------------------------------------------------

/// What one attempt does: answer after `latency` with `error` (or `value`).
struct step {
    nanoseconds latency;
    std::error_code error;
    std::string value;
    nanoseconds retry_after{0}; ///< > 0: the server advises this delay
};

/// Hangs for longer than any timeout in this demo.
step hang() {
    return {10s, {}, {}};
}

/// A service whose answers follow a script (the last step repeats). Its
/// operation is a timer wait, so cancellation -- the only way keel ends an
/// attempt early -- reaches it like it would reach a socket read.
class flaky_service {
public:
    flaky_service(asio::any_io_executor executor, std::vector<step> script)
        : executor_(std::move(executor)), script_(std::move(script)) {}

    /// Starts one attempt. Completes with void(std::error_code, std::string).
    template <class Token>
    auto async_call(const keel::attempt& attempt, Token&& token) {
        ++calls_;
        const auto index = static_cast<std::size_t>(attempt.number() - 1);
        const step s = script_[std::min(index, script_.size() - 1)];
        auto timer = std::make_shared<asio::steady_timer>(executor_, s.latency);
        // `attempt` stays valid until this attempt completes, so the op may
        // keep a reference to it (to advise a retry delay at the end).
        return asio::async_compose<Token, void(std::error_code, std::string)>(
            [this, timer, s, &attempt, started = false](auto& self,
                                                        std::error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                if (ec == asio::error::operation_aborted) {
                    // keel cancelled us (a timeout): a real client would now
                    // consider its connection unusable and reconnect.
                    ++cancelled_;
                    self.complete(ec, std::string());
                    return;
                }
                if (s.retry_after > 0ns)
                    attempt.feedback().retry_after(s.retry_after);
                self.complete(s.error, s.value);
            },
            token, executor_);
    }

    int calls() const { return calls_; }
    int cancelled() const { return cancelled_; }

private:
    asio::any_io_executor executor_;
    std::vector<step> script_;
    int calls_ = 0;
    int cancelled_ = 0;
};

/// The operation factory keel calls once per attempt.
auto calls_to(flaky_service& service) {
    return [&service](const keel::attempt& attempt, auto&& token) {
        return service.async_call(attempt, std::forward<decltype(token)>(token));
    };
}

// ---- the trace ----------------------------------------------------------------

std::string millis(nanoseconds d) {
    char text[32];
    const double ms = std::chrono::duration<double, std::milli>(d).count();
    std::snprintf(text, sizeof text, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
    return text;
}

/// Prints one line per event. Pipelines call it from the thread that runs
/// their completion; this demo has one thread, so it needs no lock.
class trace_printer final : public keel::observer {
public:
    void on(const keel::events::call_start& e) override { print(e.dependency, "call started"); }

    void on(const keel::events::attempt_start& e) override {
        print(e.dependency, "attempt " + std::to_string(e.attempt) + " started");
    }

    void on(const keel::events::attempt_end& e) override {
        std::string text = "attempt " + std::to_string(e.attempt);
        if (e.result == keel::attempt_result::success) {
            print(e.dependency, text + " succeeded after " + millis(e.duration));
            return;
        }
        text += e.result == keel::attempt_result::timeout ? " timed out: " : " failed: ";
        text += e.error.message() + " (" + std::string(to_string(e.fault)) + ") after " +
                millis(e.duration);
        // The retry decision (or the end of the call) follows at once, in the
        // same handler: finish the line there.
        pending_ = std::move(text);
    }

    void on(const keel::events::retry_scheduled& e) override {
        last_delay_ = e.delay;
        print(e.dependency, std::exchange(pending_, {}) + "; retry in " + millis(e.delay) +
                                (e.server_advised ? " (server-advised)" : ""));
    }

    void on(const keel::events::call_end& e) override {
        if (!pending_.empty())
            print(e.dependency, std::exchange(pending_, {}) + "; giving up");
        print(e.dependency, "call ended: " + std::string(to_string(e.outcome)) + " after " +
                                std::to_string(e.attempts) + " attempt(s), " + millis(e.duration));
    }

    /// The delay of the last retry scheduled (what (e) checks).
    nanoseconds last_delay() const { return last_delay_; }

private:
    void print(std::string_view dependency, const std::string& text) const {
        const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - origin_);
        std::printf("[%5lld ms] %-14.*s %s\n", static_cast<long long>(elapsed.count()),
                    static_cast<int>(dependency.size()), dependency.data(), text.c_str());
    }

    std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
    std::string pending_;
    nanoseconds last_delay_{0};
};

/// A pipeline whose events go to a keel::observer chosen at run time.
using traced_pipeline = keel::basic_pipeline<asio::steady_timer, keel::shared_observer>;

// ---- checking outcomes ---------------------------------------------------------

void describe(const std::error_code& ec, const std::string& value, const keel::call_report& r) {
    if (ec)
        std::printf("  => error: %s [%s:%d]\n", ec.message().c_str(), ec.category().name(),
                    ec.value());
    else
        std::printf("  => value: \"%s\"\n", value.c_str());
    std::printf("     call_report: attempts=%d outcome=%s reason=%s fault=%s\n", r.attempts,
                std::string(to_string(r.outcome)).c_str(), std::string(to_string(r.reason)).c_str(),
                ec ? std::string(to_string(r.fault)).c_str() : "-");
}

struct scoreboard {
    int failed = 0;
    void expect(bool ok, const char* what) {
        std::printf("     expected %s: %s\n", what, ok ? "yes" : "NO <-- unexpected");
        failed += ok ? 0 : 1;
    }
};

void title(const char* text) {
    std::printf("\n-- %s\n", text);
}

// ---- (a) callbacks ---------------------------------------------------------------

keel::pipeline_policy orders_policy() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 4;
    p.retry.backoff = {.kind = keel::backoff_kind::exponential,
                       .initial = 100ms,
                       .multiplier = 2.0,
                       .max = 1s,
                       .jitter = keel::jitter_kind::equal}; // base/2 + uniform [0, base/2)
    p.timeout.exchange = 500ms;
    return p;
}

// ---- (b)-(e) one coroutine -------------------------------------------------------

// `score` and `trace` outlive the coroutine: main runs the context to the end.
asio::awaitable<void> coroutine_scenarios(std::shared_ptr<trace_printer> trace, scoreboard& score) {
    const auto executor = co_await asio::this_coro::executor;
    const keel::shared_observer observer(trace);

    {
        title("(b) inventory-api: every attempt hangs; 200 ms exchange timeout, 3 attempts "
              "[coroutine, keel::as_result]");
        keel::pipeline_policy policy;
        policy.retry.max_attempts = 3;
        policy.retry.backoff = {.initial = 50ms, .jitter = keel::jitter_kind::none};
        policy.timeout.exchange = 200ms;
        traced_pipeline pipeline(executor, "inventory-api", policy, observer);
        flaky_service inventory(executor, {hang()});
        keel::call_report report;
        // as_result: the error comes back as a value instead of an exception.
        keel::result<std::string> r = co_await pipeline.async_run(
            calls_to(inventory), report, keel::as_result(asio::use_awaitable));
        describe(r.has_error() ? r.error() : std::error_code(), r ? r.value() : "", report);
        score.expect(r.has_error() && r.error() == keel::errc::exchange_timeout &&
                         r.error() == keel::condition::timeout,
                     "exchange_timeout (a keel::condition::timeout)");
        score.expect(report.attempts == 3 && inventory.cancelled() == 3 &&
                         report.reason == keel::give_up_reason::attempts_exhausted,
                     "3 attempts, each cancelled by keel, then attempts_exhausted");
    }

    {
        title("(c) search-api: hangs; 200 ms exchange timeout, 600 ms total deadline");
        keel::pipeline_policy policy;
        policy.retry.max_attempts = 10;
        policy.retry.backoff = {.kind = keel::backoff_kind::constant,
                                .initial = 50ms,
                                .jitter = keel::jitter_kind::none};
        policy.timeout.exchange = 200ms;
        policy.timeout.total = 600ms; // attempt 3 starts at ~500 ms: cut at 600 ms
        traced_pipeline pipeline(executor, "search-api", policy, observer);
        flaky_service search(executor, {hang()});
        keel::call_report report;
        auto r = co_await pipeline.async_run(calls_to(search), report,
                                             keel::as_result(asio::use_awaitable));
        describe(r.has_error() ? r.error() : std::error_code(), r ? r.value() : "", report);
        score.expect(r.has_error() && r.error() == keel::errc::deadline_exceeded,
                     "deadline_exceeded");
        score.expect(report.attempts == 3 && report.reason == keel::give_up_reason::deadline,
                     "3 attempts, gave up on the deadline");
    }

    {
        title("(d) payments-api: a permanent error is not retried [coroutine, exceptions]");
        traced_pipeline pipeline(executor, "payments-api", {}, observer); // default policy
        flaky_service payments(executor, {{15ms, service_errc::card_declined, {}}});
        keel::call_report report;
        std::error_code ec;
        std::string value;
        try {
            // Plain use_awaitable: a failed call throws std::system_error.
            value = co_await pipeline.async_run(calls_to(payments), report, asio::use_awaitable);
        } catch (const std::system_error& e) {
            ec = e.code();
        }
        describe(ec, value, report);
        score.expect(ec == service_errc::card_declined && payments.calls() == 1 &&
                         report.reason == keel::give_up_reason::not_retryable,
                     "card_declined after 1 attempt (not_retryable)");
    }

    {
        title("(e) rates-api: 429 with Retry-After 400 ms; policy caps server delays at 250 ms");
        keel::pipeline_policy policy;
        policy.retry.retry_on.insert(keel::fault_class::throttled); // not retried by default
        policy.retry.retry_after = {.honor = true, .max = 250ms};
        traced_pipeline pipeline(executor, "rates-api", policy, observer);
        flaky_service rates(executor, {{20ms, service_errc::too_many_requests, {}, 400ms},
                                       {20ms, {}, "EUR/USD 1.0842"}});
        keel::call_report report;
        auto r = co_await pipeline.async_run(calls_to(rates), report,
                                             keel::as_result(asio::use_awaitable));
        describe(r.has_error() ? r.error() : std::error_code(), r ? r.value() : "", report);
        score.expect(r && r.value() == "EUR/USD 1.0842" && report.attempts == 2,
                     "the rate after 2 attempts");
        score.expect(trace->last_delay() == 250ms, "a 250 ms sleep (Retry-After, capped)");
    }
}

int main() {
    keel::register_classifier(service_category(), &classify_service_error);

    asio::io_context io;
    auto trace = std::make_shared<trace_printer>();
    scoreboard score;
    bool finished = false;

    // A broken library could also leave a call hanging: fail instead of waiting.
    asio::steady_timer watchdog(io, 10s);
    watchdog.async_wait([&](std::error_code ec) {
        if (ec == asio::error::operation_aborted)
            return; // the demo finished in time
        std::printf("\nthe demo did not finish within 10 s\n");
        io.stop();
    });

    // (b)-(e): one coroutine awaiting four calls in turn.
    auto start_coroutine = [&] {
        asio::co_spawn(io, coroutine_scenarios(trace, score), [&](std::exception_ptr e) {
            finished = true;
            watchdog.cancel();
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::printf("coroutine failed: %s\n", ex.what());
            }
            ++score.failed;
        });
    };

    // (a) A plain callback. The pipeline, the service and the report must
    // outlive the call: they live here, until io.run() returns.
    title("(a) orders-db: refused twice, then OK; exponential backoff 100 ms x2, equal jitter "
          "[callback]");
    traced_pipeline orders(io, "orders-db", orders_policy(), keel::shared_observer(trace));
    orders.seed(2024); // the same jitter every run
    flaky_service orders_db(io.get_executor(), {{3ms, asio::error::connection_refused, {}},
                                                {3ms, asio::error::connection_refused, {}},
                                                {5ms, {}, "order #1042 confirmed"}});
    keel::call_report orders_report;
    orders.async_run(
        calls_to(orders_db), orders_report, [&](std::error_code ec, std::string order) {
            describe(ec, order, orders_report);
            score.expect(!ec && order == "order #1042 confirmed" && orders_report.attempts == 3 &&
                             orders_report.outcome == keel::call_outcome::success_after_retry,
                         "success on attempt 3");
            start_coroutine(); // the next scenarios, once this one is done
        });
    io.run();

    const bool ok = finished && score.failed == 0;
    std::printf("\n%s\n", ok ? "all calls ended as expected" : "SOME CALLS ENDED UNEXPECTEDLY");
    return ok ? 0 : 1;
}
