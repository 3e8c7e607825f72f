#include "timeline.hpp"

#include <filesystem>
#include <map>

namespace keel::sim {

namespace {

/// The plot's column of `o` (plot.hpp's order), or -1 for an outcome it does
/// not draw.
int column_of(call_outcome o) {
    switch (o) {
    case call_outcome::success:
        return 0;
    case call_outcome::success_after_retry:
        return 1;
    case call_outcome::failure:
        return 2;
    case call_outcome::failure_after_retry:
        return 3;
    case call_outcome::timeout:
        return 4;
    case call_outcome::rejected:
        return 5;
    case call_outcome::cancelled:
        return 6;
    case call_outcome::fallback:
        return -1;
    }
    return -1;
}

} // namespace

plot_data plot_of(const run_result& r, const scenario& s) {
    plot_data out;
    out.title = r.dependency + ": " + std::filesystem::path(s.source).filename().string() +
                ", seed " + std::to_string(r.seed);
    out.end = r.end;
    out.bin = choose_bin(std::max(r.end, nanos(1)));
    const auto bins = static_cast<std::size_t>(r.end / out.bin) + 1;
    out.calls_ended.assign(bins, {});
    out.attempts_started.assign(bins, 0);
    const auto bin_of = [&](nanos t) {
        return std::min(static_cast<std::size_t>(t / out.bin), bins - 1);
    };
    for (const auto& [at, outcome] : r.call_ends)
        if (const int column = column_of(outcome); column >= 0)
            ++out.calls_ended[bin_of(at)][static_cast<std::size_t>(column)];
    for (nanos at : r.attempt_starts)
        ++out.attempts_started[bin_of(at)];

    for (const concurrency_sample& c : r.concurrency)
        out.concurrency.push_back({c.at, c.in_flight, c.limit});

    // Each strategy is in its first transition's `from` state from the start,
    // and in each transition's `to` state until its next transition.
    std::map<std::string, std::size_t> open_span; // strategy -> index in out.states
    for (const transition& t : r.transitions) {
        auto found = open_span.find(t.strategy);
        if (found == open_span.end()) {
            out.states.push_back({t.strategy, t.from, nanos(0), t.at});
        } else {
            out.states[found->second].to = t.at;
        }
        out.states.push_back({t.strategy, t.to, t.at, r.end});
        open_span[t.strategy] = out.states.size() - 1;
    }
    // A rate limiter's band shows its pushbacks' pauses, one span for
    // pauses a later pushback extended; the rest of the band is empty.
    if (r.rate_limit) {
        const std::size_t first = out.states.size();
        for (const pause& p : r.rate_limit->pauses) {
            if (out.states.size() > first && p.at < out.states.back().to)
                out.states.back().to = std::max(out.states.back().to, p.until);
            else
                out.states.push_back({"rate_limiter", "paused", p.at, p.until});
        }
    }
    return out;
}

} // namespace keel::sim
