// The `circuit_breaker:` key of defaults, profiles and dependencies: read
// with positions, merged key by key like `retry:` (window and slow_call
// whole), `off` drops an inherited breaker, and the merged settings are
// checked against keel::validate's rules as positioned errors.
#include <keel/duration.hpp>

#include "policy_schema.hpp"

#include <sstream>
#include <stdexcept>

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;
using breaker_settings = circuit_breaker_settings;

constexpr std::string_view breaker_keys[] = {
    "window", "min_calls", "failure_ratio", "consecutive_failures", "slow_call", "record", "ignore",
    "break",  "half_open", "scope",         "max_endpoints"};
constexpr std::string_view window_keys[] = {"kind", "size", "buckets"};
constexpr std::string_view window_kinds[] = {"count", "time"};
constexpr std::string_view slow_call_keys[] = {"threshold", "ratio"};
constexpr std::string_view break_keys[] = {"duration", "multiplier", "max", "jitter"};
constexpr std::string_view half_open_keys[] = {"probes", "successes", "max_wait"};
constexpr std::string_view scopes[] = {"dependency", "endpoint"};

/// Window and bucket counts are allocated per breaker up front: numbers
/// this large are typos, not policies.
constexpr long long max_window_size = 100'000;
constexpr long long max_buckets = 1'000;

} // namespace

/// A break, a wait, a window, a threshold: a positive duration; not
/// `unlimited` (a breaker that never half-opens is isolate()'s job).
std::optional<nanoseconds> period(reader& r, const value& v, const std::string& p) {
    auto d = r.duration(v, p);
    if (d && *d == nanoseconds::zero()) {
        r.error(v, p, "must be positive, got " + v.scalar());
        return std::nullopt;
    }
    return d;
}

std::string text_of(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

std::optional<int> count(reader& r, const value& v, const std::string& p, long long min,
                         long long max) {
    auto n = r.whole_number(v, p, min);
    if (n && *n > max) {
        r.error(v, p, "must be <= " + std::to_string(max) + ", got " + v.scalar());
        return std::nullopt;
    }
    return n ? std::optional(static_cast<int>(*n)) : std::nullopt;
}

std::optional<double> fraction(reader& r, const value& v, const std::string& p, bool zero_allowed) {
    auto x = r.number(v, p);
    if (!x)
        return std::nullopt;
    const bool ok = zero_allowed ? *x >= 0.0 && *x < 1.0 : *x > 0.0 && *x <= 1.0;
    if (!ok) {
        r.error(v, p,
                std::string(zero_allowed ? "must be in [0, 1)" : "must be in (0, 1]") + ", got " +
                    text_of(*x));
        return std::nullopt;
    }
    return x;
}

namespace {

void read_window(reader& r, const value& n, const std::string& path, breaker_layer& out) {
    if (!r.map(n, path, window_keys)) {
        if (n.kind() == value::type::null)
            r.error(n, path, "expected a map such as {kind: count, size: 20}, got an empty value");
        return;
    }
    breaker_window w;
    bool ok = true;
    if (const value* kind = n.find("kind")) {
        auto i = r.choice(*kind, join(path, "kind"), "window kind", window_kinds);
        if (!i)
            return; // the size cannot be read without its kind
        w.kind = static_cast<breaker_settings::window_kind>(*i);
    }
    const bool by_time = w.kind == breaker_settings::window_kind::time;
    if (const value* size = n.find("size")) {
        const std::string p = join(path, "size");
        if (by_time) {
            auto t = period(r, *size, p);
            ok &= t.has_value();
            w.time = t.value_or(w.time);
        } else {
            auto c = count(r, *size, p, 1, max_window_size);
            ok &= c.has_value();
            w.size = c.value_or(w.size);
        }
    }
    if (const value* buckets = n.find("buckets")) {
        const std::string p = join(path, "buckets");
        if (!by_time) {
            r.error(*buckets, p, "only a time window has buckets (kind: time)");
            ok = false;
        } else if (auto b = count(r, *buckets, p, 1, max_buckets)) {
            w.buckets = *b;
        } else {
            ok = false;
        }
    }
    if (ok && by_time && w.time.count() < w.buckets) {
        r.error(n, path,
                "a window of " + format_duration(w.time) + " cannot hold " +
                    std::to_string(w.buckets) + " buckets");
        ok = false;
    }
    if (ok)
        record(out.window, std::optional(w), n, path);
}

void read_slow_call(reader& r, const value& n, const std::string& path, breaker_layer& out) {
    if (n.kind() == value::type::scalar && n.scalar() == "off") {
        record(out.slow_call, std::optional(breaker_slow_call{}), n, path);
        return;
    }
    if (n.kind() == value::type::scalar || n.kind() == value::type::null) {
        if (!n.reported())
            r.error(n, path,
                    "expected a map such as {threshold: 2s, ratio: 0.8} or 'off', got " +
                        describe(n));
        return;
    }
    if (!r.map(n, path, slow_call_keys))
        return;
    breaker_slow_call slow;
    bool ok = true;
    if (const value* t = n.find("threshold")) {
        slow.threshold = period(r, *t, join(path, "threshold"));
        ok &= slow.threshold.has_value();
    } else {
        r.error(n, path, "missing threshold (the duration from which an attempt is slow)");
        ok = false;
    }
    if (const value* ratio = n.find("ratio")) {
        auto x = fraction(r, *ratio, join(path, "ratio"));
        ok &= x.has_value();
        slow.ratio = x.value_or(slow.ratio);
    }
    if (ok)
        record(out.slow_call, std::optional(slow), n, path);
}

void read_break(reader& r, const value& n, const std::string& path, breaker_layer& out) {
    r.entries(n, path, break_keys, [&](const std::string& k, const value& v, const std::string& p) {
        if (k == "duration") {
            record(out.break_duration, period(r, v, p), v, p);
        } else if (k == "max") {
            record(out.break_max, period(r, v, p), v, p);
        } else if (k == "jitter") {
            record(out.break_jitter, fraction(r, v, p, true), v, p);
        } else {
            record(out.break_multiplier, read_multiplier(r, v, p), v, p);
        }
    });
}

void read_half_open(reader& r, const value& n, const std::string& path, breaker_layer& out) {
    r.entries(n, path, half_open_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "probes")
                      record(out.probes, count(r, v, p, 1), v, p);
                  else if (k == "successes")
                      record(out.successes, count(r, v, p, 1), v, p);
                  else
                      record(out.max_wait, period(r, v, p), v, p);
              });
}

} // namespace

