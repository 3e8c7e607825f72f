// Over 400 lines: one reader for the whole scenario schema, so that every key is
// checked beside its siblings and all problems are collected in one pass.
#include "scenario.hpp"

#include <keel/config/section_reader.hpp>
#include <keel/config/yaml_file.hpp>
#include <keel/duration.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <tuple>

namespace keel::sim {

namespace {

using config::diagnostic;
using config::join;
using config::value;

constexpr std::string_view top_keys[] = {"version",  "policy", "dependency", "seed",
                                         "duration", "calls",  "behaviour",  "operation"};
constexpr std::string_view operation_keys[] = {"idempotent"};
constexpr std::string_view calls_keys[] = {"every", "rate", "at", "concurrency"};
constexpr std::string_view concurrency_keys[] = {"callers", "think"};
constexpr std::string_view window_keys[] = {"until", "latency", "result"};
constexpr std::string_view latency_keys[] = {"median", "p99"};
constexpr std::string_view result_keys[] = {"error", "rate", "retry_after", "first"};

class scenario_reader {
public:
    scenario_reader(std::string name, std::string folder, std::vector<diagnostic>& errors)
        : name_(std::move(name)), folder_(std::move(folder)), errors_(&errors), r_(errors) {}

    /// The scenario, or nullopt when a problem was found. A policy file's
    /// own problems are kept apart (policy_errors()): they belong to
    /// another file.
    std::optional<scenario> run(const value& root);
    const std::vector<diagnostic>& policy_errors() const noexcept { return policy_errors_; }

private:
    void read_policy(const value& v, scenario& out, bool& have_policy);
    void read_calls(const value& v, scenario& out);
    std::optional<double> read_rate(const value& v, const std::string& path);
    void read_behaviour(const value& v, scenario& out);
    std::optional<behaviour_window> read_window(const value& v, const std::string& path);
    std::optional<latency_model> read_latency(const value& v, const std::string& path);
    std::optional<result_model> read_result(const value& v, const std::string& path);
    std::optional<result_model> read_result_name(const value& v, const std::string& path,
                                                 bool allow_ok);
    void check_dependency(const value& v, const scenario& out);

