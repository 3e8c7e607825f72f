// The `bulkhead:` key of defaults, profiles and dependencies: read with
// positions, merged key by key like `circuit_breaker:` (queue and adaptive
// too), `off` drops an inherited bulkhead and `adaptive: off` an inherited
// adaptive limit; the merged limits are checked against keel::validate's
// rules as positioned errors.
#include <keel/duration.hpp>

#include "policy_schema.hpp"

#include <stdexcept>

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;
using adaptive_settings = bulkhead_settings::adaptive_settings;
using maybe_time = std::optional<nanoseconds>;

constexpr std::string_view bulkhead_keys[] = {"max_concurrent", "queue", "adaptive"};
constexpr std::string_view queue_keys[] = {"max", "timeout"};
constexpr std::string_view adaptive_keys[] = {
    "algorithm", "initial",   "min",        "max",       "backoff_ratio",
    "timeout",   "smoothing", "queue_size", "tolerance", "long_window"};
constexpr std::string_view algorithms[] = {"aimd", "gradient2"};

/// Permits, waiters and limits are counts of attempts at once: numbers this
/// large are typos, not policies.
constexpr long long max_attempts_at_once = 1'000'000;
/// gradient2 averages its long RTT over this many samples at most.
constexpr long long max_long_window = 1'000'000;

/// `adaptive.backoff_ratio`: in (0, 1), a drop must lower the limit.
std::optional<double> ratio(reader& r, const value& v, const std::string& p) {
    auto x = r.number(v, p);
    if (x && !(*x > 0.0 && *x < 1.0)) {
        r.error(v, p, "must be in (0, 1), got " + text_of(*x));
        return std::nullopt;
    }
    return x;
}

void read_queue(reader& r, const value& n, const std::string& path, bulkhead_layer& out) {
    r.entries(n, path, queue_keys, [&](const std::string& k, const value& v, const std::string& p) {
        if (k == "max")
            record(out.queue_max, count(r, v, p, 0, max_attempts_at_once), v, p);
        else // 0s: a full bulkhead refuses at once, as queue.max 0 does
            record(out.queue_timeout, r.duration(v, p), v, p);
    });
}

void read_adaptive_key(reader& r, const std::string& k, const value& v, const std::string& p,
                       bulkhead_layer& out) {
    if (k == "algorithm") {
        if (auto i = r.choice(v, p, "algorithm", algorithms))
            record(out.algorithm, std::optional(static_cast<bulkhead_layer::algorithm_kind>(*i)), v,
                   p);
    } else if (k == "initial") {
        record(out.initial, count(r, v, p, 1, max_attempts_at_once), v, p);
    } else if (k == "min") {
        record(out.min, count(r, v, p, 1, max_attempts_at_once), v, p);
    } else if (k == "max") {
        record(out.max, count(r, v, p, 1, max_attempts_at_once), v, p);
    } else if (k == "backoff_ratio") {
        record(out.backoff_ratio, ratio(r, v, p), v, p);
    } else if (k == "timeout") {
        if (v.kind() == value::type::scalar && v.scalar() == "off")
            record(out.timeout, std::optional<maybe_time>(maybe_time()), v, p);
        else if (auto t = period(r, v, p))
            record(out.timeout, std::optional<maybe_time>(maybe_time(*t)), v, p);
    } else if (k == "smoothing") {
        record(out.smoothing, fraction(r, v, p), v, p);
    } else if (k == "queue_size") {
        record(out.queue_size, count(r, v, p, 0, max_attempts_at_once), v, p);
    } else if (k == "tolerance") {
        record(out.tolerance, read_multiplier(r, v, p), v, p);
    } else {
        record(out.long_window, count(r, v, p, 1, max_long_window), v, p);
    }
}

void read_adaptive(reader& r, const value& n, const std::string& path, bulkhead_layer& out) {
    // An empty `adaptive:` is an AIMD limit with the built-in settings.
    const std::optional<bool> on =
        on_or_off(r, n, path, "a map such as {algorithm: gradient2, max: 256}");
    record(out.adaptive, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, adaptive_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  read_adaptive_key(r, k, v, p, out);
              });
}

