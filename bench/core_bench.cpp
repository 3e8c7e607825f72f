// Core micro-benchmarks: what keel adds to one asynchronous call.
//
//   BM_bare_op              an operation that completes by post, plain callback
//   BM_naive_timeout        the same raced against a per-call steady_timer, by hand
//   BM_keel_timeout         through a pipeline: exchange timeout 2 s, one attempt
//   BM_keel_retry           through a pipeline: 3 attempts, exponential, no timeouts
//   BM_keel_pipeline        retry 3x + exchange 2 s + total 10 s, first attempt succeeds
//   BM_bare_op_coro         BM_bare_op awaited from a C++20 coroutine
//   BM_keel_pipeline_coro   BM_keel_pipeline awaited from a C++20 coroutine
//   BM_keel_pipeline_metrics  BM_keel_pipeline recording keel::prometheus metrics
//                           (built when keel::prometheus is)
//   BM_keel_pipeline_metrics_paired  the two above in alternating batches:
//                           the added cost per call, robust to VM drift
//   BM_keel_pipeline_chain(_paired)     the strategy seams, nothing configured
//   BM_keel_pipeline_breaker(_paired)   through a closed circuit breaker
//   BM_keel_breaker_rejects             refused by an open breaker
//   BM_keel_breaker_rejects_paired      the same against BM_bare_op, in alternating batches
//   BM_keel_pipeline_bulkhead(_paired)  through a bulkhead that never fills
//   BM_keel_bulkhead_contended          two threads, one shared bulkhead
//   BM_keel_pipeline_rate_limit(_paired) through a token bucket that never runs dry
//   BM_keel_rate_limit_contended        two threads, one shared token bucket
//   BM_keel_pipeline_budget(_paired)    through the default retry budget (a deposit a call)
//   BM_keel_pipeline_hedged(_paired)    hedging after 50 ms; the primary wins before it
//   BM_keel_pipeline_faults_off(_paired) fault rules configured, injection off (the default)
//   BM_keel_pipeline_fallback(_paired)  a call carrying a fallback that succeeds (fallback unused)
//
// Diagnostics (no targets; they show where keel's cost comes from):
//   BM_bare_op_any_executor       BM_bare_op, callback bound to an any_io_executor
//   BM_keel_pipeline_io_executor  BM_keel_pipeline on a pipeline typed on
//                                 io_context::executor_type
//   BM_keel_pipeline_metrics_runtime  BM_keel_pipeline_metrics through
//                                 keel::shared_observer (virtual calls)
//   BM_keel_pipeline_chain_listener    the seams with a listener that does nothing
//   BM_keel_pipeline_endpoint_breaker  a breaker per endpoint
//   BM_keel_pipeline_adaptive_bulkhead an AIMD bulkhead (durations measured)
//
// The operation completes by asio::post(context, append(handler, {}, 42)): a
// handler that names its own executor (keel's attempt handler, use_awaitable's)
// goes through Asio's work_dispatcher, as with any composed operation.
//
// Every benchmark reports `allocs_per_op`: heap allocations (operator new in
// all its forms, and malloc/calloc/realloc/memalign/valloc) per iteration,
// counted only inside the timed loop, after warm-up (bench/alloc_counter.hpp).
//
// How the loop is driven (the same for every benchmark, so ratios are fair):
// everything runs inside ONE io_context::run() call, and each completion
// starts the next iteration (continuation passing) or, for the coroutine
// variants, one coroutine runs the `for (auto _ : state)` loop. We do NOT
// drive calls with nested poll_one() inside run(): each nested poll/poll_one
// pushes a fresh thread_info whose recycling cache is freed when it returns,
// so every handler freed inside it goes back to the heap -- measured: 1
// allocation per post instead of 0. With io_context{1} (one_thread_) nested
// poll_one() also corrupts the work count (the outer thread's private work is
// decremented globally) and the context stops: the loop then spins forever.
//
// Every io_context has its reactor (an idle steady_timer), as in a real
// service, because a keel pipeline creates one by itself; see bench_context.
// Repetitions are randomly interleaved unless the command line says otherwise
// (the targets are ratios and the load on a shared VM drifts).
//
// Extra flag (before the Google Benchmark ones):
//   --keel_concurrency_hint=N   the io_context's concurrency hint (default 1,
//                               the usual single-threaded service loop)
//
// Summarise a run with: python3 bench/compare.py [build/release/bench/core.json]

#include <keel/budget_gate.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/endpoint.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/fallback.hpp>
#include <keel/fault_injection.hpp>
#include <keel/hedging.hpp>
#include <keel/idempotent.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>
#if KEEL_BENCH_WITH_PROMETHEUS
#include <keel/prometheus/metrics.hpp>
#endif

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/append.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/version.hpp>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

// Replaces malloc and operator new for the whole executable: included by this
// translation unit only.
#include "bench_main.hpp"

