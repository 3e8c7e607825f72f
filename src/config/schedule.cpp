#include <keel/config/schedule.hpp>
#include <keel/duration.hpp>
#include <keel/timeout.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>

namespace keel::config {

using std::chrono::nanoseconds;

namespace {

/// a + b for non-negative durations, saturating at keel::unlimited.
nanoseconds add(nanoseconds a, nanoseconds b) noexcept {
    if (a == unlimited || b == unlimited || b > unlimited - a)
        return unlimited;
    return a + b;
}

/// A fault class that `rules` retries, if any: the plan's failures are all
/// of it. Asked of decide() itself, which knows what is never retried.
std::optional<fault_class> retried_fault(const retry_policy& rules) {
    for (int i = 0; i < fault_class_count; ++i) {
        failed_attempt probe;
        probe.fault = static_cast<fault_class>(i);
        random_source unused;
        if (rules.decide(probe, unused).reason != give_up_reason::not_retryable)
            return probe.fault;
    }
    return std::nullopt;
}

/// format_duration, rounded to three digits past the largest unit so jitter
/// stays readable: 4s67ms rather than 4s67ms250us984ns.
std::string readable(nanoseconds d) {
    using std::chrono::microseconds;
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (d == unlimited || d > unlimited - seconds(1))
        return format_duration(d);
    if (d >= seconds(1))
        d = std::chrono::round<milliseconds>(d);
    else if (d >= milliseconds(1))
        d = std::chrono::round<microseconds>(d);
    return format_duration(d);
}

/// n * d for n >= 0 and d >= 0, saturating at keel::unlimited.
nanoseconds times(std::int64_t n, nanoseconds d) noexcept {
    if (n == 0 || d == nanoseconds(0))
        return nanoseconds(0);
    if (d == unlimited || n > unlimited.count() / d.count())
        return unlimited;
    return nanoseconds(n * d.count());
}

/// Whether every delay from retry `n` on is base_delay(n): no jitter, and
/// the backoff no longer grows (capped, or never growing).
bool steady_without_jitter(const backoff_policy& b, int n) noexcept {
    if (b.jitter != jitter_kind::none)
        return false;
    switch (b.kind) {
    case backoff_kind::constant:
        return true;
    case backoff_kind::linear:
        return b.step == nanoseconds(0) || b.base_delay(n) == b.max;
    case backoff_kind::exponential:
        return b.multiplier == 1.0 || b.base_delay(n) == b.max;
    }
    return false;
}

/// Whether the delay before retry `n` and every later one is the cap before
/// jitter (base_delay never decreases). Decorrelated jitter ignores the kind.
bool is_capped(const backoff_policy& b, int n) noexcept {
    return b.kind != backoff_kind::constant && b.jitter != jitter_kind::decorrelated &&
           b.base_delay(n) == b.max;
}

/// The shortest text that reads back as `v`: 20, 0.1, 1.2.
std::string number_text(double v) {
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
    return std::string(buffer, ec == std::errc() ? end : buffer);
}

// plan() lists at most this many attempts: the first ones and the last few.
constexpr std::size_t tail_listed_attempts = 5;
constexpr std::size_t max_listed_attempts = 10'000 - tail_listed_attempts;

// format_plan() shows at most this many rows: the first ones and the last few.
constexpr std::size_t max_rows_shown = 40;
constexpr std::size_t tail_rows_shown = 5;

} // namespace

schedule_report plan(const keel::pipeline_policy& policy, std::uint64_t seed) {
    // Whether each retry happens and what it sleeps is retry_policy::decide's
    // answer to a failure of a class it retries. A veto on particular errors
    // (the predicate) is not modelled: the plan is the worst case.
    retry_policy rules = policy.retry;
    rules.predicate = nullptr;
    const backoff_policy backoff = rules.backoff;
    const nanoseconds total = policy.timeout.total;
    // An attempt's exchange deadline never outlives the total one.
    const nanoseconds exchange = std::min(policy.timeout.exchange, total);
    const std::optional<fault_class> fault = retried_fault(rules);
    // decide() sees the earliest failure of the previous attempt: the last
    // chance for a retry to fit before the total deadline.
    const auto time_left = [total](const scheduled_attempt& a) {
        return total == unlimited ? nanoseconds::max() : total - a.earliest_start;
    };

    schedule_report out;
    out.attempts.push_back(scheduled_attempt{1, nanoseconds(0), nanoseconds(0), nanoseconds(0)});
    // The delays are those of backoff_schedule(backoff, max_attempts - 1,
    // seed), drawn one at a time: the total deadline usually ends the list
    // long before max_attempts, which may be huge.
    random_source random(seed);
    nanoseconds previous_delay{0};
    scheduled_attempt last = out.attempts.back();
    std::vector<scheduled_attempt> tail; // ring of the last attempts, once the list is full
    std::size_t tail_next = 0;
    bool capped = false;
    while (fault) {
        const int retry = last.number; // 1-based number of the retry that follows
        if (out.attempts.size() == max_listed_attempts && tail.size() == tail_listed_attempts &&
            steady_without_jitter(backoff, retry)) {
            // Every delay from here on is the same: skip ahead in closed form
            // to the last few attempts, which the loop then lists.
            const nanoseconds d = backoff.base_delay(retry);
            const std::int64_t left = std::min<std::int64_t>(rules.max_attempts - last.number,
                                                             sleeps_that_fit(d, time_left(last)));
            const std::int64_t skip = left - static_cast<std::int64_t>(tail_listed_attempts);
            if (skip > 0) {
                last.number += static_cast<int>(skip);
                last.earliest_start = add(last.earliest_start, times(skip, d));
                last.latest_start =
                    std::min(add(last.latest_start, times(skip, add(exchange, d))), total);
                last.delay_before = d;
                previous_delay = d;
                continue;
            }
        }
        if (!capped && is_capped(backoff, retry)) {
            // Capped for good: the same draws from a constant policy at the
            // cap, without a pow() per retry (max_attempts may be huge).
            rules.backoff.kind = backoff_kind::constant;
            rules.backoff.initial = backoff.max;
            capped = true;
        }
        failed_attempt failed;
        failed.number = last.number;
        failed.fault = *fault;
        failed.previous_delay = previous_delay;
        failed.time_left = time_left(last);
        const retry_decision decision = rules.decide(failed, random);
        if (!decision.retry)
            break;
        const nanoseconds delay = decision.delay;
        previous_delay = delay;
        const nanoseconds earliest = add(last.earliest_start, delay);
        const nanoseconds latest = std::min(add(add(last.latest_start, exchange), delay), total);
        last = scheduled_attempt{last.number + 1, delay, earliest, latest};
        if (out.attempts.size() < max_listed_attempts) {
            out.attempts.push_back(last);
        } else if (tail.size() < tail_listed_attempts) {
            tail.push_back(last);
        } else {
            tail[tail_next] = last;
            tail_next = (tail_next + 1) % tail.size();
        }
    }
    for (std::size_t i = 0; i < tail.size(); ++i)
        out.attempts.push_back(tail[(tail_next + i) % tail.size()]);
    out.worst_case_give_up = std::min(total, add(last.latest_start, exchange));
    out.max_calls_per_request = last.number;
    return out;
}

std::string format_plan(const schedule_report& report, std::string_view dependency) {
    // A latest start equal to the total deadline is a bound, not a moment:
    // every attempt starts strictly before the total deadline.
    const nanoseconds total_bound = report.worst_case_give_up;
    using row = std::array<std::string, 4>;
    std::vector<row> rows;
    rows.push_back({"attempt", "delay before", "earliest start", "latest start"});
    // A table of a thousand attempts is not read: show its head and its tail.
    const std::size_t count = report.attempts.size();
    const bool elide = count > max_rows_shown;
    const std::size_t head = elide ? max_rows_shown - tail_rows_shown : count;
    std::size_t skipped_row = 0; // index in `rows` of the "..." line, if any
    for (std::size_t i = 0; i < count; ++i) {
        if (elide && i == head) {
            skipped_row = rows.size();
            rows.push_back({"...", "", "", ""});
            i = count - tail_rows_shown;
        }
        const scheduled_attempt& a = report.attempts[i];
        std::string latest = readable(a.latest_start);
        if (a.number > 1 && a.latest_start != unlimited && a.latest_start == total_bound &&
            a.latest_start > a.earliest_start)
            latest = "< " + latest;
        rows.push_back({std::to_string(a.number), readable(a.delay_before),
                        readable(a.earliest_start), std::move(latest)});
    }
    std::array<std::size_t, 4> width{};
    for (const row& r : rows)
        for (std::size_t c = 0; c < r.size(); ++c)
            width[c] = std::max(width[c], r[c].size());

    std::string out;
    out.append("schedule of ").append(dependency).append(":\n");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const row& r = rows[i];
        if (elide && i == skipped_row) {
            out.append("  ")
                .append(width[0] - r[0].size(), ' ')
                .append(r[0])
                .append("  (")
                .append(std::to_string(static_cast<std::size_t>(report.max_calls_per_request) -
                                       head - tail_rows_shown))
                .append(" attempts not shown)\n");
            continue;
        }
        std::string line = "  ";
        for (std::size_t c = 0; c < r.size(); ++c) {
            if (c > 0)
                line.append("  ");
            line.append(width[c] - r[c].size(), ' ').append(r[c]);
        }
        out.append(line).push_back('\n');
    }
    out.append("worst-case time to give up: ")
        .append(readable(report.worst_case_give_up))
        .push_back('\n');
    out.append("max calls per request: ")
        .append(std::to_string(report.max_calls_per_request))
        .push_back('\n');
    return out;
}

