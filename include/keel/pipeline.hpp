// keel::pipeline: the resilience policies of one dependency, applied to any
// asynchronous operation.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/deadline_service.hpp>
#include <keel/detail/executor_target.hpp>
#include <keel/detail/first_admission.hpp>
#include <keel/detail/run_op.hpp>
#include <keel/detail/signature.hpp>
#include <keel/idempotent.hpp>
#include <keel/observer.hpp>
#include <keel/retry.hpp>
#include <keel/strategy.hpp>
#include <keel/timeout.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace keel {

/// Everything a pipeline applies to a call.
struct pipeline_policy {
    retry_policy retry;
    timeout_policy timeout;
    /// The stability patterns' state for this dependency (breaker, bulkhead,
    /// ...), shared with every pipeline of it (keel::strategy_registry).
    /// Used by pipelines whose Strategies parameter is strategy_chain;
    /// null or empty: none configured.
    std::shared_ptr<const strategy_chain> strategies;
    /// Fault rules (keel/fault_injection.hpp), applied innermost when fault
    /// injection is enabled in the process; null: none.
    std::shared_ptr<fault_plan> faults;
};

/// Throws std::invalid_argument naming the first impossible value
/// (max_attempts < 1, multiplier < 1, a negative duration, exchange or
/// connect longer than total).
void validate(const pipeline_policy& policy);

/// A named composition of policies, applied in this order (outermost first):
///
///   total deadline -> retry (with backoff) or parallel attempts, gated by the
///   retry gate -> circuit breaker -> rate limiter -> bulkhead -> per-attempt
///   timeout -> operation
///
/// The operation is a factory `op(const attempt_type&, token)` that starts one
/// attempt and completes with `void(std::error_code, T...)`. Parallel
/// attempts (hedging) run only for an operation that says it is idempotent
/// (keel::idempotent, or a wrapper's request that is); any other runs one
/// attempt at a time. Like an Asio I/O
/// object, a pipeline must outlive the calls it runs; it is safe to use from
/// several threads at once.
///
/// Timer decides the clock (keel::testing::manual_timer in tests); Observer
/// receives the events (null_observer compiles them away); Strategies is
/// keel::strategy_chain to apply the policy's `strategies` (no_strategies
/// compiles the seams away).
template <class Timer = asio::steady_timer, class Observer = null_observer,
          class Executor = asio::any_io_executor, class Strategies = no_strategies>
class basic_pipeline {
public:
    using executor_type = Executor;
    using timer_type = Timer;
    using clock_type = typename Timer::clock_type;
    using attempt_type = basic_attempt<clock_type>;
    using observer_type = Observer;

    basic_pipeline(const executor_type& executor, std::string name, pipeline_policy policy = {},
                   Observer observer = {})
        : executor_(executor), plain_executor_(detail::plain_context_executor(executor_)),
          name_(std::move(name)), observer_(std::move(observer)),
          service_(&detail::deadline_service<Timer>::of(executor_)) {
        update(std::move(policy));
    }

    template <class ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
    basic_pipeline(ExecutionContext& context, std::string name, pipeline_policy policy = {},
                   Observer observer = {})
        : basic_pipeline(executor_type(context.get_executor()), std::move(name), std::move(policy),
                         std::move(observer)) {}

    basic_pipeline(const basic_pipeline&) = delete;
    basic_pipeline& operator=(const basic_pipeline&) = delete;

    executor_type get_executor() const noexcept { return executor_; }
    const std::string& name() const noexcept { return name_; }
    /// The policy new calls start with. The reference stays valid for the
    /// pipeline's lifetime, even after update().
    const pipeline_policy& policy() const noexcept {
        return *current_.load(std::memory_order_acquire);
    }

    /// Validates `policy` (std::invalid_argument on an impossible value,
    /// keeping the current one) and makes it the policy of the calls that
    /// start from now on; calls in flight keep the one they started with.
    /// Thread-safe. Every policy a pipeline had stays allocated until the
    /// pipeline is destroyed (a few hundred bytes per update): calls read it
    /// without a reference count, so a call costs no atomic increment.
    void update(pipeline_policy policy) {
        validate(policy);
        auto next = std::make_unique<const stored_policy>(std::move(policy));
        std::lock_guard lock(history_mutex_);
        history_.push_back(std::move(next));
        current_.store(history_.back().get(), std::memory_order_release);
    }
    Observer& observer() noexcept { return observer_; }

    /// Seeds the jitter of the calls that follow; calls draw their random
    /// streams from it in order, so one thread's calls replay exactly.
    void seed(std::uint64_t value) noexcept {
        jitter_.seed.store(value, std::memory_order_relaxed);
        jitter_.streams.store(0, std::memory_order_relaxed);
    }