namespace {

using namespace std::chrono_literals;

int g_concurrency_hint = 1;

/// Untimed iterations run first (in the same run() call) so the thread's
/// recycling caches and the deadline queue are warm when timing starts.
constexpr int warmup_iterations = 64;

// ============================================================================
// The operation: completes by post with (error_code{}, 42)
// ============================================================================

struct post_value_initiation {
    asio::io_context* context;

    using executor_type = asio::io_context::executor_type;
    executor_type get_executor() const noexcept { return context->get_executor(); }

    template <class Handler>
    void operator()(Handler&& handler) const {
        // Post to the I/O executor; the handler's associated allocator
        // allocates the post (append_handler forwards the associators). A
        // handler with an associated executor of its own (keel's attempt
        // handler, use_awaitable's, a bind_executor) goes through Asio's
        // work_dispatcher, which runs it on that executor.
        asio::post(*context, asio::experimental::append(std::forward<Handler>(handler),
                                                        std::error_code{}, 42));
    }
};

/// An Asio initiating function: `void(std::error_code, int)`, never completes
/// inside the call.
template <class Token>
auto async_post_value(asio::io_context& context, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, int)>(post_value_initiation{&context},
                                                                   token);
}

/// The same operation as a keel operation factory.
auto post_value_factory(asio::io_context& context) {
    return [&context](const keel::attempt&, auto&& token) {
        return async_post_value(context, std::forward<decltype(token)>(token));
    };
}

// ============================================================================
// Policies
// ============================================================================

keel::pipeline_policy timeout_only_policy() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 1;
    p.timeout.exchange = 2s;
    return p;
}

keel::pipeline_policy retry_only_policy() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = keel::backoff_kind::exponential;
    return p;
}

keel::pipeline_policy full_policy() {
    keel::pipeline_policy p = retry_only_policy();
    p.timeout.exchange = 2s;
    p.timeout.total = 10s;
    return p;
}

// ============================================================================
// The loop every benchmark runs on
// ============================================================================

/// An io_context set up as in a real service: its reactor exists (here
/// because of an idle timer; in a service because of any socket or timer).
/// A keel pipeline creates the reactor by itself (its deadline queue owns a
/// steady_timer), and a context with a reactor pays an epoll_wait(0) each time
/// the scheduler's queue wraps around. Without this the bare benchmarks would
/// skip that syscall and the ratios would measure the reactor, not keel.
struct bench_context {
    asio::io_context context{g_concurrency_hint};
    asio::steady_timer idle{context};
};

// ============================================================================
// The driver: one run() call, each completion starts the next iteration
// ============================================================================

/// Iterates `state` by continuation inside `context.run()`. `start(driver)`
/// begins one iteration; whatever completes it last calls `driver.next()`.
template <class Start>
class continuation_driver {
public:
    continuation_driver(benchmark::State& state, asio::io_context& context, Start start)
        : state_(state), context_(context), start_(std::move(start)) {}

    void run() {
        asio::post(context_, [this] { next(); });
        context_.run();
        report();
    }

    /// The current iteration finished: start the next one, or end the loop.
    void next() {
        if (warmup_left_ > 0) {
            --warmup_left_;
            start_(*this);
            return;
        }
        if (!timing_) {
            timing_ = true;
            // As a range-for does: begin(), then end() once (end() starts the timer).
            it_.emplace(state_.begin());
            end_.emplace(state_.end());
            allocs_before_ = allocation_count();
        } else {
            ++*it_;
        }
        if (*it_ != *end_) {
            start_(*this);
            return;
        }
        allocs_after_ = allocation_count();
        context_.stop(); // the deadline queue's timer may still hold work
    }

    void fail(const char* message) {
        state_.SkipWithError(message);
        context_.stop();
    }

private:
    void report() {
        const auto iterations = static_cast<double>(state_.iterations());
        if (KEEL_BENCH_COUNT_ALLOCATIONS && iterations > 0)
            state_.counters["allocs_per_op"] =
                static_cast<double>(allocs_after_ - allocs_before_) / iterations;
    }

    benchmark::State& state_;
    asio::io_context& context_;
    Start start_;
    int warmup_left_ = warmup_iterations;
    bool timing_ = false;
    std::optional<benchmark::State::StateIterator> it_;
    std::optional<benchmark::State::StateIterator> end_;
    std::uint64_t allocs_before_ = 0;
    std::uint64_t allocs_after_ = 0;
};

template <class Start>
void drive(benchmark::State& state, asio::io_context& context, Start start) {
    continuation_driver<Start> driver(state, context, std::move(start));
    driver.run();
}

/// The completion handler every callback benchmark uses.
template <class Driver>
struct on_value {
    Driver* driver;
    void operator()(std::error_code ec, int value) const {
        benchmark::DoNotOptimize(value);
        if (ec || value != 42) {
            std::fprintf(stderr, "operation failed: %s, value %d\n", ec.message().c_str(), value);
            driver->fail("the operation failed");
            return;
        }
        driver->next();
    }
};

// ============================================================================
// Callback benchmarks
// ============================================================================

