#include <keel/bulkhead.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace keel {

namespace {

using adaptive_settings = bulkhead_settings::adaptive_settings;

/// Netflix's ExpAvgMeasurement averages its first samples plainly.
constexpr int long_rtt_warmup = 10;

void validate_adaptive(const adaptive_settings& a) {
    const auto fail = [](const std::string& what) {
        throw std::invalid_argument("bulkhead: adaptive." + what);
    };
    const int min = a.min_limit();
    if (min < 1)
        fail("min must be >= 1 (is " + std::to_string(min) + ")");
    if (a.max < min)
        fail("max must be >= min (" + std::to_string(a.max) + " < " + std::to_string(min) + ")");
    if (a.initial < min || a.initial > a.max)
        fail("initial must be within [min, max] (is " + std::to_string(a.initial) + ")");
    if (!(a.backoff_ratio > 0.0 && a.backoff_ratio < 1.0))
        fail("backoff_ratio must be in (0, 1) (is " + std::to_string(a.backoff_ratio) + ")");
    if (a.timeout && a.timeout->count() <= 0)
        fail("timeout must be > 0");
    if (!(a.smoothing > 0.0 && a.smoothing <= 1.0))
        fail("smoothing must be in (0, 1] (is " + std::to_string(a.smoothing) + ")");
    if (a.queue_size < 0)
        fail("queue_size must be >= 0 (is " + std::to_string(a.queue_size) + ")");
    if (!(a.tolerance >= 1.0))
        fail("tolerance must be >= 1 (is " + std::to_string(a.tolerance) + ")");
    if (a.long_window < 1)
        fail("long_window must be >= 1 (is " + std::to_string(a.long_window) + ")");
}

} // namespace

void validate(const bulkhead_settings& s) {
    const auto fail = [](const std::string& what) {
        throw std::invalid_argument("bulkhead: " + what);
    };
    if (s.max_concurrent < 1)
        fail("max_concurrent must be >= 1 (is " + std::to_string(s.max_concurrent) + ")");
    if (s.queue.max < 0)
        fail("queue.max must be >= 0 (is " + std::to_string(s.queue.max) + ")");
    if (s.queue.timeout.count() < 0)
        fail("queue.timeout must be >= 0");
    if (s.adaptive)
        validate_adaptive(*s.adaptive);
}

// ---- adaptive_limit ---------------------------------------------------------------

adaptive_limit::adaptive_limit(const adaptive_settings& settings)
    : settings_(settings), limit_(settings.initial), estimate_(settings.initial) {
    validate_adaptive(settings_);
}

bool adaptive_limit::is_drop(const attempt_record& a) const noexcept {
    if (a.result != attempt_result::success &&
        (a.fault == fault_class::timeout || a.fault == fault_class::throttled))
        return true;
    return settings_.timeout && a.duration > *settings_.timeout;
}

int adaptive_limit::on_sample(std::chrono::nanoseconds rtt, int in_flight, bool drop) noexcept {
    limit_ = settings_.algorithm == adaptive_settings::algorithm_kind::aimd
                 ? aimd(in_flight, drop)
                 : gradient2(rtt, in_flight, drop);
    return limit_;
}

int adaptive_limit::aimd(int in_flight, bool drop) const noexcept {
    if (drop) {
        // The epsilon keeps 90 * 0.9 at 81: 0.9 is a little above or below
        // itself in binary, and floor() must not lose a whole permit to it.
        const double backed_off = std::floor(limit_ * settings_.backoff_ratio + 1e-9);
        return std::max(settings_.min_limit(), static_cast<int>(backed_off));
    }
    if (in_flight * 2 >= limit_)
        return std::min(settings_.max, limit_ + 1);
    return limit_;
}

