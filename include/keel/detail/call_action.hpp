// What the call's state machine (call_machine.hpp) is given and what it
// answers with: the parameters the initiator decided for one call, the
// source of its jitter streams, and the actions the driver (run_op.hpp)
// executes: the vocabulary the initiators (pipeline.hpp, with_deadline.hpp),
// the driver and the machine's tests share, apart from the transitions.
#pragma once

#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/fault_injection.hpp>
#include <keel/observer.hpp>
#include <keel/random.hpp>
#include <keel/strategy.hpp>
#include <keel/timeout.hpp>

#include <asio/cancellation_type.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace keel::detail {

/// Where per-call jitter streams come from: a seed and a counter, read only
/// when a call first needs to sleep.
struct jitter_seed {
    std::atomic<std::uint64_t> seed{0x6b65656c5f736565ULL};
    std::atomic<std::uint64_t> streams{0};

    random_source next_stream() noexcept {
        const std::uint64_t n = streams.fetch_add(1, std::memory_order_relaxed) + 1;
        return random_source(seed.load(std::memory_order_relaxed) ^ (0x9e3779b97f4a7c15ULL * n));
    }
};

/// What the initiator decided for one call.
template <class TimePoint>
struct call_params {
    const retry_policy* retry = nullptr; ///< null: exactly one attempt
    std::chrono::nanoseconds connect = unlimited;
    std::chrono::nanoseconds exchange = unlimited;
    std::chrono::nanoseconds total = unlimited;
    TimePoint fixed_deadline = TimePoint::max(); ///< an absolute total deadline, if given
    errc exchange_error = errc::exchange_timeout;
    errc total_error = errc::deadline_exceeded;
    std::string_view name;
    jitter_seed* jitter = nullptr;
    call_report* report = nullptr;
    /// Null: none configured. The plain engine (no_strategies) reads only
    /// its gate, given it only when the gate is quiet (detail::quiet_gate).
    const strategy_chain* strategies = nullptr;
    fault_set fallback_on{}; ///< empty: the call has no fallback
    /// Null unless the policy has fault rules and injection is enabled.
    fault_plan* faults = nullptr;
};

enum class call_action_kind : std::uint8_t {
    none,           ///< nothing to do until the next event
    start_attempt,  ///< start attempt(slot) on `slot`; then report action_done(slot)
    cancel_attempt, ///< emit `cancel` into the attempt on `slot`; then action_done(slot)
    complete,       ///< the call is over: deliver error() and, when kept, the values
    run_fallback,   ///< start the call's fallback on `slot` with fallback_input(); its
                    ///< completion is fed as that slot's attempt_ended
};

struct call_action {
    call_action_kind kind = call_action_kind::none;
    std::uint8_t slot = 0;
    asio::cancellation_type_t cancel = asio::cancellation_type::none;
};

} // namespace keel::detail
