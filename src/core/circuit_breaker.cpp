// Over 400 lines: the windows, transitions and cheap paths of one state machine, read together.
#include <keel/circuit_breaker.hpp>
#include <keel/detail/floor_divider.hpp>
#include <keel/error.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace keel {

namespace {

using std::chrono::nanoseconds;

/// How the breaker counts one attempt.
enum class verdict : std::uint8_t { success, failure, ignored };

verdict judge(const circuit_breaker_settings& s, const attempt_record& a) noexcept {
    if (a.result == attempt_result::success)
        return verdict::success;
    if (a.fault == fault_class::cancelled || a.fault == fault_class::rejected ||
        s.ignore.contains(a.fault))
        return verdict::ignored;
    // A fault not recorded (a permanent error, HTTP 404) means the
    // dependency answered.
    return s.record.contains(a.fault) ? verdict::failure : verdict::success;
}

} // namespace

/// The attempts a ratio is taken over: the last N (a ring), or the last T in
/// B buckets. Sized at construction: recording allocates nothing.
struct circuit_breaker::window {
    struct counts {
        int recorded = 0;
        int failures = 0;
        int slow = 0;
    };
    /// No bucket's index (a time before the epoch has a negative one).
    static constexpr std::int64_t unused = std::numeric_limits<std::int64_t>::min();
    struct bucket {
        std::int64_t index = unused; ///< which bucket width of time it counts
        counts c;
    };

    explicit window(const circuit_breaker_settings& s)
        : by_time(s.window == circuit_breaker_settings::window_kind::time),
          width(by_time ? std::max<std::int64_t>(1, s.window_time.count() / s.buckets) : 1),
          bucket_count(by_time ? s.buckets : 1),
          ring(by_time ? 0 : static_cast<std::size_t>(s.window_size)),
          buckets(by_time ? static_cast<std::size_t>(s.buckets) : 0) {}

    /// What one slot of the ring holds: not a char type, so a store into
    /// the ring is not taken to change the window's other members.
    enum class slot : std::uint8_t { empty = 0, recorded = 1, failure = 2, slow = 4 };

    /// Counts an attempt in. False when the counts stay as they were: in a
    /// full ring, an attempt like the one it replaces (the steady state,
    /// success after success) -- nothing a ratio is taken of has changed.
    bool add(const lazy_time& now, bool failure, bool slow) {
        if (by_time) {
            add_by_time(now.get(), failure, slow);
            return true;
        }
        return add_counted(failure, slow);
    }

    /// add() to the ring (a count window).
    bool add_counted(bool failure, bool slow) {
        const auto entering = static_cast<slot>(1u | (failure ? 2u : 0u) | (slow ? 4u : 0u));
        slot& at = ring[next];
        if (++next == ring.size()) // no division on the hot path
            next = 0;
        const slot leaving = at;
        if (leaving == entering) [[likely]]
            return false;
        at = entering;
        const auto left = static_cast<unsigned>(leaving);
        total.recorded += 1 - static_cast<int>(left & 1u);
        total.failures += static_cast<int>(failure) - static_cast<int>((left >> 1) & 1u);
        total.slow += static_cast<int>(slow) - static_cast<int>((left >> 2) & 1u);
        return true;
    }

    void add_by_time(clock_ticks now, bool failure, bool slow) {
        expire(now);
        const std::int64_t index = width.floor(now.count());
        bucket& b = buckets[static_cast<std::size_t>(bucket_count.modulo(index))];
        if (b.index != index)
            b = bucket{index, {}};
        ++b.c.recorded;
        b.c.failures += failure ? 1 : 0;
        b.c.slow += slow ? 1 : 0;
        ++total.recorded;
        total.failures += failure ? 1 : 0;
        total.slow += slow ? 1 : 0;
    }

    /// Time windows: forget the buckets older than the window at `now`.
    void expire(clock_ticks now) {
        if (!by_time)
            return;
        const std::int64_t oldest = width.floor(now.count()) - bucket_count.divisor();
        for (bucket& b : buckets) {
            if (b.index != unused && b.index <= oldest) {
                total.recorded -= b.c.recorded;
                total.failures -= b.c.failures;
                total.slow -= b.c.slow;
                b = bucket{};
            }
        }
    }

    void clear() {
        std::fill(ring.begin(), ring.end(), slot::empty);
        std::fill(buckets.begin(), buckets.end(), bucket{});
        next = 0;
        total = {};
    }

