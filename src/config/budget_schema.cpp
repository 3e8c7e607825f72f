// The `retry_budget:` and `adaptive_throttle:` keys of defaults, profiles
// and dependencies: read with positions, merged key by key like
// `circuit_breaker:`. The retry budget is on unless a layer says `off`
// (Finagle's defaults); adaptive throttling is off unless a layer writes it.
#include <keel/duration.hpp>

#include "policy_schema.hpp"

#include <algorithm>
#include <span>

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;
using budget_kind = retry_budget_settings::budget_kind;

constexpr std::string_view budget_keys[] = {"kind", "percent",    "min_per_second",
                                            "ttl",  "max_tokens", "token_ratio"};
constexpr std::string_view ratio_only[] = {"percent", "min_per_second", "ttl"};
constexpr std::string_view tokens_only[] = {"max_tokens", "token_ratio"};
constexpr std::string_view budget_kinds[] = {"ratio", "tokens"};
constexpr std::string_view throttle_keys[] = {"k", "window", "min_requests", "max_rejection",
                                              "seed"};

/// A number in [lo, hi] (or (lo, hi] when `lo_open`).
std::optional<double> within(reader& r, const value& v, const std::string& p, double lo, double hi,
                             bool lo_open = false) {
    auto x = r.number(v, p);
    if (!x)
        return std::nullopt;
    if ((lo_open ? *x <= lo : *x < lo) || *x > hi) {
        r.error(v, p,
                std::string("must be in ") + (lo_open ? "(" : "[") + text_of(lo) + ", " +
                    text_of(hi) + "], got " + text_of(*x));
        return std::nullopt;
    }
    return x;
}

/// A duration in [lo, hi].
std::optional<nanoseconds> span(reader& r, const value& v, const std::string& p, nanoseconds lo,
                                nanoseconds hi) {
    auto d = period(r, v, p);
    if (!d)
        return std::nullopt;
    if (*d < lo || *d > hi) {
        r.error(v, p,
                "must be in [" + format_duration(lo) + ", " + format_duration(hi) + "], got " +
                    format_duration(*d));
        return std::nullopt;
    }
    return d;
}

bool listed(std::string_view key, std::span<const std::string_view> keys) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// Keys of the other kind in a map that names its kind.
void check_kind_keys(reader& r, const value& n, const std::string& path, budget_kind kind) {
    if (n.kind() != value::type::map)
        return;
    const std::span<const std::string_view> foreign =
        kind == budget_kind::ratio ? std::span<const std::string_view>(tokens_only)
                                   : std::span<const std::string_view>(ratio_only);
    for (const auto& [key, item] : n.entries())
        if (listed(key, foreign))
            r.error(item.key_where(), join(path, key),
                    "not a setting of kind " + std::string(to_string(kind)) + " (kind " +
                        std::string(to_string(kind == budget_kind::ratio ? budget_kind::tokens
                                                                         : budget_kind::ratio)) +
                        " has it)");
}

} // namespace

void read_retry_budget(reader& r, const value& n, const std::string& path,
                       retry_budget_layer& out) {
    const std::optional<bool> on = on_or_off(
        r, n, path, "a map such as {kind: ratio, percent: 20, min_per_second: 10, ttl: 10s}");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, budget_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "kind") {
                      if (auto i = r.choice(v, p, "retry budget kind", budget_kinds)) {
                          const auto kind = static_cast<budget_kind>(*i);
                          record(out.kind, std::optional(kind), v, p);
                          check_kind_keys(r, n, path, kind);
                      }
                  } else if (k == "percent") {
                      record(out.percent, within(r, v, p, 0, 1000), v, p);
                  } else if (k == "min_per_second") {
                      record(out.min_per_second, within(r, v, p, 0, 1e6), v, p);
                  } else if (k == "ttl") {
                      record(out.ttl,
                             span(r, v, p, std::chrono::seconds(1), std::chrono::minutes(1)), v, p);
                  } else if (k == "max_tokens") {
                      record(out.max_tokens, within(r, v, p, 0, 1000, true), v, p);
                  } else {
                      record(out.token_ratio, within(r, v, p, 0, 1000, true), v, p);
                  }
              });
}

void retry_budget_layer::overlay(retry_budget_layer top, int rank) {
    if (overlay_enabled(*this, top, rank))
        overlay_settings(settings(), top.settings(), rank);
}

retry_budget_settings retry_budget_layer::merged() const {
    retry_budget_settings s;
    set_if_written(s.kind, kind);
    set_if_written(s.percent, percent);
    set_if_written(s.min_per_second, min_per_second);
    set_if_written(s.ttl, ttl);
    set_if_written(s.max_tokens, max_tokens);
    set_if_written(s.token_ratio, token_ratio);
    return s;
}

std::optional<retry_budget_settings> retry_budget_layer::apply() const {
    if (!enabled.value.value_or(true)) // on by default
        return std::nullopt;
    return merged();
}

void check_retry_budget(reader& r, const retry_budget_layer& merged_layer,
                        const std::string& dependency, const position& at,
                        const std::string& path) {
    if (!merged_layer.enabled.value.value_or(true))
        return;
    const retry_budget_settings s = merged_layer.merged();
    if (s.kind == budget_kind::tokens && s.token_ratio > s.max_tokens) {
        const auto& where = merged_layer.token_ratio.where.line ? merged_layer.token_ratio
                                                                : merged_layer.max_tokens;
        // Both from defaults: the check of defaults reports it.
        if (!dependency.empty() &&
            std::max(merged_layer.token_ratio.layer, merged_layer.max_tokens.layer) <= 1)
            return;
        r.error(where.where, where.path,
                "token_ratio " + text_of(s.token_ratio) + " is above max_tokens " +
                    text_of(s.max_tokens));
        return;
    }
    check_validates(r, s, at, path);
}

void read_adaptive_throttle(reader& r, const value& n, const std::string& path,
                            throttle_layer& out) {
    const std::optional<bool> on = on_or_off(
        r, n, path, "a map such as {k: 2.0, window: 2m, min_requests: 20, max_rejection: 0.9}");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, throttle_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "k") {
                      record(out.k, within(r, v, p, 1, 100), v, p);
                  } else if (k == "window") {
                      record(out.window,
                             span(r, v, p, std::chrono::seconds(1), std::chrono::hours(1)), v, p);
                  } else if (k == "min_requests") {
                      record(out.min_requests, count(r, v, p, 0), v, p);
                  } else if (k == "max_rejection") {
                      record(out.max_rejection, within(r, v, p, 0, 1), v, p);
                  } else {
                      auto seed = r.whole_number(v, p, 0);
                      record(out.seed,
                             seed ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(*seed))
                                  : std::nullopt,
                             v, p);
                  }
              });
}

void throttle_layer::overlay(throttle_layer top, int rank) {
    if (overlay_enabled(*this, top, rank))
        overlay_settings(settings(), top.settings(), rank);
}

std::optional<adaptive_throttle_settings> throttle_layer::apply() const {
    if (!enabled.value.value_or(false))
        return std::nullopt;
    adaptive_throttle_settings s;
    set_if_written(s.k, k);
    set_if_written(s.window, window);
    if (min_requests.value)
        s.min_requests = *min_requests.value;
    set_if_written(s.max_rejection, max_rejection);
    set_if_written(s.seed, seed);
    return s;
}

} // namespace keel::config::detail
