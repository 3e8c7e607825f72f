// The `hedge:` key of defaults, profiles and dependencies: read with
// positions, merged key by key like `circuit_breaker:`, off unless a layer
// writes it. A hedge makes its own attempts, so it cannot be combined with a
// written retry.max_attempts above 1 (as in gRPC), and with none written the
// dependency's retry.max_attempts is 1: a call that is not idempotent, and so
// not hedged, runs one attempt.
#include <keel/duration.hpp>

#include "policy_schema.hpp"

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;

constexpr std::string_view hedge_keys[] = {"max_attempts",   "delay",     "min_samples",
                                           "fallback_delay", "non_fatal", "min_remaining"};

constexpr duration_rules a_hedge_delay{.allow_unlimited = false, .positive = false};

/// `delay`: a duration (`50ms`) or a quantile of recent successes (`p95`).
std::optional<hedge_delay> read_delay(reader& r, const value& v, const std::string& p) {
    if (v.kind() == value::type::scalar && !v.reported() && !v.scalar().empty() &&
        v.scalar().front() == 'p') {
        const quantile_parse_result q = parse_quantile(v.scalar());
        if (!q) {
            r.error(v, p, q.error);
            return std::nullopt;
        }
        return hedge_delay{.fixed = hedge_settings{}.delay, .quantile = q.quantile};
    }
    if (v.kind() != value::type::scalar) {
        if (!v.reported())
            r.error(v, p,
                    "expected a duration such as 50ms or a quantile such as p95, got " +
                        describe(v));
        return std::nullopt;
    }
    auto d = r.duration(v, p, a_hedge_delay);
    if (!d)
        return std::nullopt;
    return hedge_delay{.fixed = *d, .quantile = std::nullopt};
}

std::string line_column(const position& at) {
    return std::to_string(at.line) + ":" + std::to_string(at.column);
}

} // namespace

void read_hedge(reader& r, const value& n, const std::string& path, hedge_layer& out) {
    const std::optional<bool> on =
        on_or_off(r, n, path, "a map such as {max_attempts: 3, delay: p95, fallback_delay: 50ms}");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, hedge_keys, [&](const std::string& k, const value& v, const std::string& p) {
        if (k == "max_attempts")
            record(out.max_attempts, count(r, v, p, 2, strategy_chain::max_in_flight), v, p);
        else if (k == "delay")
            record(out.delay, read_delay(r, v, p), v, p);
        else if (k == "min_samples")
            record(out.min_samples, count(r, v, p, 1, hedging::quantile_window), v, p);
        else if (k == "fallback_delay")
            record(out.fallback_delay, r.duration(v, p, a_hedge_delay), v, p);
        else if (k == "non_fatal")
            record(out.non_fatal, read_fault_list(r, v, p), v, p);
        else
            record(out.min_remaining, r.duration(v, p, a_hedge_delay), v, p);
    });
}

void hedge_layer::overlay(hedge_layer top, int rank) {
    overlay_layer(*this, top, rank);
}

std::optional<hedge_settings> hedge_layer::apply() const {
    if (!enabled.value.value_or(false))
        return std::nullopt;
    hedge_settings s;
    set_if_written(s.max_attempts, max_attempts);
    if (delay.value) {
        s.delay = delay.value->fixed;
        s.delay_quantile = delay.value->quantile;
    }
    set_if_written(s.min_samples, min_samples);
    set_if_written(s.fallback_delay, fallback_delay);
    set_if_written(s.non_fatal, non_fatal);
    if (min_remaining.value)
        s.min_remaining = *min_remaining.value;
    return s;
}

void check_hedge(reader& r, const layer& merged, const std::string& dependency, const position& at,
                 const std::string& path) {
    const hedge_layer& hedge = merged.hedge;
    if (!hedge.enabled.value.value_or(false))
        return;
    const setting<int>& retries = merged.max_attempts;
    if (retries.value && *retries.value > 1) {
        // Both from defaults: the check of defaults reports it.
        if (!dependency.empty() && std::max(hedge.enabled.layer, retries.layer) <= 1)
            return;
        std::string message = "cannot be combined with retry.max_attempts " +
                              std::to_string(*retries.value) + " (from " + retries.path + " at " +
                              line_column(retries.where) +
                              "): a hedge makes its own attempts; write retry.max_attempts: 1 "
                              "or hedge: off";
        if (!dependency.empty() &&
            hedge.enabled.path.rfind("dependencies." + dependency + ".", 0) != 0)
            message += " in dependency '" + dependency + "'";
        r.error(hedge.enabled.where, hedge.enabled.path, message);
        return;
    }
    if (auto s = hedge.apply())
        check_validates(r, *s, at, path);
}

} // namespace keel::config::detail
