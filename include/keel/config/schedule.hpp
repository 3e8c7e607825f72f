// What a dependency's policy can do to one request, in time and in calls: the
// attempt schedule that `keel-check --schedule` prints. Pure: no I/O, no YAML.
#pragma once

#include <keel/hedging.hpp>
#include <keel/pipeline.hpp>
#include <keel/retry_budget.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

/// One attempt that a call can make. Times are measured from the start of the
/// call; keel::unlimited stands for "no bound".
struct scheduled_attempt {
    int number = 1; ///< 1-based
    /// The (jittered) backoff slept before this attempt; 0 for the first.
    std::chrono::nanoseconds delay_before{0};
    /// When every earlier attempt failed at once (a fast failure).
    std::chrono::nanoseconds earliest_start{0};
    /// When every earlier attempt ran until its exchange timeout; never past
    /// the total deadline (an attempt starts strictly before it).
    std::chrono::nanoseconds latest_start{0};
};

/// The worst cases of one request on one dependency.
struct schedule_report {
    /// The attempts that can happen, in order; never empty. When more than
    /// 10,000 can (a huge max_attempts), the first 9,995 and the last 5.
    std::vector<scheduled_attempt> attempts;
    /// The latest moment the call can give up: the total deadline, or the end
    /// of the last attempt's exchange timeout if that comes first.
    std::chrono::nanoseconds worst_case_give_up{0};
    /// How many calls of the operation one request can cause (load
    /// amplification on the dependency): the number of the last attempt.
    int max_calls_per_request = 1;
};

/// The schedule of `policy` with the backoff delays that `seed` draws
/// (keel::backoff_schedule), following keel's own rules: each attempt takes
/// between 0 (a fast failure) and the exchange timeout; a retry happens only
/// if its sleep ends before the total deadline (as retry_policy::decide
/// rules), so an attempt whose earliest start is at or past the total deadline
/// cannot happen. A server-advised delay (Retry-After) is not modelled: it
/// replaces these delays when it comes.
schedule_report plan(const keel::pipeline_policy& policy, std::uint64_t seed);

/// A readable table (attempt, delay before, earliest start, latest start)
/// followed by the worst-case time to give up and the maximum number of calls
/// per request, headed by the dependency's name. Ends with a newline. Times
/// are written as in the configuration (format_duration), rounded to three
/// digits below their largest unit (4s67ms, 66ms429us), "unlimited" when
/// unbounded; a latest start written "< T" is bounded by the total deadline T.
/// Beyond 40 attempts the table shows the first 35 and the last 5.
std::string format_plan(const schedule_report& report, std::string_view dependency);

/// When a hedged call's attempts start while none of them answers: attempt
/// k at (k - 1) × the delay, as long as `min_remaining` is left before the
/// total deadline. The worst case in calls of a dependency with `hedge:`.
struct hedge_plan {
    /// The start of each attempt that can happen, the first at 0; never empty.
    std::vector<std::chrono::nanoseconds> starts;
    /// The delay between starts: the fixed one, or the fallback_delay of a
    /// quantile (the delay until min_samples successes were seen).
    std::chrono::nanoseconds delay{0};
    /// Attempts of max_attempts that the total deadline leaves out.
    int suppressed = 0;
};

/// The hedge plan of `hedge` under `policy`'s total deadline. Pure.
hedge_plan plan_hedges(const keel::hedge_settings& hedge, const keel::pipeline_policy& policy);

/// A readable table (attempt, start) headed by the dependency's name, then
/// what moves the starts (a quantile, a non-fatal failure, the deadline) and
/// the retry budget's effect. Ends with a newline.
std::string format_hedge_plan(const hedge_plan& plan, const keel::hedge_settings& hedge,
                              const std::optional<keel::retry_budget_settings>& budget,
                              std::string_view dependency);

/// What a retry budget does to `what` ("retries", "hedges") as one line
/// ending with a newline; "" when there is no budget.
std::string budget_effect(const std::optional<keel::retry_budget_settings>& budget,
                          std::string_view what);

} // namespace keel::config