hedge_plan plan_hedges(const keel::hedge_settings& hedge, const keel::pipeline_policy& policy) {
    hedge_plan out;
    out.delay = hedge.delay_quantile ? hedge.fallback_delay : hedge.delay;
    const nanoseconds min_remaining = hedge.min_remaining.value_or(out.delay);
    const nanoseconds total = policy.timeout.total;
    out.starts.push_back(nanoseconds(0));
    for (int attempt = 2; attempt <= hedge.max_attempts; ++attempt) {
        const nanoseconds start = times(attempt - 1, out.delay);
        // As the engine rules: no attempt with less than min_remaining left.
        if (total != unlimited && (start >= total || total - start < min_remaining)) {
            out.suppressed = hedge.max_attempts - attempt + 1;
            break;
        }
        out.starts.push_back(start);
    }
    return out;
}

std::string budget_effect(const std::optional<keel::retry_budget_settings>& budget,
                          std::string_view what) {
    if (!budget)
        return {};
    std::ostringstream out;
    out << "budget: " << what;
    if (budget->kind == keel::retry_budget_settings::budget_kind::ratio)
        out << " stay within " << number_text(budget->percent) << "% of the calls of the last "
            << format_duration(budget->ttl) << ", plus " << number_text(budget->min_per_second)
            << " per second: under sustained failure about "
            << number_text(1.0 + budget->percent / 100.0) << " calls per request";
    else
        out << " start only while tokens > " << number_text(budget->max_tokens / 2) << " (of "
            << number_text(budget->max_tokens) << "; a failure takes 1, a success adds "
            << number_text(budget->token_ratio) << ")";
    out << '\n';
    return out.str();
}

