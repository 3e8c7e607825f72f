// keel::bulkhead: at most a limit of a dependency's attempts in flight at
// once, the rest waiting a bounded time in FIFO order or refused at once; the
// limit fixed or adaptive (AIMD, Gradient2). A strategy of the chain, shared
// by every caller of a dependency (issue 23).
#pragma once

#include <keel/detail/spinlock.hpp>
#include <keel/error.hpp>
#include <keel/strategy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace keel {

// The parts of bulkhead_settings are defined before it, not nested in it: a
// nested struct with default member initializers is not yet default-
// constructible inside its enclosing class, and clang then refuses
// `settings.adaptive.emplace()` (std::optional checks is_constructible there).

/// Attempts over the limit wait here, first come first served.
struct bulkhead_queue_settings {
    int max = 0; ///< waiters at most; a full queue refuses at once (bulkhead_full)
    std::chrono::nanoseconds timeout = std::chrono::milliseconds(50); ///< each waits at most
    friend bool operator==(const bulkhead_queue_settings&,
                           const bulkhead_queue_settings&) = default;
};

/// A limit that moves with what the dependency serves.
struct bulkhead_adaptive_settings {
    enum class algorithm_kind : std::uint8_t { aimd, gradient2 };
    algorithm_kind algorithm = algorithm_kind::aimd;
    int initial = 20;
    /// Unset: 1 for aimd, 20 for gradient2 (Netflix's defaults).
    std::optional<int> min;
    int max = 200;
    double backoff_ratio = 0.9; ///< aimd: a drop multiplies the limit by this
    /// An attempt slower than this is a drop. Unset: only timeouts and
    /// throttling are; gradient2 then counts a drop at its own duration.
    std::optional<std::chrono::nanoseconds> timeout;
    // gradient2 (Netflix's Gradient2Limit):
    double smoothing = 0.2;
    int queue_size = 4;
    double tolerance = 1.5;
    int long_window = 600; ///< samples the long RTT averages over

    int min_limit() const noexcept {
        return min.value_or(algorithm == algorithm_kind::gradient2 ? 20 : 1);
    }
    friend bool operator==(const bulkhead_adaptive_settings&,
                           const bulkhead_adaptive_settings&) = default;
};

/// What a bulkhead is configured with (the `bulkhead:` key).
struct bulkhead_settings {
    using queue_settings = bulkhead_queue_settings;
    using adaptive_settings = bulkhead_adaptive_settings;

    /// The fixed limit: attempts admitted at once (ignored with `adaptive`).
    int max_concurrent = 64;
    queue_settings queue;
    std::optional<adaptive_settings> adaptive;

    friend bool operator==(const bulkhead_settings&, const bulkhead_settings&) = default;
};

/// Throws std::invalid_argument naming the first impossible value.
void validate(const bulkhead_settings& settings);

/// The adaptive limit's decision, apart from the bulkhead's queue and lock:
/// fed one sample per attempt that reached the operation. Not thread-safe
/// (the bulkhead calls it under its lock).
class adaptive_limit {
public:
    /// Throws std::invalid_argument on impossible settings.
    explicit adaptive_limit(const bulkhead_settings::adaptive_settings& settings);

    /// Whether `attempt` is a drop: it ended in a timeout or was throttled,
    /// or took longer than settings.timeout.
    bool is_drop(const attempt_record& attempt) const noexcept;

    /// One attempt ended: `rtt` its duration, `in_flight` the attempts that
    /// held a permit as it ended (itself included). Returns the new limit.
    int on_sample(std::chrono::nanoseconds rtt, int in_flight, bool drop) noexcept;
    /// The same, judging `attempt` with is_drop().
    int on_attempt(const attempt_record& attempt, int in_flight) noexcept {
        return on_sample(attempt.duration, in_flight, is_drop(attempt));
    }

    int limit() const noexcept { return limit_; }
    const bulkhead_settings::adaptive_settings& settings() const noexcept { return settings_; }

    /// Takes `settings` (valid) and keeps what was learned: the limit
    /// stays where it is, clamped into the new [min, max]; gradient2's long
    /// RTT is kept unless the algorithm changes.
    void retune(const bulkhead_settings::adaptive_settings& settings) noexcept;

private:
    int aimd(int in_flight, bool drop) const noexcept;
    int gradient2(std::chrono::nanoseconds rtt, int in_flight, bool drop) noexcept;

    bulkhead_settings::adaptive_settings settings_;
    int limit_;
    double estimate_;      ///< gradient2: the limit before rounding down
    double long_rtt_ = 0;  ///< gradient2: nanoseconds, exponential average
    int long_samples_ = 0; ///< gradient2: samples in long_rtt_ (warm-up)
};

class bulkhead final : public admission_strategy {
public:
    /// Throws std::invalid_argument on impossible settings (validate).
    explicit bulkhead(const bulkhead_settings& settings);
    ~bulkhead() override;
    bulkhead(const bulkhead&) = delete;
    bulkhead& operator=(const bulkhead&) = delete;