    /// Runs `op` under the pipeline's policies.
    ///
    /// Completion signature: that of `op`, `void(std::error_code, T...)`.
    /// The handler runs on its associated executor (else the pipeline's),
    /// never inside async_run; per-call state uses its associated allocator.
    ///
    /// Errors: on failure, the last real error of the operation, except
    /// - errc::exchange_timeout when keel's per-attempt deadline cut the last
    ///   attempt short, errc::deadline_exceeded when the total deadline did;
    /// - asio::error::operation_aborted when the caller cancelled;
    /// - a local refusal (errc::circuit_open, errc::bulkhead_full, ...;
    ///   `ec == condition::rejected`) when a strategy refused the first
    ///   attempt. A refused *retry* ends with the previous attempt's error.
    /// `T...` are the winning or last attempt's values (default constructed
    /// if none ran to completion). The call_report overload says more: the
    /// attempts, the outcome, why it gave up, the last error the operation
    /// itself reported, whether an outcome is unknown, the refusal.
    ///
    /// Cancellation: terminal, partial and total cancellation of the call
    /// are forwarded, with their type, to every attempt in flight; during a
    /// backoff sleep any of them ends the call at once. A cancelled call is
    /// never retried. What a cancellation leaves behind is the operation's:
    /// an attempt it interrupted may have reached its peer (a wrapper that
    /// cannot tell reports attempt_feedback::outcome_unknown).
    ///
    /// Lifetimes: the pipeline must outlive the call; `op` is moved into the
    /// call and called once per attempt; the `attempt` it receives stays
    /// valid until that attempt completes.
    ///
    /// The signature is deduced when `op` returns the result of the Asio
    /// initiating function it calls; otherwise name it:
    /// `async_run<void(std::error_code, T)>(op, token)`.
    template <class Signature = detail::deduce_signature, class Op,
              class Token = asio::default_completion_token_t<executor_type>>
    requires(!std::is_same_v<std::decay_t<Token>, call_report>) auto async_run(
        Op&& op, Token&& token = asio::default_completion_token_t<executor_type>()) {
        using sig = typename detail::resolve_signature<Signature, std::decay_t<Op>,
                                                       const attempt_type&>::type;
        return asio::async_initiate<Token, sig>(initiation<sig>{this}, token, std::forward<Op>(op),
                                                nullptr);
    }

    /// As above; `report` (which must outlive the call) is filled in just
    /// before the handler runs: the attempt count, the outcome, why the call
    /// gave up, the last operation error, outcome_unknown, the refusal.
    template <class Signature = detail::deduce_signature, class Op,
              class Token = asio::default_completion_token_t<executor_type>>
    auto async_run(Op&& op, call_report& report,
                   Token&& token = asio::default_completion_token_t<executor_type>()) {
        using sig = typename detail::resolve_signature<Signature, std::decay_t<Op>,
                                                       const attempt_type&>::type;
        return asio::async_initiate<Token, sig>(initiation<sig>{this}, token, std::forward<Op>(op),
                                                &report);
    }

private:
    template <class Signature>
    struct initiation {
        basic_pipeline* self;

        using executor_type = Executor;
        executor_type get_executor() const noexcept { return self->executor_; }

        template <class Handler, class Op>
        void operator()(Handler&& handler, Op&& op, call_report* report) const {
            using clock_point = typename clock_type::time_point;
            const stored_policy& policy = self->stored();
            std::optional<std::uint64_t> first_ticket;
            if constexpr (Strategies::enabled &&
                          !detail::is_with_fallback<std::decay_t<Op>>::value) {
                // Before anything is built: a call the breaker refuses costs
                // one post. (A fallback may answer a refusal: such a call is
                // built as any.)
                if (policy.breaker_first) {
                    const strategy_chain* chain = policy.strategies.get();
                    // The call's endpoint, for a breaker kept per endpoint.
                    detail::no_waiter waiter(detail::endpoint_of(op));
                    admission answer = chain->breaker->admit_at(lazy_time(&read_clock), waiter);
                    const auto first =
                        detail::settle_first(*chain->breaker, answer, waiter, &read_clock);
                    if (first == detail::first_admission::refused) {
                        refuse(std::forward<Handler>(handler), report, answer);
                        return;
                    }
                    if (first == detail::first_admission::admitted)
                        first_ticket = answer.ticket;
                }
            }
            detail::call_params<clock_point> params;
            params.retry = &policy.retry;
            params.connect = policy.timeout.connect;
            params.exchange = policy.timeout.exchange;
            params.total = policy.timeout.total;
            params.name = self->name_;
            params.jitter = &self->jitter_;
            params.report = report;
            if (policy.faults) [[unlikely]] // one branch when no rules are configured
                params.faults = fault_injection_enabled() ? policy.faults.get() : nullptr;
            if constexpr (Strategies::enabled) {
                // The one branch a strategy chain costs when nothing in it is
                // configured: such a call runs on the engine without seams.
                // (A breaker that admitted the first attempt makes it non-empty.)
                using engine_kind = typename stored_policy::engine_kind;
                if (policy.engine != engine_kind::plain) {
                    params.strategies = policy.strategies.get();
                    if (policy.engine == engine_kind::single) {
                        start<detail::single_admission>(std::forward<Handler>(handler),
                                                        std::forward<Op>(op), params, first_ticket);
                        return;
                    }
                    // gated: below, the engine without seams, which asks the gate.
                    if (policy.engine != engine_kind::gated) {
                        // Only an operation that says it is idempotent is
                        // hedged; one that cannot say never builds the
                        // parallel engine, the largest of the four in code
                        // and compile time.
                        if constexpr (declares_idempotence<std::decay_t<Op>>) {
                            if (policy.engine == engine_kind::parallel && op.idempotent()) {
                                start<strategy_chain>(std::forward<Handler>(handler),
                                                      std::forward<Op>(op), params, first_ticket);
                                return;
                            }
                        }
                        start<detail::serial_strategies>(std::forward<Handler>(handler),
                                                         std::forward<Op>(op), params,
                                                         first_ticket);
                        return;
                    }
                }
            }
            start<no_strategies>(std::forward<Handler>(handler), std::forward<Op>(op), params);
        }

