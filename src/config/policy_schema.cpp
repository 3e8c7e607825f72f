#include "policy_schema.hpp"

#include <keel/duration.hpp>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;

/// The most attempts a file may ask for (the first call included).
constexpr long long max_attempts_limit = 1000;

constexpr std::string_view retry_keys[] = {"max_attempts", "backoff", "retry_on", "retry_after"};
constexpr std::string_view backoff_keys[] = {"kind", "initial", "multiplier",
                                             "step", "max",     "jitter"};
constexpr std::string_view retry_after_keys[] = {"honor", "max"};
constexpr std::string_view timeout_keys[] = {"connect", "exchange", "total"};
constexpr std::string_view backoff_kinds[] = {"constant", "linear", "exponential"};
constexpr std::string_view jitter_kinds[] = {"none", "full", "equal", "decorrelated"};

constexpr duration_rules a_delay{.allow_unlimited = false, .positive = false};
constexpr duration_rules a_cap{.allow_unlimited = true, .positive = false};
constexpr duration_rules a_timeout{.allow_unlimited = true, .positive = true};

void read_max_attempts(reader& r, const value& v, const std::string& p, layer& out) {
    auto count = r.integer(v, p);
    if (count && *count < 1) {
        r.error(v, p, "must be >= 1 (the first call included), got " + std::to_string(*count));
    } else if (count && *count > max_attempts_limit) {
        // Each attempt is a call the dependency must absorb: a number this
        // large is a typo, not a policy.
        r.error(v, p, "must be <= " + std::to_string(max_attempts_limit) + ", got " + v.scalar());
    } else if (count) {
        record(out.max_attempts, std::optional<int>(static_cast<int>(*count)), v, p);
    }
}

void read_backoff(reader& r, const value& n, const std::string& path, layer& out) {
    r.entries(n, path, backoff_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "kind") {
                      if (auto i = r.choice(v, p, "backoff kind", backoff_kinds))
                          record(out.kind, std::optional(static_cast<backoff_kind>(*i)), v, p);
                  } else if (k == "initial") {
                      // An unlimited first delay would sleep forever: not a policy.
                      record(out.initial, r.duration(v, p, a_delay), v, p);
                  } else if (k == "step") {
                      record(out.step, r.duration(v, p, a_delay), v, p);
                  } else if (k == "max") {
                      record(out.backoff_max, r.duration(v, p, a_cap), v, p);
                  } else if (k == "multiplier") {
                      record(out.multiplier, read_multiplier(r, v, p), v, p);
                  } else if (k == "jitter") {
                      if (auto i = r.choice(v, p, "jitter", jitter_kinds))
                          record(out.jitter, std::optional(static_cast<jitter_kind>(*i)), v, p);
                  }
              });
}

void read_retry_after(reader& r, const value& n, const std::string& path, layer& out) {
    r.entries(n, path, retry_after_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "honor")
                      record(out.honor, r.boolean(v, p), v, p);
                  else
                      record(out.retry_after_max, r.duration(v, p, a_cap), v, p);
              });
}

void read_retry(reader& r, const value& n, const std::string& path, layer& out) {
    r.entries(n, path, retry_keys, [&](const std::string& k, const value& v, const std::string& p) {
        if (k == "max_attempts")
            read_max_attempts(r, v, p, out);
        else if (k == "backoff")
            read_backoff(r, v, p, out);
        else if (k == "retry_on")
            record(out.retry_on, read_fault_list(r, v, p), v, p);
        else
            read_retry_after(r, v, p, out);
    });
}

void read_timeout(reader& r, const value& n, const std::string& path, layer& out) {
    r.entries(n, path, timeout_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  setting<nanoseconds>& s = k == "connect"    ? out.connect
                                            : k == "exchange" ? out.exchange
                                                              : out.total;
                  record(s, r.duration(v, p, a_timeout), v, p);
              });
}

std::string line_column(const position& at) {
    return std::to_string(at.line) + ":" + std::to_string(at.column);
}

} // namespace

std::optional<double> read_multiplier(reader& r, const value& v, const std::string& path) {
    auto m = r.number(v, path);
    if (m && *m < 1.0) {
        std::ostringstream s;
        s << *m;
        r.error(v, path, "must be >= 1, got " + s.str());
        return std::nullopt;
    }
    return m;
}

std::optional<fault_set> read_fault_list(reader& r, const value& n, const std::string& path) {
    static constexpr std::string_view fault_classes[] = {"transient", "timeout",   "throttled",
                                                         "permanent", "cancelled", "rejected"};
    if (n.kind() != value::type::sequence) {
        if (!n.reported())
            r.error(n, path,
                    "expected a sequence of fault classes (e.g. [transient, timeout]), got " +
                        describe(n));
        return std::nullopt;
    }
    fault_set set;
    bool ok = true;
    for (std::size_t i = 0; i < n.items().size(); ++i) {
        auto c = r.choice(n.items()[i], path + "[" + std::to_string(i) + "]", "fault class",
                          fault_classes);
        if (c)
            set.insert(static_cast<fault_class>(*c));
        else
            ok = false;
    }
    return ok ? std::optional(set) : std::nullopt;
}

