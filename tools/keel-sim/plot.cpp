// Over 400 lines: the chart's parts share one private layout (geometry, scales, colours).
// The SVG of keel-sim's --plot: pure string building, no I/O, no locale.
#include "plot.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string_view>
#include <tuple>

namespace keel::sim {
namespace {

constexpr std::array<std::string_view, plotted_outcomes> outcome_names{
    "success",  "success_after_retry", "failure", "failure_after_retry", "timeout", "rejected",
    "cancelled"};
// Successes green, failures red and orange, timeouts purple, refusals grey.
constexpr std::array<std::string_view, plotted_outcomes> outcome_colours{
    "#2e7d32", "#81c784", "#c62828", "#f57c00", "#7b1fa2", "#757575", "#c8c8c8"};
constexpr std::string_view attempts_colour = "#1565c0";
constexpr std::string_view in_flight_colour = "#64b5f6";
constexpr std::string_view limit_colour = "#b71c1c";
constexpr double panel_height = 140;
constexpr std::string_view text_colour = "#212121";
constexpr std::string_view muted_colour = "#555555";

// Geometry in px (the SVG's user units are its pixels).
constexpr double page_width = 960;
constexpr double chart_left = 72;
constexpr double chart_top = 44;
constexpr double chart_height = 300;
constexpr double legend_width = 180;
constexpr double chart_right = page_width - legend_width - 28;
constexpr double chart_width = chart_right - chart_left;
constexpr double legend_left = chart_right + 28;
constexpr double legend_pitch = 18;
constexpr double bands_top = chart_top + chart_height + 58; // below the tick labels and axis title
constexpr double band_row_pitch = 40;
constexpr double band_height = 18;
constexpr double font_size = 11;
constexpr int max_x_ticks = 10;
constexpr int target_y_ticks = 5;

/// `value` with at most `max_decimals` decimals, trailing zeros dropped: "20", "0.5".
std::string decimal(double value, int max_decimals) {
    char buffer[128];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value,
                                            std::chars_format::fixed, max_decimals);
    if (error != std::errc{}) {
        return "0"; // only for values no chart holds (over 10^100)
    }
    std::string text(buffer, end);
    if (text.find('.') != std::string::npos) {
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') {
            text.pop_back();
        }
    }
    return text == "-0" ? "0" : text;
}

/// A coordinate: two decimals are finer than any screen needs.
std::string px(double value) {
    return decimal(value, 2);
}

/// How many decimals show every multiple of `step` exactly (0.5 -> 1, 0.02 -> 2).
int decimals_for(double step) {
    int decimals = 0;
    for (double scaled = step; decimals < 6 && std::abs(scaled - std::round(scaled)) > 1e-6;
         scaled *= 10) {
        ++decimals;
    }
    return decimals;
}

/// The smallest 1, 2 or 5 times a power of ten at least `raw`.
double nice_step(double raw) {
    if (!(raw > 0)) {
        return 1;
    }
    const double decade = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double multiple : {1.0, 2.0, 5.0}) {
        if (multiple * decade >= raw * (1 - 1e-9)) {
            return multiple * decade;
        }
    }
    return 10 * decade;
}

/// A rate tick label, in thousands or millions once the steps are that large.
std::string rate_label(double value, double step) {
    if (value == 0) {
        return "0";
    }
    if (step >= 1e6) {
        return decimal(value / 1e6, decimals_for(step / 1e6)) + "M";
    }
    if (step >= 1e3) {
        return decimal(value / 1e3, decimals_for(step / 1e3)) + "k";
    }
    return decimal(value, decimals_for(step));
}

std::string duration_label(std::chrono::nanoseconds span) {
    using namespace std::chrono_literals;
    if (span % 1s == 0ns) {
        return std::to_string(span / 1s) + " s";
    }
    return decimal(static_cast<double>(span.count()) / 1e6, 3) + " ms";
}

std::string xml_escaped(std::string_view text) {
    std::string escaped;
    for (const char c : text) {
        switch (c) {
        case '&':
            escaped += "&amp;";
            break;
        case '<':
            escaped += "&lt;";
            break;
        case '>':
            escaped += "&gt;";
            break;
        case '"':
            escaped += "&quot;";
            break;
        case '\'':
            escaped += "&apos;";
            break;
        default:
            escaped += c;
        }
    }
    return escaped;
}

