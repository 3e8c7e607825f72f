#include <keel/rate_limiter.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>

namespace keel {

namespace {

using namespace std::chrono_literals;

/// Far enough in the past that every token is free, far enough from the
/// limit that subtracting an interval and a tolerance cannot overflow.
constexpr clock_ticks long_ago{std::numeric_limits<std::int64_t>::min() / 4};
/// The longest pause a pushback makes, whatever the settings (about 18
/// years): the time packed with a flag (rate_limiter's next_) has one bit
/// fewer than a clock_ticks (about 146 years either side of the clock's
/// epoch), and the tolerance comes on top.
constexpr clock_ticks longest_pause{std::numeric_limits<std::int64_t>::max() / 16};

struct rate_unit {
    std::string_view name;
    std::chrono::nanoseconds period;
};
constexpr std::array<rate_unit, 7> rate_units{{{"ns", 1ns},
                                               {"us", 1us},
                                               {"ms", 1ms},
                                               {"s", 1s},
                                               {"m", std::chrono::minutes(1)},
                                               {"min", std::chrono::minutes(1)},
                                               {"h", std::chrono::hours(1)}}};

std::string_view trimmed(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

rate_parse_result parse_failure(std::string why) {
    return {std::nullopt, std::move(why)};
}

// The ticket of a token is its time: what give_back() needs to place it.
std::uint64_t ticket_of(clock_ticks token_at) noexcept {
    return static_cast<std::uint64_t>(token_at.count());
}
clock_ticks token_of(std::uint64_t ticket) noexcept {
    return clock_ticks(static_cast<std::int64_t>(ticket));
}

} // namespace

std::chrono::nanoseconds token_rate::interval() const noexcept {
    const auto ns = period.count();
    return std::chrono::nanoseconds(std::max<std::int64_t>(1, (ns + tokens - 1) / tokens));
}

std::int64_t token_rate::per_second() const noexcept {
    // tokens × 1 s / period: exact for the rates people write (5/ms, 3000/m).
    const long double per_second =
        static_cast<long double>(tokens) * 1e9L / static_cast<long double>(period.count());
    if (per_second >= static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 2))
        return std::numeric_limits<std::int64_t>::max() / 2;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(per_second));
}

rate_parse_result parse_rate(std::string_view text) {
    const std::string_view s = trimmed(text);
    const auto slash = s.find('/');
    if (slash == std::string_view::npos)
        return parse_failure("expected TOKENS/UNIT (e.g. 100/s, 5/ms, 3000/m), got '" +
                             std::string(s) + "'");
    const std::string_view count = trimmed(s.substr(0, slash));
    const std::string_view unit = trimmed(s.substr(slash + 1));
    std::int64_t tokens = 0;
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), tokens);
    if (count.empty() || ec == std::errc::invalid_argument || end != count.data() + count.size())
        return parse_failure("the token count must be a whole number, got '" + std::string(count) +
                             "'");
    if (ec == std::errc::result_out_of_range)
        return parse_failure("the token count '" + std::string(count) + "' is too large");
    if (tokens <= 0)
        return parse_failure("the token count must be > 0, got " + std::to_string(tokens));
    for (const rate_unit& u : rate_units)
        if (u.name == unit)
            return {token_rate{tokens, u.period}, {}};
    return parse_failure("unknown unit '" + std::string(unit) +
                         "' after '/' (expected ns, us, ms, s, m or h)");
}

std::string to_string(const token_rate& rate) {
    for (const rate_unit& u : rate_units)
        if (u.period == rate.period && u.name != "min")
            return std::to_string(rate.tokens) + "/" + std::string(u.name);
    return std::to_string(rate.tokens) + "/" + std::to_string(rate.period.count()) + "ns";
}

