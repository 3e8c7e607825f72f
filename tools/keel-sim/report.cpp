#include "report.hpp"

#include <keel/duration.hpp>
#include <keel/retry.hpp>

#include <cmath>
#include <cstdio>

namespace keel::sim {

namespace {

/// The outcomes the JSON always lists, in its order; others (fallback) are
/// listed only when they happened.
constexpr call_outcome listed_outcomes[] = {
    call_outcome::success,  call_outcome::success_after_retry,
    call_outcome::failure,  call_outcome::failure_after_retry,
    call_outcome::timeout,  call_outcome::rejected,
    call_outcome::cancelled};
constexpr give_up_reason listed_reasons[] = {
    give_up_reason::attempts_exhausted, give_up_reason::deadline, give_up_reason::not_retryable};

template <class T, std::size_t N>
bool listed(const T (&list)[N], T value) {
    for (T v : list)
        if (v == value)
            return true;
    return false;
}

/// The outcomes to show: the listed ones, then any other that happened.
std::vector<call_outcome> shown_outcomes(const run_result& r) {
    std::vector<call_outcome> out(std::begin(listed_outcomes), std::end(listed_outcomes));
    for (int i = 0; i < outcome_count; ++i)
        if (!listed(listed_outcomes, static_cast<call_outcome>(i)) &&
            r.outcomes[static_cast<std::size_t>(i)] != 0)
            out.push_back(static_cast<call_outcome>(i));
    return out;
}

/// The give-up reasons to show, likewise (`none` never).
std::vector<give_up_reason> shown_reasons(const run_result& r) {
    std::vector<give_up_reason> out(std::begin(listed_reasons), std::end(listed_reasons));
    for (int i = 1; i < give_up_count; ++i)
        if (!listed(listed_reasons, static_cast<give_up_reason>(i)) &&
            r.give_up[static_cast<std::size_t>(i)] != 0)
            out.push_back(static_cast<give_up_reason>(i));
    return out;
}

std::string quoted(std::string_view text) {
    std::string out(1, '"');
    for (char c : text) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

/// `"key": value` pairs joined with ", " inside braces.
std::string object(const std::vector<std::pair<std::string, std::string>>& members) {
    std::string out = "{";
    for (std::size_t i = 0; i < members.size(); ++i) {
        if (i)
            out += ", ";
        out += quoted(members[i].first) + ": " + members[i].second;
    }
    return out + "}";
}

std::string fixed(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

/// A time for people: "84.9ms" below a second, "2.006s" from there on (the
/// JSON and the trace keep every nanosecond).
std::string readable(nanos d) {
    const double ms = static_cast<double>(d.count()) / 1e6;
    if (ms < 1000.0)
        return fixed(ms, 1) + "ms";
    return fixed(ms / 1000.0, 3) + "s";
}

/// The JSON's `rate_limit`: how many attempts waited for a token, how long,
/// and the pushbacks' pauses.
std::string rate_limit_json(const rate_limit_summary& r) {
    const std::vector<nanos>& w = r.waits;
    std::string pauses = "[";
    for (std::size_t i = 0; i < r.pauses.size(); ++i) {
        if (i)
            pauses += ", ";
        pauses += object(
            {{"at_ms", format_ms(r.pauses[i].at)}, {"until_ms", format_ms(r.pauses[i].until)}});
    }
    pauses += "]";
    return object({{"waits", std::to_string(w.size())},
                   {"wait_ms", object({{"p50", format_ms(percentile(w, 50))},
                                       {"p90", format_ms(percentile(w, 90))},
                                       {"p99", format_ms(percentile(w, 99))},
                                       {"max", format_ms(w.empty() ? nanos(0) : w.back())}})},
                   {"pauses", pauses}});
}

std::string padded(std::string text, std::size_t width) {
    if (text.size() < width)
        text.append(width - text.size(), ' ');
    return text;
}

} // namespace

nanos percentile(const std::vector<nanos>& sorted, double p) {
    if (sorted.empty())
        return nanos(0);
    const auto n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
    rank = std::min(std::max<std::size_t>(rank, 1), sorted.size());
    return sorted[rank - 1];
}

std::string format_ms(nanos d) {
    const auto ns = d.count();
    std::string out = std::to_string(ns / 1'000'000);
    auto fraction = ns % 1'000'000;
    if (fraction != 0) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 6 - digits.size(), '0');
        while (digits.back() == '0')
            digits.pop_back();
        out += "." + digits;
    }
    return out;
}

std::string to_json(const run_result& r) {
    std::vector<std::pair<std::string, std::string>> outcomes;
    for (call_outcome o : shown_outcomes(r))
        outcomes.emplace_back(to_string(o),
                              std::to_string(r.outcomes[static_cast<std::size_t>(o)]));
    std::vector<std::pair<std::string, std::string>> give_up;
    for (give_up_reason reason : shown_reasons(r))
        give_up.emplace_back(to_string(reason),
                             std::to_string(r.give_up[static_cast<std::size_t>(reason)]));

    std::vector<std::pair<std::string, std::string>> rejected;
    for (const auto& [name, count] : r.rejected)
        rejected.emplace_back(name, std::to_string(count));

    const std::vector<nanos>& l = r.call_latencies;
    const std::string latency = object({{"p50", format_ms(percentile(l, 50))},
                                        {"p90", format_ms(percentile(l, 90))},
                                        {"p99", format_ms(percentile(l, 99))},
                                        {"max", format_ms(l.empty() ? nanos(0) : l.back())}});

    std::string transitions = "[";
    for (std::size_t i = 0; i < r.transitions.size(); ++i) {
        const transition& t = r.transitions[i];
        if (i)
            transitions += ",\n  ";
        transitions += object({{"at_ms", format_ms(t.at)},
                               {"strategy", quoted(t.strategy)},
                               {"from", quoted(t.from)},
                               {"to", quoted(t.to)},
                               {"reason", quoted(t.reason)}});
    }
    transitions += "]";

    std::string out = "{";
    out += quoted("dependency") + ": " + quoted(r.dependency) + ", ";
    out += quoted("seed") + ": " + std::to_string(r.seed) + ", ";
    out += quoted("calls") + ": " + std::to_string(r.calls) + ", ";
    out += quoted("attempts") + ": " + std::to_string(r.attempts) + ", ";
    out += quoted("fallbacks") + ": " + std::to_string(r.fallbacks.value_or(0)) + ",\n ";
    out += quoted("outcomes") + ": " + object(outcomes) + ",\n ";
    out += quoted("give_up") + ": " + object(give_up) + ",\n ";
    out += quoted("rejected") + ": " + object(rejected) + ",\n ";
    out += quoted("call_latency_ms") + ": " + latency + ",\n ";
    out += quoted("transitions") + ": " + transitions + ",\n ";
    out += quoted("peak_attempts_in_flight") + ": " + std::to_string(r.peak_attempts_in_flight);
    if (r.limit)
        out += ",\n " + quoted("limit") + ": " +
               object({{"initial", std::to_string(r.limit->initial)},
                       {"min", std::to_string(r.limit->min)},
                       {"max", std::to_string(r.limit->max)},
                       {"final", std::to_string(r.limit->final)}});
    if (r.rate_limit)
        out += ",\n " + quoted("rate_limit") + ": " + rate_limit_json(*r.rate_limit);
    if (r.hedges)
        out += ",\n " + quoted("hedges") + ": " +
               object({{"started", std::to_string(r.hedges->started)},
                       {"won", std::to_string(r.hedges->won)},
                       {"suppressed", std::to_string(r.hedges->suppressed)}});
    out += "}\n";
    return out;
}

std::string to_csv(const run_result& r) {
    std::string out = "call,attempt,start_ms,end_ms,result\n";
    for (const trace_row& row : r.trace) {
        out += std::to_string(row.call);
        out += ',';
        out += std::to_string(row.attempt);
        out += ',';
        out += format_ms(row.start);
        out += ',';
        out += format_ms(row.end);
        out += ',';
        out += row.result;
        out += '\n';
    }
    return out;
}

std::string summary(const run_result& r, const scenario& s) {
    std::string out = "keel-sim: " + r.dependency + " from " + s.source + ", seed " +
                      std::to_string(r.seed) + "\n";
    out += std::to_string(r.calls) + " calls";
    if (s.duration)
        out += " started over " + format_duration(*s.duration);
    out += "; the last ended at " + readable(r.end) + "\n\n";

    out += "calls by outcome\n";
    for (call_outcome o : shown_outcomes(r)) {
        const std::uint64_t n = r.outcomes[static_cast<std::size_t>(o)];
        const double share =
            r.calls ? 100.0 * static_cast<double>(n) / static_cast<double>(r.calls) : 0.0;
        out += "  " + padded(std::string(to_string(o)), 22) + padded(std::to_string(n), 10) +
               fixed(share, 1) + "%\n";
    }
    const double per_call =
        r.calls ? static_cast<double>(r.attempts) / static_cast<double>(r.calls) : 0.0;
    out += "\nattempts  " + std::to_string(r.attempts) + " (" + fixed(per_call, 2) +
           " per call), at most " + std::to_string(r.peak_attempts_in_flight) +
           " in flight at once\n";
    if (r.limit)
        out += "bulkhead limit  " + std::to_string(r.limit->initial) + " at the start, " +
               std::to_string(r.limit->min) + " to " + std::to_string(r.limit->max) +
               " during the run, " + std::to_string(r.limit->final) + " at the end\n";
    if (r.rate_limit) {
        const std::vector<nanos>& w = r.rate_limit->waits;
        out += "rate limit  " + std::to_string(w.size()) +
               (w.size() == 1 ? " attempt" : " attempts") + " waited for a token";
        if (!w.empty())
            out += " (p50 " + readable(percentile(w, 50)) + ", max " + readable(w.back()) + ")";
        for (const pause& p : r.rate_limit->pauses)
            out += "; paused at " + readable(p.at) + " until " + readable(p.until);
        out += "\n";
    }
    if (r.hedges)
        out += "hedges  " + std::to_string(r.hedges->started) + " started, " +
               std::to_string(r.hedges->won) + " won, " + std::to_string(r.hedges->suppressed) +
               " suppressed\n";
    if (r.fallbacks)
        out += "fallbacks  " + std::to_string(*r.fallbacks) + " calls answered by the fallback\n";
    const std::vector<nanos>& l = r.call_latencies;
    out += "call latency  p50 " + readable(percentile(l, 50)) + ", p90 " +
           readable(percentile(l, 90)) + ", p99 " + readable(percentile(l, 99)) + ", max " +
           readable(l.empty() ? nanos(0) : l.back()) + "\n";

    out += "gave up  ";
    bool first = true;
    for (give_up_reason reason : shown_reasons(r)) {
        const std::uint64_t n = r.give_up[static_cast<std::size_t>(reason)];
        if (!first)
            out += ", ";
        out += to_string(reason);
        out += ' ';
        out += std::to_string(n);
        first = false;
    }
    out += "\nrejected  ";
    if (r.rejected.empty())
        out += "none";
    first = true;
    for (const auto& [name, n] : r.rejected) {
        if (!first)
            out += ", ";
        out += name + " " + std::to_string(n);
        first = false;
    }
    out += r.transitions.empty() ? "\ntransitions  none\n" : "\ntransitions\n";
    for (const transition& t : r.transitions)
        out += "  at " + readable(t.at) + "  " + t.strategy + "  " + t.from + " -> " + t.to + " (" +
               t.reason + ")\n";
    if (r.abandoned)
        out += '\n' + std::to_string(r.abandoned) +
               " calls could never have ended (a hang with no deadline): cancelled at the end "
               "of the run\n";
    return out;
}

} // namespace keel::sim