/// A safe upper bound of DejaVu Sans's advance for `text` (it averages ~0.55 em).
double text_width(std::string_view text, double size) {
    return static_cast<double>(text.size()) * size * 0.62;
}

/// The breaker's states have fixed colours; any other state gets one of a few pastels
/// picked by a hash of its name, so a state keeps its colour across runs and strategies.
std::string_view state_colour(std::string_view state) {
    if (state == "closed") {
        return "#a5d6a7";
    }
    if (state == "open") {
        return "#ef9a9a";
    }
    if (state == "half_open") {
        return "#ffe082";
    }
    // Far enough from each other and from the three above to tell apart in a band.
    constexpr std::array<std::string_view, 10> pastels{"#90caf9", "#ce93d8", "#80cbc4", "#bcaaa4",
                                                       "#e6ee9c", "#f48fb1", "#9fa8da", "#80deea",
                                                       "#ffcc80", "#b0bec5"};
    std::uint32_t hash = 2166136261u; // FNV-1a
    for (const char c : state) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
    }
    return pastels[hash % pastels.size()];
}

std::string text_element(double x, double y, std::string_view text, std::string_view attributes) {
    std::string element = "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"";
    if (!attributes.empty()) {
        element += ' ';
        element += attributes;
    }
    return element + ">" + xml_escaped(text) + "</text>\n";
}

/// Rates per bin and the scales that map them and the time onto the chart.
struct chart {
    std::size_t bins = 0;
    double bin_seconds = 1;
    std::vector<std::array<double, plotted_outcomes>> calls; // per second
    std::vector<double> attempts;                            // per second
    double peak_calls = 0, peak_attempts = 0;
    double seconds = 1;           // the x axis spans [0, seconds]
    double y_step = 1, y_top = 1; // the y axis spans [0, y_top]
    double x(double at_seconds) const { return chart_left + at_seconds / seconds * chart_width; }
    double y(double rate) const { return chart_top + chart_height * (1 - rate / y_top); }
};

chart chart_of(const plot_data& data) {
    chart scaled;
    scaled.bins = std::max(data.calls_ended.size(), data.attempts_started.size());
    scaled.bin_seconds = static_cast<double>(data.bin.count()) / 1e9;
    scaled.calls.assign(scaled.bins, {});
    scaled.attempts.assign(scaled.bins, 0);
    for (std::size_t bin = 0; bin < scaled.bins; ++bin) {
        double calls = 0;
        for (int outcome = 0; outcome < plotted_outcomes && bin < data.calls_ended.size();
             ++outcome) {
            const auto rate =
                static_cast<double>(data.calls_ended[bin][outcome]) / scaled.bin_seconds;
            scaled.calls[bin][outcome] = rate;
            calls += rate;
        }
        if (bin < data.attempts_started.size()) {
            scaled.attempts[bin] =
                static_cast<double>(data.attempts_started[bin]) / scaled.bin_seconds;
        }
        scaled.peak_calls = std::max(scaled.peak_calls, calls);
        scaled.peak_attempts = std::max(scaled.peak_attempts, scaled.attempts[bin]);
    }
    std::chrono::nanoseconds last =
        std::max(data.end, data.bin * static_cast<std::int64_t>(scaled.bins));
    for (const auto& span : data.states) {
        last = std::max(last, span.to);
    }
    if (last.count() > 0) {
        scaled.seconds = static_cast<double>(last.count()) / 1e9;
    }
    const double peak = std::max({scaled.peak_calls, scaled.peak_attempts, 1.0});
    scaled.y_step = nice_step(peak / target_y_ticks);
    scaled.y_top = std::ceil(peak / scaled.y_step - 1e-9) * scaled.y_step;
    return scaled;
}

