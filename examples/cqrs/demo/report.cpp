// Over 400 lines: one page's layout (geometry, scales, colours) shared by its seven plots.
#include "report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace cqrs::demo {

namespace {

// A plot block's geometry (px); the legend is right of the plot area.
constexpr double area_left = 64, area_right = 770, area_top = 40, area_bottom = 214;
constexpr double legend_left = 788, legend_top = 44, legend_pitch = 14;
constexpr int legend_rows = static_cast<int>((plot_height - legend_top - 8) / legend_pitch);

constexpr std::string_view palette[] = {"#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00",
                                        "#00838f", "#ad1457", "#4e342e", "#9e9d24", "#37474f"};

std::string_view colour(std::size_t index) {
    return palette[index % std::size(palette)];
}

std::string_view phase_colour(std::string_view kind) {
    if (kind == "broker")
        return "#ffb300";
    if (kind == "pg-restart")
        return "#8e24aa";
    if (kind == "payment")
        return "#e53935";
    if (kind == "projector-kill")
        return "#1e88e5";
    if (kind == "relay-kill")
        return "#43a047";
    return "#757575";
}

std::string_view state_colour(std::string_view state) {
    if (state == "open")
        return "#e57373";
    if (state == "half_open")
        return "#ffd54f";
    return "#81c784";
}

/// Locale-free, at most `decimals` decimals, no trailing zeros.
std::string num(double value, int decimals = 2) {
    char text[64];
    const auto [end, error] =
        std::to_chars(text, text + sizeof text, value, std::chars_format::fixed, decimals);
    if (error != std::errc{})
        return "0";
    std::string s(text, end);
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0')
            s.pop_back();
        if (s.back() == '.')
            s.pop_back();
    }
    return s == "-0" ? "0" : s;
}

/// Text and attribute values: the names come from configuration.
std::string escaped(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
        case '&':
            out.append("&amp;");
            break;
        case '<':
            out.append("&lt;");
            break;
        case '>':
            out.append("&gt;");
            break;
        case '"':
            out.append("&quot;");
            break;
        case '\'':
            out.append("&#39;");
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
double round_step(double raw) {
    if (!(raw > 0))
        return 1;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 5.0, 10.0})
        if (m * power >= raw * (1 - 1e-9))
            return m * power;
    return 10 * power;
}

using point = std::pair<double, std::optional<double>>; ///< seconds, value (none: a gap)

struct series {
    std::string name;
    std::vector<point> points;
    std::size_t colour = 0;
    bool dashed = false;
};

/// The seconds the time axis spans: from the first sample (the demo's
/// start-up before it is no news), whole seconds.
struct time_span {
    double begin = 0, end = 1;
};

/// The time and value scales of one plot area.
struct scales {
    time_span span;
    double top = 1; ///< value at the top edge
    double step = 1;
    double x(double seconds) const {
        const double share = (seconds - span.begin) / (span.end - span.begin);
        return area_left + (area_right - area_left) * std::clamp(share, 0.0, 1.0);
    }
    double y(double value) const {
        return area_bottom - (area_bottom - area_top) * std::clamp(value / top, 0.0, 1.0);
    }
};

scales value_scales(time_span span, const std::vector<series>& all) {
    double peak = 0;
    for (const auto& s : all)
        for (const auto& [at, v] : s.points)
            if (v)
                peak = std::max(peak, *v);
    scales sc;
    sc.span = span;
    sc.step = round_step(peak > 0 ? peak / 4 : 0.25);
    sc.top = std::max(sc.step, std::ceil(peak / sc.step - 1e-9) * sc.step);
    return sc;
}

std::string text(double x, double y, std::string_view content, std::string_view attributes = {}) {
    std::string out = "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"";
    if (!attributes.empty()) {
        out.push_back(' ');
        out.append(attributes);
    }
    out.append(">");
    out.append(escaped(content));
    out.append("</text>\n");
    return out;
}

void open_block(std::string& out, std::size_t index, std::string_view title) {
    const auto name = std::string(report_plots[index]);
    out.append("<svg id=\"plot-" + name + "\" class=\"plot\" data-top=\"" +
               std::to_string(header_height + static_cast<int>(index) * plot_height) +
               "\" width=\"" + std::to_string(report_width) + "\" height=\"" +
               std::to_string(plot_height) + "\" viewBox=\"0 0 " + std::to_string(report_width) +
               " " + std::to_string(plot_height) + "\" xmlns=\"http://www.w3.org/2000/svg\">\n");
    out.append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    out.append(text(area_left, 24, title, "font-size=\"15\" font-weight=\"bold\""));
}