// Netflix's Gradient2Limit, with two deviations: a drop counts as a sample
// at adaptive.timeout (at least its own duration), and while the dependency
// is app-limited (in_flight < limit / 2) the limit may still fall, only not
// grow (Netflix leaves it unchanged: drops would then be ignored).
int adaptive_limit::gradient2(std::chrono::nanoseconds rtt, int in_flight, bool drop) noexcept {
    double sample = static_cast<double>(rtt.count());
    if (drop && settings_.timeout)
        sample = std::max(sample, static_cast<double>(settings_.timeout->count()));
    sample = std::max(sample, 1.0); // a zero duration would divide by zero

    const int warmup = std::min(long_rtt_warmup, settings_.long_window);
    if (long_samples_ < warmup) {
        ++long_samples_;
        long_rtt_ += (sample - long_rtt_) / long_samples_;
    } else {
        const double factor = 2.0 / (settings_.long_window + 1);
        long_rtt_ = long_rtt_ * (1.0 - factor) + sample * factor;
    }
    // A long RTT far above the short one (a spike passed): let it recover.
    if (long_rtt_ / sample > 2.0)
        long_rtt_ *= 0.95;

    const double gradient = std::clamp(settings_.tolerance * long_rtt_ / sample, 0.5, 1.0);
    double next = estimate_ * gradient + settings_.queue_size;
    next = estimate_ * (1.0 - settings_.smoothing) + next * settings_.smoothing;
    if (in_flight < estimate_ / 2.0)
        next = std::min(next, estimate_); // app-limited: no growth
    estimate_ = std::clamp(next, static_cast<double>(settings_.min_limit()),
                           static_cast<double>(settings_.max));
    return static_cast<int>(estimate_);
}

void adaptive_limit::retune(const adaptive_settings& settings) noexcept {
    const bool same_algorithm = settings.algorithm == settings_.algorithm;
    const double learned = settings_.algorithm == adaptive_settings::algorithm_kind::gradient2
                               ? estimate_
                               : static_cast<double>(limit_);
    settings_ = settings;
    if (!same_algorithm) {
        // The other algorithm's RTT history means nothing to this one.
        long_rtt_ = 0;
        long_samples_ = 0;
    }
    estimate_ = std::clamp(learned, static_cast<double>(settings_.min_limit()),
                           static_cast<double>(settings_.max));
    limit_ = static_cast<int>(estimate_);
}

// ---- bulkhead ---------------------------------------------------------------------

namespace {

/// Whether an adaptive limit reads attempt durations: gradient2 always,
/// aimd only to judge adaptive.timeout.
bool timed(const bulkhead_settings& s) noexcept {
    return s.adaptive && (s.adaptive->timeout ||
                          s.adaptive->algorithm == adaptive_settings::algorithm_kind::gradient2);
}

} // namespace

bulkhead::bulkhead(const bulkhead_settings& settings)
    : settings_((validate(settings), settings)), limit_(settings.max_concurrent) {
    if (settings_.adaptive) {
        adaptive_.emplace(*settings_.adaptive);
        limit_.store(adaptive_->limit(), std::memory_order_relaxed);
    }
    set_needs_durations(timed(settings_));
    update_slow();
}

void bulkhead::reconfigure(const bulkhead_settings& settings) {
    validate(settings);
    lock_.lock();
    if (!settings.adaptive)
        adaptive_.reset();
    else if (adaptive_)
        adaptive_->retune(*settings.adaptive);
    else
        adaptive_.emplace(*settings.adaptive); // a fixed limit taught it nothing
    // The attempts running now were admitted without a clock read at their
    // end if the old settings needed none: their duration 0 would be a
    // sample of an infinitely fast dependency. As many ends as they are
    // teach the new limit nothing.
    // Marked slow first: a release from now on takes the lock, so the
    // count read here is exactly the ends still due.
    const int running = mark_slow();
    unmeasured_ = timed(settings) && !timed(settings_) ? running : 0;
    settings_ = settings;
    limit_.store(adaptive_ ? adaptive_->limit() : settings_.max_concurrent,
                 std::memory_order_relaxed);
    set_needs_durations(timed(settings_));
    admission_waiter* granted = grant_waiters();
    update_slow();
    lock_.unlock();
    notify(granted);
}

bulkhead_settings bulkhead::settings() const noexcept {
    lock_.lock();
    bulkhead_settings copy = settings_;
    lock_.unlock();
    return copy;
}

bulkhead::~bulkhead() = default;