void read_breaker(reader& r, const value& n, const std::string& path, breaker_layer& out) {
    // An empty `circuit_breaker:` is a breaker with the built-in settings.
    const std::optional<bool> on = on_or_off(r, n, path, "a map of circuit breaker settings");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(
        n, path, breaker_keys, [&](const std::string& k, const value& v, const std::string& p) {
            if (k == "window")
                read_window(r, v, p, out);
            else if (k == "min_calls")
                record(out.min_calls, count(r, v, p, 1), v, p);
            else if (k == "failure_ratio")
                record(out.failure_ratio, fraction(r, v, p), v, p);
            else if (k == "consecutive_failures")
                record(out.consecutive_failures, count(r, v, p, 0), v, p);
            else if (k == "slow_call")
                read_slow_call(r, v, p, out);
            else if (k == "record")
                record(out.record, read_fault_list(r, v, p), v, p);
            else if (k == "ignore")
                record(out.ignore, read_fault_list(r, v, p), v, p);
            else if (k == "break")
                read_break(r, v, p, out);
            else if (k == "half_open")
                read_half_open(r, v, p, out);
            else if (k == "scope") {
                if (auto i = r.choice(v, p, "scope", scopes))
                    record(out.scope, std::optional(static_cast<breaker_settings::scope_kind>(*i)),
                           v, p);
            } else {
                record(out.max_endpoints, count(r, v, p, 1), v, p);
            }
        });
}

void breaker_layer::overlay(breaker_layer top, int rank) {
    if (overlay_enabled(*this, top, rank))
        overlay_settings(settings(), top.settings(), rank);
}

std::optional<circuit_breaker_settings> breaker_layer::apply() const {
    if (!enabled.value.value_or(false))
        return std::nullopt;
    breaker_settings s;
    if (window.value) {
        s.window = window.value->kind;
        s.window_size = window.value->size;
        s.window_time = window.value->time;
        s.buckets = window.value->buckets;
    }
    set_if_written(s.min_calls, min_calls);
    set_if_written(s.failure_ratio, failure_ratio);
    set_if_written(s.consecutive_failures, consecutive_failures);
    if (slow_call.value) {
        s.slow_threshold = slow_call.value->threshold;
        s.slow_ratio = slow_call.value->ratio;
    }
    set_if_written(s.record, record);
    set_if_written(s.ignore, ignore);
    set_if_written(s.break_duration, break_duration);
    set_if_written(s.break_multiplier, break_multiplier);
    set_if_written(s.break_max, break_max);
    set_if_written(s.break_jitter, break_jitter);
    set_if_written(s.probes, probes);
    s.successes = successes.value.value_or(s.probes);
    set_if_written(s.half_open_max_wait, max_wait);
    set_if_written(s.scope, scope);
    set_if_written(s.max_endpoints, max_endpoints);
    return s;
}

void check_breaker(reader& r, const breaker_layer& merged, const std::string& dependency,
                   const position& at, const std::string& path) {
    const std::optional<breaker_settings> applied = merged.apply();
    if (!applied)
        return;
    // The built-in duration and max count too: `break: {max: 1s}` alone is
    // shorter than the built-in 5s duration.
    const auto or_built_in = [](setting<nanoseconds> s, nanoseconds built_in,
                                std::string_view name) {
        if (!s.value) {
            s.value = built_in;
            s.path = "the built-in " + std::string(name);
        }
        return s;
    };
    constexpr std::string_view duration_name = "circuit_breaker.break.duration";
    constexpr std::string_view max_name = "circuit_breaker.break.max";
    if (check_order(
            r, or_built_in(merged.break_duration, breaker_settings{}.break_duration, duration_name),
            duration_name, or_built_in(merged.break_max, breaker_settings{}.break_max, max_name),
            max_name, dependency))
        return;
    check_validates(r, *applied, at, path);
}

} // namespace keel::config::detail