    bool by_time;
    // Time windows, on every attempt's end: no hardware divide.
    detail::floor_divider width;        ///< ns per bucket
    detail::floor_divider bucket_count; ///< a bucket's index -> its slot
    std::vector<slot> ring;             ///< a combination of slot's bits
    std::size_t next = 0;
    std::vector<bucket> buckets;
    counts total;
};

void validate(const circuit_breaker_settings& s) {
    const auto fail = [](const std::string& what) {
        throw std::invalid_argument("circuit_breaker: " + what);
    };
    if (s.window_size < 1)
        fail("window size must be >= 1");
    if (s.window == circuit_breaker_settings::window_kind::time &&
        (s.window_time <= nanoseconds(0) || s.buckets < 1 || s.window_time.count() < s.buckets))
        fail("a time window needs a positive size and 1 or more buckets");
    if (s.min_calls < 1)
        fail("min_calls must be >= 1");
    if (!(s.failure_ratio > 0.0 && s.failure_ratio <= 1.0))
        fail("failure_ratio must be in (0, 1]");
    if (s.consecutive_failures < 0)
        fail("consecutive_failures must be >= 0");
    if (s.slow_threshold &&
        (*s.slow_threshold <= nanoseconds(0) || !(s.slow_ratio > 0.0 && s.slow_ratio <= 1.0)))
        fail("slow_call needs a positive threshold and a ratio in (0, 1]");
    if (s.break_duration <= nanoseconds(0) || s.break_max < s.break_duration)
        fail("break duration must be positive and no longer than break max");
    if (!(s.break_multiplier >= 1.0))
        fail("break multiplier must be >= 1");
    if (!(s.break_jitter >= 0.0 && s.break_jitter < 1.0))
        fail("break jitter must be in [0, 1)");
    if (s.probes < 1 || s.probe_successes() < 1)
        fail("half_open probes and successes must be >= 1");
    if (s.half_open_max_wait <= nanoseconds(0))
        fail("half_open max_wait must be positive");
    if (s.max_endpoints < 1)
        fail("max_endpoints must be >= 1");
}

std::string_view to_string(circuit_state s) noexcept {
    switch (s) {
    case circuit_state::closed:
        return "closed";
    case circuit_state::open:
        return "open";
    case circuit_state::half_open:
        return "half_open";
    }
    return "closed";
}

circuit_breaker::circuit_breaker(const circuit_breaker_settings& settings, std::uint64_t seed)
    : settings_((validate(settings), settings)), window_(std::make_unique<window>(settings_)),
      counts_successes_inline_(!settings_.slow_threshold &&
                               settings_.window == circuit_breaker_settings::window_kind::count),
      random_(seed) {
    set_needs_durations(settings_.slow_threshold.has_value()); // only slow_call reads them
}

circuit_breaker::circuit_breaker(const circuit_breaker_settings& settings,
                                 circuit_breaker& previous, std::uint64_t seed)
    : circuit_breaker(settings, seed) {
    std::lock_guard lock(previous.lock_);
    state_ = previous.state_;
    since_ = previous.since_;
    open_until_ = previous.open_until_;
    openings_ = previous.openings_;
    isolated_ = previous.isolated_;
    closed_epoch_.store(state_ == circuit_state::closed ? epoch_ : 0, std::memory_order_release);
    publish_refusal();
}

circuit_breaker::~circuit_breaker() = default;

void circuit_breaker::on_transition(std::function<void(const circuit_transition&)> listener) {
    std::lock_guard lock(lock_);
    listeners_.push_back(std::move(listener));
}

void circuit_breaker::catch_up(const lazy_time& now, transitions& out) {
    // Nothing in a closed breaker changes with time alone, nor in an
    // isolated one: neither reads the time.
    if (state_ == circuit_state::closed)
        return;
    while (!isolated_) {
        if (state_ == circuit_state::open && now.get() >= open_until_)
            move(circuit_state::half_open, open_until_, "break_ended", out);
        else if (state_ == circuit_state::half_open &&
                 now.get() >= since_ + settings_.half_open_max_wait)
            open(since_ + settings_.half_open_max_wait, "half_open_timeout", out);
        else
            return;
    }
}

admission circuit_breaker::admit(clock_ticks now, admission_waiter& waiter) {
    return admit_at(lazy_time(now), waiter);
}

