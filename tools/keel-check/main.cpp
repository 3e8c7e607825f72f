// keel-check: validate keel policy files, print the effective policies and
// what they can do to one request. See `keel-check --help`.
#include <keel/config/document.hpp>
#include <keel/config/schedule.hpp>
#include <keel/duration.hpp>
#include <keel/fault_injection.hpp>

#ifdef KEEL_CHECK_WITH_HTTP
#include <keel/http/error.hpp>
#endif
#ifdef KEEL_CHECK_WITH_PG
#include <keel/pg/error.hpp>
#endif
#ifdef KEEL_CHECK_WITH_KAFKA
#include <keel/kafka/error.hpp>
#endif

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace cfg = keel::config;

constexpr int exit_ok = 0;
constexpr int exit_invalid = 1;
constexpr int exit_usage = 2;

constexpr std::uint64_t default_seed = 1;

constexpr std::string_view usage_text =
    R"usage(usage: keel-check FILE...
       keel-check --explain FILE [DEPENDENCY]
       keel-check --schedule FILE DEPENDENCY [--seed N]
       keel-check --help

Checks keel policy files (YAML, see docs/configuration.md).

  FILE...            validate each file; every problem is printed to stderr as
                     FILE:LINE:COL: error: MESSAGE, and each valid file as
                     "FILE: ok (N dependencies)" to stdout
  --explain          print the effective policy of each dependency (or of
                     DEPENDENCY only) after merging defaults, profiles and its
                     own keys, as YAML that keel-check accepts again
  --schedule         print the attempts one request to DEPENDENCY can make:
                     the delay before each, its earliest and latest start, the
                     worst-case time to give up and the most calls one request
                     can cause (with hedge:, when each hedge starts) and what
                     the retry budget allows
  --seed N           the seed of the jitter drawn by --schedule (default 1);
                     the same seed always gives the same delays
  --help, -h         print this help
  --                 end of options (for a file name starting with '-')

Exit status: 0 when every file is valid, 1 when a file has an error (or names
no such dependency), 2 on a usage error.
)usage";

int usage_error(std::string_view what) {
    std::cerr << "keel-check: " << what << "\n"
              << "usage: keel-check FILE... | --explain FILE [DEPENDENCY] | --schedule FILE "
                 "DEPENDENCY [--seed N]\n"
                 "Try 'keel-check --help' for more.\n";
    return exit_usage;
}

enum class mode { check, explain, schedule, help };

struct arguments {
    mode what = mode::check;
    std::vector<std::string> operands;
    std::optional<std::uint64_t> seed;
};

/// Parses argv; on a usage error returns nullopt after printing why.
std::optional<arguments> parse(int argc, char** argv, int& status) {
    arguments args;
    bool options_done = false;
    auto set_mode = [&](mode m, std::string_view flag) {
        if (args.what != mode::check && args.what != m) {
            status = usage_error(std::string(flag) + " cannot be combined with another mode");
            return false;
        }
        args.what = m;
        return true;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
            args.operands.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
        } else if (arg == "--help" || arg == "-h") {
            args.what = mode::help;
            return args;
        } else if (arg == "--explain") {
            if (!set_mode(mode::explain, arg))
                return std::nullopt;
        } else if (arg == "--schedule") {
            if (!set_mode(mode::schedule, arg))
                return std::nullopt;
        } else if (arg == "--seed" || arg.starts_with("--seed=")) {
            std::string_view text;
            if (arg == "--seed") {
                if (i + 1 >= argc) {
                    status = usage_error("--seed needs a value");
                    return std::nullopt;
                }
                text = argv[++i];
            } else {
                text = arg.substr(7);
            }
            std::uint64_t value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
                status = usage_error("--seed needs a non-negative integer, got '" +
                                     std::string(text) + "'");
                return std::nullopt;
            }
            args.seed = value;
        } else {
            status = usage_error("unknown option '" + std::string(arg) + "'");
            return std::nullopt;
        }
    }
    if (args.seed && args.what != mode::schedule) {
        status = usage_error("--seed only applies to --schedule");
        return std::nullopt;
    }
    switch (args.what) {
    case mode::check:
        if (args.operands.empty()) {
            status = usage_error("no file given");
            return std::nullopt;
        }
        break;
    case mode::explain:
        if (args.operands.empty() || args.operands.size() > 2) {
            status = usage_error("--explain takes a file and, optionally, a dependency");
            return std::nullopt;
        }
        break;
    case mode::schedule:
        if (args.operands.size() != 2) {
            status = usage_error("--schedule takes a file and a dependency");
            return std::nullopt;
        }
        break;
    case mode::help:
        break;
    }
    return args;
}

/// The error names of the wrappers this build has (http_503, pg_40001,
/// kafka_<name>), for `faults:` rules.
void register_wrapper_error_names() {
#ifdef KEEL_CHECK_WITH_HTTP
    keel::http::register_fault_errors();
#endif
#ifdef KEEL_CHECK_WITH_PG
    keel::pg::register_fault_errors();
#endif
#ifdef KEEL_CHECK_WITH_KAFKA
    keel::kafka::register_fault_errors();
#endif
}

