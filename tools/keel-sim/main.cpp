// keel-sim: runs a keel policy against a simulated dependency on the manual
// clock and reports what callers would see (docs/simulator.md).
#include "report.hpp"
#include "scenario.hpp"
#include "simulator.hpp"
#include "timeline.hpp"

#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: keel-sim SCENARIO.yaml [--json FILE] [--trace FILE] [--plot FILE.svg|FILE.png] "
    "[--seed N]\n"
    "Runs the keel policy the scenario names against the dependency it scripts, on a simulated\n"
    "clock, and prints what callers would see. See docs/simulator.md.\n";

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
        std::cerr << "keel-sim: cannot write " << path << ": " << std::strerror(errno) << "\n";
        return false;
    }
    return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string scenario_path, json_path, trace_path, plot_path;
    std::optional<std::uint64_t> seed;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&](std::string& out) {
            if (i + 1 >= argc) {
                std::cerr << "keel-sim: " << arg << " needs a value\n" << usage;
                return false;
            }
            out = argv[++i];
            return true;
        };
        if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            return 0;
        } else if (arg == "--json") {
            if (!value(json_path))
                return 2;
        } else if (arg == "--trace") {
            if (!value(trace_path))
                return 2;
        } else if (arg == "--plot") {
            if (!value(plot_path))
                return 2;
            if (!ends_with(plot_path, ".svg") && !ends_with(plot_path, ".png")) {
                std::cerr << "keel-sim: --plot writes .svg or .png, not " << plot_path << "\n";
                return 2;
            }
        } else if (arg == "--seed") {
            std::string text;
            if (!value(text))
                return 2;
            std::uint64_t n = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc() || end != text.data() + text.size()) {
                std::cerr << "keel-sim: --seed takes a whole number >= 0, not '" << text << "'\n";
                return 2;
            }
            seed = n;
        } else if (!arg.empty() && arg[0] == '-') {
            std::cerr << "keel-sim: unknown option " << arg << "\n" << usage;
            return 2;
        } else if (scenario_path.empty()) {
            scenario_path = arg;
        } else {
            std::cerr << "keel-sim: one scenario at a time (got " << scenario_path << " and " << arg
                      << ")\n";
            return 2;
        }
    }
    if (scenario_path.empty()) {
        std::cerr << usage;
        return 2;
    }

    std::vector<keel::config::diagnostic> errors;
    const std::optional<keel::sim::scenario> s = keel::sim::load_scenario(scenario_path, errors);
    if (!s) {
        for (const auto& d : errors)
            std::cerr << d.to_string() << "\n";
        return 1;
    }

    keel::sim::run_options options;
    options.seed = seed;
    options.trace = !trace_path.empty();
    options.timeline = !plot_path.empty();
    const keel::sim::run_result result = keel::sim::simulate(*s, options);

    std::cout << keel::sim::summary(result, *s);
    if (result.abandoned)
        std::cerr << "keel-sim: warning: " << result.abandoned
                  << " calls hung with no deadline to end them; they were cancelled at the end\n";
    bool ok = true;
    if (!json_path.empty())
        ok &= write_file(json_path, keel::sim::to_json(result));
    if (!trace_path.empty())
        ok &= write_file(trace_path, keel::sim::to_csv(result));
    if (!plot_path.empty()) {
        const std::string svg = keel::sim::render_svg(keel::sim::plot_of(result, *s));
        if (ends_with(plot_path, ".png")) {
            try {
                keel::sim::write_png(svg, plot_path);
            } catch (const std::exception& e) {
                std::cerr << "keel-sim: " << e.what() << "\n";
                ok = false;
            }
        } else {
            ok &= write_file(plot_path, svg);
        }
    }
    return ok ? 0 : 1;
}
