#include <keel/backoff.hpp>

#include <algorithm>
#include <cmath>

namespace keel {

using std::chrono::nanoseconds;

std::string_view to_string(backoff_kind k) noexcept {
    switch (k) {
    case backoff_kind::constant:
        return "constant";
    case backoff_kind::linear:
        return "linear";
    case backoff_kind::exponential:
        return "exponential";
    }
    return "unknown";
}

std::string_view to_string(jitter_kind j) noexcept {
    switch (j) {
    case jitter_kind::none:
        return "none";
    case jitter_kind::full:
        return "full";
    case jitter_kind::equal:
        return "equal";
    case jitter_kind::decorrelated:
        return "decorrelated";
    }
    return "unknown";
}

namespace {

// Computed in double and clamped, so large retry numbers saturate at the cap
// instead of overflowing.
nanoseconds clamp_to(double ns, nanoseconds cap) noexcept {
    if (!(ns < static_cast<double>(cap.count())))
        return cap;
    return nanoseconds(static_cast<std::int64_t>(std::max(ns, 0.0)));
}

} // namespace

nanoseconds backoff_policy::base_delay(int n) const noexcept {
    n = std::max(n, 1);
    switch (kind) {
    case backoff_kind::constant:
        return std::min(initial, max);
    case backoff_kind::linear:
        return clamp_to(static_cast<double>(initial.count()) +
                            static_cast<double>(n - 1) * static_cast<double>(step.count()),
                        max);
    case backoff_kind::exponential:
        return clamp_to(static_cast<double>(initial.count()) * std::pow(multiplier, n - 1), max);
    }
    return max;
}

nanoseconds backoff_policy::delay(int n, nanoseconds previous,
                                  random_source& random) const noexcept {
    switch (jitter) {
    case jitter_kind::none:
        return base_delay(n);
    case jitter_kind::full:
        return random.uniform(nanoseconds(0), base_delay(n));
    case jitter_kind::equal: {
        nanoseconds half = base_delay(n) / 2;
        return half + random.uniform(nanoseconds(0), half);
    }
    case jitter_kind::decorrelated: {
        nanoseconds prev = n <= 1 ? initial : std::max(previous, initial);
        nanoseconds upper = clamp_to(static_cast<double>(prev.count()) * 3.0, nanoseconds::max());
        return std::min(random.uniform(initial, upper), max);
    }
    }
    return base_delay(n);
}

std::vector<nanoseconds> backoff_schedule(const backoff_policy& policy, int retries,
                                          std::uint64_t seed) {
    random_source random(seed);
    std::vector<nanoseconds> out;
    out.reserve(static_cast<std::size_t>(std::max(retries, 0)));
    nanoseconds previous{0};
    for (int n = 1; n <= retries; ++n) {
        previous = policy.delay(n, previous, random);
        out.push_back(previous);
    }
    return out;
}

} // namespace keel
