// Over 400 lines: one reader for the whole file, so that every problem is reported in one pass.
// The top level of a configuration file: the document (version, defaults,
// profiles, dependencies, metrics) from the positioned tree, collecting every
// problem rather than stopping at the first. The reading of each value is
// section_reader.cpp's, `${VAR}` substitution substitute.cpp's and the policy
// schema and its merge checks policy_schema.cpp's.
#include <keel/config/document.hpp>
#include <keel/config/section_reader.hpp>

#include "policy_schema.hpp"
#include "substitute.hpp"
#include "tree.hpp"

#include <algorithm>
#include <tuple>

namespace keel::config {

namespace {

using detail::layer;
using detail::layer_keys;
using std::chrono::nanoseconds;

constexpr std::string_view top_keys[] = {"version", "defaults", "profiles", "dependencies",
                                         "metrics"};
constexpr std::string_view dependency_keys[] = {
    "kind",       "extends",    "retry",        "timeout",           "circuit_breaker",
    "bulkhead",   "rate_limit", "retry_budget", "adaptive_throttle", "hedge",
    "connection", "faults",     "fallback"};
constexpr std::string_view dependency_kinds[] = {"postgres", "kafka", "http", "generic"};
constexpr std::string_view metrics_keys[] = {"enabled", "listen", "path", "buckets"};
constexpr std::string_view bucket_keys[] = {"call", "attempt"};

class loader {
public:
    loader(std::string file, std::vector<diagnostic>& errors)
        : file_(std::move(file)), r_(errors) {}

    /// `root` is the resolved tree (a map): the document, also when errors
    /// were found (the caller drops it then).
    document run(const value& root);

    reader& errors() noexcept { return r_; }

private:
    using profile_list = std::vector<std::pair<std::string, layer>>;

    void read_version(const value& root);
    profile_list read_profiles(const value& root);
    dependency read_dependency(const std::string& name, const value& v, const layer& base,
                               const profile_list& profiles);
    void read_extends(const value& ext, const std::string& path, const profile_list& profiles,
                      dependency& dep, layer& merged, int& rank);
    void read_metrics(const value& n, metrics_settings& out);
    std::optional<std::vector<double>> buckets(const value& n, const std::string& path);