/// Every fault phase as a translucent column over the plot area.
void shade_phases(std::string& out, const scales& sc, const std::vector<fault_phase>& phases) {
    out.append("<g class=\"phases\">\n");
    for (const auto& p : phases) {
        const double x0 = sc.x(p.from);
        const double width = std::max(2.0, sc.x(p.to) - x0); // an instant stays visible
        out.append("<rect class=\"phase\" data-kind=\"" + escaped(p.kind) + "\" x=\"" + num(x0) +
                   "\" y=\"" + num(area_top) + "\" width=\"" + num(width) + "\" height=\"" +
                   num(area_bottom - area_top) + "\" fill=\"" + std::string(phase_colour(p.kind)) +
                   "\" fill-opacity=\"0.2\"><title>" + escaped(p.label) + ": " + num(p.from, 1) +
                   " s to " + num(p.to, 1) + " s</title></rect>\n");
    }
    out.append("</g>\n");
}

/// Time ticks under the area, value ticks left of it (none for bands).
void axes(std::string& out, const scales& sc, std::string_view unit, bool values) {
    out.append("<g class=\"axes\" font-size=\"11\" fill=\"#555555\">\n");
    const double time_step = round_step((sc.span.end - sc.span.begin) / 10);
    for (double tick = std::ceil(sc.span.begin / time_step - 1e-9) * time_step;
         tick <= sc.span.end * (1 + 1e-9); tick += time_step) {
        const double x = sc.x(tick);
        out.append("<line x1=\"" + num(x) + "\" y1=\"" + num(area_top) + "\" x2=\"" + num(x) +
                   "\" y2=\"" + num(area_bottom + 4) + "\" stroke=\"#eeeeee\"/>\n");
        out.append(text(x, area_bottom + 17, num(tick, 1), "text-anchor=\"middle\""));
    }
    out.append(text((area_left + area_right) / 2, area_bottom + 34, "seconds since the run started",
                    "text-anchor=\"middle\""));
    if (values) {
        for (int i = 0; i * sc.step <= sc.top * (1 + 1e-9); ++i) {
            const double y = sc.y(i * sc.step);
            out.append("<line x1=\"" + num(area_left) + "\" y1=\"" + num(y) + "\" x2=\"" +
                       num(area_right) + "\" y2=\"" + num(y) + "\" stroke=\"#eeeeee\"/>\n");
            out.append(text(area_left - 6, y + 4, num(i * sc.step), "text-anchor=\"end\""));
        }
        out.append(text(area_left, area_top - 4, unit, "font-style=\"italic\""));
    }
    out.append("<path d=\"M" + num(area_left) + " " + num(area_top) + "V" + num(area_bottom) + "H" +
               num(area_right) + "\" fill=\"none\" stroke=\"#9e9e9e\"/>\n");
    out.append("</g>\n");
}

struct legend_entry {
    std::string name;
    std::string_view colour;
    bool dashed = false;
    bool swatch = false; ///< a filled square (states, phases) rather than a line
};