void validate(const rate_limit_settings& s) {
    const auto fail = [](const std::string& what) {
        throw std::invalid_argument("rate_limit: " + what);
    };
    if (s.rate.tokens <= 0)
        fail("rate: the token count must be > 0 (is " + std::to_string(s.rate.tokens) + ")");
    if (s.rate.period.count() <= 0)
        fail("rate: the period must be > 0");
    if (s.burst && *s.burst < 1)
        fail("burst must be >= 1 (is " + std::to_string(*s.burst) + ")");
    if (s.max_wait.count() < 0)
        fail("max_wait must be >= 0");
    if (s.pushback_cap.count() < 0)
        fail("pushback_cap must be >= 0");
    // The tolerance, (burst - 1) × interval, must stay far from overflow.
    const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 8;
    if (s.burst_tokens() - 1 > limit / s.rate.interval().count())
        fail("burst × the interval between tokens is too long");
}

rate_limiter::rate_limiter(const rate_limit_settings& settings)
    : settings_((validate(settings), settings)), interval_(settings.rate.interval()),
      tolerance_(interval_ * (settings.burst_tokens() - 1)), next_(pack(long_ago, false)),
      paused_until_(long_ago) {
    set_needs_durations(false);
}

[[gnu::always_inline]] inline admission rate_limiter::granted(clock_ticks token_at,
                                                              clock_ticks wait) const noexcept {
    const bool later = wait.count() > 0;
    admission a = later ? reserved_ : admitted_;
    a.ticket = ticket_of(token_at);
    if (later) {
        a.retry_after = wait;
        a.wait = wait;
    }
    return a;
}

admission rate_limiter::refused(clock_ticks wait) const noexcept {
    admission a = refused_;
    a.retry_after = wait;
    return a;
}

admission rate_limiter::admit(clock_ticks now, admission_waiter& waiter) {
    return admit_at(lazy_time(now), waiter);
}

[[gnu::always_inline]] inline admission rate_limiter::admit_now(clock_ticks now) {
    // Relaxed: a token guards no data of ours; the word's modification
    // order alone decides who gets which token.
    std::int64_t seen = next_.load(std::memory_order_relaxed);
    while ((seen & held) == 0) {
        const clock_ticks token_at = std::max(unpack(seen), now) - tolerance_;
        const clock_ticks wait = token_at - now;
        if (wait > settings_.max_wait)
            return refused(wait); // nothing taken, nothing changed
        if (next_.compare_exchange_weak(seen, pack(token_at + tolerance_ + interval_, false),
                                        std::memory_order_relaxed))
            return granted(token_at, wait);
    }
    return admit_locked(now);
}

admission rate_limiter::admit_at(const lazy_time& now, admission_waiter&) {
    if (!now.known()) [[unlikely]] // read out of line: the hot path saves no registers
        return admit_read(now);
    return admit_now(now.get());
}

admission rate_limiter::admit_read(const lazy_time& now) {
    return admit_now(now.get());
}

admission rate_limiter::admit_locked(clock_ticks now) {
    admission result;
    lock_.lock();
    clock_ticks next = hold();
    drop_returned_before(now);
    if (returned_count_ > 0) {
        // A token handed back ahead of the queue: the next asker's.
        const clock_ticks token_at = returned_[0];
        const clock_ticks wait = token_at - now;
        if (wait > settings_.max_wait) {
            result = refused(wait);
        } else {
            std::copy(returned_.begin() + 1, returned_.begin() + returned_count_,
                      returned_.begin());
            --returned_count_;
            result = granted(token_at, wait);
        }
    } else {
        const clock_ticks token_at = std::max(next, now) - tolerance_;
        const clock_ticks wait = token_at - now;
        if (wait > settings_.max_wait) {
            result = refused(wait);
        } else {
            next = token_at + tolerance_ + interval_; // reserved: later askers queue behind
            result = granted(token_at, wait);
        }
    }
    release_hold(next);
    lock_.unlock();
    return result;
}

clock_ticks rate_limiter::hold() noexcept {
    return unpack(next_.fetch_or(held, std::memory_order_relaxed));
}

void rate_limiter::release_hold(clock_ticks next) noexcept {
    next_.store(pack(next, returned_count_ > 0), std::memory_order_relaxed);
}