std::string format_hedge_plan(const hedge_plan& plan, const keel::hedge_settings& hedge,
                              const std::optional<keel::retry_budget_settings>& budget,
                              std::string_view dependency) {
    std::string out;
    out.append("hedges of ").append(dependency).append(" (while no attempt has answered):\n");
    const std::string head = "attempt";
    std::size_t start_width = std::string_view("start").size();
    for (const nanoseconds s : plan.starts)
        start_width = std::max(start_width, readable(s).size());
    const auto row = [&](const std::string& a, const std::string& b) {
        out.append("  ")
            .append(head.size() - a.size(), ' ')
            .append(a)
            .append("  ")
            .append(start_width - b.size(), ' ')
            .append(b)
            .push_back('\n');
    };
    row(head, "start");
    for (std::size_t i = 0; i < plan.starts.size(); ++i)
        row(std::to_string(i + 1), readable(plan.starts[i]));
    if (hedge.delay_quantile)
        out.append("delay: ")
            .append(quantile_name(*hedge.delay_quantile))
            .append(" of recent successful attempts; ")
            .append(readable(hedge.fallback_delay))
            .append(" (fallback_delay) until ")
            .append(std::to_string(hedge.min_samples))
            .append(" were seen\n");
    if (plan.suppressed > 0)
        out.append("suppressed by the total deadline: ")
            .append(std::to_string(plan.suppressed))
            .append(" (no hedge starts with less than ")
            .append(readable(hedge.min_remaining.value_or(plan.delay)))
            .append(" left)\n");
    std::string non_fatal;
    for (int i = 0; i < fault_class_count; ++i)
        if (hedge.non_fatal.contains(static_cast<fault_class>(i)))
            non_fatal.append(non_fatal.empty() ? "" : ", ")
                .append(to_string(static_cast<fault_class>(i)));
    if (non_fatal.empty())
        out.append("every failure ends the call");
    else
        out.append("a failure (").append(non_fatal).append(") starts the next attempt at once");
    out.append("; the first success wins and the others are cancelled\n");
    out.append(budget_effect(budget, "hedges"));
    out.append("max calls per request: ").append(std::to_string(plan.starts.size())).append("\n");
    out.append("a call that is not idempotent runs one attempt\n");
    return out;
}

} // namespace keel::config