/// The series, then the kinds of fault phase; "+N more" when they do not fit.
void legend(std::string& out, std::vector<legend_entry> entries,
            const std::vector<fault_phase>& phases) {
    std::set<std::string> kinds;
    for (const auto& p : phases)
        if (kinds.insert(p.kind).second)
            entries.push_back({"fault: " + p.kind, phase_colour(p.kind), false, true});
    out.append("<g class=\"legend\" font-size=\"10.5\" fill=\"#212121\">\n");
    const int shown = static_cast<int>(entries.size()) <= legend_rows
                          ? static_cast<int>(entries.size())
                          : legend_rows - 1;
    for (int i = 0; i < shown; ++i) {
        const auto& e = entries[static_cast<std::size_t>(i)];
        const double y = legend_top + i * legend_pitch;
        if (e.swatch)
            out.append("<rect x=\"" + num(legend_left) + "\" y=\"" + num(y - 9) +
                       "\" width=\"18\" height=\"10\" fill=\"" + std::string(e.colour) +
                       "\" fill-opacity=\"" + (e.name.rfind("fault: ", 0) == 0 ? "0.35" : "1") +
                       "\"/>\n");
        else
            out.append("<line x1=\"" + num(legend_left) + "\" y1=\"" + num(y - 4) + "\" x2=\"" +
                       num(legend_left + 18) + "\" y2=\"" + num(y - 4) + "\" stroke=\"" +
                       std::string(e.colour) + "\" stroke-width=\"2\"" +
                       (e.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>\n");
        out.append(text(legend_left + 24, y, e.name));
    }
    if (shown < static_cast<int>(entries.size()))
        out.append(
            text(legend_left + 24, legend_top + shown * legend_pitch,
                 "+" + std::to_string(entries.size() - static_cast<std::size_t>(shown)) + " more"));
    out.append("</g>\n");
}

void no_data(std::string& out, std::string_view what) {
    out.append(text((area_left + area_right) / 2, (area_top + area_bottom) / 2, what,
                    "class=\"no-data\" text-anchor=\"middle\" font-size=\"14\" fill=\"#757575\""));
}

/// A path through the points, broken where a value is missing.
std::string polyline(const scales& sc, const std::vector<point>& points) {
    std::string d;
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (!points[i].second)
            continue;
        d.append(i == 0 || !points[i - 1].second ? "M" : "L");
        d.append(num(sc.x(points[i].first)) + " " + num(sc.y(*points[i].second)));
    }
    return d;
}

/// The points alone between gaps, which a line does not show: each a
/// near-zero stroke that round caps make a dot.
std::string lone_points(const scales& sc, const std::vector<point>& points) {
    std::string d;
    for (std::size_t i = 0; i < points.size(); ++i)
        if (points[i].second && (i == 0 || !points[i - 1].second) &&
            (i + 1 == points.size() || !points[i + 1].second)) {
            // Appended piece by piece: g++ 12 warns (-Wrestrict) on "literal" + string.
            d.append("M");
            d.append(num(sc.x(points[i].first)));
            d.append(" ");
            d.append(num(sc.y(*points[i].second)));
            d.append("h0.01");
        }
    return d;
}

void line_plot(std::string& out, std::size_t index, std::string_view title, std::string_view unit,
               const std::vector<series>& all, const timeline& t, time_span span,
               std::string_view empty) {
    open_block(out, index, title);
    const scales sc = value_scales(span, all);
    shade_phases(out, sc, t.phases);
    axes(out, sc, unit, true);
    std::vector<legend_entry> entries;
    out.append("<g class=\"series\">\n");
    for (const auto& s : all) {
        out.append("<path class=\"line\" data-series=\"" + escaped(s.name) + "\" d=\"" +
                   polyline(sc, s.points) + "\" fill=\"none\" stroke=\"" +
                   std::string(colour(s.colour)) +
                   "\" stroke-width=\"2\" stroke-linejoin=\"round\"" +
                   (s.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>\n");
        if (const auto dots = lone_points(sc, s.points); !dots.empty())
            out.append("<path class=\"dots\" d=\"" + dots + "\" stroke=\"" +
                       std::string(colour(s.colour)) +
                       "\" stroke-width=\"6\" stroke-linecap=\"round\"/>\n");
        entries.push_back({s.name, colour(s.colour), s.dashed, false});
    }
    out.append("</g>\n");
    if (all.empty())
        no_data(out, empty);
    legend(out, std::move(entries), t.phases);
    out.append("</svg>\n");
}

using cumulative = std::function<std::optional<double>(const timeline_sample&)>;

/// Per second between consecutive samples, at the later one; a counter
/// that went back (a process that died unannounced) counts from zero.
std::vector<point> rate(const timeline& t, const cumulative& value) {
    std::vector<point> out;
    for (std::size_t i = 1; i < t.samples.size(); ++i) {
        const auto& a = t.samples[i - 1];
        const auto& b = t.samples[i];
        const auto va = value(a), vb = value(b);
        const double seconds = b.at - a.at;
        if (!va || !vb || !(seconds > 0)) {
            out.emplace_back(b.at, std::nullopt);
            continue;
        }
        out.emplace_back(b.at, std::max(0.0, *vb >= *va ? *vb - *va : *vb) / seconds);
    }
    return out;
}

std::vector<std::string> dependency_names(const timeline& t) {
    std::set<std::string> names;
    for (const auto& s : t.samples)
        for (const auto& [name, p] : s.dependencies)
            names.insert(name);
    return {names.begin(), names.end()};
}

std::optional<double> of_dependency(const timeline_sample& s, const std::string& name,
                                    double dependency_point::*field) {
    const auto it = s.dependencies.find(name);
    if (it == s.dependencies.end())
        return std::nullopt;
    return it->second.*field;
}

std::vector<series> per_dependency_rates(const timeline& t, double dependency_point::*field) {
    std::vector<series> out;
    for (const auto& name : dependency_names(t))
        out.push_back(
            {name, rate(t, [&](const timeline_sample& s) { return of_dependency(s, name, field); }),
             out.size()});
    return out;
}

std::vector<series> rejection_rates(const timeline& t) {
    std::set<std::string> reasons;
    for (const auto& s : t.samples)
        for (const auto& [name, p] : s.dependencies)
            for (const auto& [reason, n] : p.rejections)
                reasons.insert(reason);
    std::vector<series> out;
    for (const auto& reason : reasons)
        out.push_back({reason,
                       rate(t,
                            [&](const timeline_sample& s) -> std::optional<double> {
                                double sum = 0;
                                for (const auto& [name, p] : s.dependencies)
                                    if (const auto it = p.rejections.find(reason);
                                        it != p.rejections.end())
                                        sum += it->second;
                                return sum;
                            }),
                       out.size()});
    return out;
}

std::vector<series> bulkhead_lines(const timeline& t) {
    std::vector<series> out;
    std::size_t hue = 0;
    for (const auto& name : dependency_names(t)) {
        series in_flight{name + " in flight", {}, hue}, limit{name + " limit", {}, hue, true};
        bool any = false;
        for (const auto& s : t.samples) {
            const auto it = s.dependencies.find(name);
            const bool has = it != s.dependencies.end() && it->second.has_bulkhead;
            any = any || has;
            in_flight.points.emplace_back(s.at,
                                          has ? std::optional(it->second.in_flight) : std::nullopt);
            limit.points.emplace_back(s.at, has ? std::optional(it->second.limit) : std::nullopt);
        }
        if (!any)
            continue;
        out.push_back(std::move(in_flight));
        out.push_back(std::move(limit));
        ++hue;
    }
    return out;
}

/// One band per dependency with a breaker: its state from each sample to
/// the next.
void breaker_plot(std::string& out, std::size_t index, const timeline& t, time_span span) {
    open_block(out, index, "circuit breakers: state over time");
    scales sc;
    sc.span = span;
    shade_phases(out, sc, t.phases);
    axes(out, sc, {}, false);
    std::vector<std::string> rows;
    for (const auto& name : dependency_names(t))
        for (const auto& s : t.samples)
            if (const auto it = s.dependencies.find(name);
                it != s.dependencies.end() && !it->second.circuit.empty()) {
                rows.push_back(name);
                break;
            }
    const double pitch =
        rows.empty()
            ? 0
            : std::min(30.0, (area_bottom - area_top - 4) / static_cast<double>(rows.size()));
    out.append("<g class=\"bands\" font-size=\"11\">\n");
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const double y = area_top + 4 + pitch * static_cast<double>(r);
        const double height = std::max(2.0, pitch - 4);
        for (std::size_t i = 0; i + 1 < t.samples.size(); ++i) {
            const auto it = t.samples[i].dependencies.find(rows[r]);
            if (it == t.samples[i].dependencies.end() || it->second.circuit.empty())
                continue;
            const double x0 = sc.x(t.samples[i].at), x1 = sc.x(t.samples[i + 1].at);
            out.append("<rect class=\"band\" data-dependency=\"" + escaped(rows[r]) +
                       "\" data-state=\"" + escaped(it->second.circuit) + "\" x=\"" + num(x0) +
                       "\" y=\"" + num(y) + "\" width=\"" + num(std::max(0.5, x1 - x0)) +
                       "\" height=\"" + num(height) + "\" fill=\"" +
                       std::string(state_colour(it->second.circuit)) + "\"/>\n");
        }
        out.append(
            text(area_left + 4, y + std::min(height, 14.0) - 3, rows[r], "fill=\"#212121\""));
    }
    out.append("</g>\n");
    if (rows.empty())
        no_data(out, "no data in this run: no dependency has a circuit breaker");
    legend(out,
           {{"closed", state_colour("closed"), false, true},
            {"half_open", state_colour("half_open"), false, true},
            {"open", state_colour("open"), false, true}},
           t.phases);
    out.append("</svg>\n");
}

void header(std::string& out, const timeline& t, time_span span) {
    out.append("<svg id=\"header\" width=\"" + std::to_string(report_width) + "\" height=\"" +
               std::to_string(header_height) + "\" viewBox=\"0 0 " + std::to_string(report_width) +
               " " + std::to_string(header_height) + "\" xmlns=\"http://www.w3.org/2000/svg\">\n");
    out.append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    out.append(text(area_left, 30, t.title, "font-size=\"20\" font-weight=\"bold\""));
    out.append(text(area_left, 52,
                    std::to_string(t.samples.size()) + " samples from " + num(span.begin, 1) +
                        " s to " + num(span.end, 1) +
                        " s after the start; shaded: the fault phases (hover for what each did)",
                    "font-size=\"12\" fill=\"#555555\""));
    std::vector<std::string> kinds;
    for (const auto& p : t.phases)
        if (std::find(kinds.begin(), kinds.end(), p.kind) == kinds.end())
            kinds.push_back(p.kind);
    double x = area_left;
    if (kinds.empty())
        out.append(text(x, 80, "no fault phases in this run", "font-size=\"12\""));
    for (const auto& kind : kinds) {
        out.append("<rect x=\"" + num(x) + "\" y=\"70\" width=\"18\" height=\"12\" fill=\"" +
                   std::string(phase_colour(kind)) + "\" fill-opacity=\"0.35\"/>\n");
        out.append(text(x + 24, 80, kind, "font-size=\"12\""));
        x += 40 + 7.5 * static_cast<double>(kind.size());
    }
    out.append("</svg>\n");
}

} // namespace

std::string render_report(const timeline& t) {
    time_span span;
    if (!t.samples.empty())
        span.begin = std::floor(t.samples.front().at);
    for (const auto& p : t.phases)
        span.begin = std::min(span.begin, std::floor(p.from));
    span.end = span.begin + 1;
    for (const auto& s : t.samples)
        span.end = std::max(span.end, s.at);
    for (const auto& p : t.phases)
        span.end = std::max(span.end, p.to);

    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
        escaped(t.title) +
        "</title>\n<style>body{margin:0;background:#ffffff;font-family:sans-serif}"
        "svg{display:block;font-family:sans-serif}</style>\n</head>\n<body>\n";
    header(out, t, span);

    std::vector<series> orders;
    if (t.samples.size() > 1)
        orders.push_back(
            {"orders completed",
             rate(t, [](const timeline_sample& s) { return std::optional(s.orders_done); }), 0});
    line_plot(out, 0, "orders completed per second", "orders/s", orders, t, span,
              "no data in this run: fewer than two samples");

    std::vector<series> lag{{"p50", {}, 0}, {"p99", {}, 1}};
    bool any_lag = false;
    for (const auto& s : t.samples) {
        lag[0].points.emplace_back(s.at, s.lag_p50_ms);
        lag[1].points.emplace_back(s.at, s.lag_p99_ms);
        any_lag = any_lag || s.lag_p50_ms || s.lag_p99_ms;
    }
    if (!any_lag)
        lag.clear();
    line_plot(out, 1, "end-to-end lag: event created -> applied to the read model", "ms", lag, t,
              span, "no data in this run: no event reached the read model");

    line_plot(out, 2, "attempts per second, per dependency", "attempts/s",
              per_dependency_rates(t, &dependency_point::attempts), t, span,
              "no data in this run: no keel metrics were read");
    line_plot(out, 3, "retries per second, per dependency", "retries/s",
              per_dependency_rates(t, &dependency_point::retries), t, span,
              "no data in this run: no keel metrics were read");
    line_plot(out, 4, "local rejections per second, by reason (all dependencies)", "rejections/s",
              rejection_rates(t), t, span, "no data in this run: no dependency exports rejections");
    breaker_plot(out, 5, t, span);
    line_plot(out, 6, "bulkheads: attempts in flight (solid) against the limit (dashed)",
              "attempts", bulkhead_lines(t), t, span,
              "no data in this run: no dependency has a bulkhead");
    out.append("</body>\n</html>\n");
    return out;
}

} // namespace cqrs::demo