    std::string name_;
    std::string folder_;
    std::vector<diagnostic>* errors_;
    config::reader r_;
    std::vector<diagnostic> policy_errors_; ///< a policy file's own, reported after ours
};

std::optional<scenario> scenario_reader::run(const value& root) {
    const std::size_t errors_before = r_.errors().size();
    scenario out;
    out.source = name_;
    if (root.kind() != value::type::map) {
        r_.error(root, "",
                 "expected a scenario (a map with 'version: 1', 'policy:', ...), got " +
                     config::describe(root));
        return std::nullopt;
    }
    r_.map(root, "", top_keys);
    // A key written with a typo is reported once, as an unknown key with
    // "did you mean": not a second time as the key it was meant to be.
    const auto misspelled = [&](std::string_view key) {
        for (const auto& [written, item] : root.entries())
            if (std::find(std::begin(top_keys), std::end(top_keys), written) ==
                    std::end(top_keys) &&
                config::edit_distance(written, key) <= 2)
                return true;
        return false;
    };
    const auto required = [&](std::string_view key) -> const value* {
        const value* v = root.find(key);
        if (!v && !misspelled(key))
            r_.error(root, std::string(key), "missing (every scenario names it)");
        return v;
    };

    if (const value* v = required("version")) {
        if (auto n = r_.integer(*v, "version"); n && *n != 1)
            r_.error(*v, "version", "unsupported version " + std::to_string(*n) + " (expected 1)");
    }
    bool have_policy = false;
    if (const value* v = required("policy"))
        read_policy(*v, out, have_policy);
    if (const value* v = required("dependency")) {
        if (auto name = r_.scalar(*v, "dependency", "a dependency name")) {
            out.dependency = *name;
            if (have_policy)
                check_dependency(*v, out);
        }
    }
    if (const value* v = root.find("seed")) {
        if (auto n = r_.whole_number(*v, "seed", 0))
            out.seed = static_cast<std::uint64_t>(*n);
    }
    if (const value* v = root.find("duration"))
        out.duration = r_.duration(*v, "duration", {.positive = true});
    if (const value* v = required("calls"))
        read_calls(*v, out);
    if (!root.find("duration") && !misspelled("duration") && root.find("calls") &&
        !std::holds_alternative<explicit_arrivals>(out.calls))
        r_.error(root, "duration",
                 "missing (calls start in [0, duration); only 'calls.at' lists "
                 "its own times)");
    if (const value* v = required("behaviour"))
        read_behaviour(*v, out);
    if (const value* v = root.find("operation")) {
        r_.entries(*v, "operation", operation_keys,
                   [&](const std::string&, const value& item, const std::string& path) {
                       if (auto b = r_.boolean(item, path))
                           out.idempotent = *b;
                   });
    }

    if (r_.errors().size() != errors_before || !policy_errors_.empty())
        return std::nullopt;
    return out;
}

void scenario_reader::read_policy(const value& v, scenario& out, bool& have_policy) {
    config::load_result loaded;
    if (v.kind() == value::type::map) {
        loaded = config::try_load_value(v, name_);
    } else if (v.kind() == value::type::scalar) {
        std::filesystem::path file(v.scalar());
        if (file.is_relative() && !folder_.empty())
            file = std::filesystem::path(folder_) / file;
        loaded = config::try_load_file(file.lexically_normal().string());
        if (!loaded.doc && !loaded.errors.empty() && loaded.errors[0].where.line == 0) {
            // The file cannot be read at all: say so where it is named.
            r_.error(v, "policy", loaded.errors[0].message + " (" + file.string() + ")");
            return;
        }
    } else {
        if (!v.reported())
            r_.error(v, "policy",
                     "expected a policy file's path or a policy document (a map), got " +
                         config::describe(v));
        return;
    }
    if (!loaded.doc) {
        // An inline policy's problems are this file's; a policy file's come
        // after this file's, in that file's order.
        auto& into = v.kind() == value::type::map ? *errors_ : policy_errors_;
        into.insert(into.end(), loaded.errors.begin(), loaded.errors.end());
        return;
    }
    out.policy = std::move(*loaded.doc);
    have_policy = true;
}

void scenario_reader::check_dependency(const value& v, const scenario& out) {
    if (out.policy.find(out.dependency))
        return;
    std::vector<std::string_view> declared;
    for (const config::dependency& d : out.policy.dependencies)
        declared.push_back(d.name);
    r_.error(v, "dependency",
             config::unknown_name("dependency", out.dependency, declared) + " (in " +
                 out.policy.source + ")");
}

void scenario_reader::read_calls(const value& v, scenario& out) {
    if (!r_.map(v, "calls", calls_keys))
        return;
    int given = 0;
    for (const auto& [key, item] : v.entries()) {
        if (std::find(std::begin(calls_keys), std::end(calls_keys), key) == std::end(calls_keys))
            continue;
        const std::string path = join("calls", key);
        if (++given > 1) {
            r_.error(item.key_where(), path, "give exactly one of every, rate, at, concurrency");
            continue;
        }
        if (key == "every") {
            if (auto d = r_.duration(item, path, {.positive = true}))
                out.calls = every_arrivals{*d};
        } else if (key == "rate") {
            if (auto per_second = read_rate(item, path))
                out.calls = poisson_arrivals{*per_second};
        } else if (key == "at") {
            explicit_arrivals at;
            if (item.kind() != value::type::sequence) {
                if (!item.reported())
                    r_.error(item, path,
                             "expected a list of start times, got " + config::describe(item));
                continue;
            }
            for (std::size_t i = 0; i < item.items().size(); ++i) {
                const std::string at_path = path + "[" + std::to_string(i) + "]";
                const value& when = item.items()[i];
                std::optional<nanos> d = r_.duration(when, at_path);
                if (d && out.duration && *d >= *out.duration) {
                    r_.error(when, at_path,
                             "starts at or after the duration (" + format_duration(*out.duration) +
                                 "): calls start in [0, duration)");
                    d.reset();
                }
                if (d)
                    at.times.push_back(*d);
            }
            std::stable_sort(at.times.begin(), at.times.end());
            out.calls = std::move(at);
        } else {
            closed_loop_arrivals loop;
            if (!r_.map(item, path, concurrency_keys))
                continue;
            const value* callers = item.find("callers");
            if (!callers)
                r_.error(item, join(path, "callers"), "missing (how many callers loop)");
            else if (auto n = r_.whole_number(*callers, join(path, "callers"), 1))
                loop.callers = static_cast<int>(std::min<long long>(*n, 1'000'000));
            if (const value* think = item.find("think"))
                if (auto d = r_.duration(*think, join(path, "think")))
                    loop.think = *d;
            out.calls = loop;
        }
    }
    if (given == 0)
        r_.error(v, "calls", "give one of every, rate, at, concurrency");
}

std::optional<double> scenario_reader::read_rate(const value& v, const std::string& path) {
    const std::optional<std::string> text = r_.scalar(v, path, "a rate like 50/s");
    if (!text)
        return std::nullopt;
    const std::size_t slash = text->find('/');
    double count = 0;
    const char* first = text->data();
    const char* last = first + (slash == std::string::npos ? text->size() : slash);
    const auto [end, ec] = std::from_chars(first, last, count);
    const std::string unit = slash == std::string::npos ? "" : text->substr(slash + 1);
    const double per = unit == "s" ? 1.0 : unit == "m" ? 60.0 : unit == "h" ? 3600.0 : 0.0;
    if (ec != std::errc() || end != last || per == 0.0 || !(count > 0)) {
        r_.error(v, path, "expected a rate like 50/s (calls per s, m or h), got '" + *text + "'");
        return std::nullopt;
    }
    return count / per;
}

void scenario_reader::read_behaviour(const value& v, scenario& out) {
    if (v.kind() != value::type::sequence || v.items().empty()) {
        if (!v.reported())
            r_.error(v, "behaviour",
                     "expected a list of windows ({until, latency, result}), got " +
                         config::describe(v));
        return;
    }
    std::optional<nanos> previous_until;
    const std::size_t count = v.items().size();
    for (std::size_t i = 0; i < count; ++i) {
        const value& item = v.items()[i];
        const std::string path = "behaviour[" + std::to_string(i) + "]";
        std::optional<behaviour_window> w = read_window(item, path);
        if (!w)
            continue;
        const value* until = item.find("until");
        if (!w->until && i + 1 < count)
            r_.error(item, join(path, "until"),
                     "missing (only the last window may leave it out: it lasts to the end)");
        if (w->until && previous_until && *w->until <= *previous_until)
            r_.error(*until, join(path, "until"),
                     "must be later than the previous window's 'until' (each window ends "
                     "after the one before)");
        if (w->until)
            previous_until = w->until;
        out.behaviour.push_back(std::move(*w));
    }
}

std::optional<behaviour_window> scenario_reader::read_window(const value& v,
                                                             const std::string& path) {
    if (v.kind() != value::type::map) {
        if (!v.reported())
            r_.error(v, path,
                     "expected a window ({until, latency, result}), got " + config::describe(v));
        return std::nullopt;
    }
    r_.map(v, path, window_keys);
    behaviour_window w;
    bool ok = true;
    if (const value* until = v.find("until")) {
        w.until = r_.duration(*until, join(path, "until"), {.positive = true});
        ok &= w.until.has_value();
    }
    if (const value* latency = v.find("latency")) {
        std::optional<latency_model> l = read_latency(*latency, join(path, "latency"));
        ok &= l.has_value();
        if (l)
            w.latency = *l;
    }
    if (const value* result = v.find("result")) {
        std::optional<result_model> r = read_result(*result, join(path, "result"));
        ok &= r.has_value();
        if (r)
            w.result = std::move(*r);
    }
    if (!ok)
        return std::nullopt;
    return w;
}

std::optional<latency_model> scenario_reader::read_latency(const value& v,
                                                           const std::string& path) {
    latency_model out;
    if (v.kind() != value::type::map) {
        auto d = r_.duration(v, path);
        if (!d)
            return std::nullopt;
        out.median = *d;
        return out;
    }
    if (!r_.map(v, path, latency_keys))
        return std::nullopt;
    const value* median = v.find("median");
    const value* p99 = v.find("p99");
    if (!median || !p99) {
        r_.error(v, join(path, median ? "p99" : "median"),
                 "missing (a log-normal latency is { median: 20ms, p99: 200ms })");
        return std::nullopt;
    }
    auto m = r_.duration(*median, join(path, "median"), {.positive = true});
    auto q = r_.duration(*p99, join(path, "p99"), {.positive = true});
    if (!m || !q)
        return std::nullopt;
    if (*q < *m) {
        r_.error(*p99, join(path, "p99"), "must not be below the median");
        return std::nullopt;
    }
    out.median = *m;
    out.p99 = *q;
    return out;
}

std::optional<result_model>
scenario_reader::read_result_name(const value& v, const std::string& path, bool allow_ok) {
    const std::optional<std::string> name = r_.scalar(v, path, "an error name");
    if (!name)
        return std::nullopt;
    result_model out;
    if (*name == "ok" && allow_ok)
        return out;
    if (*name == "hang") {
        out.what = result_model::kind::hang;
        return out;
    }
    std::string why;
    std::optional<named_error> error = *name == "ok" ? std::nullopt : error_from_name(*name, why);
    if (!error) {
        if (*name == "ok")
            r_.error(v, path,
                     "'ok' is not an error (write 'result: ok' for a window of successes)");
        else if (!why.empty())
            r_.error(v, path, "bad error name '" + *name + "': " + why);
        else
            r_.error(v, path,
                     config::unknown_name("error name", *name, result_name_examples()) +
                         " (or a family: http_<status>, pg_<sqlstate>, kafka_<name>)");
        return std::nullopt;
    }
    out.what = result_model::kind::error;
    out.error = std::move(*error);
    return out;
}

std::optional<result_model> scenario_reader::read_result(const value& v, const std::string& path) {
    if (v.kind() != value::type::map)
        return read_result_name(v, path, true);
    if (!r_.map(v, path, result_keys))
        return std::nullopt;
    const value* error = v.find("error");
    if (!error) {
        r_.error(v, join(path, "error"), "missing (which error: { error: http_503, rate: 0.05 })");
        return std::nullopt;
    }
    std::optional<result_model> out = read_result_name(*error, join(path, "error"), false);
    bool ok = out.has_value();
    if (const value* rate = v.find("rate")) {
        auto x = r_.number(*rate, join(path, "rate"));
        if (x && !(*x > 0.0 && *x <= 1.0)) {
            r_.error(*rate, join(path, "rate"),
                     "expected a share in (0, 1], got " + config::describe(*rate));
            x.reset();
        }
        ok &= x.has_value();
        if (x && out)
            out->rate = *x;
    }
    if (const value* first = v.find("first")) {
        auto n = r_.whole_number(*first, join(path, "first"), 1);
        ok &= n.has_value();
        if (v.find("rate")) {
            r_.error(first->key_where(), join(path, "first"),
                     "give either 'rate' or 'first', not both");
            ok = false;
        }
        if (n && out)
            out->first = static_cast<int>(std::min<long long>(*n, 1'000'000));
    }
    if (const value* retry_after = v.find("retry_after")) {
        auto d = r_.duration(*retry_after, join(path, "retry_after"));
        ok &= d.has_value();
        if (out && out->what == result_model::kind::hang) {
            r_.error(retry_after->key_where(), join(path, "retry_after"),
                     "a hang never answers, so it advises no retry-after");
            ok = false;
        }
        if (d && out)
            out->retry_after = *d;
    }
    if (!ok)
        return std::nullopt;
    return out;
}

void sort_by_position(std::vector<diagnostic>& errors, std::size_t from) {
    std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(from), errors.end(),
                     [](const diagnostic& a, const diagnostic& b) {
                         return std::tie(a.where.line, a.where.column) <
                                std::tie(b.where.line, b.where.column);
                     });
}

/// The scenario in `root`; its problems sorted by position after the ones
/// already in `errors` from `before` on (the parser's), then the policy
/// file's own.
std::optional<scenario> read_scenario(const value& root, const std::string& name,
                                      const std::string& folder, std::vector<diagnostic>& errors,
                                      std::size_t before) {
    scenario_reader reader(name, folder, errors);
    std::optional<scenario> out = reader.run(root);
    sort_by_position(errors, before);
    errors.insert(errors.end(), reader.policy_errors().begin(), reader.policy_errors().end());
    if (errors.size() != before)
        return std::nullopt;
    return out;
}

} // namespace

std::optional<scenario> load_scenario_string(std::string_view text, const std::string& name,
                                             const std::string& folder,
                                             std::vector<diagnostic>& errors) {
    const std::size_t before = errors.size();
    std::optional<value> root = config::parse_yaml(text, name, errors);
    if (!root)
        return std::nullopt;
    return read_scenario(*root, name, folder, errors, before);
}

std::optional<scenario> load_scenario(const std::string& path, std::vector<diagnostic>& errors) {
    const std::size_t before = errors.size();
    std::optional<value> root = config::parse_yaml_file(path, errors);
    if (!root)
        return std::nullopt;
    const std::string folder = std::filesystem::path(path).parent_path().string();
    return read_scenario(*root, path, folder, errors, before);
}

} // namespace keel::sim
