// keel-sim's --plot: what a run did over time, as an SVG (or a PNG of it).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace keel::sim {

/// Outcomes in this order (keel::call_outcome without `fallback` and in the JSON's order):
/// success, success_after_retry, failure, failure_after_retry, timeout, rejected, cancelled.
inline constexpr int plotted_outcomes = 7;

struct state_span {                          // one strategy in one state over [from, to)
    std::string strategy;                    // e.g. "circuit_breaker"
    std::string state;                       // e.g. "open"
    std::chrono::nanoseconds from{0}, to{0}; // simulated time since the run's start
};

struct concurrency_step {             // from `from` until the next step
    std::chrono::nanoseconds from{0}; // simulated time since the run's start
    int in_flight = 0;                // attempts running
    int limit = 0;                    // the bulkhead's limit
};

struct plot_data {
    std::string title;                                     // e.g. "payments: outage.yaml, seed 1"
    std::chrono::nanoseconds bin{std::chrono::seconds(1)}; // width of one bin
    std::chrono::nanoseconds end{0};                       // when the last call ended
    // calls_ended[i][o]: calls that ended in bin i with outcome o (order above)
    std::vector<std::array<std::uint64_t, plotted_outcomes>> calls_ended;
    std::vector<std::uint64_t> attempts_started; // attempts that started in bin i
    std::vector<state_span> states; // any order; may be empty (no stateful strategy yet)
    // With a bulkhead: in time order, the first at 0; drawn as a panel under the bands.
    std::vector<concurrency_step> concurrency;
};

/// Picks the bin width for a run ending at `end`: a round width
/// (1ms,2ms,5ms,10ms,...,1s,2s,5s,10s,...) giving at most ~200 bins.
std::chrono::nanoseconds choose_bin(std::chrono::nanoseconds end);

/// The plot as a standalone SVG document. Pure and deterministic (same input, same bytes).
/// Throws std::invalid_argument if `data.bin` is not positive.
std::string render_svg(const plot_data& data);

/// Writes `svg` rendered to a PNG file; throws std::runtime_error saying what failed (and where).
void write_png(const std::string& svg, const std::string& path);

} // namespace keel::sim