    std::string file_;
    reader r_;
};

document loader::run(const value& root) {
    r_.map(root, "", top_keys);
    document doc;
    doc.source = file_;
    read_version(root);

    layer defaults;
    const value* d = root.find("defaults");
    if (d && r_.map(*d, "defaults", layer_keys))
        read_layer(r_, *d, "defaults", defaults);
    layer base;
    base.overlay(defaults, 1);
    if (d)
        check(r_, base, "", d->where(), "defaults");
    doc.defaults = base.apply();
    doc.defaults_circuit_breaker = base.breaker.apply();
    doc.defaults_bulkhead = base.bulkhead.apply();
    doc.defaults_rate_limit = base.rate_limit.apply(doc.defaults.retry.retry_after.max);
    doc.defaults_retry_budget = base.retry_budget.apply();
    doc.defaults_adaptive_throttle = base.throttle.apply();
    doc.defaults_hedge = base.hedge.apply();

    const profile_list profiles = read_profiles(root);
    if (const value* deps = root.find("dependencies")) {
        if (deps->kind() == value::type::map) {
            for (const auto& [name, v] : deps->entries())
                doc.dependencies.push_back(read_dependency(name, v, base, profiles));
        } else if (deps->kind() != value::type::null && !deps->reported()) {
            r_.error(*deps, "dependencies",
                     "expected a map of dependency names, got " + describe(*deps));
        }
    }

    doc.metrics.where = position{file_, 1, 1};
    doc.metrics.listen_where = doc.metrics.where;
    if (const value* m = root.find("metrics"))
        read_metrics(*m, doc.metrics);
    return doc;
}

void loader::read_version(const value& root) {
    const value* v = root.find("version");
    if (!v) {
        r_.error(root, "version", "missing (the file must start with 'version: 1')");
        return;
    }
    auto number = r_.integer(*v, "version");
    if (number && *number != 1)
        r_.error(*v, "version",
                 "unsupported version " + std::to_string(*number) + " (this keel reads version 1)");
}

/// Read once, so an error inside a profile is reported once.
loader::profile_list loader::read_profiles(const value& root) {
    profile_list profiles;
    const value* p = root.find("profiles");
    if (!p)
        return profiles;
    if (p->kind() == value::type::map) {
        for (const auto& [name, v] : p->entries()) {
            const std::string path = join("profiles", name);
            layer l;
            if (r_.map(v, path, layer_keys))
                read_layer(r_, v, path, l);
            profiles.emplace_back(name, std::move(l));
        }
    } else if (p->kind() != value::type::null && !p->reported()) {
        r_.error(*p, "profiles", "expected a map of profile names, got " + describe(*p));
    }
    return profiles;
}

/// Defaults, then the profiles it extends in order, then its own keys.
dependency loader::read_dependency(const std::string& name, const value& v, const layer& base,
                                   const profile_list& profiles) {
    const std::string path = join("dependencies", name);
    dependency dep;
    dep.name = name;
    dep.where = v.key_where();
    dep.connection = value::make_null(dep.where);
    layer merged = base;
    int rank = 2;
    // An empty value is a dependency with nothing of its own.
    const bool ok = r_.map(v, path, dependency_keys);
    if (name.empty())
        r_.error(dep.where, path, "a dependency needs a name");
    if (const value* kind = ok ? v.find("kind") : nullptr) {
        if (auto i = r_.choice(*kind, join(path, "kind"), "dependency kind", dependency_kinds))
            dep.kind = static_cast<dependency_kind>(*i);
    }
    if (const value* ext = ok ? v.find("extends") : nullptr)
        read_extends(*ext, join(path, "extends"), profiles, dep, merged, rank);
    if (ok) {
        layer own;
        read_layer(r_, v, path, own);
        merged.overlay(std::move(own), rank);
        if (const value* c = v.find("connection"))
            dep.connection = *c;
    }
    check(r_, merged, dep.name, dep.where, path);
    dep.policy = merged.apply();
    dep.circuit_breaker = merged.breaker.apply();
    dep.bulkhead = merged.bulkhead.apply();
    dep.rate_limit = merged.rate_limit.apply(dep.policy.retry.retry_after.max);
    dep.retry_budget = merged.retry_budget.apply();
    dep.adaptive_throttle = merged.throttle.apply();
    dep.hedge = merged.hedge.apply();
    if (const value* f = ok ? v.find("faults") : nullptr)
        detail::read_faults(r_, *f, join(path, "faults"), name, dep.policy);
    if (const value* f = ok ? v.find("fallback") : nullptr)
        detail::read_fallback(r_, *f, join(path, "fallback"), dep.fallback_on);
    return dep;
}

void loader::read_extends(const value& ext, const std::string& path, const profile_list& profiles,
                          dependency& dep, layer& merged, int& rank) {
    std::vector<const value*> names_used;
    if (ext.kind() == value::type::scalar && !ext.reported())
        names_used.push_back(&ext); // one profile may be written bare
    else if (ext.kind() == value::type::sequence)
        for (const value& item : ext.items())
            names_used.push_back(&item);
    else if (!ext.reported())
        r_.error(ext, path, "expected a sequence of profile names, got " + describe(ext));
    std::vector<std::string_view> profile_names;
    for (const auto& [profile, l] : profiles)
        profile_names.push_back(profile);
    for (std::size_t i = 0; i < names_used.size(); ++i) {
        const std::string ip =
            ext.kind() == value::type::sequence ? path + "[" + std::to_string(i) + "]" : path;
        auto name = r_.scalar(*names_used[i], ip, "a profile name");
        if (!name)
            continue;
        auto found = std::find_if(profiles.begin(), profiles.end(),
                                  [&](const auto& p) { return p.first == *name; });
        if (found == profiles.end()) {
            r_.error(*names_used[i], ip,
                     profiles.empty()
                         ? "unknown profile '" + *name + "' (the file defines no profiles)"
                         : unknown_name("profile", *name, profile_names));
            continue;
        }
        dep.extends.push_back(*name);
        merged.overlay(found->second, rank++);
    }
}

void loader::read_metrics(const value& n, metrics_settings& out) {
    out.where = n.where();
    out.listen_where = out.where;
    if (!r_.map(n, "metrics", metrics_keys))
        return;
    for (const auto& [k, v] : n.entries()) {
        const std::string p = join("metrics", k);
        if (k == "enabled") {
            if (auto b = r_.boolean(v, p))
                out.enabled = *b;
        } else if (k == "listen") {
            auto text = r_.scalar(v, p, "host:port (e.g. 127.0.0.1:9464)");
            if (!text)
                continue;
            std::string host, why;
            std::uint16_t port = 0;
            if (!split_listen_address(*text, host, port, &why)) {
                r_.error(v, p, why);
                continue;
            }
            out.listen = *text;
            out.listen_where = v.where();
        } else if (k == "path") {
            auto text = r_.scalar(v, p, "a URL path (e.g. /metrics)");
            if (!text)
                continue;
            if (text->empty() || text->front() != '/' ||
                text->find_first_of(" ?#\t") != std::string::npos) {
                r_.error(v, p,
                         "expected a URL path starting with '/' (e.g. /metrics), got \"" + *text +
                             "\"");
                continue;
            }
            out.path = *text;
        } else if (k == "buckets") {
            if (v.kind() == value::type::sequence) {
                // One list for both histograms.
                if (auto b = buckets(v, p)) {
                    out.call_buckets = *b;
                    out.attempt_buckets = std::move(*b);
                }
            } else if (v.kind() == value::type::map) {
                r_.map(v, p, bucket_keys);
                for (const auto& [bk, bv] : v.entries()) {
                    if (bk == "call") {
                        if (auto b = buckets(bv, join(p, "call")))
                            out.call_buckets = std::move(*b);
                    } else if (bk == "attempt") {
                        if (auto b = buckets(bv, join(p, "attempt")))
                            out.attempt_buckets = std::move(*b);
                    }
                }
            } else if (!v.reported()) {
                r_.error(v, p,
                         "expected a sequence of durations (e.g. [5ms, 50ms, 500ms]) or a map "
                         "with call and attempt, got " +
                             describe(v));
            }
        }
    }
}

/// Histogram bucket bounds: durations, positive and strictly increasing;
/// returned in seconds.
std::optional<std::vector<double>> loader::buckets(const value& n, const std::string& path) {
    if (n.kind() != value::type::sequence) {
        if (!n.reported())
            r_.error(n, path,
                     "expected a sequence of durations (e.g. [5ms, 50ms, 500ms]), got " +
                         describe(n));
        return std::nullopt;
    }
    if (n.items().empty()) {
        r_.error(n, path, "needs at least one bucket bound (leave it out for keel's defaults)");
        return std::nullopt;
    }
    constexpr std::size_t max_buckets = 64;
    if (n.items().size() > max_buckets) {
        r_.error(n, path,
                 "at most " + std::to_string(max_buckets) + " buckets (each is a series per " +
                     "dependency), got " + std::to_string(n.items().size()));
        return std::nullopt;
    }
    std::vector<double> out;
    bool ok = true;
    nanoseconds previous{-1};
    std::string previous_text;
    for (std::size_t i = 0; i < n.items().size(); ++i) {
        const value& item = n.items()[i];
        const std::string ip = path + "[" + std::to_string(i) + "]";
        auto d = r_.duration(item, ip);
        if (!d) {
            ok = false;
            continue;
        }
        if (*d == nanoseconds::zero()) {
            r_.error(item, ip, "a bucket bound must be positive, got " + item.scalar());
            ok = false;
        } else if (*d <= previous) {
            r_.error(item, ip,
                     "bucket bounds must be strictly increasing: " + item.scalar() + " after " +
                         previous_text);
            ok = false;
        }
        previous = *d;
        previous_text = item.scalar();
        out.push_back(std::chrono::duration<double>(*d).count());
    }
    if (!ok)
        return std::nullopt;
    return out;
}

load_result finish(load_result result) {
    auto& errors = result.errors;
    std::stable_sort(errors.begin(), errors.end(), [](const diagnostic& a, const diagnostic& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    // The same error found twice (e.g. through two dependencies) is one error.
    errors.erase(std::unique(errors.begin(), errors.end(),
                             [](const diagnostic& a, const diagnostic& b) {
                                 return a.where.line == b.where.line &&
                                        a.where.column == b.where.column && a.message == b.message;
                             }),
                 errors.end());
    if (!errors.empty())
        result.doc.reset();
    return result;
}

} // namespace

load_result try_load_string(std::string_view yaml, std::string name, const load_options& options) {
    load_result result;
    std::optional<detail::node> root = detail::parse_tree(yaml, name, result.errors);
    if (!root) {
        if (result.errors.empty()) {
            diagnostic d;
            d.where = position{name, 1, 1};
            d.message = "empty document (a configuration starts with 'version: 1')";
            result.errors.push_back(std::move(d));
        }
        return finish(std::move(result));
    }
    loader l(name, result.errors);
    if (root->kind != detail::node::type::map) {
        // Described as written: substituting a file that is not one says nothing.
        const position at{name, root->line, root->column};
        std::vector<diagnostic> unused;
        reader scratch(unused);
        const value shown = root->kind == detail::node::type::scalar
                                ? value::make_scalar(root->text, at)
                                : detail::resolve(*root, name, options.env, scratch);
        l.errors().error(
            at, "", "expected a map with 'version: 1' and 'dependencies:', got " + describe(shown));
        return finish(std::move(result));
    }
    result.doc = l.run(detail::resolve(*root, name, options.env, l.errors()));
    return finish(std::move(result));
}

load_result try_load_file(const std::string& path, const load_options& options) {
    load_result result;
    const std::optional<std::string> text =
        detail::read_file(path, "configuration file", result.errors);
    if (!text)
        return result;
    return try_load_string(*text, path, options);
}

load_result try_load_value(const value& root, std::string name) {
    load_result result;
    loader l(name, result.errors);
    if (root.kind() != value::type::map) {
        if (!root.reported())
            l.errors().error(root, "",
                             "expected a map with 'version: 1' and 'dependencies:', got " +
                                 describe(root));
        return finish(std::move(result));
    }
    result.doc = l.run(root);
    return finish(std::move(result));
}

document load_string(std::string_view yaml, std::string name, const load_options& options) {
    load_result result = try_load_string(yaml, std::move(name), options);
    if (!result.doc)
        throw config_error(std::move(result.errors));
    return std::move(*result.doc);
}

document load_file(const std::string& path, const load_options& options) {
    load_result result = try_load_file(path, options);
    if (!result.doc)
        throw config_error(std::move(result.errors));
    return std::move(*result.doc);
}

} // namespace keel::config
