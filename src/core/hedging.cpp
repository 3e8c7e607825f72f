#include <keel/hedging.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>

namespace keel {

namespace {

constexpr int max_hedged_attempts = 5; // gRPC's cap on a hedging policy's maxAttempts

} // namespace

void validate(const hedge_settings& s) {
    if (s.max_attempts < 2 || s.max_attempts > max_hedged_attempts)
        throw std::invalid_argument("hedge.max_attempts must be between 2 and " +
                                    std::to_string(max_hedged_attempts) + ", got " +
                                    std::to_string(s.max_attempts));
    if (s.delay.count() < 0)
        throw std::invalid_argument("hedge.delay must not be negative");
    if (s.delay_quantile && !(*s.delay_quantile > 0.0 && *s.delay_quantile < 1.0))
        throw std::invalid_argument("hedge.delay: a quantile must be between p0 and p100, "
                                    "both excluded");
    if (s.min_samples < 1)
        throw std::invalid_argument("hedge.min_samples must be at least 1, got " +
                                    std::to_string(s.min_samples));
    if (s.min_samples > hedging::quantile_window)
        throw std::invalid_argument(
            "hedge.min_samples must be at most " + std::to_string(hedging::quantile_window) +
            " (the samples the quantile is taken over), got " + std::to_string(s.min_samples));
    if (s.fallback_delay.count() < 0)
        throw std::invalid_argument("hedge.fallback_delay must not be negative");
    if (s.min_remaining && s.min_remaining->count() < 0)
        throw std::invalid_argument("hedge.min_remaining must not be negative");
}

quantile_parse_result parse_quantile(std::string_view text) {
    const auto fail = [&] {
        return quantile_parse_result{std::nullopt,
                                     "expected a percentile such as p50, p95, p99 or p99.9, "
                                     "got \"" +
                                         std::string(text) + "\""};
    };
    if (text.size() < 2 || text.front() != 'p')
        return fail();
    const std::string_view digits = text.substr(1);
    // from_chars for double reads what strtod would, exactly, with no locale.
    double percent = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent,
                                           std::chars_format::fixed);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.front() == '+' ||
        digits.front() == '-')
        return fail();
    if (!(percent > 0.0 && percent < 100.0))
        return quantile_parse_result{std::nullopt, "a percentile must be between p0 and p100, "
                                                   "both excluded, got \"" +
                                                       std::string(text) + "\""};
    return quantile_parse_result{percent / 100.0, {}};
}

std::string quantile_name(double quantile) {
    char buffer[32];
    // Rounded to a millionth of a percent: 0.999 × 100 is 99.899999... in
    // binary, and is written "p99.9".
    const double percent = std::round(quantile * 1e8) / 1e6;
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, percent);
    if (ec != std::errc{})
        return "p?";
    std::string name(1, 'p'); // appended, not "p" + string: g++ 12 warns falsely on that
    name.append(buffer, end);
    return name;
}

namespace detail {

std::int64_t nearest_rank(std::span<std::int64_t> samples, double q) noexcept {
    const auto n = static_cast<double>(samples.size());
    // The rank, 1-based: ceil(q × n), at least 1. The small epsilon keeps
    // 0.95 × 100 (94.999... in binary) at rank 95, as a person computes it.
    auto rank = static_cast<std::size_t>(std::ceil(q * n - 1e-9));
    rank = std::clamp<std::size_t>(rank, 1, samples.size());
    const auto nth = samples.begin() + static_cast<std::ptrdiff_t>(rank - 1);
    std::nth_element(samples.begin(), nth, samples.end());
    return *nth;
}

} // namespace detail

hedging::hedging(const hedge_settings& settings) : settings_((validate(settings), settings)) {
    const std::chrono::nanoseconds first =
        settings_.delay_quantile ? settings_.fallback_delay : settings_.delay;
    delay_ns_.store(first.count(), std::memory_order_relaxed);
    if (settings_.delay_quantile) {
        window_.reserve(quantile_window);
        scratch_.reserve(quantile_window);
    }
}

std::optional<std::chrono::nanoseconds> hedging::delay_before(int next_attempt) const noexcept {
    if (next_attempt < 2 || next_attempt > settings_.max_attempts)
        return std::nullopt;
    return current_delay();
}

std::chrono::nanoseconds hedging::current_delay() const noexcept {
    return std::chrono::nanoseconds(delay_ns_.load(std::memory_order_relaxed));
}

std::chrono::nanoseconds hedging::min_remaining() const noexcept {
    return settings_.min_remaining.value_or(current_delay());
}

void hedging::record_success(std::chrono::nanoseconds duration) noexcept {
    if (!settings_.delay_quantile)
        return;
    std::lock_guard lock(lock_);
    if (window_.size() < static_cast<std::size_t>(quantile_window))
        window_.push_back(duration.count()); // capacity reserved: no allocation
    else
        window_[next_] = duration.count();
    next_ = (next_ + 1) % static_cast<std::size_t>(quantile_window);
    ++recorded_;
    ++since_refresh_;
    if (recorded_ < settings_.min_samples)
        return;
    if (recorded_ == settings_.min_samples || since_refresh_ >= refresh_every)
        refresh_locked();
}

void hedging::refresh_locked() noexcept {
    since_refresh_ = 0;
    scratch_.assign(window_.begin(), window_.end()); // capacity reserved: no allocation
    delay_ns_.store(detail::nearest_rank(scratch_, *settings_.delay_quantile),
                    std::memory_order_relaxed);
}

std::int64_t hedging::samples() const noexcept {
    std::lock_guard lock(lock_);
    return recorded_;
}

} // namespace keel