void draw_axes(std::string& svg, const chart& scaled, const plot_data& data) {
    svg += "<g id=\"axes\" font-size=\"" + px(font_size) + "\" fill=\"" +
           std::string(muted_colour) + "\">\n";
    const int y_ticks = static_cast<int>(std::lround(scaled.y_top / scaled.y_step));
    for (int tick = 0; tick <= y_ticks; ++tick) {
        const double rate = tick * scaled.y_step;
        const std::string y = px(scaled.y(rate));
        svg += "<line x1=\"" + px(chart_left) + "\" y1=\"" + y + "\" x2=\"" + px(chart_right) +
               "\" y2=\"" + y + "\" stroke=\"#e6e6e6\"/>\n";
        svg += text_element(chart_left - 8, scaled.y(rate) + 4, rate_label(rate, scaled.y_step),
                            "text-anchor=\"end\"");
    }
    const double x_step = nice_step(scaled.seconds / max_x_ticks);
    const int x_decimals = decimals_for(x_step);
    for (int tick = 0; tick * x_step <= scaled.seconds * (1 + 1e-9); ++tick) {
        const double at = tick * x_step;
        const std::string x = px(scaled.x(at));
        svg += "<line x1=\"" + x + "\" y1=\"" + px(chart_top) + "\" x2=\"" + x + "\" y2=\"" +
               px(chart_top + chart_height + 4) + "\" stroke=\"#eeeeee\"/>\n";
        svg += text_element(scaled.x(at), chart_top + chart_height + 17, decimal(at, x_decimals),
                            "text-anchor=\"middle\"");
    }
    svg += "<path d=\"M" + px(chart_left) + " " + px(chart_top) + "V" +
           px(chart_top + chart_height) + "H" + px(chart_right) +
           "\" fill=\"none\" stroke=\"#9e9e9e\"/>\n";
    svg += text_element(chart_left + chart_width / 2, chart_top + chart_height + 36,
                        "simulated time (s), bins of " + duration_label(data.bin),
                        "text-anchor=\"middle\"");
    const double middle = chart_top + chart_height / 2;
    svg += "<text x=\"18\" y=\"" + px(middle) + "\" transform=\"rotate(-90 18 " + px(middle) +
           ")\" text-anchor=\"middle\">per second</text>\n";
    svg += "</g>\n";
}

/// One path per outcome, stacked in the outcomes' order: the outline runs right along
/// the layer's top and back along its bottom, with a vertical step at each bin edge.
void draw_calls(std::string& svg, const chart& scaled) {
    svg += "<g id=\"calls\" shape-rendering=\"crispEdges\" data-peak-calls-per-second=\"" +
           decimal(scaled.peak_calls, 3) + "\">\n";
    std::vector<double> below(scaled.bins, 0);
    for (int outcome = 0; outcome < plotted_outcomes; ++outcome) {
        std::vector<double> above(below);
        bool any = false;
        for (std::size_t bin = 0; bin < scaled.bins; ++bin) {
            above[bin] += scaled.calls[bin][outcome];
            any = any || scaled.calls[bin][outcome] > 0;
        }
        if (any) {
            const auto edge = [&](std::size_t bin) {
                return px(scaled.x(static_cast<double>(bin) * scaled.bin_seconds));
            };
            std::string path = "M" + edge(0) + " " + px(scaled.y(above[0]));
            for (std::size_t bin = 0; bin < scaled.bins; ++bin) {
                if (bin + 1 == scaled.bins || above[bin + 1] != above[bin]) {
                    path += "H" + edge(bin + 1);
                    path +=
                        "V" + px(scaled.y(bin + 1 == scaled.bins ? below[bin] : above[bin + 1]));
                }
            }
            for (std::size_t bin = scaled.bins; bin-- > 0;) {
                if (bin == 0 || below[bin - 1] != below[bin]) {
                    path += "H" + edge(bin);
                    if (bin > 0) {
                        path += "V" + px(scaled.y(below[bin - 1]));
                    }
                }
            }
            svg += "<path class=\"outcome\" data-outcome=\"" + std::string(outcome_names[outcome]) +
                   "\" fill=\"" + std::string(outcome_colours[outcome]) + "\" d=\"" + path +
                   "Z\"/>\n";
        }
        below = std::move(above);
    }
    svg += "</g>\n";
}

