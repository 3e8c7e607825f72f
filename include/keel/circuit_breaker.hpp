// keel::circuit_breaker: fail fast while a dependency is down, probe it back
// carefully. A strategy of the chain (admission and observation), shared by
// every caller of a dependency (docs/circuit-breaker.md).
#pragma once

#include <keel/detail/spinlock.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/random.hpp>
#include <keel/strategy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace keel {

/// What a breaker is configured with (the `circuit_breaker:` key).
struct circuit_breaker_settings {
    enum class window_kind : std::uint8_t { count, time };
    enum class scope_kind : std::uint8_t { dependency, endpoint };

    /// count: the last `window_size` recorded attempts; time: the attempts
    /// recorded in the last `window_time`, in `buckets` buckets.
    window_kind window = window_kind::count;
    int window_size = 20;
    std::chrono::nanoseconds window_time = std::chrono::seconds(30);
    int buckets = 10;

    int min_calls = 10;           ///< recorded attempts before a ratio counts
    double failure_ratio = 0.5;   ///< failures / recorded that opens it
    int consecutive_failures = 0; ///< this many failures in a row open it; 0: off
    /// An attempt at least this long is slow; slow / recorded >= ratio opens
    /// it. Unset: slowness is not looked at.
    std::optional<std::chrono::nanoseconds> slow_threshold;
    double slow_ratio = 1.0;

    fault_set record{fault_class::transient, fault_class::timeout, fault_class::throttled};
    fault_set ignore{};

    /// The k-th opening since the breaker was last closed lasts
    /// min(break_max, break_duration * break_multiplier^(k-1)), spread by
    /// +- break_jitter (a fraction).
    std::chrono::nanoseconds break_duration = std::chrono::seconds(5);
    double break_multiplier = 1.0;
    std::chrono::nanoseconds break_max = std::chrono::minutes(2);
    double break_jitter = 0.0;

    int probes = 1;               ///< half-open attempts in flight at once
    std::optional<int> successes; ///< probe successes that close it; unset: `probes`
    std::chrono::nanoseconds half_open_max_wait = std::chrono::seconds(30);

    scope_kind scope = scope_kind::dependency;
    int max_endpoints = 1024;

    int probe_successes() const noexcept { return successes.value_or(probes); }

    friend bool operator==(const circuit_breaker_settings&,
                           const circuit_breaker_settings&) = default;
};

/// Throws std::invalid_argument naming the first impossible value.
void validate(const circuit_breaker_settings& settings);

enum class circuit_state : std::uint8_t { closed, open, half_open };
std::string_view to_string(circuit_state s) noexcept;

/// One change of state. `reason`: failure_ratio, slow_calls,
/// consecutive_failures, break_ended, probe_failed, probes_succeeded,
/// half_open_timeout, isolated, reset.
struct circuit_transition {
    clock_ticks at{0};
    circuit_state from = circuit_state::closed;
    circuit_state to = circuit_state::closed;
    std::string_view reason;
};

/// What a health check shows of a breaker.
struct circuit_snapshot {
    circuit_state state = circuit_state::closed;
    clock_ticks since{0};       ///< when it entered `state`
    double failure_ratio = 0.0; ///< of the window (0 when empty)
    int recorded = 0;           ///< attempts in the window
    bool isolated = false;      ///< held open by isolate()
};

class circuit_breaker final : public admission_strategy {
public:
    /// `seed` spreads the break durations (break_jitter).
    /// Throws std::invalid_argument on impossible settings (validate).
    explicit circuit_breaker(const circuit_breaker_settings& settings, std::uint64_t seed = 0);
    /// A breaker with new settings (a reload changed them) that takes over
    /// the state of `previous` -- closed, open or half-open, since when, when
    /// its break ends, how many openings since it was last closed, isolated
    /// -- with an empty window: an open breaker stays open until its break
    /// ends. Transitions that were due in `previous` are made by this one,
    /// when it is next used. Attempts `previous` admitted are released to it.
    circuit_breaker(const circuit_breaker_settings& settings, circuit_breaker& previous,
                    std::uint64_t seed = 0);
    ~circuit_breaker() override;
    circuit_breaker(const circuit_breaker&) = delete;
    circuit_breaker& operator=(const circuit_breaker&) = delete;

    admission admit(clock_ticks now, admission_waiter& waiter) override;
    void release(clock_ticks now, const attempt_record* attempt,
                 std::uint64_t ticket) noexcept override;
    /// A closed breaker reads the time only for a time window or a
    /// transition; an open or half-open one always.
    admission admit_at(const lazy_time& now, admission_waiter& waiter) override;
    void release_at(const lazy_time& now, const attempt_record* attempt,
                    std::uint64_t ticket) noexcept override;