void circuit_breaker::release(clock_ticks now, const attempt_record* attempt,
                              std::uint64_t ticket) noexcept {
    release_at(lazy_time(now), attempt, ticket);
}

admission circuit_breaker::admit_at(const lazy_time& now, admission_waiter&) {
    if (const std::uint32_t epoch = closed_epoch_.load(std::memory_order_acquire)) [[likely]] {
        admission result = admitted_; // closed: all is well
        result.ticket = epoch;
        return result;
    }
    return admit_unless_closed(now);
}

admission circuit_breaker::admit_unless_closed(const lazy_time& now) {
    // Open: refused without the lock while the break lasts (what the lock's
    // path answers then: nothing to catch up on, a refusal with the time
    // left). A refusal racing a transition is one made just before it.
    if (const std::int64_t until = refuse_until_.load(std::memory_order_acquire);
        until != not_refusing) {
        if (until == refusing_while_isolated)
            return refused_;
        if (const clock_ticks at = now.get(); at.count() < until) {
            admission result = refused_;
            result.retry_after = clock_ticks(until) - at;
            return result;
        }
    }
    return admit_locked(now);
}

admission circuit_breaker::admit_locked(const lazy_time& now) {
    admission result = admitted_; // admitted, or refused below
    transitions happened;
    {
        std::lock_guard lock(lock_);
        // Closed (all is well) and isolated breakers read no time.
        if (state_ != circuit_state::closed && !isolated_)
            catch_up(now, happened);
        if (state_ == circuit_state::closed) {
            result.ticket = epoch_;
        } else if (state_ == circuit_state::half_open && probes_in_flight_ < settings_.probes) {
            ++probes_in_flight_;
            result.ticket = epoch_;
        } else {
            result = refused_;
            if (state_ == circuit_state::open && !isolated_)
                result.retry_after = open_until_ - now.get();
        }
    }
    if (!happened.empty()) // rare: a transition
        notify(happened);
    return result;
}

std::string_view circuit_breaker::count_closed(const lazy_time& now,
                                               const attempt_record& attempt) noexcept {
    const verdict v = judge(settings_, attempt);
    if (v == verdict::ignored)
        return {};
    const bool failure = v == verdict::failure;
    const bool slow = settings_.slow_threshold && attempt.duration >= *settings_.slow_threshold;
    const bool counts_changed = window_->add(now, failure, slow);
    consecutive_ = failure ? consecutive_ + 1 : 0;
    return opening_reason(counts_changed);
}

std::string_view circuit_breaker::opening_reason(bool counts_changed) const noexcept {
    const window::counts& c = window_->total;
    // Unchanged counts were judged at the last attempt's end and did not
    // open it (the window is emptied whenever the breaker closes): they do
    // not now.
    if (counts_changed && c.recorded >= settings_.min_calls) {
        // failures / recorded >= ratio, without a division per attempt.
        const double recorded = c.recorded;
        if (c.failures >= settings_.failure_ratio * recorded)
            return "failure_ratio";
        if (settings_.slow_threshold && c.slow >= settings_.slow_ratio * recorded)
            return "slow_calls";
    }
    if (settings_.consecutive_failures > 0 && consecutive_ >= settings_.consecutive_failures)
        return "consecutive_failures";
    return {};
}

void circuit_breaker::release_at(const lazy_time& now, const attempt_record* attempt,
                                 std::uint64_t ticket) noexcept {
    lock_.lock();
    // The common case inline: a closed breaker (nothing to catch up on) with
    // a count window and no slow_call (no time to read) counting a success
    // of its epoch that leaves the counts as they were (a full window of
    // successes). The rest is out of line.
    if (state_ == circuit_state::closed && ticket == epoch_ && attempt &&
        attempt->result == attempt_result::success && counts_successes_inline_) [[likely]] {
        consecutive_ = 0;
        if (!window_->add_counted(false, false)) [[likely]] {
            lock_.unlock();
            return;
        }
        return open_if_due(now, opening_reason(true));
    }
    release_unless_counted(now, attempt, ticket);
}

void circuit_breaker::open_if_due(const lazy_time& now, std::string_view reason) noexcept {
    if (reason.empty()) {
        lock_.unlock();
        return;
    }
    transitions happened;
    open(now.get(), reason, happened);
    lock_.unlock();
    notify(happened);
}

