// keel::rate_limiter: a token bucket per dependency (issue 23's
// `rate_limit:`). An attempt takes one token; without one it waits for the
// next token it reserves, in FIFO order, when that wait is at most max_wait
// (and ends before its deadlines: the engine checks those), else it is
// refused at once with errc::rate_limited and the time until a token would
// be free. A throttled attempt's server-advised delay pauses the bucket. The
// state is a function of the times it is handed: no clock, no timer, no
// allocation.
#pragma once

#include <keel/detail/spinlock.hpp>
#include <keel/strategy.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel {

/// `tokens` per `period`: "100/s", "5/ms", "3000/m".
struct token_rate {
    std::int64_t tokens = 100;
    std::chrono::nanoseconds period = std::chrono::seconds(1);

    /// The time between two tokens, rounded up to whole nanoseconds (a
    /// limit is never exceeded by rounding): 10/s is 100 ms.
    std::chrono::nanoseconds interval() const noexcept;
    /// How many tokens one second of this rate brings, at least 1: the
    /// default burst.
    std::int64_t per_second() const noexcept;

    friend bool operator==(const token_rate&, const token_rate&) = default;
};

/// What parse_rate() read: a rate, or why the text is not one.
struct rate_parse_result {
    std::optional<token_rate> rate;
    std::string error; ///< empty when `rate` is set

    explicit operator bool() const noexcept { return rate.has_value(); }
};

/// "100/s": what parse_rate() reads back. A period of no whole unit (only
/// settings made in code have one) is written "3/1500000000ns", which
/// parse_rate() does not read.
std::string to_string(const token_rate& rate);

/// Reads "TOKENS/UNIT" (a positive integer, then ns, us, ms, s, m or h):
/// "100/s", "5/ms", "3000/m". Pure; the error says what is wrong and what
/// was expected, for a positioned YAML error.
rate_parse_result parse_rate(std::string_view text);

/// What a rate limiter is configured with (the `rate_limit:` key).
struct rate_limit_settings {
    token_rate rate;
    /// Tokens the bucket holds when full. Unset: one second of `rate`.
    std::optional<std::int64_t> burst;
    /// The longest an attempt waits for a token; a longer wait is refused at
    /// once. 0: never wait.
    std::chrono::nanoseconds max_wait{0};
    /// A throttled attempt with a server-advised delay pauses the bucket.
    bool honor_pushback = true;
    /// The longest such pause (the registry passes the retry policy's
    /// retry_after.max; the same default).
    std::chrono::nanoseconds pushback_cap = std::chrono::seconds(30);

    std::int64_t burst_tokens() const noexcept { return burst.value_or(rate.per_second()); }

    friend bool operator==(const rate_limit_settings&, const rate_limit_settings&) = default;
};

/// Throws std::invalid_argument naming the first impossible value.
void validate(const rate_limit_settings& settings);

/// The token bucket as a generic cell rate algorithm: one time, the
/// theoretical arrival time of the next token (`next_`), says both how many
/// tokens the bucket holds and which times are promised to waiters. The
/// k-th token asked for is free at next_ - (burst - 1) × interval, so a
/// waiter's token time is fixed when it asks and later askers queue behind
/// it.
///
/// A token whose attempt never started (refused further in, by the
/// bulkhead; its wait cut by the call's deadline or cancellation) is handed
/// back when that cannot exceed the rate:
///   - no token is promised past now: the bucket gets it back (never more
///     than `burst`);
///   - it was the last one promised: the queue is one token shorter, the
///     next attempt that asks gets that time;
///   - it was promised ahead of other waiters: the next attempt that asks
///     gets its time (up to 8 such times are kept; the waiters behind keep
///     theirs, they never wait longer than they were told);
///   - otherwise (a token already due, with waiters behind it) it is spent:
///     giving it now would crowd the waiters' tokens.
///
/// An admission is one compare-and-swap on `next_` while no token handed
/// back is kept (the common case): no lock. The lock guards the rest. The
/// times handed in stay within about 146 years of the clock's epoch (the
/// time shares its word with a flag); a pause lasts at most about 18 years.
class rate_limiter final : public admission_strategy {
public:
    /// Throws std::invalid_argument on impossible settings (validate).
    explicit rate_limiter(const rate_limit_settings& settings);
    rate_limiter(const rate_limiter&) = delete;
    rate_limiter& operator=(const rate_limiter&) = delete;