    /// Holds it open, refusing everything, until reset().
    void isolate(clock_ticks now);
    /// Closes it (from any state, isolated included), with an empty window.
    void reset(clock_ticks now);

    /// Its state at `now` (time-driven transitions that were due by then are
    /// made first, at the instants they were due).
    circuit_snapshot snapshot(clock_ticks now);

    /// Adds a listener called after every transition, outside the
    /// breaker's lock, on the thread that made it (metrics count
    /// transitions; keel-sim lists them). It must not throw. Safe while the
    /// breaker is in use: a listener added then hears the transitions made
    /// after it was added.
    void on_transition(std::function<void(const circuit_transition&)> listener);

    const circuit_breaker_settings& settings() const noexcept { return settings_; }

private:
    struct window;
    using transitions = std::vector<circuit_transition>;

    void catch_up(const lazy_time& now, transitions& out);
    void move(circuit_state to, clock_ticks at, std::string_view reason, transitions& out);
    void open(clock_ticks at, std::string_view reason, transitions& out);
    std::chrono::nanoseconds next_break();
    /// The closed breaker's path out of line: an open or half-open breaker,
    /// an attempt of an earlier epoch, one that never started. First the
    /// refusal of an open breaker without the lock, then the lock's path.
    [[gnu::noinline]] admission admit_unless_closed(const lazy_time& now);
    [[gnu::noinline]] admission admit_locked(const lazy_time& now);
    /// With the lock held, which it releases.
    [[gnu::noinline]] void release_unless_counted(const lazy_time& now,
                                                  const attempt_record* attempt,
                                                  std::uint64_t ticket) noexcept;
    /// Under the lock, closed: counts `attempt` into the window; the reason
    /// to open when that opens the breaker, else empty.
    std::string_view count_closed(const lazy_time& now, const attempt_record& attempt) noexcept;
    /// Under the lock, closed, the attempt counted: why it opens now, if it
    /// does. `counts_changed`: the window's counts are not what they were.
    std::string_view opening_reason(bool counts_changed) const noexcept;
    /// With the lock held, which it releases: opens it for `reason` unless
    /// empty.
    [[gnu::noinline]] void open_if_due(const lazy_time& now, std::string_view reason) noexcept;
    /// Under the lock, half-open: a probe's verdict.
    void judge_probe(const lazy_time& now, const attempt_record& attempt, transitions& out);
    void notify(const transitions& happened) noexcept;
    /// Under the lock, after the state or isolated_ changed: refuse_until_.
    void publish_refusal() noexcept;

    const circuit_breaker_settings settings_;
    /// Copied, not built: building an admission looks up the system error
    /// category (a call into the C++ runtime), a refusal its own too.
    const admission admitted_ = admission::admit();
    const admission refused_ = admission::reject(errc::circuit_open);
    /// epoch_ while closed, else 0 (also when epoch_ wrapped to 0): a closed
    /// breaker admits without its lock. An admission that races a
    /// transition is one made just before it; its result is then ignored.
    /// Written only by transitions: kept off the line of the lock, which
    /// every attempt's end writes.
    std::atomic<std::uint32_t> closed_epoch_{1};
    /// While open, the end of the break (open_until_), so admit() refuses
    /// without the lock; refusing_while_isolated while isolated;
    /// not_refusing in any other state (the lock decides). Written under
    /// the lock.
    static constexpr std::int64_t not_refusing = std::numeric_limits<std::int64_t>::min();
    static constexpr std::int64_t refusing_while_isolated =
        std::numeric_limits<std::int64_t>::max();
    std::atomic<std::int64_t> refuse_until_{not_refusing};
    std::unique_ptr<window> window_;
    /// A count window without slow_call: release_at() counts a closed
    /// breaker's successes inline.
    const bool counts_successes_inline_;

    /// The lock and what it guards, on a line of their own.
    alignas(64) detail::spinlock lock_;
    circuit_state state_ = circuit_state::closed;
    std::uint32_t epoch_ = 1;
    int consecutive_ = 0; ///< failures in a row
    clock_ticks since_{0};
    clock_ticks open_until_{0};
    int openings_ = 0; ///< since last closed
    int probes_in_flight_ = 0;
    int probe_successes_ = 0;
    bool isolated_ = false;
    random_source random_;
    std::vector<std::function<void(const circuit_transition&)>> listeners_;
};

} // namespace keel
