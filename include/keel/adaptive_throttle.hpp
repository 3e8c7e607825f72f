// keel::adaptive_throttle: client-side adaptive throttling (Google SRE book,
// "Handling Overload"; issue 24's `adaptive_throttle:`), per dependency.
// Over the last `window`, `requests` are the calls this client made and
// `accepts` the calls the dependency answered (any end but a failure whose
// class is transient, timeout or throttled). Each new call is refused
// locally, before any attempt, with probability
//     max(0, (requests - k × accepts) / (requests + 1)), capped at max_rejection,
// and none below min_requests. A refused call counts as a request, as in the
// SRE book: while the dependency keeps failing, refusals keep the
// probability up; as soon as it answers again, accepts bring it down.
// The state is a function of the times it is handed; the randomness is a
// seeded stream, the same refusals for the same seed and the same calls.
#pragma once

#include <keel/detail/floor_divider.hpp>
#include <keel/detail/spinlock.hpp>
#include <keel/fault.hpp>
#include <keel/strategy.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace keel {

/// What adaptive throttling is configured with (`adaptive_throttle:`).
struct adaptive_throttle_settings {
    double k = 2.0; ///< accepts count k times: at k × accepts >= requests nothing is refused
    std::chrono::nanoseconds window = std::chrono::minutes(2);
    std::int64_t min_requests = 20;             ///< no refusal with fewer requests in the window
    double max_rejection = 0.9;                 ///< the refusal probability never exceeds it
    std::uint64_t seed = 0x2545f4914f6cdd1dULL; ///< of the refusal draws

    friend bool operator==(const adaptive_throttle_settings&,
                           const adaptive_throttle_settings&) = default;
};

/// Throws std::invalid_argument naming the first impossible value.
void validate(const adaptive_throttle_settings& settings);

/// Whether a call that ended with `fault` (nullopt: it succeeded) was
/// answered by the dependency: anything but a transient, timeout or
/// throttled failure.
constexpr bool answered(bool failed, fault_class fault) noexcept {
    return !failed || (fault != fault_class::transient && fault != fault_class::timeout &&
                       fault != fault_class::throttled);
}

/// The refusal probability of `requests` and `accepts` (pure).
double rejection_probability(const adaptive_throttle_settings& settings, std::int64_t requests,
                             std::int64_t accepts) noexcept;

/// Thread-safe: one short lock per call start and per call end.
class adaptive_throttle {
public:
    /// Time buckets per window: a request or accept made at t leaves the
    /// window at the start of the bucket that begins `window` after its own.
    static constexpr int buckets = 120;

    /// Throws std::invalid_argument on impossible settings (validate).
    explicit adaptive_throttle(const adaptive_throttle_settings& settings);
    adaptive_throttle(const adaptive_throttle&) = delete;
    adaptive_throttle& operator=(const adaptive_throttle&) = delete;

    /// A call starts: counted as a request; true when it is refused.
    bool refuse_call(clock_ticks now) noexcept;
    /// A call that made at least one attempt ended; `accepted`: answered().
    void on_call_end(clock_ticks now, bool accepted) noexcept;

    /// Only counted (tests, a simulation's warm-up): a request, an accept.
    void record_request(clock_ticks now) noexcept;
    void record_accept(clock_ticks now) noexcept { on_call_end(now, true); }
    /// The next draw of the seeded stream decides a refusal of `probability`.
    bool draw_refuses(double probability) noexcept;

    /// The refusal probability now (for metrics and tests).
    double probability(clock_ticks now) noexcept;
    /// The requests and accepts of the window that ends now (tests).
    std::int64_t requests(clock_ticks now) noexcept;
    std::int64_t accepts(clock_ticks now) noexcept;
    /// Calls refused since construction.
    std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

    const adaptive_throttle_settings& settings() const noexcept { return settings_; }

private:
    struct counts {
        std::int64_t requests = 0;
        std::int64_t accepts = 0;
    };
    /// Moves the window to the bucket of `now` (under lock_).
    void advance(clock_ticks now) noexcept;

    const adaptive_throttle_settings settings_;
    const detail::floor_divider bucket_width_; ///< ns; divides a time into its bucket
    detail::spinlock lock_;
    std::array<counts, buckets> ring_{};
    counts total_;
    std::int64_t head_; ///< the latest bucket counted in
    std::atomic<std::uint64_t> random_state_;
    std::atomic<std::uint64_t> refused_{0};
};

} // namespace keel