std::optional<bool> on_or_off(reader& r, const value& n, const std::string& path,
                              std::string_view expected) {
    if (n.kind() == value::type::scalar && n.scalar() == "off")
        return false;
    if (n.kind() == value::type::scalar || n.kind() == value::type::sequence) {
        if (!n.reported())
            r.error(n, path, "expected " + std::string(expected) + " or 'off', got " + describe(n));
        return std::nullopt;
    }
    return true;
}

bool report_order(reader& r, const order_side& a, const order_side& b, const order_words& words,
                  const std::string& dependency) {
    if (!dependency.empty() && std::max(a.layer, b.layer) <= 1)
        return true;
    const auto from = [](const order_side& s) {
        return s.where.line > 0 ? "from " + s.path + " at " + line_column(s.where) : s.path;
    };
    const order_side& at = b.layer > a.layer ? b : a;
    std::string message = b.layer > a.layer
                              ? std::string(b.name) + " (" + b.text + ") is " + words.below + " " +
                                    std::string(a.name) + " (" + a.text + ", " + from(a) + ")"
                              : std::string(a.name) + " (" + a.text + ") is " + words.above + " " +
                                    std::string(b.name) + " (" + b.text + ", " + from(b) + ")";
    if (!dependency.empty() && at.path.rfind("dependencies." + dependency + ".", 0) != 0)
        message += " in dependency '" + dependency + "'";
    r.error(at.where, at.path, message);
    return true;
}

bool check_order(reader& r, const setting<nanoseconds>& a, std::string_view a_name,
                 const setting<nanoseconds>& b, std::string_view b_name,
                 const std::string& dependency) {
    if (!a.value || !b.value || *a.value == unlimited || *b.value == unlimited ||
        *a.value <= *b.value)
        return false;
    return report_order(r, side_of(a, a_name, format_duration(*a.value)),
                        side_of(b, b_name, format_duration(*b.value)),
                        {"longer than", "shorter than"}, dependency);
}

void layer::overlay(layer top, int rank) {
    overlay_settings(settings(), top.settings(), rank);
    breaker.overlay(std::move(top.breaker), rank);
    bulkhead.overlay(std::move(top.bulkhead), rank);
    rate_limit.overlay(std::move(top.rate_limit), rank);
    retry_budget.overlay(std::move(top.retry_budget), rank);
    throttle.overlay(std::move(top.throttle), rank);
    hedge.overlay(std::move(top.hedge), rank);
}

pipeline_policy layer::apply() const {
    pipeline_policy p;
    pairwise(pipeline_fields(p), settings(), [](auto& out, const auto& s) {
        if (s.value)
            out = *s.value;
    });
    // A hedge makes the attempts: a call it does not hedge runs one.
    if (hedge.enabled.value.value_or(false) && !max_attempts.value)
        p.retry.max_attempts = 1;
    return p;
}

void read_layer(reader& r, const value& map, const std::string& path, layer& out) {
    for (const auto& [k, v] : map.entries()) {
        if (k == "retry")
            read_retry(r, v, join(path, "retry"), out);
        else if (k == "timeout")
            read_timeout(r, v, join(path, "timeout"), out);
        else if (k == "circuit_breaker")
            read_breaker(r, v, join(path, "circuit_breaker"), out.breaker);
        else if (k == "bulkhead")
            read_bulkhead(r, v, join(path, "bulkhead"), out.bulkhead);
        else if (k == "rate_limit")
            read_rate_limit(r, v, join(path, "rate_limit"), out.rate_limit);
        else if (k == "retry_budget")
            read_retry_budget(r, v, join(path, "retry_budget"), out.retry_budget);
        else if (k == "adaptive_throttle")
            read_adaptive_throttle(r, v, join(path, "adaptive_throttle"), out.throttle);
        else if (k == "hedge")
            read_hedge(r, v, join(path, "hedge"), out.hedge);
    }
}

void check(reader& r, const layer& merged, const std::string& dependency, const position& at,
           const std::string& path) {
    bool broken = check_order(r, merged.exchange, "timeout.exchange", merged.total, "timeout.total",
                              dependency);
    broken |= check_order(r, merged.connect, "timeout.connect", merged.total, "timeout.total",
                          dependency);
    // The built-in backoff.max (5s) counts too: an initial above it is an
    // error even if the file never wrote a max.
    setting<nanoseconds> cap = merged.backoff_max;
    if (!cap.value) {
        cap.value = backoff_policy{}.max;
        cap.path = "the built-in retry.backoff.max";
    }
    broken |= check_order(r, merged.initial, "retry.backoff.initial", cap, "retry.backoff.max",
                          dependency);
    check_breaker(r, merged.breaker, dependency, at, path);
    check_bulkhead(r, merged.bulkhead, dependency, at, path);
    check_rate_limit(r, merged.rate_limit, dependency);
    check_retry_budget(r, merged.retry_budget, dependency, at, path);
    check_hedge(r, merged, dependency, at, path);
    if (!broken)
        check_validates(r, merged.apply(), at, path);
}

} // namespace keel::config::detail