bool rate_limiter::pushes_back(const attempt_record& attempt) const noexcept {
    return settings_.honor_pushback && attempt.result != attempt_result::success &&
           attempt.fault == fault_class::throttled && attempt.retry_after &&
           attempt.retry_after->count() > 0;
}

void rate_limiter::release_at(const lazy_time& now, const attempt_record* attempt,
                              std::uint64_t ticket) noexcept {
    // It succeeded: its token is spent, nothing to learn.
    if (attempt && attempt->result == attempt_result::success)
        return;
    release_unspent(now, attempt, ticket);
}

void rate_limiter::release_unspent(const lazy_time& now, const attempt_record* attempt,
                                   std::uint64_t ticket) noexcept {
    if (attempt && !pushes_back(*attempt))
        return; // spent too, and the dependency did not push back
    release(now.get(), attempt, ticket);
}

void rate_limiter::release(clock_ticks now, const attempt_record* attempt,
                           std::uint64_t ticket) noexcept {
    if (attempt && !pushes_back(*attempt))
        return;
    lock_.lock();
    clock_ticks next = hold();
    if (attempt) {
        const clock_ticks pause =
            std::min({*attempt->retry_after, clock_ticks(settings_.pushback_cap), longest_pause});
        next = pause_until(next, now + pause);
    } else {
        next = give_back(now, next, token_of(ticket));
    }
    release_hold(next);
    lock_.unlock();
}

clock_ticks rate_limiter::give_back(clock_ticks now, clock_ticks next,
                                    clock_ticks token_at) noexcept {
    const clock_ticks last_promised = next - interval_ - tolerance_;
    if (last_promised <= now) { // nothing promised ahead: back into the bucket
        next = std::max(next - interval_, now);
        returned_count_ = 0;
    } else if (token_at == last_promised) { // the end of the queue: it gets shorter
        next -= interval_;
        // Times handed back just before it are the end of the queue now too.
        while (returned_count_ > 0 &&
               returned_[returned_count_ - 1] == next - interval_ - tolerance_) {
            --returned_count_;
            next -= interval_;
        }
    } else if (token_at > now && token_at >= paused_until_) {
        keep_returned(token_at);
    } // else: due already with waiters behind it, or inside a pause: spent
    // A pushback's bucket refills from empty at its end: never more than that.
    return std::max(next, paused_until_ + tolerance_);
}

void rate_limiter::keep_returned(clock_ticks token_at) noexcept {
    if (returned_count_ == max_returned) {
        if (token_at >= returned_[max_returned - 1])
            return; // the latest is the least useful: spent
        --returned_count_;
    }
    auto* const end = returned_.begin() + returned_count_;
    auto* const at = std::upper_bound(returned_.begin(), end, token_at);
    std::copy_backward(at, end, end + 1);
    *at = token_at;
    ++returned_count_;
}

void rate_limiter::drop_returned_before(clock_ticks t) noexcept {
    int stale = 0;
    while (stale < returned_count_ && returned_[stale] < t)
        ++stale;
    if (stale == 0)
        return;
    std::copy(returned_.begin() + stale, returned_.begin() + returned_count_, returned_.begin());
    returned_count_ -= stale;
}

clock_ticks rate_limiter::pause_until(clock_ticks next, clock_ticks until) noexcept {
    paused_until_ = std::max(paused_until_, until);
    drop_returned_before(until);
    // The first token asked for after the pause is free at `until`, then
    // one per interval: the bucket is empty when the pause ends.
    return std::max(next, until + tolerance_);
}

clock_ticks rate_limiter::next_free(clock_ticks now) const noexcept {
    lock_.lock();
    clock_ticks at = std::max(unpack(next_.load(std::memory_order_relaxed)), now) - tolerance_;
    for (int i = 0; i < returned_count_; ++i)
        if (returned_[i] >= now) {
            at = std::min(at, returned_[i]);
            break;
        }
    lock_.unlock();
    return std::max(at, now);
}

clock_ticks rate_limiter::paused_until() const noexcept {
    lock_.lock();
    const clock_ticks until = paused_until_;
    lock_.unlock();
    return until;
}

} // namespace keel
