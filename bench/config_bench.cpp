// Loading a large configuration: keel::config against the raw YAML parse of
// the same text (yaml-cpp's YAML::Load), measured in the same run.
//
//   BM_yaml_parse_1000_dependencies    baseline: YAML::Load of the text
//   BM_keel_load_1000_dependencies     keel::config::load_string: parse with
//                                      positions, validate, merge, substitute
//
// The target (issue 3): a 1,000-dependency file loads in well under 50 ms.

#include <keel/config/document.hpp>

#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace {

/// A realistic file: defaults, three profiles, and `count` dependencies of
/// every kind, most extending a profile, some with their own overrides and a
/// connection section with an environment variable.
std::string make_config(int count) {
    std::string out = R"(version: 1
defaults:
  retry:
    max_attempts: 3
    backoff: { kind: exponential, initial: 100ms, multiplier: 2.0, max: 5s, jitter: full }
    retry_on: [transient, timeout]
    retry_after: { honor: true, max: 30s }
  timeout: { connect: 1s, exchange: 2s, total: 10s }
profiles:
  fast-read:
    timeout: { exchange: 200ms }
  patient:
    retry: { max_attempts: 6 }
    timeout: { total: 1m }
  throttled:
    retry: { retry_on: [transient, timeout, throttled] }
dependencies:
)";
    static const char* const kinds[] = {"postgres", "kafka", "http", "generic"};
    static const char* const profiles[] = {"fast-read", "patient", "throttled"};
    for (int i = 0; i < count; ++i) {
        out += "  service-" + std::to_string(i) + ":\n";
        out += std::string("    kind: ") + kinds[i % 4] + "\n";
        out += std::string("    extends: [") + profiles[i % 3] + "]\n";
        if (i % 2 == 0)
            out += "    timeout: { connect: 500ms }\n";
        if (i % 5 == 0)
            out += "    retry: { backoff: { kind: linear, initial: 50ms, step: 25ms, max: 1s } }\n";
        out += "    connection: { url: \"${SERVICE_URL:-http://127.0.0.1:8080}/" +
               std::to_string(i) + "\", pool_size: 4 }\n";
    }
    return out;
}

const std::string& config_1000() {
    static const std::string text = make_config(1000);
    return text;
}

void BM_yaml_parse_1000_dependencies(benchmark::State& state) {
    for (auto _ : state) {
        YAML::Node node = YAML::Load(config_1000());
        benchmark::DoNotOptimize(node);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(config_1000().size()));
}
BENCHMARK(BM_yaml_parse_1000_dependencies)->Unit(benchmark::kMillisecond);

void BM_keel_load_1000_dependencies(benchmark::State& state) {
    for (auto _ : state) {
        auto doc = keel::config::load_string(config_1000(), "bench.yaml");
        if (doc.dependencies.size() != 1000)
            state.SkipWithError("wrong number of dependencies");
        benchmark::DoNotOptimize(doc);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(config_1000().size()));
}
BENCHMARK(BM_keel_load_1000_dependencies)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