admission bulkhead::admit(clock_ticks, admission_waiter& waiter) {
    if (try_admit_fast())
        return admission::admit();
    lock_.lock();
    // Slow from here: no permit is taken or given back without the lock
    // while this one decides, so the count it sees stays true.
    if (mark_slow() < limit_.load(std::memory_order_relaxed) && queued_ == 0) {
        permits_.fetch_add(1, std::memory_order_relaxed);
        update_slow();
        lock_.unlock();
        return admission::admit();
    }
    if (queued_ >= settings_.queue.max) {
        update_slow();
        lock_.unlock();
        return admission::reject(errc::bulkhead_full);
    }
    push_back(waiter); // stays slow: a release must find the waiter
    const std::chrono::nanoseconds bound = settings_.queue.timeout;
    lock_.unlock();
    return admission::wait_at_most(bound, errc::bulkhead_timeout);
}

bool bulkhead::withdraw(admission_waiter& waiter) noexcept {
    lock_.lock();
    const bool queued = waiter.links().prev != nullptr || head_ == &waiter;
    if (queued) {
        unlink(waiter);
        update_slow();
    }
    lock_.unlock();
    return queued;
}

void bulkhead::release(clock_ticks, const attempt_record* attempt, std::uint64_t) noexcept {
    if (try_release_fast())
        return;
    lock_.lock();
    const int running = mark_slow();
    if (unmeasured_ > 0)
        --unmeasured_;
    else if (adaptive_ && attempt)
        limit_.store(adaptive_->on_attempt(*attempt, running), std::memory_order_relaxed);
    permits_.fetch_sub(1, std::memory_order_relaxed);
    admission_waiter* granted = grant_waiters();
    update_slow();
    lock_.unlock();
    notify(granted);
}

admission_waiter* bulkhead::grant_waiters() noexcept {
    // Linked through links().next; their links are no longer the queue's,
    // so withdraw() sees them as admitted.
    admission_waiter* granted = nullptr;
    admission_waiter* granted_tail = nullptr;
    // Called slow (under the lock): only the lock's holder changes the count.
    while (in_flight_locked() < limit_.load(std::memory_order_relaxed) && head_) {
        admission_waiter* next = pop_front();
        permits_.fetch_add(1, std::memory_order_relaxed);
        if (granted_tail)
            granted_tail->links().next = next;
        else
            granted = next;
        granted_tail = next;
    }
    return granted;
}

void bulkhead::notify(admission_waiter* granted) noexcept {
    while (granted) {
        admission_waiter* next = std::exchange(granted->links().next, nullptr);
        granted->admitted(); // outside the lock, as admission_waiter asks
        granted = next;
    }
}

int bulkhead::in_flight() const noexcept {
    return static_cast<int>(permits_.load(std::memory_order_relaxed) & count_mask);
}

int bulkhead::limit() const noexcept {
    return limit_.load(std::memory_order_relaxed);
}

int bulkhead::mark_slow() noexcept {
    return static_cast<int>(permits_.fetch_or(slow, std::memory_order_relaxed) & count_mask);
}

void bulkhead::update_slow() noexcept {
    if (queued_ == 0 && !adaptive_ && unmeasured_ == 0)
        permits_.fetch_and(~slow, std::memory_order_relaxed);
    else
        permits_.fetch_or(slow, std::memory_order_relaxed);
}

int bulkhead::queued() const noexcept {
    lock_.lock();
    const int n = queued_;
    lock_.unlock();
    return n;
}

void bulkhead::push_back(admission_waiter& waiter) noexcept {
    auto& links = waiter.links();
    links.prev = tail_;
    links.next = nullptr;
    if (tail_)
        tail_->links().next = &waiter;
    else
        head_ = &waiter;
    tail_ = &waiter;
    ++queued_;
}

admission_waiter* bulkhead::pop_front() noexcept {
    admission_waiter* first = head_;
    unlink(*first);
    return first;
}

void bulkhead::unlink(admission_waiter& waiter) noexcept {
    auto& links = waiter.links();
    if (links.prev)
        links.prev->links().next = links.next;
    else
        head_ = links.next;
    if (links.next)
        links.next->links().prev = links.prev;
    else
        tail_ = links.prev;
    links.prev = nullptr;
    links.next = nullptr;
    --queued_;
}

} // namespace keel
