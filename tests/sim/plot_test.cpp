// keel-sim's --plot: bin widths, the SVG's content and determinism, and its PNG.
#include "plot.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <stdexcept>
#include <string>

// librsvg renders text through pango and fontconfig, which are not built with
// the sanitizers. fontconfig keeps its font cache for the life of the process
// and frees nothing at exit: LeakSanitizer (asan preset) would report that
// cache. Its cache is filled from a glib worker thread whose locking TSan
// (tsan preset) cannot see in uninstrumented code. Neither is a fault of
// ours; each hook is read only by its sanitizer.
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libfontconfig.so\n";
}
extern "C" const char* __tsan_default_suppressions() {
    return "race:libfontconfig.so\n"
           "race:libglib-2.0.so\n"
           "race:libpango-1.0.so\n"
           "race:libpangoft2-1.0.so\n"
           "race:libpangocairo-1.0.so\n"
           "race:libcairo.so\n"
           "race:librsvg-2.so\n";
}

namespace {

using namespace std::chrono_literals;
using keel::sim::plot_data;
using keel::sim::plotted_outcomes;
using keel::sim::state_span;

constexpr int success = 0, success_after_retry = 1, failure_after_retry = 3, timeout = 4,
              rejected = 5, cancelled = 6;

/// A minute of a dependency that fails from 10 s to 17.5 s: retries triple the load
/// until the breaker opens, a probe closes it again; and a second strategy with states.
plot_data outage_minute() {
    plot_data data;
    data.title = "payments: outage.yaml, seed 1";
    data.end = 60s + 120ms;
    data.bin = keel::sim::choose_bin(data.end);
    const std::size_t bins = static_cast<std::size_t>((data.end + data.bin - 1ns) / data.bin);
    data.calls_ended.assign(bins, {});
    data.attempts_started.assign(bins, 0);
    for (std::size_t bin = 0; bin < bins; ++bin) {
        const auto at = data.bin * static_cast<std::int64_t>(bin);
        auto& calls = data.calls_ended[bin];
        auto& attempts = data.attempts_started[bin];
        if (at < 10s || at >= 17500ms) { // healthy: 5 calls per bin, now and then a retry
            calls[success] = bin % 7 == 0 ? 4 : 5;
            calls[success_after_retry] = bin % 7 == 0 ? 1 : 0;
            calls[timeout] = bin % 23 == 0 ? 1 : 0;
            calls[cancelled] = bin % 31 == 0 ? 1 : 0;
            attempts = 5 + calls[success_after_retry] + calls[timeout];
        } else if (at < 12500ms) { // each call fails after three attempts
            calls[failure_after_retry] = 5;
            attempts = 15;
        } else { // the breaker is open
            calls[rejected] = 5;
        }
    }
    data.states = {
        {"circuit_breaker", "closed", 0s, 12500ms},
        {"circuit_breaker", "open", 12500ms, 17500ms},
        {"circuit_breaker", "half_open", 17500ms, 18s},
        {"circuit_breaker", "closed", 18s, data.end},
        {"retry_budget", "available", 0s, 11s},
        {"retry_budget", "exhausted", 11s, 21s},
        {"retry_budget", "available", 21s, data.end},
    };
    return data;
}

std::filesystem::path output_path(const std::string& extension) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::filesystem::path(KEEL_TEST_OUTPUT_DIR) /
           (std::string(test->test_suite_name()) + "." + test->name() + extension);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

TEST(sim_plot, choose_bin_picks_the_smallest_round_width_giving_at_most_200_bins) {
    EXPECT_EQ(keel::sim::choose_bin(0ns), 1ms);
    EXPECT_EQ(keel::sim::choose_bin(200ms), 1ms);
    EXPECT_EQ(keel::sim::choose_bin(200ms + 1ns), 2ms);
    EXPECT_EQ(keel::sim::choose_bin(1s), 5ms);
    EXPECT_EQ(keel::sim::choose_bin(60s), 500ms);
    EXPECT_EQ(keel::sim::choose_bin(100s + 1ms), 1s);
    EXPECT_EQ(keel::sim::choose_bin(1h), 20s);
    EXPECT_EQ(keel::sim::choose_bin(std::chrono::nanoseconds::max()), 50'000'000s);

    const std::vector<std::chrono::nanoseconds> round_widths = {
        1ms, 2ms, 5ms, 10ms, 20ms, 50ms, 100ms, 200ms, 500ms, 1s, 2s, 5s, 10s, 20s, 50s, 100s};
    const auto bins_of = [](std::chrono::nanoseconds end, std::chrono::nanoseconds width) {
        return end / width + (end % width != 0ns ? 1 : 0);
    };
    for (std::chrono::nanoseconds end = 1ms; end < 5000s; end = end * 3 / 2 + 7ms) {
        const auto bin = keel::sim::choose_bin(end);
        const auto round = std::find(round_widths.begin(), round_widths.end(), bin);
        ASSERT_NE(round, round_widths.end()) << "end " << end.count() << " ns";
        EXPECT_LE(bins_of(end, bin), 200) << "end " << end.count() << " ns";
        if (round != round_widths.begin()) {
            EXPECT_GT(bins_of(end, *std::prev(round)), 200) << "end " << end.count() << " ns";
        }
    }
}

TEST(sim_plot, same_data_gives_the_same_bytes_whatever_the_order_of_the_spans) {
    const auto data = outage_minute();
    const auto svg = keel::sim::render_svg(data);
    EXPECT_EQ(keel::sim::render_svg(data), svg);

    auto reordered = data;
    std::reverse(reordered.states.begin(), reordered.states.end());
    EXPECT_EQ(keel::sim::render_svg(reordered), svg);

    auto other = data;
    other.calls_ended[3][success] += 1;
    EXPECT_NE(keel::sim::render_svg(other), svg);
}

TEST(sim_plot, svg_is_well_formed_xml_even_with_markup_in_the_names) {
    auto data = outage_minute();
    data.title = "a <title> & \"quotes\" 'too'";
    data.states.push_back({"odd<strategy>", "state&more", 1s, 2s});
    const auto svg = keel::sim::render_svg(data);
    EXPECT_NE(svg.find("a &lt;title&gt; &amp; &quot;quotes&quot; &apos;too&apos;"),
              std::string::npos);

    const auto file = output_path(".svg");
    std::ofstream(file, std::ios::binary) << svg;
    const std::string command = std::string(KEEL_XMLLINT) + " --noout '" + file.string() + "' 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << "xmllint rejected " << file;
}

TEST(sim_plot, every_state_span_is_a_band_labelled_with_its_state) {
    const auto data = outage_minute();
    const auto svg = keel::sim::render_svg(data);
    EXPECT_EQ(count_of(svg, "class=\"state-span\""), data.states.size());
    EXPECT_EQ(count_of(svg, "data-strategy=\"circuit_breaker\""), 4u);
    EXPECT_EQ(count_of(svg, "data-strategy=\"retry_budget\""), 3u);
    // Labels where they fit: half_open lasts 0.5 s, about 6 px, too narrow for its name.
    EXPECT_EQ(
        count_of(svg, "class=\"state-label\" text-anchor=\"middle\" fill=\"#212121\">closed<"), 2u);
    EXPECT_EQ(count_of(svg, ">open</text>"), 1u + 1u); // its band and the legend
    EXPECT_EQ(count_of(svg, ">exhausted</text>"), 1u + 1u);
    EXPECT_EQ(count_of(svg, ">circuit_breaker</text>"), 1u); // one row per strategy
    EXPECT_EQ(count_of(svg, ">retry_budget</text>"), 1u);
    EXPECT_EQ(count_of(svg, ">half_open</text>"), 1u); // in the legend only
    EXPECT_NE(svg.find("<title>circuit_breaker: half_open from 17.5 s to 18 s</title>"),
              std::string::npos);
}

TEST(sim_plot, a_bulkhead_adds_a_panel_of_attempts_in_flight_against_its_limit) {
    auto data = outage_minute();
    EXPECT_EQ(keel::sim::render_svg(data).find("id=\"concurrency\""), std::string::npos)
        << "no bulkhead, no panel";
    data.concurrency = {{0s, 0, 20}, {1s, 12, 20}, {10s, 20, 20}, {11s, 8, 8}, {20s, 16, 24}};
    const auto svg = keel::sim::render_svg(data);
    EXPECT_NE(svg.find("<g id=\"concurrency\" font-size=\"11\" data-peak=\"24\">"),
              std::string::npos);
    EXPECT_EQ(count_of(svg, "class=\"in-flight\""), 1u);
    EXPECT_EQ(count_of(svg, "class=\"limit\""), 1u);
    EXPECT_NE(svg.find(">attempts in flight and the bulkhead&apos;s limit</text>"),
              std::string::npos);
    EXPECT_NE(svg.find(">in flight</text>"), std::string::npos);
    EXPECT_NE(svg.find(">limit</text>"), std::string::npos);
    // A step where the limit changed (at 11 s and 20 s), none where only
    // the attempts in flight did.
    const auto at = svg.find("class=\"limit\" d=\"");
    const std::string path = svg.substr(at, svg.find('"', at + 17) - at);
    EXPECT_EQ(count_of(path, "V"), 2u) << path;
}

TEST(sim_plot, states_have_fixed_or_name_derived_colours) {
    const auto svg = keel::sim::render_svg(outage_minute());
    const auto colour_of = [&](const std::string& state) {
        std::smatch match;
        const std::regex pattern("data-state=\"" + state + "\"[^>]* fill=\"(#[0-9a-f]{6})\"");
        return std::regex_search(svg, match, pattern) ? match[1].str() : std::string("none");
    };
    EXPECT_EQ(colour_of("closed"), "#a5d6a7");
    EXPECT_EQ(colour_of("open"), "#ef9a9a");
    EXPECT_EQ(colour_of("half_open"), "#ffe082");
    EXPECT_NE(colour_of("available"), "none");
    EXPECT_NE(colour_of("available"), colour_of("exhausted"));
}

TEST(sim_plot, legend_names_every_outcome_and_the_attempts_line) {
    plot_data data; // nothing ran: the legend still explains the colours
    data.end = 1s;
    const auto svg = keel::sim::render_svg(data);
    for (const char* outcome : {"success", "success_after_retry", "failure", "failure_after_retry",
                                "timeout", "rejected", "cancelled"}) {
        EXPECT_EQ(count_of(svg, std::string(">") + outcome + "</text>"), 1u) << outcome;
    }
    EXPECT_EQ(count_of(svg, ">attempts/s</text>"), 1u);
    EXPECT_EQ(count_of(svg, ">states</text>"), 0u); // no strategy had states
    EXPECT_EQ(count_of(svg, "class=\"outcome\""), 0u);
}

TEST(sim_plot, rates_are_per_second_of_simulated_time) {
    plot_data data;
    data.bin = 500ms;
    data.end = 1s;
    data.calls_ended.assign(2, {});
    data.calls_ended[1][success] = 10;
    data.calls_ended[1][rejected] = 3;
    data.attempts_started = {4, 12};
    const auto svg = keel::sim::render_svg(data);
    EXPECT_NE(svg.find("data-peak-calls-per-second=\"26\""), std::string::npos);
    EXPECT_NE(svg.find("data-peak-attempts-per-second=\"24\""), std::string::npos);
    EXPECT_NE(svg.find("<title>0.5 s to 1 s: success 20/s, rejected 6/s, attempts 24/s (0.92 per "
                       "call)</title>"),
              std::string::npos);
    EXPECT_NE(svg.find(">30</text>"), std::string::npos) << "the y axis reaches 26/s";
    EXPECT_EQ(count_of(svg, "class=\"outcome\""), 2u); // one layer per outcome that happened
    EXPECT_NE(svg.find("bins of 500 ms"), std::string::npos);
}

TEST(sim_plot, a_bin_that_is_not_positive_is_refused) {
    plot_data data;
    data.bin = 0ns;
    EXPECT_THROW(keel::sim::render_svg(data), std::invalid_argument);
}

#if KEEL_SIM_PNG

/// The numeric value of `attribute` on the root <svg> element.
int svg_size(const std::string& svg, const std::string& attribute) {
    std::smatch match;
    const std::regex pattern("<svg [^>]*\\b" + attribute + "=\"([0-9]+)\"");
    if (!std::regex_search(svg, match, pattern)) {
        throw std::runtime_error("the SVG has no integer " + attribute);
    }
    return std::stoi(match[1]);
}

TEST(sim_plot, png_has_the_svg_size) {
    // KEEL_SIM_PLOT_SAMPLE=/tmp/x.png keeps the PNG there, to look at.
    const char* sample = std::getenv("KEEL_SIM_PLOT_SAMPLE");
    const std::string file = sample != nullptr ? sample : output_path(".png").string();
    const auto svg = keel::sim::render_svg(outage_minute());
    keel::sim::write_png(svg, file);

    std::ifstream in(file, std::ios::binary);
    const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(png.size(), 24u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(png.substr(12, 4), "IHDR");
    const auto big_endian = [&](std::size_t at) {
        std::uint32_t value = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            value = value << 8 | static_cast<unsigned char>(png[at + i]);
        }
        return static_cast<int>(value);
    };
    EXPECT_EQ(big_endian(16), svg_size(svg, "width"));
    EXPECT_EQ(big_endian(20), svg_size(svg, "height"));
}

TEST(sim_plot, png_failures_name_the_file) {
    const auto svg = keel::sim::render_svg(outage_minute());
    const std::string file = "/nonexistent-keel-dir/plot.png";
    try {
        keel::sim::write_png(svg, file);
        ADD_FAILURE() << "wrote " << file;
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find(file), std::string::npos) << error.what();
    }
    try {
        keel::sim::write_png("<svg", output_path(".png").string());
        ADD_FAILURE() << "rendered a broken SVG";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find(".png"), std::string::npos) << error.what();
    }
}

#else

TEST(sim_plot, png_says_it_needs_librsvg) {
    try {
        keel::sim::write_png(keel::sim::render_svg(outage_minute()), output_path(".png").string());
        ADD_FAILURE() << "wrote a PNG without librsvg";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("librsvg2-dev"), std::string::npos);
    }
}

#endif

} // namespace
