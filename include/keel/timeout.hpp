// The timeout policy and the deadline arithmetic behind it.
#pragma once

#include <algorithm>
#include <chrono>

namespace keel {

/// "No deadline": the default for every phase.
inline constexpr std::chrono::nanoseconds unlimited = std::chrono::nanoseconds::max();

/// Deadlines of a call. `connect` and `exchange` apply to each attempt from
/// its start; `total` to the whole call, sleeps and retries included.
/// `exchange` bounds the whole attempt (connecting included, as libcurl's
/// CURLOPT_TIMEOUT_MS does); `connect` bounds its connect phase, which only
/// the operation itself can see: keel hands it over through `keel::attempt`.
struct timeout_policy {
    std::chrono::nanoseconds connect = unlimited;
    std::chrono::nanoseconds exchange = unlimited;
    std::chrono::nanoseconds total = unlimited;

    friend bool operator==(const timeout_policy&, const timeout_policy&) = default;
};

/// `start + d`, saturating at time_point::max() (which means "no deadline").
template <class TimePoint>
constexpr TimePoint deadline_after(TimePoint start, std::chrono::nanoseconds d) noexcept {
    using duration = typename TimePoint::duration;
    if (d == unlimited || start == TimePoint::max())
        return TimePoint::max();
    auto left = TimePoint::max() - start;
    auto step = std::chrono::duration_cast<duration>(d);
    return step >= left ? TimePoint::max() : start + step;
}

/// The deadlines that apply to one attempt.
template <class TimePoint>
struct attempt_deadlines {
    TimePoint connect = TimePoint::max();
    TimePoint exchange = TimePoint::max();
    TimePoint total = TimePoint::max();
};

/// Deadlines of an attempt started at `attempt_start` within a call whose
/// total deadline is `total`: the exchange deadline never outlives the total,
/// and the connect deadline never outlives the exchange.
// Always inlined: the engine computes them at every attempt's start, and a
// call through the large launch() of a chain would otherwise pay a call.
template <class TimePoint>
[[gnu::always_inline]] constexpr attempt_deadlines<TimePoint>
deadlines_for(const timeout_policy& policy, TimePoint attempt_start, TimePoint total) noexcept {
    attempt_deadlines<TimePoint> out;
    out.total = total;
    out.exchange = std::min(deadline_after(attempt_start, policy.exchange), total);
    out.connect = std::min(deadline_after(attempt_start, policy.connect), out.exchange);
    return out;
}

} // namespace keel