    /// Admits while fewer than limit() hold a permit; else queues `waiter`
    /// (wait_at_most(queue.timeout, bulkhead_timeout)), or refuses with
    /// bulkhead_full when queue.max wait already.
    admission admit(clock_ticks now, admission_waiter& waiter) override;
    /// True: `waiter` was still queued and leaves the queue.
    bool withdraw(admission_waiter& waiter) noexcept override;
    /// Frees the permit (after feeding an adaptive limit the attempt) and
    /// admits the first waiters the limit allows, outside the lock.
    void release(clock_ticks now, const attempt_record* attempt,
                 std::uint64_t ticket) noexcept override;
    /// The bulkhead never needs the time.
    admission admit_at(const lazy_time&, admission_waiter& waiter) override {
        if (try_admit_fast())
            return admitted_;
        return admit(clock_ticks{0}, waiter);
    }
    void release_at(const lazy_time&, const attempt_record* attempt,
                    std::uint64_t ticket) noexcept override {
        if (!try_release_fast())
            release(clock_ticks{0}, attempt, ticket);
    }

    int in_flight() const noexcept;
    int limit() const noexcept;
    int queued() const noexcept;

    /// The settings in force (a copy: reconfigure() may change them).
    bulkhead_settings settings() const noexcept;

    /// Applies new settings in place (a reload): the attempts holding a
    /// permit and the waiters keep theirs, so the dependency never runs
    /// more than the new limit on top of what already runs. A lower limit
    /// admits nobody until enough permits come back; a higher one admits
    /// waiters at once; waiters over a smaller queue.max stay until served
    /// or timed out. An adaptive limit keeps its current value clamped into
    /// the new [min, max] (adaptive_limit::retune); one that becomes
    /// adaptive starts from `initial`. Throws std::invalid_argument on
    /// impossible settings, changing nothing.
    void reconfigure(const bulkhead_settings& settings);

private:
    /// Under the lock: takes the waiters the limit now admits off the
    /// queue, counted in flight; their admitted() is for notify().
    admission_waiter* grant_waiters() noexcept;
    /// Outside the lock: tells each waiter grant_waiters() returned.
    static void notify(admission_waiter* granted) noexcept;
    void push_back(admission_waiter& waiter) noexcept;
    admission_waiter* pop_front() noexcept;
    void unlink(admission_waiter& waiter) noexcept;

    /// The uncontended path: admit and release with one compare-and-swap
    /// on `permits_` when it is not marked `slow`, no lock.
    bool try_admit_fast() noexcept;
    bool try_release_fast() noexcept;
    /// Under the lock: marks `permits_` slow (returning the attempts in
    /// flight at that instant) or, when nothing needs the lock any more,
    /// fast again.
    int mark_slow() noexcept;
    void update_slow() noexcept;
    int in_flight_locked() const noexcept {
        return static_cast<int>(permits_.load(std::memory_order_relaxed) & count_mask);
    }

    /// permits_: the attempts holding a permit (low 32 bits) and `slow`,
    /// set while a waiter is queued, the limit is adaptive or ends are due
    /// unmeasured -- whenever a permit taken or given back must go through
    /// the lock. One word, so a waiter queued under the lock and a release
    /// without it cannot miss each other: setting `slow` changes the word,
    /// so a fast compare-and-swap that read it before fails and retries
    /// under the lock.
    static constexpr std::uint64_t slow = std::uint64_t{1} << 32;
    static constexpr std::uint64_t count_mask = slow - 1;

    /// Copied, not built: building an admission looks up the system error
    /// category (a call into the C++ runtime).
    const admission admitted_ = admission::admit();
    bulkhead_settings settings_; ///< guarded by lock_ (reconfigure)
    std::optional<adaptive_limit> adaptive_;
    mutable detail::spinlock lock_;
    /// Written under the lock; read without it by the fast admission (an
    /// admission racing a change of the limit is one made before it).
    std::atomic<int> limit_;
    std::atomic<std::uint64_t> permits_{0};
    int queued_ = 0;
    int unmeasured_ = 0; ///< ends still due from attempts admitted unmeasured
    admission_waiter* head_ = nullptr;
    admission_waiter* tail_ = nullptr;
};

inline bool bulkhead::try_admit_fast() noexcept {
    std::uint64_t seen = permits_.load(std::memory_order_relaxed);
    // Relaxed: the permit guards no data of ours; the word's modification
    // order alone decides who gets a permit.
    while ((seen & slow) == 0 && static_cast<int>(seen) < limit_.load(std::memory_order_relaxed)) {
        if (permits_.compare_exchange_weak(seen, seen + 1, std::memory_order_relaxed))
            return true;
    }
    return false;
}

inline bool bulkhead::try_release_fast() noexcept {
    std::uint64_t seen = permits_.load(std::memory_order_relaxed);
    while ((seen & slow) == 0) {
        if (permits_.compare_exchange_weak(seen, seen - 1, std::memory_order_relaxed))
            return true;
    }
    return false;
}

} // namespace keel
