// keel::hedging: parallel attempts of one dependency's calls (issue 24's
// `hedge:`). Attempt 1 starts; while no attempt has a result, attempt k+1
// starts `delay` after attempt k did, up to max_attempts. The delay is a
// fixed duration, or a quantile of the durations of recent successful
// attempts (`delay: p95`), `fallback_delay` until `min_samples` of them have
// been seen. What the engine does with the attempts (the first success wins,
// the others are cancelled and awaited; a non-fatal failure starts the next
// one at once) is the engine's; this class decides the numbers.
#pragma once

#include <keel/detail/spinlock.hpp>
#include <keel/fault.hpp>
#include <keel/strategy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel {

/// What hedging is configured with (the `hedge:` key).
struct hedge_settings {
    /// The most attempts a call starts, the first included (2..8).
    int max_attempts = 2;
    /// The delay between one attempt's start and the next one's, when
    /// `delay_quantile` is unset.
    std::chrono::nanoseconds delay = std::chrono::milliseconds(50);
    /// Set: the delay is this quantile (0 < q < 1; `p95` is 0.95) of the
    /// durations of the dependency's recent successful attempts.
    std::optional<double> delay_quantile;
    /// How many successful attempts the quantile needs before it is used.
    int min_samples = 100;
    /// The delay until then.
    std::chrono::nanoseconds fallback_delay = std::chrono::milliseconds(50);
    /// A failure of these classes starts the next attempt at once; any other
    /// ends the call.
    fault_set non_fatal{fault_class::transient, fault_class::throttled};
    /// No attempt starts with less than this left before the call's total
    /// deadline. Unset: the delay in force.
    std::optional<std::chrono::nanoseconds> min_remaining;

    friend bool operator==(const hedge_settings&, const hedge_settings&) = default;
};

/// Throws std::invalid_argument naming the first impossible value.
void validate(const hedge_settings& settings);

/// What parse_quantile() read: a quantile in (0, 1), or why the text is not one.
struct quantile_parse_result {
    std::optional<double> quantile;
    std::string error; ///< empty when `quantile` is set

    explicit operator bool() const noexcept { return quantile.has_value(); }
};

/// Reads "p50", "p95", "p99", "p99.9" (a percentile strictly between 0 and
/// 100 after a `p`). Pure; the error says what was expected.
quantile_parse_result parse_quantile(std::string_view text);

/// "p95" for 0.95: what parse_quantile() reads back.
std::string quantile_name(double quantile);

namespace detail {
/// The nearest-rank quantile of `samples` (reordered): the smallest sample
/// such that at least q × n samples are at most it, i.e. the
/// ceil(q × n)-th smallest. Pure. `samples` must not be empty.
std::int64_t nearest_rank(std::span<std::int64_t> samples, double q) noexcept;
} // namespace detail

class hedging final : public parallel_attempts {
public:
    /// How many recent successful attempts the quantile is taken over.
    static constexpr int quantile_window = 1000;
    /// After min_samples, the quantile is recomputed every this many
    /// samples: a sort of the window at every success would cost more than
    /// the attempts it hedges.
    static constexpr int refresh_every = 16;

    /// Throws std::invalid_argument on impossible settings (validate).
    explicit hedging(const hedge_settings& settings);
    hedging(const hedging&) = delete;
    hedging& operator=(const hedging&) = delete;

    int max_in_flight() const noexcept override { return settings_.max_attempts; }
    int max_attempts() const noexcept override { return settings_.max_attempts; }
    /// A non-fatal failure starts the next attempt at once; any other ends
    /// the call.
    on_failure after_failure(fault_class f) const noexcept override {
        return non_fatal(f) ? on_failure::start_next : on_failure::end_call;
    }
    void attempt_succeeded(std::chrono::nanoseconds duration) noexcept override {
        record_success(duration);
    }
    bool needs_durations() const noexcept override { return settings_.delay_quantile.has_value(); }
    /// The delay in force before attempt `next_attempt` (2..max_attempts);
    /// nullopt past max_attempts.
    std::optional<std::chrono::nanoseconds> delay_before(int next_attempt) const noexcept override;

    /// The delay in force: the fixed one, the fallback, or the quantile.
    std::chrono::nanoseconds current_delay() const noexcept;
    /// How much time must be left before the total deadline for an attempt
    /// to start.
    std::chrono::nanoseconds min_remaining() const noexcept override;
    /// Whether a failure of class `f` starts the next attempt at once.
    bool non_fatal(fault_class f) const noexcept { return settings_.non_fatal.contains(f); }

    /// A successful attempt took `duration`: a sample of the quantile (a
    /// fixed delay keeps none). Thread-safe.
    void record_success(std::chrono::nanoseconds duration) noexcept;
    /// How many successful attempts have been recorded (all time).
    std::int64_t samples() const noexcept;

    const hedge_settings& settings() const noexcept { return settings_; }

private:
    void refresh_locked() noexcept;

    const hedge_settings settings_;
    /// The delay in force, in nanoseconds: read at each attempt's start
    /// without the lock.
    std::atomic<std::int64_t> delay_ns_;
    mutable detail::spinlock lock_;
    std::vector<std::int64_t> window_;  ///< a ring of the recent samples
    std::vector<std::int64_t> scratch_; ///< the window reordered by nearest_rank
    std::size_t next_ = 0;
    std::int64_t recorded_ = 0;
    int since_refresh_ = 0;
};

} // namespace keel
