// The report generator on fixed timelines, and the pieces that feed it: the
// fault phases of executed steps, keel's gauges read from /metrics.
#include "faults.hpp"
#include "report.hpp"
#include "report_fixture.hpp"
#include "sampler.hpp"
#include "scrape.hpp"
#include "timeline.hpp"
#include <gtest/gtest.h>

#include <string>

namespace {

using namespace cqrs::demo;

/// The <svg> block of plot `name`, or "" when there is none.
std::string block(const std::string& html, std::string_view name) {
    const auto start = html.find("<svg id=\"plot-" + std::string(name) + "\"");
    if (start == std::string::npos)
        return {};
    return html.substr(start, html.find("</svg>", start) + 6 - start);
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

/// The fixture without the series only some runs have.
timeline without_strategies() {
    auto t = fixture_timeline();
    for (auto& s : t.samples)
        for (auto& [name, p] : s.dependencies) {
            p.circuit.clear();
            p.has_bulkhead = false;
            p.rejections.clear();
        }
    return t;
}

TEST(cqrs_demo_report, every_plot_in_its_fixed_block_in_order) {
    const auto html = render_report(fixture_timeline());
    std::size_t previous = 0;
    for (std::size_t i = 0; i < report_plots.size(); ++i) {
        const auto b = block(html, report_plots[i]);
        ASSERT_FALSE(b.empty()) << report_plots[i];
        const auto at = html.find(b);
        EXPECT_GT(at, previous) << report_plots[i] << " out of order";
        previous = at;
        const auto top = std::to_string(header_height + static_cast<int>(i) * plot_height);
        EXPECT_NE(b.find("data-top=\"" + top + "\""), std::string::npos) << report_plots[i];
        EXPECT_NE(b.find("height=\"" + std::to_string(plot_height) + "\""), std::string::npos);
    }
    EXPECT_EQ(occurrences(html, "class=\"plot\""), report_plots.size());
}

TEST(cqrs_demo_report, a_series_per_dependency_and_reason) {
    const auto html = render_report(fixture_timeline());
    for (const auto plot : {"attempts", "retries"}) {
        const auto b = block(html, plot);
        EXPECT_EQ(occurrences(b, "class=\"line\""), 3u) << plot;
        EXPECT_NE(b.find("data-series=\"payments\""), std::string::npos) << plot;
        EXPECT_NE(b.find("data-series=\"event-store\""), std::string::npos) << plot;
    }
    const auto rejections = block(html, "rejections");
    EXPECT_NE(rejections.find("data-series=\"circuit_open\""), std::string::npos);
    EXPECT_NE(rejections.find("data-series=\"bulkhead_full\""), std::string::npos);
    const auto lag = block(html, "lag");
    EXPECT_NE(lag.find("data-series=\"p50\""), std::string::npos);
    EXPECT_NE(lag.find("data-series=\"p99\""), std::string::npos);
    // In flight and limit of the one dependency with a bulkhead.
    const auto bulkheads = block(html, "bulkheads");
    EXPECT_EQ(occurrences(bulkheads, "class=\"line\""), 2u);
    EXPECT_NE(bulkheads.find("data-series=\"payments limit\""), std::string::npos);
    // Bands for the two dependencies with a breaker, in each state they were in.
    const auto breakers = block(html, "breakers");
    EXPECT_NE(breakers.find("data-dependency=\"event-store\" data-state=\"closed\""),
              std::string::npos);
    for (const auto state : {"closed", "open", "half_open"})
        EXPECT_NE(breakers.find("data-dependency=\"payments\" data-state=\"" + std::string(state)),
                  std::string::npos)
            << state;
    EXPECT_EQ(breakers.find("data-dependency=\"a&lt;b"), std::string::npos); // no breaker
}

TEST(cqrs_demo_report, orders_per_second_from_the_counts) {
    timeline t;
    t.samples = {{0, 0, {}, {}, {}}, {0.5, 10, {}, {}, {}}, {1.0, 10, {}, {}, {}}};
    const auto b = block(render_report(t), "orders");
    // 20/s then 0/s: the y axis tops at 20, the line falls from it to the floor.
    EXPECT_NE(b.find(">20</text>"), std::string::npos);
    EXPECT_EQ(b.find(">25</text>"), std::string::npos);
    EXPECT_NE(b.find("d=\"M"), std::string::npos);
}

TEST(cqrs_demo_report, a_value_alone_between_gaps_is_still_drawn) {
    timeline t;
    t.samples = {{0, 0, {}, {}, {}}, {0.5, 0, 30.0, 80.0, {}}, {1.0, 0, {}, {}, {}}};
    const auto b = block(render_report(t), "lag");
    EXPECT_EQ(occurrences(b, "class=\"dots\""), 2u) << b; // p50 and p99: a dot each
    EXPECT_EQ(occurrences(b, "h0.01"), 2u) << b;
}

TEST(cqrs_demo_report, fault_phases_shaded_on_every_plot_with_a_legend) {
    const auto t = fixture_timeline();
    const auto html = render_report(t);
    for (const auto plot : report_plots) {
        const auto b = block(html, plot);
        EXPECT_EQ(occurrences(b, "class=\"phase\""), t.phases.size()) << plot;
        for (const auto kind : {"payment", "broker", "pg-restart", "relay-kill"})
            EXPECT_NE(b.find(">fault: " + std::string(kind) + "<"), std::string::npos)
                << plot << " " << kind;
    }
    // Hovering a phase says what it was.
    EXPECT_NE(html.find("<title>PostgreSQL crash and restart: 30 s to 33.5 s</title>"),
              std::string::npos);
}

TEST(cqrs_demo_report, series_no_dependency_exports_say_so) {
    const auto full = render_report(fixture_timeline());
    EXPECT_EQ(full.find("no data in this run"), std::string::npos);
    const auto html = render_report(without_strategies());
    for (const auto plot : {"breakers", "bulkheads", "rejections"}) {
        const auto b = block(html, plot);
        ASSERT_FALSE(b.empty()) << plot << ": an empty plot is still drawn";
        EXPECT_NE(b.find("class=\"no-data\""), std::string::npos) << plot;
        EXPECT_NE(b.find("no data in this run"), std::string::npos) << plot;
    }
    for (const auto plot : {"orders", "lag", "attempts", "retries"})
        EXPECT_EQ(block(html, plot).find("no data in this run"), std::string::npos) << plot;
    const auto nothing = render_report(timeline{});
    for (const auto plot : report_plots)
        EXPECT_NE(block(nothing, plot).find("no data in this run"), std::string::npos) << plot;
}

TEST(cqrs_demo_report, names_are_escaped) {
    auto t = fixture_timeline();
    t.title = "run <1> & \"2\"";
    const auto html = render_report(t);
    EXPECT_NE(html.find("data-series=\"a&lt;b&amp;&quot;c&quot;\""), std::string::npos);
    EXPECT_NE(html.find(">a&lt;b&amp;&quot;c&quot;</text>"), std::string::npos);
    EXPECT_NE(html.find("<title>run &lt;1&gt; &amp; &quot;2&quot;</title>"), std::string::npos);
    EXPECT_EQ(html.find("a<b"), std::string::npos);
    EXPECT_EQ(html.find("<1>"), std::string::npos);
}

TEST(cqrs_demo_report, self_contained) {
    const auto html = render_report(fixture_timeline());
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("https:"), std::string::npos);
    EXPECT_EQ(html.find("url("), std::string::npos);
    EXPECT_EQ(html.find("@font-face"), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    // The only URL is the SVG namespace, an identifier that is never fetched.
    EXPECT_EQ(occurrences(html, "http:"),
              occurrences(html, "xmlns=\"http://www.w3.org/2000/svg\""));
}

TEST(cqrs_demo_report, same_timeline_same_bytes) {
    EXPECT_EQ(render_report(fixture_timeline()), render_report(fixture_timeline()));
    auto t = fixture_timeline();
    t.samples[10].orders_done += 1;
    EXPECT_NE(render_report(t), render_report(fixture_timeline()));
}

TEST(cqrs_demo_report_phases, on_off_pairs_instants_and_unclosed) {
    using a = fault_step::action;
    auto step = [](a what, fault kind, std::string command, std::string target, double from,
                   double to) {
        return executed_step{{0, what, std::move(command), std::move(target), kind}, from, to};
    };
    const std::vector<executed_step> steps = {
        step(a::payment_faults_on, fault::payment, {}, {}, 5, 5.1),
        step(a::mock_command, fault::broker, "error 0 19,19,19", {}, 6, 6.05),
        step(a::mock_command, fault::broker, "broker-down 2", {}, 7, 7.1),
        step(a::mock_command, fault::broker, "broker-up 2", {}, 9, 9.2),
        step(a::mock_command, fault::broker, "rtt 1 300", {}, 8, 8.1),
        step(a::crash, fault::projector_kill, {}, "projector-2", 10, 10.1),
        step(a::pg_restart, fault::pg_restart, {}, {}, 11, 14),
        step(a::payment_faults_off, fault::payment, {}, {}, 20, 20.3),
    };
    const auto phases = phases_of(steps, 30);
    ASSERT_EQ(phases.size(), 6u);
    EXPECT_EQ(phases[0].kind, "payment");
    EXPECT_DOUBLE_EQ(phases[0].from, 5);
    EXPECT_DOUBLE_EQ(phases[0].to, 20.3);
    EXPECT_EQ(phases[1].label, "kafka mock: error 0 19,19,19");
    EXPECT_DOUBLE_EQ(phases[1].to, 6.05);
    EXPECT_EQ(phases[2].label, "broker 2 down");
    EXPECT_DOUBLE_EQ(phases[2].to, 9.2);
    EXPECT_EQ(phases[3].label, "broker 1 slow (300 ms)");
    EXPECT_DOUBLE_EQ(phases[3].to, 30); // never set back: until the run's end
    EXPECT_EQ(phases[4].label, "projector-2 killed");
    EXPECT_DOUBLE_EQ(phases[4].to, 30);
    EXPECT_EQ(phases[5].kind, "pg-restart");
    EXPECT_DOUBLE_EQ(phases[5].from, 11);
    EXPECT_DOUBLE_EQ(phases[5].to, 14);
}

TEST(cqrs_demo_report_metrics, gauges_and_rejections_by_dependency) {
    const auto page =
        std::string("keel_attempts_total{dependency=\"payments\",result=\"success\"} 40\n"
                    "keel_attempts_total{dependency=\"payments\",result=\"failure\"} 2\n"
                    "keel_rejections_total{dependency=\"payments\",reason=\"circuit_open\"} 7\n"
                    "keel_circuit_state{dependency=\"payments\",state=\"closed\"} 0\n"
                    "keel_circuit_state{dependency=\"payments\",state=\"open\"} 1\n"
                    "keel_circuit_state{dependency=\"payments\",state=\"half_open\"} 0\n"
                    "keel_bulkhead_in_flight{dependency=\"payments\"} 3\n"
                    "keel_bulkhead_limit{dependency=\"payments\"} 8\n"
                    "keel_calls_total{dependency=\"event-store\",outcome=\"success\"} 5\n");
    auto counts = parse_keel_counters(page);
    add(counts, parse_keel_counters(page)); // a second process
    const auto& p = counts.at("payments");
    EXPECT_EQ(p.attempts, 84);
    EXPECT_EQ(p.rejections.at("circuit_open"), 14);
    EXPECT_EQ(p.circuit.at("open"), 2);
    EXPECT_TRUE(p.has_bulkhead);
    EXPECT_EQ(p.in_flight, 6);
    EXPECT_EQ(p.limit, 16);
    EXPECT_EQ(worst_circuit_state(p.circuit), "open");
    EXPECT_FALSE(counts.at("event-store").has_bulkhead);
    EXPECT_EQ(worst_circuit_state(counts.at("event-store").circuit), "");
    // A process that is gone keeps its counters, not its gauges.
    const auto banked = counters_only(counts).at("payments");
    EXPECT_EQ(banked.attempts, 84);
    EXPECT_TRUE(banked.circuit.empty());
    EXPECT_FALSE(banked.has_bulkhead);
    EXPECT_EQ(banked.limit, 0);
}

TEST(cqrs_demo_report_sampler, due_every_interval_on_average_without_bursts) {
    using namespace std::chrono_literals;
    const std::chrono::steady_clock::time_point zero{};
    // Polled every 100 ms: due at 500, sampled at 500 or up to 99 ms late,
    // next due at 1000 either way.
    EXPECT_EQ(next_sample_due(zero + 500ms, zero + 500ms, 500ms), zero + 1000ms);
    EXPECT_EQ(next_sample_due(zero + 500ms, zero + 599ms, 500ms), zero + 1000ms);
    // Blocked for 3 s (a PostgreSQL restart): one sample now, the next half
    // an interval later, not six at once.
    EXPECT_EQ(next_sample_due(zero + 500ms, zero + 3500ms, 500ms), zero + 3750ms);
}

TEST(cqrs_demo_report_metrics, worst_breaker_state_of_several) {
    EXPECT_EQ(worst_circuit_state({{"closed", 2}, {"half_open", 1}, {"open", 0}}), "half_open");
    EXPECT_EQ(worst_circuit_state({{"closed", 3}, {"half_open", 0}, {"open", 0}}), "closed");
    EXPECT_EQ(worst_circuit_state({}), "");
}

} // namespace