void circuit_breaker::release_unless_counted(const lazy_time& now, const attempt_record* attempt,
                                             std::uint64_t ticket) noexcept {
    transitions happened;
    if (state_ != circuit_state::closed) // closed: nothing to catch up on
        catch_up(now, happened);
    // An attempt admitted before the last transition says nothing about
    // the state since: its late result is not counted.
    if (ticket == epoch_) {
        if (state_ == circuit_state::half_open) {
            --probes_in_flight_;
            if (attempt)
                judge_probe(now, *attempt, happened);
        } else if (state_ == circuit_state::closed && attempt) {
            if (const std::string_view opens = count_closed(now, *attempt); !opens.empty())
                open(now.get(), opens, happened);
        }
    }
    lock_.unlock();
    if (!happened.empty()) // rare: a transition
        notify(happened);
}

void circuit_breaker::judge_probe(const lazy_time& now, const attempt_record& attempt,
                                  transitions& out) {
    const verdict v = judge(settings_, attempt);
    if (v == verdict::failure)
        open(now.get(), "probe_failed", out);
    else if (v == verdict::success && ++probe_successes_ >= settings_.probe_successes())
        move(circuit_state::closed, now.get(), "probes_succeeded", out);
}

void circuit_breaker::move(circuit_state to, clock_ticks at, std::string_view reason,
                           transitions& out) {
    out.push_back({at, state_, to, reason});
    state_ = to;
    since_ = at;
    ++epoch_;
    closed_epoch_.store(to == circuit_state::closed ? epoch_ : 0, std::memory_order_release);
    probes_in_flight_ = 0;
    probe_successes_ = 0;
    if (to == circuit_state::closed) {
        window_->clear();
        openings_ = 0;
        consecutive_ = 0;
    }
    publish_refusal();
}

void circuit_breaker::publish_refusal() noexcept {
    std::int64_t until = not_refusing;
    if (state_ == circuit_state::open)
        until = isolated_ ? refusing_while_isolated : open_until_.count();
    refuse_until_.store(until, std::memory_order_release);
}

void circuit_breaker::open(clock_ticks at, std::string_view reason, transitions& out) {
    ++openings_;
    open_until_ = at + next_break();
    move(circuit_state::open, at, reason, out);
}

nanoseconds circuit_breaker::next_break() {
    const double base = static_cast<double>(settings_.break_duration.count()) *
                        std::pow(settings_.break_multiplier, openings_ - 1);
    double length = std::min(base, static_cast<double>(settings_.break_max.count()));
    if (settings_.break_jitter > 0.0)
        length *= 1.0 + settings_.break_jitter * (2.0 * random_.unit() - 1.0);
    return nanoseconds(static_cast<nanoseconds::rep>(std::llround(length)));
}

void circuit_breaker::isolate(clock_ticks now) {
    transitions happened;
    {
        std::lock_guard lock(lock_);
        catch_up(now, happened);
        isolated_ = true;
        if (state_ != circuit_state::open)
            move(circuit_state::open, now, "isolated", happened);
        else
            publish_refusal();
    }
    if (!happened.empty()) // rare: a transition
        notify(happened);
}

void circuit_breaker::reset(clock_ticks now) {
    transitions happened;
    {
        std::lock_guard lock(lock_);
        catch_up(now, happened);
        isolated_ = false;
        if (state_ != circuit_state::closed)
            move(circuit_state::closed, now, "reset", happened);
        else
            window_->clear();
        publish_refusal();
    }
    if (!happened.empty()) // rare: a transition
        notify(happened);
}

circuit_snapshot circuit_breaker::snapshot(clock_ticks now) {
    transitions happened;
    circuit_snapshot out;
    {
        std::lock_guard lock(lock_);
        catch_up(now, happened);
        window_->expire(now);
        const window::counts& c = window_->total;
        out.state = state_;
        out.since = since_;
        out.recorded = c.recorded;
        out.failure_ratio = c.recorded ? static_cast<double>(c.failures) / c.recorded : 0.0;
        out.isolated = isolated_;
    }
    if (!happened.empty()) // rare: a transition
        notify(happened);
    return out;
}

void circuit_breaker::notify(const transitions& happened) noexcept {
    // Transitions are rare: a copy lets listeners run outside the lock
    // while another thread adds one.
    std::vector<std::function<void(const circuit_transition&)>> listeners;
    {
        std::lock_guard lock(lock_);
        listeners = listeners_;
    }
    for (const circuit_transition& t : happened)
        for (const auto& listener : listeners)
            listener(t);
}

} // namespace keel
