// keel's side of bench/peers: the work bench/peers/node_peers.mjs gives
// cockatiel and opossum and bench/peers/tenacity_peers.py gives tenacity,
// through keel's public API, 200,000 calls per repetition.
//
//   BM_peer_bare               an operation that completes by post, plain callback
//   BM_peer_retry_timeout      retry (3 attempts, exponential) + timeout (1 s)
//   BM_peer_breaker            a closed circuit breaker, one attempt, no timeout
//   BM_peer_bulkhead           an uncontended bulkhead, one attempt, no timeout
//   BM_peer_chain              retry + timeout + closed breaker + uncontended
//                              bulkhead (also the full chain of the fixed figures:
//                              bench/fixed_figures.py)
//   BM_peer_bare_fail2         the operation failing twice then succeeding,
//                              called again by hand: the baseline of the two below
//   BM_peer_retry_timeout_fail2  retry + timeout, zero backoff, the retry path itself
//   BM_peer_chain_fail2          the full chain, zero backoff
//
// Diagnostic (no peer does it; bench/peers/compare.py shows it): what the
// single-strategy cases pay before their strategy does anything:
//   BM_peer_one_attempt        a pipeline with one attempt, no timeout, no strategy
//
// The added cost of a case is its time per call minus the bare call's (for the
// _fail2 cases, minus BM_peer_bare_fail2's): bench/peers/compare.py computes it.
// Each benchmark reports `allocs_per_op` (bench/alloc_counter.hpp: every operator
// new and malloc inside the timed loop); the runner reports 0 bytes per call
// when it is 0 (the counter sees allocations, not their sizes).
//
// The loop is driven as bench/core_bench.cpp drives it: one io_context::run(),
// each completion starting the next call, the reactor present (an idle timer).
//
// KEEL_BENCH_ITERATIONS=N fixes the calls per repetition (default 200,000), so
// that callgrind and strace at two N give per-call figures.

#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/pipeline.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/experimental/append.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

// Replaces malloc and operator new for the whole executable: included by this
// translation unit only.
#include "../bench_main.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int warmup_iterations = 64;
constexpr std::int64_t default_calls = 200'000;

// ============================================================================
// The operation: completes by post; with `failures` set, the first
// `failures` attempts of each call fail with connection_refused (transient)
// ============================================================================

struct post_result_initiation {
    asio::io_context* context;
    std::error_code result;

    using executor_type = asio::io_context::executor_type;
    executor_type get_executor() const noexcept { return context->get_executor(); }

    template <class Handler>
    void operator()(Handler&& handler) const {
        asio::post(*context, asio::experimental::append(std::forward<Handler>(handler), result,
                                                        result ? 0 : 42));
    }
};

template <class Token>
auto async_post_result(asio::io_context& context, std::error_code result, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, int)>(
        post_result_initiation{&context, result}, token);
}

std::error_code refused() {
    return make_error_code(asio::error::connection_refused);
}

/// The operation as a keel operation factory: attempts before `first_success`
/// fail.
auto operation(asio::io_context& context, int first_success) {
    return [&context, first_success](const keel::attempt& a, auto&& token) {
        return async_post_result(context,
                                 a.number() < first_success ? refused() : std::error_code{},
                                 std::forward<decltype(token)>(token));
    };
}

// ============================================================================
// Policies: the peers' settings (bench/peers/node_peers.mjs)
// ============================================================================

keel::pipeline_policy retry_timeout_policy(bool zero_backoff) {
    keel::pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = keel::backoff_kind::exponential;
    if (zero_backoff) {
        p.retry.backoff.initial = 0ns;
        p.retry.backoff.jitter = keel::jitter_kind::none;
    }
    p.timeout.exchange = 1s;
    return p;
}

/// A breaker that stays closed through the _fail2 cases (two failures, then a
/// success, per call): five failures in a row open it, as cockatiel's
/// ConsecutiveBreaker(5) in the Node cases; no ratio opens it.
std::shared_ptr<keel::circuit_breaker> closed_breaker() {
    keel::circuit_breaker_settings settings;
    settings.consecutive_failures = 5;
    settings.failure_ratio = 1.0;
    return std::make_shared<keel::circuit_breaker>(settings);
}

std::shared_ptr<keel::bulkhead> uncontended_bulkhead() {
    return std::make_shared<keel::bulkhead>(keel::bulkhead_settings{});
}

keel::pipeline_policy with_strategies(keel::pipeline_policy p, bool breaker, bool bulkhead) {
    auto chain = std::make_shared<keel::strategy_chain>();
    if (breaker)
        chain->breaker = closed_breaker();
    if (bulkhead)
        chain->bulkhead = uncontended_bulkhead();
    p.strategies = std::move(chain);
    return p;
}

/// One attempt, no timeout: the strategy alone.
keel::pipeline_policy single_attempt() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 1;
    return p;
}

using chain_pipeline = keel::basic_pipeline<asio::steady_timer, keel::null_observer,
                                            asio::any_io_executor, keel::strategy_chain>;

// ============================================================================
// The driver: one run() call, each completion starts the next call
// ============================================================================

struct bench_context {
    asio::io_context context{1};
    asio::steady_timer idle{context};
};

/// Calls `start(driver)` once per iteration inside one `context.run()`:
/// whatever completes a call calls `driver.next()`, which asks Google
/// Benchmark (KeepRunning, one iteration per call) whether to make another.
template <class Start>
class loop_driver {
public:
    loop_driver(benchmark::State& state, asio::io_context& context, Start start)
        : state_(state), context_(context), start_(std::move(start)) {}