void draw_attempts(std::string& svg, const chart& scaled) {
    svg += "<g id=\"attempts\" data-peak-attempts-per-second=\"" +
           decimal(scaled.peak_attempts, 3) + "\">\n";
    if (scaled.bins > 0) {
        std::string path = "M" + px(scaled.x(0)) + " " + px(scaled.y(scaled.attempts[0]));
        for (std::size_t bin = 0; bin < scaled.bins; ++bin) {
            path += "H" + px(scaled.x(static_cast<double>(bin + 1) * scaled.bin_seconds));
            if (bin + 1 < scaled.bins && scaled.attempts[bin + 1] != scaled.attempts[bin]) {
                path += "V" + px(scaled.y(scaled.attempts[bin + 1]));
            }
        }
        svg += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + std::string(attempts_colour) +
               "\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>\n";
    }
    svg += "</g>\n";
}

/// Invisible per-bin hover targets: a browser shows each bin's exact rates.
void draw_bin_tooltips(std::string& svg, const chart& scaled) {
    svg += "<g id=\"bins\" fill=\"none\" pointer-events=\"all\">\n";
    const int decimals = decimals_for(scaled.bin_seconds);
    for (std::size_t bin = 0; bin < scaled.bins; ++bin) {
        const double from = static_cast<double>(bin) * scaled.bin_seconds;
        std::string tip = decimal(from, decimals) + " s to " +
                          decimal(from + scaled.bin_seconds, decimals) + " s:";
        for (int outcome = 0; outcome < plotted_outcomes; ++outcome) {
            if (scaled.calls[bin][outcome] > 0) {
                // Appended piece by piece: GCC 12 warns (-Wrestrict) on `" " + string&&`.
                tip += ' ';
                tip += outcome_names[outcome];
                tip += ' ';
                tip += decimal(scaled.calls[bin][outcome], 3);
                tip += "/s,";
            }
        }
        tip += " attempts " + decimal(scaled.attempts[bin], 3) + "/s";
        // The amplification a retry budget caps (or a hedge adds).
        double calls = 0;
        for (const double rate : scaled.calls[bin])
            calls += rate;
        if (calls > 0)
            tip += " (" + decimal(scaled.attempts[bin] / calls, 2) + " per call)";
        svg += "<rect x=\"" + px(scaled.x(from)) + "\" y=\"" + px(chart_top) + "\" width=\"" +
               px(scaled.x(from + scaled.bin_seconds) - scaled.x(from)) + "\" height=\"" +
               px(chart_height) + "\"><title>" + tip + "</title></rect>\n";
    }
    svg += "</g>\n";
}

/// The strategies' spans by strategy name, each list in time order, whatever the input order.
std::map<std::string, std::vector<state_span>> spans_by_strategy(const plot_data& data) {
    std::map<std::string, std::vector<state_span>> rows;
    for (const auto& span : data.states) {
        rows[span.strategy].push_back(span);
    }
    for (auto& [strategy, spans] : rows) {
        std::sort(spans.begin(), spans.end(), [](const state_span& a, const state_span& b) {
            return std::tie(a.from, a.to, a.state) < std::tie(b.from, b.to, b.state);
        });
    }
    return rows;
}

/// One row per strategy under the chart, on the chart's time scale; returns its bottom.
double draw_bands(std::string& svg, const chart& scaled,
                  const std::map<std::string, std::vector<state_span>>& rows) {
    svg += "<g id=\"states\" font-size=\"" + px(font_size) + "\">\n";
    double row_top = bands_top;
    for (const auto& [strategy, spans] : rows) {
        svg += text_element(chart_left, row_top + 11, strategy,
                            "fill=\"" + std::string(text_colour) + "\" font-weight=\"bold\"");
        const double band_top = row_top + 16;
        svg += "<rect x=\"" + px(chart_left) + "\" y=\"" + px(band_top) + "\" width=\"" +
               px(chart_width) + "\" height=\"" + px(band_height) + "\" fill=\"#f5f5f5\"/>\n";
        for (const auto& span : spans) {
            const double from = std::max(0.0, static_cast<double>(span.from.count()) / 1e9);
            const double to = static_cast<double>(span.to.count()) / 1e9;
            if (!(to > from)) {
                continue;
            }
            const double left = scaled.x(from), width = scaled.x(to) - left;
            svg += "<rect class=\"state-span\" data-strategy=\"" + xml_escaped(strategy) +
                   "\" data-state=\"" + xml_escaped(span.state) + "\" x=\"" + px(left) + "\" y=\"" +
                   px(band_top) + "\" width=\"" + px(width) + "\" height=\"" + px(band_height) +
                   "\" fill=\"" + std::string(state_colour(span.state)) + "\"><title>" +
                   xml_escaped(strategy + ": " + span.state + " from " + decimal(from, 3) +
                               " s to " + decimal(to, 3) + " s") +
                   "</title></rect>\n";
            if (text_width(span.state, font_size) + 6 <= width) {
                svg += text_element(left + width / 2, band_top + 13, span.state,
                                    "class=\"state-label\" text-anchor=\"middle\" fill=\"" +
                                        std::string(text_colour) + "\"");
            }
        }
        row_top += band_row_pitch;
    }
    svg += "</g>\n";
    return rows.empty() ? chart_top + chart_height + 44 : row_top;
}