/// The merged setting, or the built-in value named as such.
setting<int> or_built_in(setting<int> s, int built_in, std::string_view name) {
    if (!s.value) {
        s.value = built_in;
        s.path = "the built-in " + std::string(name);
    }
    return s;
}

/// `a` must not be above `b` (adaptive min, initial and max).
bool check_not_above(reader& r, const setting<int>& a, std::string_view a_name,
                     const setting<int>& b, std::string_view b_name,
                     const std::string& dependency) {
    if (*a.value <= *b.value)
        return false;
    return report_order(r, side_of(a, a_name, std::to_string(*a.value)),
                        side_of(b, b_name, std::to_string(*b.value)), {"above", "below"},
                        dependency);
}

} // namespace

void read_bulkhead(reader& r, const value& n, const std::string& path, bulkhead_layer& out) {
    // An empty `bulkhead:` is a bulkhead with the built-in settings.
    const std::optional<bool> on = on_or_off(r, n, path, "a map of bulkhead settings");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, bulkhead_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "max_concurrent")
                      record(out.max_concurrent, count(r, v, p, 1, max_attempts_at_once), v, p);
                  else if (k == "queue")
                      read_queue(r, v, p, out);
                  else
                      read_adaptive(r, v, p, out);
              });
}

void bulkhead_layer::overlay(bulkhead_layer top, int rank) {
    if (!overlay_enabled(*this, top, rank))
        return;
    // `adaptive: off` forgets the adaptive settings of the layers below, as
    // `off` does the whole bulkhead's.
    if (top.adaptive.value) {
        if (!*top.adaptive.value) {
            bulkhead_layer fresh;
            pairwise(adaptive_settings(), fresh.adaptive_settings(),
                     [](auto& mine, auto& built_in) { mine = std::move(built_in); });
        }
        adaptive = std::move(top.adaptive);
        adaptive.layer = rank;
    }
    overlay_settings(settings(), top.settings(), rank);
    overlay_settings(adaptive_settings(), top.adaptive_settings(), rank);
}

std::optional<bulkhead_settings> bulkhead_layer::apply() const {
    if (!enabled.value.value_or(false))
        return std::nullopt;
    bulkhead_settings s;
    set_if_written(s.max_concurrent, max_concurrent);
    set_if_written(s.queue.max, queue_max);
    set_if_written(s.queue.timeout, queue_timeout);
    if (adaptive.value.value_or(false)) {
        bulkhead_settings::adaptive_settings& a = s.adaptive.emplace();
        set_if_written(a.algorithm, algorithm);
        set_if_written(a.initial, initial);
        set_if_written(a.max, max);
        set_if_written(a.backoff_ratio, backoff_ratio);
        set_if_written(a.timeout, timeout);
        set_if_written(a.smoothing, smoothing);
        set_if_written(a.queue_size, queue_size);
        set_if_written(a.tolerance, tolerance);
        set_if_written(a.long_window, long_window);
        a.min = min.value.value_or(a.min_limit());
    }
    return s;
}

void check_bulkhead(reader& r, const bulkhead_layer& merged, const std::string& dependency,
                    const position& at, const std::string& path) {
    const std::optional<bulkhead_settings> applied = merged.apply();
    if (!applied)
        return;
    if (applied->adaptive) {
        adaptive_settings built_in;
        built_in.algorithm = applied->adaptive->algorithm;
        const int min_of_algorithm = built_in.min_limit();
        const setting<int> min = or_built_in(merged.min, min_of_algorithm, "bulkhead.adaptive.min");
        const setting<int> initial =
            or_built_in(merged.initial, built_in.initial, "bulkhead.adaptive.initial");
        const setting<int> max = or_built_in(merged.max, built_in.max, "bulkhead.adaptive.max");
        // One error per limit that is out of order: initial within [min, max]
        // says all when min <= max.
        if (check_not_above(r, min, "bulkhead.adaptive.min", max, "bulkhead.adaptive.max",
                            dependency) ||
            check_not_above(r, min, "bulkhead.adaptive.min", initial, "bulkhead.adaptive.initial",
                            dependency) ||
            check_not_above(r, initial, "bulkhead.adaptive.initial", max, "bulkhead.adaptive.max",
                            dependency))
            return;
    }
    check_validates(r, *applied, at, path);
}

} // namespace keel::config::detail