    /// A token free now: admitted. Else the token it reserves is free in w:
    /// admission::admit_after(w, rate_limited) when w <= max_wait, else
    /// refused with rate_limited and retry_after w (nothing reserved).
    admission admit(clock_ticks now, admission_waiter& waiter) override;
    /// admit(), with the time read once.
    admission admit_at(const lazy_time& now, admission_waiter& waiter) override;
    /// A token whose attempt never started (`attempt` null) comes back as
    /// the class comment says; a throttled attempt with a server-advised
    /// delay pauses the bucket until now + min(delay, pushback_cap): no
    /// token is free before then, and the bucket refills from empty at
    /// `rate` after it (no burst right after a pushback).
    void release(clock_ticks now, const attempt_record* attempt,
                 std::uint64_t ticket) noexcept override;
    /// Reads the time only when the release changes something: an attempt
    /// that started and was not throttled costs nothing.
    void release_at(const lazy_time& now, const attempt_record* attempt,
                    std::uint64_t ticket) noexcept override;

    /// When the next token asked for would be free (now or later).
    clock_ticks next_free(clock_ticks now) const noexcept;
    /// The end of the last pushback's pause (far in the past: none yet).
    clock_ticks paused_until() const noexcept;

    const rate_limit_settings& settings() const noexcept { return settings_; }

private:
    static constexpr int max_returned = 8;

    /// `next_` packs the next token time (in its upper 63 bits) and a flag
    /// (bit 0), `held`: set while tokens handed back are kept or while the
    /// lock's path works on the time -- an admission then takes the lock.
    /// One word, so that a compare-and-swap which read it before either
    /// sees the change or fails.
    static constexpr std::int64_t held = 1;
    static std::int64_t pack(clock_ticks next, bool hold) noexcept {
        return next.count() * 2 + (hold ? held : 0);
    }
    static clock_ticks unpack(std::int64_t word) noexcept { return clock_ticks(word >> 1); }

    /// Under the lock: sets `held` (an admission without the lock that read
    /// the word before now fails its compare-and-swap) and returns the next
    /// token time, which stays as it is until release_hold().
    clock_ticks hold() noexcept;
    /// Under the lock: the next token time is `next`; `held` stays set
    /// while tokens handed back are kept.
    void release_hold(clock_ticks next) noexcept;
    /// The admission at `now`: one compare-and-swap unless `held`.
    admission admit_now(clock_ticks now);
    /// admit_now() once the time is read.
    [[gnu::noinline]] admission admit_read(const lazy_time& now);
    /// The admission under the lock: a token handed back goes first.
    [[gnu::noinline]] admission admit_locked(clock_ticks now);
    /// The admission for a token at `token_at`, `wait` from now, taken.
    admission granted(clock_ticks token_at, clock_ticks wait) const noexcept;
    admission refused(clock_ticks wait) const noexcept;

    bool pushes_back(const attempt_record& attempt) const noexcept;
    /// release_at() of anything but a success, out of line.
    [[gnu::noinline]] void release_unspent(const lazy_time& now, const attempt_record* attempt,
                                           std::uint64_t ticket) noexcept;
    clock_ticks give_back(clock_ticks now, clock_ticks next, clock_ticks token_at) noexcept;
    clock_ticks pause_until(clock_ticks next, clock_ticks until) noexcept;
    void keep_returned(clock_ticks token_at) noexcept;
    void drop_returned_before(clock_ticks t) noexcept;

    const rate_limit_settings settings_;
    const clock_ticks interval_;
    const clock_ticks tolerance_; ///< (burst - 1) × interval: how far ahead tokens are free
    /// Copied, not built: building an admission looks up the system error
    /// category (a call into the C++ runtime).
    const admission admitted_ = admission::admit();
    const admission reserved_ = admission::admit_after({}, errc::rate_limited, 0);
    const admission refused_ = admission::reject(errc::rate_limited);
    /// Every admission writes it: on a line of its own, not the one of the
    /// settings every admission reads.
    alignas(64) std::atomic<std::int64_t> next_;
    mutable detail::spinlock lock_;
    clock_ticks paused_until_;
    /// Token times handed back ahead of waiters, ascending: the next askers'.
    std::array<clock_ticks, max_returned> returned_{};
    int returned_count_ = 0;
};

} // namespace keel
