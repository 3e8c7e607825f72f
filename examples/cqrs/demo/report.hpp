// The demo's report in pictures: one self-contained HTML file (inline SVG,
// no script, no network, no external font) with the run's plots over time
// and the fault phases shaded on each. Pure: same timeline, same bytes.
#pragma once

#include "timeline.hpp"

#include <array>
#include <string>
#include <string_view>

namespace cqrs::demo {

/// The plots, top to bottom; each is an <svg id="plot-NAME"> block of
/// report_width x plot_height px, the i-th at y = header_height +
/// i * plot_height (a screenshot test finds each there).
inline constexpr std::array<std::string_view, 7> report_plots{
    "orders", "lag", "attempts", "retries", "rejections", "breakers", "bulkheads"};
inline constexpr int report_width = 1000;
inline constexpr int header_height = 110;
inline constexpr int plot_height = 260;

std::string render_report(const timeline& t);

} // namespace cqrs::demo