void BM_bare_op(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    drive(state, context, [&context](auto& driver) {
        async_post_value(context, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// Diagnostic: BM_bare_op with the callback bound to the context's executor
/// as an any_io_executor -- what every handler that names its executor (keel's
/// attempt handler, use_awaitable's) costs a post-based operation: Asio's
/// post() then always goes through a work_dispatcher (type-erased work
/// tracking and a second, type-erased dispatch), even to the same context.
void BM_bare_op_any_executor(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    const asio::any_io_executor executor = context.get_executor();
    drive(state, context, [&context, &executor](auto& driver) {
        async_post_value(
            context, asio::bind_executor(
                         executor, on_value<std::remove_reference_t<decltype(driver)>>{&driver}));
    });
}

/// What a user writes without keel: a per-call timer raced against the
/// operation, the state shared by the two handlers.
template <class Handler, class Retired>
void naive_with_timeout(asio::io_context& context, std::chrono::nanoseconds timeout,
                        Handler handler, Retired retired) {
    struct call_state {
        call_state(asio::io_context& context, std::chrono::nanoseconds timeout, Handler handler,
                   Retired retired)
            : timer(context, timeout), handler(std::move(handler)), retired(std::move(retired)) {}
        asio::steady_timer timer;
        Handler handler;
        Retired retired;
        bool done = false;
    };
    auto state =
        std::make_shared<call_state>(context, timeout, std::move(handler), std::move(retired));
    state->timer.async_wait([state](std::error_code ec) {
        if (!ec && !state->done) {
            state->done = true;
            state->handler(make_error_code(asio::error::timed_out), 0);
        }
        state->retired(); // the timer's handler ran too: the call is over
    });
    async_post_value(context, [state](std::error_code ec, int value) {
        if (state->done)
            return;
        state->done = true;
        state->timer.cancel();
        state->handler(ec, value);
    });
}

void BM_naive_timeout(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    drive(state, context, [&context](auto& driver) {
        // Both completions count: the iteration ends when the cancelled
        // timer's handler has run as well.
        naive_with_timeout(
            context, 2s,
            [d = &driver](std::error_code ec, int value) {
                benchmark::DoNotOptimize(value);
                if (ec || value != 42)
                    d->fail("the operation failed");
            },
            [d = &driver] { d->next(); });
    });
}

void run_keel_callback(benchmark::State& state, keel::pipeline_policy policy) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline pipeline(context, "bench", std::move(policy));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// Diagnostic: BM_keel_pipeline with the pipeline typed on the io_context's
/// own executor instead of any_io_executor: no type erasure on the attempt's
/// completion path.
void BM_keel_pipeline_io_executor(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, asio::io_context::executor_type>
        pipeline(context, "bench", full_policy());
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

void BM_keel_timeout(benchmark::State& state) {
    run_keel_callback(state, timeout_only_policy());
}

void BM_keel_retry(benchmark::State& state) {
    run_keel_callback(state, retry_only_policy());
}

void BM_keel_pipeline(benchmark::State& state) {
    run_keel_callback(state, full_policy());
}

/// How a paired driver's other side wraps the benchmark's operation.
struct as_is {
    template <class Op>
    Op operator()(Op op) const {
        return op;
    }
};
/// Hedging only starts a second attempt of an operation that may run twice.
struct as_idempotent {
    template <class Op>
    auto operator()(Op op) const {
        return keel::idempotent(std::move(op));
    }
};

/// An added cost measured in pairs: batches of calls of two kinds (side 0,
/// the baseline, and side 1), alternating (the order flips each pair) inside
/// one run(). Both batches of a pair see the same machine, so the per-pair
/// difference is robust to what moves the separate medians of two
/// benchmarks on a shared VM (their spread there is +-20%, more than the
/// effects measured). Reports `added_ns` (median per-call difference over
/// the pairs), `ratio` (median per-pair side 1 / side 0), and the medians of
/// each side, `base_ns` and `<other>_ns`. `Derived::call(side)` starts one
/// call whose completion calls next() (or fail()).
template <class Derived>
class paired_batches {
public:
    static constexpr int batch = 256;

    paired_batches(benchmark::State& state, asio::io_context& context, std::string other_counter)
        : state_(state), context_(context), other_counter_(std::move(other_counter)) {
        samples_.reserve(max_samples);
    }

    void run() {
        asio::post(context_, [this] { start_pair(); });
        context_.run();
        report();
    }

    void next() {
        if (--left_ > 0) {
            call();
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        elapsed_[side_] = std::chrono::duration<double, std::nano>(now - batch_start_).count();
        if (++sides_done_ < 2) {
            side_ ^= 1;
            start_batch();
            return;
        }
        if (warmup_pairs_ > 0) {
            --warmup_pairs_;
        } else if (samples_.size() < max_samples) {
            samples_.push_back({elapsed_[0] / batch, elapsed_[1] / batch});
        }
        if (!timing_) {
            timing_ = true;
            it_.emplace(state_.begin());
            end_.emplace(state_.end());
        } else {
            ++*it_;
        }
        if (!(*it_ != *end_)) {
            context_.stop();
            return;
        }
        start_pair();
    }

    void fail(const char* message) {
        state_.SkipWithError(message);
        context_.stop();
    }

private:
    static constexpr std::size_t max_samples = 1 << 16;
    struct sample {
        double base;
        double other;
    };

    void start_pair() {
        first_ ^= 1; // alternate which side goes first
        side_ = first_;
        sides_done_ = 0;
        start_batch();
    }
    void start_batch() {
        left_ = batch;
        batch_start_ = std::chrono::steady_clock::now();
        call();
    }
    void call() { static_cast<Derived*>(this)->call(side_); }

    static double median(std::vector<double> v) {
        if (v.empty())
            return 0;
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
        return v[v.size() / 2];
    }

    void report() {
        std::vector<double> added, ratio, base, other;
        for (const sample& s : samples_) {
            added.push_back(s.other - s.base);
            ratio.push_back(s.other / s.base);
            base.push_back(s.base);
            other.push_back(s.other);
        }
        state_.counters["added_ns"] = median(added);
        state_.counters["ratio"] = median(ratio);
        state_.counters["base_ns"] = median(base);
        state_.counters[other_counter_] = median(other);
        state_.counters["pairs"] = static_cast<double>(samples_.size());
    }

    benchmark::State& state_;
    asio::io_context& context_;
    std::string other_counter_;
    std::vector<sample> samples_;
    int warmup_pairs_ = 4;
    int first_ = 1;
    int side_ = 0;
    int sides_done_ = 0;
    int left_ = 0;
    double elapsed_[2] = {0, 0};
    std::chrono::steady_clock::time_point batch_start_;
    bool timing_ = false;
    std::optional<benchmark::State::StateIterator> it_;
    std::optional<benchmark::State::StateIterator> end_;
};

/// Pairs of batches through a plain pipeline (side 0) and through another
/// one (side 1), the operation wrapped by `Wrap` on side 1.
template <class Other, class Wrap = as_is>
class paired_driver : public paired_batches<paired_driver<Other, Wrap>> {
public:
    paired_driver(benchmark::State& state, asio::io_context& context, keel::pipeline& base,
                  Other& other, std::string other_counter)
        : paired_batches<paired_driver>(state, context, std::move(other_counter)), base_(base),
          metered_(other), op_(post_value_factory(context)), other_op_(Wrap{}(op_)) {}

    void call(int side) {
        if (side == 0)
            base_.async_run(op_, on_value<paired_driver>{this});
        else
            metered_.async_run(other_op_, on_value<paired_driver>{this});
    }

private:
    keel::pipeline& base_;
    Other& metered_;
    decltype(post_value_factory(std::declval<asio::io_context&>())) op_;
    decltype(Wrap{}(op_)) other_op_;
};

/// BM_keel_pipeline on a pipeline with every strategy seam (a
/// keel::strategy_chain with nothing configured): what the seams cost a
/// dependency that uses none of them.
keel::pipeline_policy chain_policy() {
    keel::pipeline_policy p = full_policy();
    p.strategies = std::make_shared<keel::strategy_chain>();
    return p;
}
using chain_pipeline = keel::basic_pipeline<asio::steady_timer, keel::null_observer,
                                            asio::any_io_executor, keel::strategy_chain>;

void BM_keel_pipeline_chain(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(context, "bench", chain_policy());
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// Diagnostic: the engine with seams, one of them configured (a listener
/// that does nothing): what a dependency with a strategy pays for the seams
/// before its strategy does any work.
void BM_keel_pipeline_chain_listener(benchmark::State& state) {
    struct quiet_listener final : keel::attempt_listener {
        void on_attempt_end(keel::clock_ticks, const keel::attempt_record&) noexcept override {}
    };
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline_policy policy = full_policy();
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->listener = std::make_shared<quiet_listener>();
    policy.strategies = chain;
    chain_pipeline pipeline(context, "bench", policy);
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The seams' added cost, paired (see paired_driver): target +20 ns.
void BM_keel_pipeline_chain_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline chained(context, "bench", chain_policy());
    paired_driver<chain_pipeline> driver(state, context, base, chained, "chain_ns");
    driver.run();
}

/// full_policy() with `strategy` as the chain's breaker, rate limiter or
/// bulkhead (`stage`), and nothing else.
keel::pipeline_policy
with_admission(std::shared_ptr<keel::admission_strategy> keel::strategy_chain::*stage,
               std::shared_ptr<keel::admission_strategy> strategy) {
    keel::pipeline_policy p = full_policy();
    auto chain = std::make_shared<keel::strategy_chain>();
    (*chain).*stage = std::move(strategy);
    p.strategies = chain;
    return p;
}

/// BM_keel_pipeline through a closed circuit breaker that records every
/// attempt (its window, its ratios): what a dependency with a breaker pays
/// while all is well.
keel::pipeline_policy breaker_policy(std::shared_ptr<keel::admission_strategy> breaker) {
    return with_admission(&keel::strategy_chain::breaker, std::move(breaker));
}

void BM_keel_pipeline_breaker(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(
        context, "bench",
        breaker_policy(std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{})));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The closed breaker's added cost, paired (see paired_driver): target +30 ns.
void BM_keel_pipeline_breaker_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline guarded(
        context, "bench",
        breaker_policy(std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{})));
    paired_driver<chain_pipeline> driver(state, context, base, guarded, "breaker_ns");
    driver.run();
}

/// full_policy() with a fault rule that would fail half the attempts, were
/// fault injection on: what a process pays for a file's `faults:` while
/// injection is off (every process unless KEEL_FAULTS=1).
keel::pipeline_policy faults_off_policy() {
    keel::enable_fault_injection(false);
    keel::pipeline_policy p = full_policy();
    keel::fault_rule refused;
    refused.kind = keel::fault_kind::error;
    refused.rate = 0.5;
    refused.error = make_error_code(std::errc::connection_refused);
    p.faults = std::make_shared<keel::fault_plan>(std::vector<keel::fault_rule>{refused});
    return p;
}

void BM_keel_pipeline_faults_off(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline pipeline(context, "bench", faults_off_policy());
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The added cost of fault rules with injection off, paired: target +5 ns.
void BM_keel_pipeline_faults_off_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    keel::pipeline rehearsed(context, "bench", faults_off_policy());
    paired_driver<keel::pipeline> driver(state, context, base, rehearsed, "faults_off_ns");
    driver.run();
}

/// A fallback that answers a default value: the shape of a cached or
/// default answer. In these benchmarks every call succeeds, so it never runs.
struct default_value_fallback {
    template <class Token>
    auto operator()(const keel::fallback_context&, Token&& token) const {
        return asio::async_initiate<Token, void(std::error_code, int)>(
            [](auto handler) { std::move(handler)(std::error_code(), -1); }, token);
    }
};

/// The benchmark's operation carrying a fallback.
struct with_default_fallback {
    template <class Op>
    auto operator()(Op op) const {
        return keel::with_fallback(std::move(op), default_value_fallback{});
    }
};

/// BM_keel_pipeline with a fallback on every call; the first attempt
/// succeeds, so the fallback is carried and never run.
void BM_keel_pipeline_fallback(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline pipeline(context, "bench", full_policy());
    auto op = with_default_fallback{}(post_value_factory(context));
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The added cost of a fallback-carrying call that succeeds, paired:
/// target +10 ns.
void BM_keel_pipeline_fallback_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    keel::pipeline guarded(context, "bench", full_policy());
    paired_driver<keel::pipeline, with_default_fallback> driver(state, context, base, guarded,
                                                                "fallback_ns");
    driver.run();
}

/// A call to a dependency whose breaker is open: refused before any attempt,
/// completed through a post as any call (never inside async_run). Target:
/// no dearer than BM_bare_op, the cheapest posted operation.
template <class Driver>
struct on_refusal {
    Driver* driver;
    void operator()(std::error_code ec, int value) const {
        benchmark::DoNotOptimize(value);
        if (ec != keel::errc::circuit_open) {
            std::fprintf(stderr, "not refused: %s\n", ec.message().c_str());
            driver->fail("the open breaker admitted a call");
            return;
        }
        driver->next();
    }
};

void BM_keel_breaker_rejects(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    auto breaker = std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{});
    breaker->isolate(keel::clock_ticks(0));
    chain_pipeline pipeline(context, "bench", breaker_policy(breaker));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_refusal<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// A refused call against the bare operation, paired (see paired_batches):
/// the target is `ratio` <= 1.0. Both sides post one completion to the same
/// io_context, so the pair compares what each adds to that post.
class paired_refusal_driver : public paired_batches<paired_refusal_driver> {
public:
    paired_refusal_driver(benchmark::State& state, asio::io_context& context,
                          chain_pipeline& refusing)
        : paired_batches(state, context, "rejects_ns"), context_(context), refusing_(refusing),
          op_(post_value_factory(context)) {}

    void call(int side) {
        if (side == 0)
            async_post_value(context_, on_value<paired_refusal_driver>{this});
        else
            refusing_.async_run(op_, on_refusal<paired_refusal_driver>{this});
    }

private:
    asio::io_context& context_;
    chain_pipeline& refusing_;
    decltype(post_value_factory(std::declval<asio::io_context&>())) op_;
};

void BM_keel_breaker_rejects_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    auto breaker = std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{});
    breaker->isolate(keel::clock_ticks(0));
    chain_pipeline pipeline(context, "bench", breaker_policy(breaker));
    paired_refusal_driver driver(state, context, pipeline);
    driver.run();
}

/// Diagnostic: BM_keel_pipeline_breaker with `scope: endpoint` -- a closed,
/// recording breaker of a known endpoint, found by the call's endpoint.
void BM_keel_pipeline_endpoint_breaker(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::circuit_breaker_settings per_endpoint;
    per_endpoint.scope = keel::circuit_breaker_settings::scope_kind::endpoint;
    chain_pipeline pipeline(
        context, "bench",
        breaker_policy(std::make_shared<keel::endpoint_circuit_breakers>(per_endpoint)));
    // A view of a name that outlives the calls, as keel::pg's calls report
    // theirs: async_run's copy of the operation copies no string.
    auto factory = post_value_factory(context);
    const keel::with_endpoint_t<decltype(factory), std::string_view> op{factory,
                                                                        "http://10.0.0.7:8080"};
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// BM_keel_pipeline through a bulkhead (fixed limit 64, no queue) that
/// never fills: a permit taken before each attempt and handed back when the
/// operation has completed.
keel::pipeline_policy bulkhead_policy(std::shared_ptr<keel::admission_strategy> bulkhead) {
    return with_admission(&keel::strategy_chain::bulkhead, std::move(bulkhead));
}

void BM_keel_pipeline_bulkhead(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(
        context, "bench",
        bulkhead_policy(std::make_shared<keel::bulkhead>(keel::bulkhead_settings{})));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// The uncontended bulkhead's added cost, paired (see paired_driver):
/// target +25 ns.
void BM_keel_pipeline_bulkhead_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline guarded(
        context, "bench",
        bulkhead_policy(std::make_shared<keel::bulkhead>(keel::bulkhead_settings{})));
    paired_driver<chain_pipeline> driver(state, context, base, guarded, "bulkhead_ns");
    driver.run();
}

/// Diagnostic: an adaptive bulkhead (AIMD, never dropping): each attempt's
/// end feeds the limit, so the attempt's duration is measured.
void BM_keel_pipeline_adaptive_bulkhead(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::bulkhead_settings settings;
    settings.adaptive.emplace();
    chain_pipeline pipeline(context, "bench",
                            bulkhead_policy(std::make_shared<keel::bulkhead>(settings)));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// Two threads, each with its own io_context and pipeline, calling one
/// dependency whose bulkhead (limit 64, never full) both share: the cost of
/// a call when the bulkhead's counters bounce between cores. Google
/// Benchmark reports wall time over the calls of both threads (the inverse
/// of their throughput): one thread's call takes twice that. Compare twice
/// the figure with BM_keel_pipeline_bulkhead.
void BM_keel_bulkhead_contended(benchmark::State& state) {
    static const auto shared = std::make_shared<keel::bulkhead>(keel::bulkhead_settings{});
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(context, "bench", bulkhead_policy(shared));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
    if (state.thread_index() == 0 && shared->in_flight() != 0)
        state.SkipWithError("the bulkhead kept a permit after every call ended");
}

/// BM_keel_pipeline through a rate limiter whose bucket never runs dry (a
/// billion tokens a second, a second of them in the bucket): a token taken
/// before each attempt; its end changes nothing (not throttled).
std::shared_ptr<keel::rate_limiter> never_dry_bucket() {
    keel::rate_limit_settings settings;
    settings.rate = {1'000'000'000, std::chrono::seconds(1)};
    return std::make_shared<keel::rate_limiter>(settings);
}

keel::pipeline_policy rate_limit_policy(std::shared_ptr<keel::rate_limiter> limiter) {
    return with_admission(&keel::strategy_chain::rate_limiter, std::move(limiter));
}

/// Calls through a pipeline typed on the strategy chain, with `policy`.
void run_chain_callback(benchmark::State& state, const keel::pipeline_policy& policy) {
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(context, "bench", policy);
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

void BM_keel_pipeline_rate_limit(benchmark::State& state) {
    run_chain_callback(state, rate_limit_policy(never_dry_bucket()));
}

/// The uncontended rate limiter's added cost, paired (see paired_driver):
/// target +25 ns.
void BM_keel_pipeline_rate_limit_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline limited(context, "bench", rate_limit_policy(never_dry_bucket()));
    paired_driver<chain_pipeline> driver(state, context, base, limited, "rate_limit_ns");
    driver.run();
}

/// Two threads, each with its own io_context and pipeline, calling one
/// dependency whose token bucket both share: the cost of a call when the
/// bucket's lock and state bounce between cores. Wall time over the calls
/// of both threads, as BM_keel_bulkhead_contended: compare twice the figure
/// with BM_keel_pipeline_rate_limit.
void BM_keel_rate_limit_contended(benchmark::State& state) {
    static const auto shared = never_dry_bucket();
    run_chain_callback(state, rate_limit_policy(shared));
}

/// BM_keel_pipeline through the retry budget keel turns on by default for
/// every dependency (ratio: 20%, 10/s, 10 s): each call deposits (one
/// compare-and-swap); the first attempt succeeds, nothing is withdrawn.
keel::pipeline_policy budget_policy() {
    keel::pipeline_policy p = full_policy();
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->gate = std::make_shared<keel::budget_gate>(
        std::make_shared<keel::retry_budget>(keel::retry_budget_settings{}), nullptr);
    p.strategies = chain;
    return p;
}

void BM_keel_pipeline_budget(benchmark::State& state) {
    run_chain_callback(state, budget_policy());
}

/// The default retry budget's added cost, paired (see paired_driver):
/// target +20 ns.
void BM_keel_pipeline_budget_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline budgeted(context, "bench", budget_policy());
    paired_driver<chain_pipeline> driver(state, context, base, budgeted, "budget_ns");
    driver.run();
}

/// BM_keel_pipeline with hedging (a second attempt after 50 ms, as
/// `hedge: {max_attempts: 2, delay: 50ms}` with `retry_budget: off`): the
/// primary answers at once, so the hedge is planned (its deadline kept with
/// the call's others) and never started.
keel::pipeline_policy hedged_policy() {
    keel::pipeline_policy p = full_policy();
    p.retry.max_attempts = 1; // hedging counts its own attempts
    keel::hedge_settings hedge;
    hedge.max_attempts = 2;
    hedge.delay = 50ms;
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->parallel = std::make_shared<keel::hedging>(hedge);
    p.strategies = chain;
    return p;
}

void BM_keel_pipeline_hedged(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    chain_pipeline pipeline(context, "bench", hedged_policy());
    auto op = keel::idempotent(post_value_factory(context));
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

/// Hedging's added cost when the primary wins before the delay, paired:
/// target +40 ns.
void BM_keel_pipeline_hedged_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline base(context, "bench", full_policy());
    chain_pipeline hedged(context, "bench", hedged_policy());
    paired_driver<chain_pipeline, as_idempotent> driver(state, context, base, hedged, "hedged_ns");
    driver.run();
}

#if KEEL_BENCH_WITH_PROMETHEUS
/// BM_keel_pipeline recording into keel::prometheus: a pipeline typed on the
/// dependency's metrics observer (each event a few atomics on handles
/// resolved when the observer was made; the clock read at start and end).
void BM_keel_pipeline_metrics(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::prometheus::metrics metrics;
    keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics> pipeline(
        context, "bench", full_policy(), metrics.dependency("bench"));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}

void BM_keel_pipeline_metrics_paired(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::prometheus::metrics metrics;
    keel::pipeline base(context, "bench", full_policy());
    keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics> metered(
        context, "bench", full_policy(), metrics.dependency("bench"));
    paired_driver<keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics>>
        driver(state, context, base, metered, "metrics_ns");
    driver.run();
}

/// Diagnostic: the same through keel::shared_observer (a virtual call per
/// event), as keel::config::registry's pipelines record.
void BM_keel_pipeline_metrics_runtime(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::prometheus::metrics metrics;
    keel::basic_pipeline<asio::steady_timer, keel::shared_observer> pipeline(
        context, "bench", full_policy(), keel::shared_observer(metrics.observer_for("bench")));
    auto op = post_value_factory(context);
    drive(state, context, [&pipeline, &op](auto& driver) {
        pipeline.async_run(op, on_value<std::remove_reference_t<decltype(driver)>>{&driver});
    });
}
#endif

// ============================================================================
// Coroutine benchmarks: one coroutine runs the whole loop
// ============================================================================

template <class Call>
void run_coroutine(benchmark::State& state, asio::io_context& context, Call call) {
    std::uint64_t allocs_before = 0;
    std::uint64_t allocs_after = 0;
    std::exception_ptr failure;
    asio::co_spawn(
        context,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < warmup_iterations; ++i)
                benchmark::DoNotOptimize(co_await call());
            allocs_before = allocation_count();
            for (auto _ : state) {
                const int value = co_await call();
                benchmark::DoNotOptimize(value);
                if (value != 42) {
                    state.SkipWithError("the operation failed");
                    break;
                }
            }
            allocs_after = allocation_count();
        },
        [&](std::exception_ptr e) {
            failure = e;
            context.stop(); // the deadline queue's timer may still hold work
        });
    context.run();
    if (failure) {
        state.SkipWithError("the coroutine threw");
        return;
    }
    const auto iterations = static_cast<double>(state.iterations());
    if (KEEL_BENCH_COUNT_ALLOCATIONS && iterations > 0)
        state.counters["allocs_per_op"] =
            static_cast<double>(allocs_after - allocs_before) / iterations;
}

void BM_bare_op_coro(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    run_coroutine(state, context,
                  [&context] { return async_post_value(context, asio::use_awaitable); });
}

void BM_keel_pipeline_coro(benchmark::State& state) {
    bench_context bench;
    asio::io_context& context = bench.context;
    keel::pipeline pipeline(context, "bench", full_policy());
    auto op = post_value_factory(context);
    run_coroutine(state, context,
                  [&pipeline, &op] { return pipeline.async_run(op, asio::use_awaitable); });
}

} // namespace

namespace {
/// KEEL_BENCH_ITERATIONS=N fixes the timed calls per run, so that two
/// callgrind profiles (instructions per call) compare the same work:
/// KEEL_BENCH_ITERATIONS=20000 valgrind --tool=callgrind keel_bench_core
///     --benchmark_filter='^BM_keel_pipeline$', and again with 40000: the
/// difference of the two totals over 20000 is the cost of one call.
void configure(benchmark::internal::Benchmark* b) {
    if (const char* n = std::getenv("KEEL_BENCH_ITERATIONS"))
        b->Iterations(std::atoll(n));
}
} // namespace

BENCHMARK(BM_bare_op)->Apply(configure);
BENCHMARK(BM_naive_timeout)->Apply(configure);
BENCHMARK(BM_keel_timeout)->Apply(configure);
BENCHMARK(BM_keel_retry)->Apply(configure);
BENCHMARK(BM_keel_pipeline)->Apply(configure);
BENCHMARK(BM_bare_op_coro)->Apply(configure);
BENCHMARK(BM_keel_pipeline_coro)->Apply(configure);
BENCHMARK(BM_keel_pipeline_chain)->Apply(configure);
BENCHMARK(BM_keel_pipeline_chain_paired);
BENCHMARK(BM_keel_pipeline_breaker)->Apply(configure);
BENCHMARK(BM_keel_pipeline_breaker_paired);
BENCHMARK(BM_keel_pipeline_faults_off)->Apply(configure);
BENCHMARK(BM_keel_pipeline_faults_off_paired);
BENCHMARK(BM_keel_pipeline_fallback)->Apply(configure);
BENCHMARK(BM_keel_pipeline_fallback_paired);
BENCHMARK(BM_keel_breaker_rejects)->Apply(configure);
BENCHMARK(BM_keel_breaker_rejects_paired);
BENCHMARK(BM_keel_pipeline_bulkhead)->Apply(configure);
BENCHMARK(BM_keel_pipeline_bulkhead_paired);
BENCHMARK(BM_keel_bulkhead_contended)->Threads(2)->UseRealTime();
BENCHMARK(BM_keel_pipeline_rate_limit)->Apply(configure);
BENCHMARK(BM_keel_pipeline_rate_limit_paired);
BENCHMARK(BM_keel_rate_limit_contended)->Threads(2)->UseRealTime();
BENCHMARK(BM_keel_pipeline_budget)->Apply(configure);
BENCHMARK(BM_keel_pipeline_budget_paired);
BENCHMARK(BM_keel_pipeline_hedged)->Apply(configure);
BENCHMARK(BM_keel_pipeline_hedged_paired);
#if KEEL_BENCH_WITH_PROMETHEUS
BENCHMARK(BM_keel_pipeline_metrics)->Apply(configure);
BENCHMARK(BM_keel_pipeline_metrics_paired);
#endif
// Diagnostics (not part of the targets): where keel's cost comes from.
BENCHMARK(BM_bare_op_any_executor);
BENCHMARK(BM_keel_pipeline_io_executor);
BENCHMARK(BM_keel_pipeline_chain_listener)->Apply(configure);
BENCHMARK(BM_keel_pipeline_endpoint_breaker)->Apply(configure);
BENCHMARK(BM_keel_pipeline_adaptive_bulkhead)->Apply(configure);
#if KEEL_BENCH_WITH_PROMETHEUS
BENCHMARK(BM_keel_pipeline_metrics_runtime)->Apply(configure);
#endif

namespace {

/// Takes our own flags out of argv before Google Benchmark sees them.
bool parse_own_flags(int& argc, char** argv) {
    const char prefix[] = "--keel_concurrency_hint=";
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], prefix, sizeof(prefix) - 1) == 0) {
            char* end = nullptr;
            const long value = std::strtol(argv[i] + sizeof(prefix) - 1, &end, 10);
            if (!end || *end != '\0' || value < 0) {
                std::fprintf(stderr, "bad value: %s\n", argv[i]);
                return false;
            }
            g_concurrency_hint = static_cast<int>(value);
            continue;
        }
        argv[out++] = argv[i];
    }
    argc = out;
    argv[argc] = nullptr;
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (!parse_own_flags(argc, argv))
        return 2;
    std::vector<char*> args;
    bool interleaving_given = false;
    if (!keel_bench::start(argc, argv, args, interleaving_given))
        return 1;
    benchmark::AddCustomContext("asio_version", std::to_string(ASIO_VERSION / 100000) + "." +
                                                    std::to_string(ASIO_VERSION / 100 % 1000) +
                                                    "." + std::to_string(ASIO_VERSION % 100));
    benchmark::AddCustomContext("random_interleaving",
                                interleaving_given ? "as given on the command line" : "on");
    benchmark::AddCustomContext("io_context_concurrency_hint", std::to_string(g_concurrency_hint));
    benchmark::AddCustomContext("driver", "continuation inside one io_context::run() (reactor "
                                          "present); coroutines: one coroutine runs the loop");
    benchmark::AddCustomContext(
        "allocs_per_op", KEEL_BENCH_COUNT_ALLOCATIONS
                             ? "operator new (all forms) + malloc/calloc/realloc/memalign/valloc, "
                               "timed loop only, after " +
                                   std::to_string(warmup_iterations) + " warm-up iterations"
                             : std::string("not counted (sanitizer build)"));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