        static clock_ticks read_clock() noexcept {
            return std::chrono::duration_cast<clock_ticks>(clock_type::now().time_since_epoch());
        }

        /// The breaker refused the first attempt: the handler gets the
        /// refusal through a post to its executor, as from a call built and
        /// refused, and the observer the same call_start and call_end.
        template <class Handler>
        void refuse(Handler&& handler, call_report* report, const admission& refusal) const {
            if constexpr (observer_enabled_v<Observer>)
                self->observer_.on(events::call_start{self->name_});
            detail::post_refusal<Signature>(std::forward<Handler>(handler), self->executor_,
                                            self->plain_executor_, self->observer_, self->name_,
                                            report, refusal);
        }

        template <class Chain, class Handler, class Op>
        void start(Handler&& handler, Op&& op,
                   const detail::call_params<typename clock_type::time_point>& params,
                   std::optional<std::uint64_t> first_ticket = std::nullopt) const {
            using handler_type = std::decay_t<Handler>;
            if constexpr (std::is_same_v<Executor, asio::any_io_executor> &&
                          std::is_same_v<asio::associated_executor_t<handler_type, Executor>,
                                         asio::any_io_executor>) {
                // The common case: the call runs on a plain io_context executor
                // (the pipeline's, or the handler's own, e.g. a coroutine's).
                // Run it on the typed executor: the attempt's handler then names
                // a concrete executor, and the operation's completion (post,
                // work tracking, dispatch) skips any_io_executor's type erasure.
                using io_executor = asio::io_context::executor_type;
                const asio::any_io_executor call =
                    asio::get_associated_executor(handler, self->executor_);
                if (detail::target_if<io_executor>(call)) {
                    detail::run_op<handler_type, std::decay_t<Op>, Signature, Timer, Observer,
                                   Executor, Chain,
                                   io_executor>::start(std::forward<Handler>(handler),
                                                       std::forward<Op>(op), params,
                                                       *self->service_, self->observer_,
                                                       self->executor_, first_ticket);
                    return;
                }
            }
            detail::run_op<handler_type, std::decay_t<Op>, Signature, Timer, Observer, Executor,
                           Chain>::start(std::forward<Handler>(handler), std::forward<Op>(op),
                                         params, *self->service_, self->observer_, self->executor_,
                                         first_ticket);
        }
    };

    executor_type executor_;
    /// executor_'s io_context executor, if it is one: found once, not per call.
    const asio::io_context::executor_type* plain_executor_;
    std::string name_;
    /// A policy with what every call asks of its chain decided once, at
    /// update(): the chain is immutable (shared_ptr<const strategy_chain>).
    struct stored_policy final : pipeline_policy {
        explicit stored_policy(pipeline_policy policy) : pipeline_policy(std::move(policy)) {
            if (const strategy_chain* chain = strategies.get()) {
                engine = chain->empty()                         ? engine_kind::plain
                         : chain->parallel                      ? engine_kind::parallel
                         : detail::has_single_admission(*chain) ? engine_kind::single
                         : detail::has_gate_only(*chain)        ? engine_kind::gated
                                                                : engine_kind::serial;
                breaker_first = detail::ask_breaker_first(*chain);
            }
        }
        /// plain: nothing configured, the engine without seams; gated: that
        /// engine with a quiet retry gate (the default retry budget) and
        /// nothing else; single: one admission strategy, perhaps a quiet
        /// gate, no other seam; serial: the seams with one attempt slot;
        /// parallel: with parallel attempts.
        enum class engine_kind : std::uint8_t { plain, gated, single, serial, parallel };
        engine_kind engine = engine_kind::plain;
        bool breaker_first = false; ///< detail::ask_breaker_first
    };

    const stored_policy& stored() const noexcept {
        return *current_.load(std::memory_order_acquire);
    }

    std::atomic<const stored_policy*> current_{nullptr};
    std::mutex history_mutex_;
    std::vector<std::unique_ptr<const stored_policy>> history_;
    Observer observer_;
    detail::jitter_seed jitter_;
    detail::deadline_service<Timer>* service_;
};

using pipeline = basic_pipeline<>;

} // namespace keel