/// Outcomes, the attempts line and every state drawn, right of the chart; returns its bottom.
double draw_legend(std::string& svg, const std::map<std::string, std::vector<state_span>>& rows) {
    svg += "<g id=\"legend\" font-size=\"" + px(font_size) + "\" fill=\"" +
           std::string(text_colour) + "\">\n";
    double y = chart_top + 8;
    const auto heading = [&](std::string_view text) {
        svg += text_element(legend_left, y, text, "font-weight=\"bold\"");
        y += legend_pitch;
    };
    const auto swatch = [&](std::string_view colour, std::string_view label) {
        svg += "<rect x=\"" + px(legend_left) + "\" y=\"" + px(y - 10) +
               "\" width=\"12\" height=\"12\" fill=\"" + std::string(colour) + "\"/>\n";
        svg += text_element(legend_left + 18, y, label, "");
        y += legend_pitch;
    };
    heading("calls/s by outcome");
    for (int outcome = plotted_outcomes; outcome-- > 0;) { // top layer first, as stacked
        swatch(outcome_colours[outcome], outcome_names[outcome]);
    }
    y += legend_pitch / 2;
    svg += "<line x1=\"" + px(legend_left) + "\" y1=\"" + px(y - 4) + "\" x2=\"" +
           px(legend_left + 12) + "\" y2=\"" + px(y - 4) + "\" stroke=\"" +
           std::string(attempts_colour) + "\" stroke-width=\"2\"/>\n";
    svg += text_element(legend_left + 18, y, "attempts/s", "");
    y += legend_pitch;
    std::vector<std::string> states; // in order of first appearance
    for (const auto& [strategy, spans] : rows) {
        for (const auto& span : spans) {
            if (std::find(states.begin(), states.end(), span.state) == states.end()) {
                states.push_back(span.state);
            }
        }
    }
    if (!states.empty()) {
        y += legend_pitch / 2;
        heading("states");
        for (const auto& state : states) {
            swatch(state_colour(state), state);
        }
    }
    svg += "</g>\n";
    return y;
}

/// A step line through `steps` (value() of each) on the chart's time scale and `y`.
template <class Value, class Y>
std::string step_path(const chart& scaled, const std::vector<concurrency_step>& steps, Value value,
                      Y y) {
    const auto x = [&](std::chrono::nanoseconds t) {
        return px(scaled.x(static_cast<double>(t.count()) / 1e9));
    };
    std::string path = "M" + x(steps.front().from) + " " + px(y(value(steps.front())));
    for (std::size_t i = 1; i < steps.size(); ++i)
        if (value(steps[i]) != value(steps[i - 1])) // a sample for the other line
            path += "H" + x(steps[i].from) + "V" + px(y(value(steps[i])));
    return path + "H" + px(scaled.x(scaled.seconds));
}

