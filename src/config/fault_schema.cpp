// The `faults:` and `fallback:` keys of a dependency: fault rules read with
// positions into a seeded keel::fault_plan (a reload builds a new one, so it
// turns rules on and off), and the fault classes a fallback answers.
#include <keel/duration.hpp>
#include <keel/fault_injection.hpp>

#include "policy_schema.hpp"

#include <algorithm>
#include <span>

namespace keel::config::detail {

namespace {

constexpr std::string_view plan_keys[] = {"seed", "rules"};
constexpr std::string_view rule_keys[] = {"kind",        "rate",     "delay",  "error",
                                          "retry_after", "endpoint", "method", "statement"};
constexpr std::string_view fault_kinds[] = {"latency", "error", "hang"};
constexpr std::string_view fallback_keys[] = {"on"};

/// FNV-1a: a seed that is the same on every platform and run (std::hash is not).
std::uint64_t stable_hash(std::string_view text) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/// Which keys each kind takes besides kind, rate and the selectors.
bool belongs_to(std::string_view key, fault_kind kind) {
    if (key == "delay")
        return kind == fault_kind::latency;
    if (key == "error" || key == "retry_after")
        return kind == fault_kind::error;
    return true;
}

void read_error_name(reader& r, const value& v, const std::string& p, fault_rule& out, bool& ok) {
    auto name = r.scalar(v, p, "an error name such as connection_refused or http_503");
    if (!name) {
        ok = false;
        return;
    }
    std::string why;
    if (auto code = fault_error_from_name(*name, why)) {
        out.error_name = *name;
        out.error = *code;
        return;
    }
    ok = false;
    r.error(v, p,
            why.empty() ? "unknown error '" + *name +
                              "' (connection_refused, connection_reset, http_<status>, "
                              "pg_<SQLSTATE>, kafka_<librdkafka name>)"
                        : why);
}

std::optional<fault_rule> read_rule(reader& r, const value& n, const std::string& path) {
    if (!r.map(n, path, rule_keys)) {
        if (n.kind() == value::type::null)
            r.error(n, path, "expected a rule such as {kind: error, rate: 0.01, error: http_503}");
        return std::nullopt;
    }
    fault_rule rule;
    bool ok = true;
    const value* kind = n.find("kind");
    if (!kind) {
        r.error(n, path, "missing kind (latency, error or hang)");
        return std::nullopt;
    }
    if (auto i = r.choice(*kind, join(path, "kind"), "fault kind", fault_kinds))
        rule.kind = static_cast<fault_kind>(*i);
    else
        return std::nullopt;
    if (!n.find("rate")) {
        r.error(n, path, "missing rate (the share of attempts, 0 to 1)");
        ok = false;
    }
    if (rule.kind == fault_kind::latency && !n.find("delay")) {
        r.error(n, path, "missing delay (a latency rule adds it before the operation)");
        ok = false;
    }
    if (rule.kind == fault_kind::error && !n.find("error")) {
        r.error(n, path, "missing error (connection_refused, http_503, ...)");
        ok = false;
    }
    for (const auto& [key, v] : n.entries()) {
        const std::string p = join(path, key);
        if (std::find(std::begin(rule_keys), std::end(rule_keys), key) == std::end(rule_keys))
            continue; // reported by map()
        if (!belongs_to(key, rule.kind)) {
            r.error(v.key_where(), p, "not a setting of kind " + std::string(to_string(rule.kind)));
            ok = false;
        } else if (key == "rate") {
            auto x = r.number(v, p);
            if (x && (*x < 0 || *x > 1)) {
                r.error(v, p, "must be in [0, 1], got " + text_of(*x));
                ok = false;
            } else if (x) {
                rule.rate = *x;
            } else {
                ok = false;
            }
        } else if (key == "delay" || key == "retry_after") {
            auto d = period(r, v, p);
            if (!d)
                ok = false;
            else if (key == "delay")
                rule.delay = *d;
            else
                rule.retry_after = *d;
        } else if (key == "error") {
            read_error_name(r, v, p, rule, ok);
        } else if (key != "kind") {
            auto text = r.scalar(v, p, "a " + key);
            if (!text)
                ok = false;
            else
                (key == "endpoint" ? rule.endpoint
                 : key == "method" ? rule.method
                                   : rule.statement) = *text;
        }
    }
    return ok ? std::optional(std::move(rule)) : std::nullopt;
}

} // namespace

void read_faults(reader& r, const value& n, const std::string& path, const std::string& dependency,
                 pipeline_policy& out) {
    const value* rules = &n;
    std::uint64_t seed = stable_hash(dependency);
    if (n.kind() == value::type::map) {
        if (!r.map(n, path, plan_keys))
            return;
        if (const value* s = n.find("seed")) {
            if (auto x = r.whole_number(*s, join(path, "seed"), 0))
                seed = static_cast<std::uint64_t>(*x);
        }
        rules = n.find("rules");
        if (!rules) {
            r.error(n, path, "missing rules (a sequence of fault rules)");
            return;
        }
    }
    const std::string rules_path = rules == &n ? path : join(path, "rules");
    if (rules->kind() != value::type::sequence) {
        if (!rules->reported())
            r.error(*rules, rules_path,
                    "expected a sequence of rules such as [{kind: error, rate: 0.01, "
                    "error: http_503}], got " +
                        describe(*rules));
        return;
    }
    std::vector<fault_rule> read;
    bool ok = true;
    for (std::size_t i = 0; i < rules->items().size(); ++i) {
        auto rule = read_rule(r, rules->items()[i], rules_path + "[" + std::to_string(i) + "]");
        if (rule)
            read.push_back(std::move(*rule));
        else
            ok = false;
    }
    if (ok && !read.empty())
        out.faults = std::make_shared<fault_plan>(std::move(read), seed);
}

void read_fallback(reader& r, const value& n, const std::string& path,
                   std::optional<fault_set>& on) {
    r.entries(n, path, fallback_keys,
              [&](const std::string&, const value& v, const std::string& p) {
                  on = read_fault_list(r, v, p);
              });
}

} // namespace keel::config::detail