/// Fault rules break calls on purpose: say so, wherever they are written.
void warn_of_faults(const cfg::document& doc) {
    for (const cfg::dependency& dep : doc.dependencies)
        if (dep.policy.faults)
            std::cerr << dep.where.file << ':' << dep.where.line << ':' << dep.where.column
                      << ": warning: dependencies." << dep.name
                      << ".faults: fault injection rules: they fail, slow or hang real calls "
                         "in any process that runs with KEEL_FAULTS=1 or enables injection\n";
}

/// Loads `path`, printing every problem to stderr; nullopt if there was one.
std::optional<cfg::document> load(const std::string& path) {
    register_wrapper_error_names();
    try {
        cfg::load_result loaded = cfg::try_load_file(path);
        for (const cfg::diagnostic& d : loaded.errors)
            std::cerr << d.to_string() << '\n';
        if (!loaded.errors.empty() || !loaded.doc)
            return std::nullopt;
        warn_of_faults(*loaded.doc);
        return std::move(loaded.doc);
    } catch (const std::exception& e) {
        // try_load_file reports problems as diagnostics; this is the
        // unexpected (out of memory, a bug): still one line, still exit 1.
        std::cerr << path << ": error: " << e.what() << '\n';
        return std::nullopt;
    }
}

/// The dependency named `name`, or nullptr after saying which ones exist.
const cfg::dependency* find(const cfg::document& doc, const std::string& path,
                            const std::string& name) {
    if (const cfg::dependency* dep = doc.find(name))
        return dep;
    std::string known;
    for (const cfg::dependency& d : doc.dependencies)
        known.append(known.empty() ? "" : ", ").append(d.name);
    std::cerr << path << ": error: no dependency named '" << name << "' (the file declares "
              << (known.empty() ? std::string("none") : known) << ")\n";
    return nullptr;
}

int check(const std::vector<std::string>& files) {
    int status = exit_ok;
    for (const std::string& path : files) {
        std::optional<cfg::document> doc = load(path);
        if (!doc) {
            status = exit_invalid;
            continue;
        }
        const std::size_t n = doc->dependencies.size();
        std::cout << path << ": ok (" << n << (n == 1 ? " dependency" : " dependencies") << ")\n";
    }
    return status;
}

int explain(const std::string& path, const std::string* only) {
    std::optional<cfg::document> doc = load(path);
    if (!doc)
        return exit_invalid;
    if (only && !find(*doc, path, *only))
        return exit_invalid;
    std::cout << cfg::explain(*doc, only ? std::string_view(*only) : std::string_view());
    return exit_ok;
}

int schedule(const std::string& path, const std::string& name, std::uint64_t seed) {
    std::optional<cfg::document> doc = load(path);
    if (!doc)
        return exit_invalid;
    const cfg::dependency* dep = find(*doc, path, name);
    if (!dep)
        return exit_invalid;
    const keel::pipeline_policy& policy = dep->policy;
    if (dep->hedge) { // the hedge makes the attempts: retry.max_attempts is 1
        std::cout << cfg::format_hedge_plan(cfg::plan_hedges(*dep->hedge, policy), *dep->hedge,
                                            dep->retry_budget, name);
        return exit_ok;
    }
    const cfg::schedule_report report = cfg::plan(policy, seed);
    std::cout << cfg::format_plan(report, name);
    // What the table cannot show.
    const keel::backoff_policy& backoff = policy.retry.backoff;
    if (report.max_calls_per_request > 1 && backoff.jitter != keel::jitter_kind::none)
        std::cout << "note: delays are one draw of " << keel::to_string(backoff.jitter)
                  << " jitter (seed " << seed << "); --seed N draws another\n";
    if (report.max_calls_per_request > 1 && policy.retry.retry_after.honor)
        std::cout << "note: a server-advised delay (Retry-After) replaces a delay above, "
                  << "capped at " << keel::format_duration(policy.retry.retry_after.max) << '\n';
    if (report.max_calls_per_request > 1)
        std::cout << cfg::budget_effect(dep->retry_budget, "retries");
    return exit_ok;
}

int run(int argc, char** argv) {
    int status = exit_ok;
    std::optional<arguments> args = parse(argc, argv, status);
    if (!args)
        return status;
    switch (args->what) {
    case mode::help:
        std::cout << usage_text;
        return exit_ok;
    case mode::check:
        return check(args->operands);
    case mode::explain:
        return explain(args->operands[0], args->operands.size() > 1 ? &args->operands[1] : nullptr);
    case mode::schedule:
        return schedule(args->operands[0], args->operands[1], args->seed.value_or(default_seed));
    }
    return exit_usage;
}

} // namespace

int main(int argc, char** argv) {
    try {
        const int status = run(argc, argv);
        std::cout.flush();
        if (!std::cout) {
            std::cerr << "keel-check: cannot write the output\n";
            return exit_invalid;
        }
        return status;
    } catch (const std::exception& e) {
        std::cerr << "keel-check: " << e.what() << '\n';
        return exit_invalid;
    }
}
