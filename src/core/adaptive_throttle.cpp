#include <keel/adaptive_throttle.hpp>

#include <algorithm>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace keel {

namespace {

std::int64_t width_of(const adaptive_throttle_settings& s) noexcept {
    const std::int64_t w = s.window.count() / adaptive_throttle::buckets;
    return w > 0 ? w : 1;
}

std::size_t slot_of(std::int64_t bucket) noexcept {
    const std::int64_t r = bucket % adaptive_throttle::buckets;
    return static_cast<std::size_t>(r < 0 ? r + adaptive_throttle::buckets : r);
}

} // namespace

void validate(const adaptive_throttle_settings& s) {
    if (!(s.k >= 1.0 && s.k <= 100.0))
        throw std::invalid_argument("adaptive_throttle: k must be in [1, 100]");
    if (s.window < std::chrono::seconds(1) || s.window > std::chrono::hours(1))
        throw std::invalid_argument("adaptive_throttle: window must be in [1s, 1h]");
    if (s.min_requests < 0)
        throw std::invalid_argument("adaptive_throttle: min_requests must be >= 0");
    if (!(s.max_rejection >= 0.0 && s.max_rejection <= 1.0))
        throw std::invalid_argument("adaptive_throttle: max_rejection must be in [0, 1]");
}

double rejection_probability(const adaptive_throttle_settings& s, std::int64_t requests,
                             std::int64_t accepts) noexcept {
    if (requests < s.min_requests || requests <= 0)
        return 0.0;
    const double r = static_cast<double>(requests);
    const double p = (r - s.k * static_cast<double>(accepts)) / (r + 1.0);
    return std::clamp(p, 0.0, s.max_rejection);
}

adaptive_throttle::adaptive_throttle(const adaptive_throttle_settings& settings)
    : settings_((validate(settings), settings)), bucket_width_(width_of(settings)),
      head_(std::numeric_limits<std::int64_t>::min()), random_state_(settings.seed) {}

void adaptive_throttle::advance(clock_ticks now) noexcept {
    const std::int64_t bucket = bucket_width_.floor(now.count());
    if (head_ != std::numeric_limits<std::int64_t>::min() && bucket <= head_)
        return; // the same bucket, or another pipeline's clock a little behind
    if (head_ == std::numeric_limits<std::int64_t>::min() || bucket - head_ >= buckets) {
        ring_.fill(counts{});
        total_ = counts{};
    } else {
        for (std::int64_t b = head_ + 1; b <= bucket; ++b) {
            counts& c = ring_[slot_of(b)];
            total_.requests -= c.requests;
            total_.accepts -= c.accepts;
            c = counts{};
        }
    }
    head_ = bucket;
}

void adaptive_throttle::record_request(clock_ticks now) noexcept {
    const std::lock_guard hold(lock_);
    advance(now);
    ++ring_[slot_of(head_)].requests;
    ++total_.requests;
}

void adaptive_throttle::on_call_end(clock_ticks now, bool accepted) noexcept {
    if (!accepted)
        return;
    const std::lock_guard hold(lock_);
    advance(now);
    ++ring_[slot_of(head_)].accepts;
    ++total_.accepts;
}

double adaptive_throttle::probability(clock_ticks now) noexcept {
    const std::lock_guard hold(lock_);
    advance(now);
    return rejection_probability(settings_, total_.requests, total_.accepts);
}

std::int64_t adaptive_throttle::requests(clock_ticks now) noexcept {
    const std::lock_guard hold(lock_);
    advance(now);
    return total_.requests;
}

std::int64_t adaptive_throttle::accepts(clock_ticks now) noexcept {
    const std::lock_guard hold(lock_);
    advance(now);
    return total_.accepts;
}

bool adaptive_throttle::refuse_call(clock_ticks now) noexcept {
    double p = 0.0;
    {
        const std::lock_guard hold(lock_);
        advance(now);
        p = rejection_probability(settings_, total_.requests, total_.accepts);
        ++ring_[slot_of(head_)].requests;
        ++total_.requests;
    }
    if (p <= 0.0 || !draw_refuses(p))
        return false;
    refused_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool adaptive_throttle::draw_refuses(double probability) noexcept {
    // splitmix64 over an atomic counter: one draw per refusal decision,
    // the same sequence for the same seed.
    std::uint64_t z = random_state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) +
                      0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double unit = static_cast<double>(z >> 11) * 0x1.0p-53;
    return unit < probability;
}

} // namespace keel