/// Attempts in flight against the bulkhead's limit, a panel of its own
/// from `top` (counts, not rates); returns its bottom.
double draw_concurrency(std::string& svg, const chart& scaled, const plot_data& data, double top) {
    int peak = 1;
    for (const concurrency_step& step : data.concurrency)
        peak = std::max({peak, step.in_flight, step.limit});
    const double step = nice_step(peak / 4.0);
    const double y_top = std::ceil(peak / step - 1e-9) * step;
    const double panel_top = top + 22;
    const auto y = [&](double n) { return panel_top + panel_height * (1 - n / y_top); };
    svg += "<g id=\"concurrency\" font-size=\"" + px(font_size) + "\" data-peak=\"" +
           std::to_string(peak) + "\">\n";
    svg += text_element(chart_left, top + 11, "attempts in flight and the bulkhead's limit",
                        "fill=\"" + std::string(text_colour) + "\" font-weight=\"bold\"");
    for (double n = 0; n <= y_top * (1 + 1e-9); n += step) {
        svg += "<line x1=\"" + px(chart_left) + "\" y1=\"" + px(y(n)) + "\" x2=\"" +
               px(chart_right) + "\" y2=\"" + px(y(n)) + "\" stroke=\"#e6e6e6\"/>\n";
        svg += text_element(chart_left - 8, y(n) + 4, decimal(n, decimals_for(step)),
                            "text-anchor=\"end\" fill=\"" + std::string(muted_colour) + "\"");
    }
    // In flight as an area, the limit a line over it: where they meet, the
    // bulkhead is full.
    svg += "<path class=\"in-flight\" d=\"" +
           step_path(
               scaled, data.concurrency, [](const concurrency_step& s) { return s.in_flight; }, y) +
           "V" + px(y(0)) + "H" + px(scaled.x(0)) + "Z\" fill=\"" + std::string(in_flight_colour) +
           "\"/>\n";
    svg += "<path class=\"limit\" d=\"" +
           step_path(
               scaled, data.concurrency, [](const concurrency_step& s) { return s.limit; }, y) +
           "\" fill=\"none\" stroke=\"" + std::string(limit_colour) + "\" stroke-width=\"2\"/>\n";
    double legend_y = panel_top + 8;
    for (const auto& [colour, label] :
         {std::pair{in_flight_colour, "in flight"}, std::pair{limit_colour, "limit"}}) {
        svg += "<line x1=\"" + px(legend_left) + "\" y1=\"" + px(legend_y - 4) + "\" x2=\"" +
               px(legend_left + 12) + "\" y2=\"" + px(legend_y - 4) + "\" stroke=\"" +
               std::string(colour) + "\" stroke-width=\"2\"/>\n";
        svg += text_element(legend_left + 18, legend_y, label,
                            "fill=\"" + std::string(text_colour) + "\"");
        legend_y += legend_pitch;
    }
    svg += "</g>\n";
    return panel_top + panel_height;
}

} // namespace

std::chrono::nanoseconds choose_bin(std::chrono::nanoseconds end) {
    constexpr std::int64_t max_bins = 200;
    const std::int64_t span = std::max<std::int64_t>(end.count(), 0);
    // 5 * 10^18 ns gives at most 2 bins for any span, so `decade` never overflows.
    for (std::int64_t decade = 1'000'000;; decade *= 10) {
        for (const std::int64_t multiple : {1, 2, 5}) {
            const std::int64_t width = decade * multiple;
            if (span / width + (span % width != 0 ? 1 : 0) <= max_bins) {
                return std::chrono::nanoseconds(width);
            }
        }
    }
}

std::string render_svg(const plot_data& data) {
    if (data.bin.count() <= 0) {
        throw std::invalid_argument("keel-sim plot: the bin width must be positive");
    }
    const chart scaled = chart_of(data);
    const auto rows = spans_by_strategy(data);
    std::string body;
    draw_axes(body, scaled, data);
    draw_calls(body, scaled);
    draw_attempts(body, scaled);
    draw_bin_tooltips(body, scaled);
    // Two statements: both append to body, and the order of a call's
    // arguments is unspecified (g++ and clang appended them in opposite orders).
    const double legend_bottom = draw_legend(body, rows);
    double bottom = std::max(draw_bands(body, scaled, rows), legend_bottom);
    if (!data.concurrency.empty())
        bottom = draw_concurrency(body, scaled, data, bottom + 12);
    const std::string height = px(std::ceil(bottom + 12));
    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                      px(page_width) + "\" height=\"" + height + "\" viewBox=\"0 0 " +
                      px(page_width) + " " + height +
                      "\" font-family=\"DejaVu Sans, sans-serif\">\n";
    svg += "<rect width=\"" + px(page_width) + "\" height=\"" + height + "\" fill=\"#ffffff\"/>\n";
    svg += text_element(chart_left, 26, data.title,
                        "font-size=\"16\" font-weight=\"bold\" fill=\"" + std::string(text_colour) +
                            "\"");
    svg += body;
    svg += "</svg>\n";
    return svg;
}

} // namespace keel::sim