    void run() {
        asio::post(context_, [this] { next(); });
        context_.run();
    }

    void next() {
        if (untimed_calls_left_ > 0) { // warm-up: caches, the deadline queue
            --untimed_calls_left_;
            start_(*this);
            return;
        }
        if (!counting_) {
            counting_ = true;
            allocations_at_start_ = allocation_count();
        }
        if (state_.KeepRunning()) {
            start_(*this);
            return;
        }
        const std::uint64_t allocations = allocation_count() - allocations_at_start_;
        if (KEEL_BENCH_COUNT_ALLOCATIONS && state_.iterations() > 0)
            state_.counters["allocs_per_op"] =
                static_cast<double>(allocations) / static_cast<double>(state_.iterations());
        context_.stop(); // the pipeline's deadline timer may still hold work
    }

    void fail(const char* why) {
        state_.SkipWithError(why);
        context_.stop();
    }

private:
    benchmark::State& state_;
    asio::io_context& context_;
    Start start_;
    int untimed_calls_left_ = warmup_iterations;
    bool counting_ = false;
    std::uint64_t allocations_at_start_ = 0;
};

template <class Driver>
struct expect_value {
    Driver* driver;
    void operator()(std::error_code ec, int value) const {
        benchmark::DoNotOptimize(value);
        if (ec || value != 42) {
            std::fprintf(stderr, "call failed: %s\n", ec.message().c_str());
            driver->fail("the call failed");
            return;
        }
        driver->next();
    }
};

template <class Start>
void drive(benchmark::State& state, asio::io_context& context, Start start) {
    loop_driver<Start> driver(state, context, std::move(start));
    driver.run();
}

template <class Pipeline>
void run_pipeline(benchmark::State& state, const keel::pipeline_policy& policy, int first_success) {
    bench_context bench;
    asio::io_context& context = bench.context;
    Pipeline pipeline(context, "peers", policy);
    auto op = operation(context, first_success);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, expect_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

// ============================================================================
// The cases
// ============================================================================

void BM_peer_bare(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    drive(state, context, [&context](auto& driver) {
        async_post_result(context, {},
                          expect_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The operation called until it succeeds (the third time), by hand: what the
/// _fail2 cases do without a library.
template <class Driver>
struct call_until_success {
    asio::io_context* context;
    Driver* driver;
    int attempt;
    void operator()(std::error_code ec, int value) const {
        benchmark::DoNotOptimize(value);
        if (ec && attempt < 3) {
            start(*context, *driver, attempt + 1);
            return;
        }
        expect_value<Driver>{driver}(ec, value);
    }
    static void start(asio::io_context& context, Driver& driver, int attempt) {
        async_post_result(context, attempt < 3 ? refused() : std::error_code{},
                          call_until_success{&context, &driver, attempt});
    }
};

void BM_peer_bare_fail2(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    drive(state, context, [&context](auto& driver) {
        call_until_success<std::remove_reference_t<decltype(driver)>>::start(context, driver, 1);
    });
}

void BM_peer_retry_timeout(benchmark::State& state) {
    run_pipeline<keel::pipeline>(state, retry_timeout_policy(false), 1);
}

void BM_peer_breaker(benchmark::State& state) {
    run_pipeline<chain_pipeline>(state, with_strategies(single_attempt(), true, false), 1);
}

void BM_peer_bulkhead(benchmark::State& state) {
    run_pipeline<chain_pipeline>(state, with_strategies(single_attempt(), false, true), 1);
}

void BM_peer_chain(benchmark::State& state) {
    run_pipeline<chain_pipeline>(state, with_strategies(retry_timeout_policy(false), true, true),
                                 1);
}

void BM_peer_one_attempt(benchmark::State& state) {
    run_pipeline<keel::pipeline>(state, single_attempt(), 1);
}

void BM_peer_retry_timeout_fail2(benchmark::State& state) {
    run_pipeline<keel::pipeline>(state, retry_timeout_policy(true), 3);
}

void BM_peer_chain_fail2(benchmark::State& state) {
    run_pipeline<chain_pipeline>(state, with_strategies(retry_timeout_policy(true), true, true), 3);
}

void configure(benchmark::internal::Benchmark* b) {
    const char* n = std::getenv("KEEL_BENCH_ITERATIONS");
    b->Iterations(n ? std::atoll(n) : default_calls);
}

} // namespace

BENCHMARK(BM_peer_bare)->Apply(configure);
BENCHMARK(BM_peer_retry_timeout)->Apply(configure);
BENCHMARK(BM_peer_breaker)->Apply(configure);
BENCHMARK(BM_peer_bulkhead)->Apply(configure);
BENCHMARK(BM_peer_chain)->Apply(configure);
BENCHMARK(BM_peer_bare_fail2)->Apply(configure);
BENCHMARK(BM_peer_retry_timeout_fail2)->Apply(configure);
BENCHMARK(BM_peer_chain_fail2)->Apply(configure);
BENCHMARK(BM_peer_one_attempt)->Apply(configure);

int main(int argc, char** argv) {
    std::vector<char*> args;
    bool interleaving_given = false;
    if (!keel_bench::start(argc, argv, args, interleaving_given))
        return 1;
    benchmark::AddCustomContext("calls_per_repetition", std::getenv("KEEL_BENCH_ITERATIONS")
                                                            ? std::getenv("KEEL_BENCH_ITERATIONS")
                                                            : std::to_string(default_calls));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
