// The `rate_limit:` key of defaults, profiles and dependencies: read with
// positions, merged key by key like `circuit_breaker:`, `off` drops an
// inherited rate limit, and a rate limit that is on must have a rate.
#include <keel/duration.hpp>

#include "policy_schema.hpp"

namespace keel::config::detail {

namespace {

using std::chrono::nanoseconds;

constexpr std::string_view rate_limit_keys[] = {"rate", "burst", "max_wait", "honor_pushback"};

/// A bucket is a count, not an allocation; larger numbers are typos.
constexpr long long max_burst = 1'000'000'000;

std::optional<token_rate> read_rate(reader& r, const value& v, const std::string& path) {
    auto text = r.scalar(v, path, "a rate such as 100/s");
    if (!text)
        return std::nullopt;
    rate_parse_result parsed = parse_rate(*text);
    if (!parsed)
        r.error(v, path, parsed.error);
    return parsed.rate;
}

std::optional<std::int64_t> read_burst(reader& r, const value& v, const std::string& path) {
    const std::optional<int> n = count(r, v, path, 1, max_burst);
    return n ? std::optional<std::int64_t>(*n) : std::nullopt;
}

} // namespace

void read_rate_limit(reader& r, const value& n, const std::string& path, rate_limit_layer& out) {
    // An empty `rate_limit:` is on, and then lacks its rate (check_rate_limit).
    const std::optional<bool> on =
        on_or_off(r, n, path, "a map such as {rate: 100/s, burst: 20, max_wait: 10ms}");
    record(out.enabled, on, n, path);
    if (!on.value_or(false))
        return;
    r.entries(n, path, rate_limit_keys,
              [&](const std::string& k, const value& v, const std::string& p) {
                  if (k == "rate") {
                      auto rate = read_rate(r, v, p);
                      out.rate_unreadable = !rate;
                      record(out.rate, std::move(rate), v, p);
                  } else if (k == "burst") {
                      record(out.burst, read_burst(r, v, p), v, p);
                  } else if (k == "max_wait") {
                      record(out.max_wait, r.duration(v, p), v, p);
                  } else {
                      record(out.honor_pushback, r.boolean(v, p), v, p);
                  }
              });
}

void rate_limit_layer::overlay(rate_limit_layer top, int rank) {
    // A rate written but not read was reported already: no "missing rate".
    const bool unreadable = top.enabled.value.value_or(false) && !top.rate.value &&
                            (top.rate_unreadable || (rate_unreadable && !rate.value));
    if (!overlay_enabled(*this, top, rank))
        return;
    rate_unreadable = unreadable;
    overlay_settings(settings(), top.settings(), rank);
}

std::optional<rate_limit_settings> rate_limit_layer::apply(nanoseconds pushback_cap) const {
    if (!enabled.value.value_or(false) || !rate.value)
        return std::nullopt;
    rate_limit_settings s;
    s.rate = *rate.value;
    s.burst = burst.value.value_or(s.burst_tokens());
    s.max_wait = max_wait.value.value_or(s.max_wait);
    s.honor_pushback = honor_pushback.value.value_or(s.honor_pushback);
    s.pushback_cap = pushback_cap;
    return s;
}

void check_rate_limit(reader& r, const rate_limit_layer& merged, const std::string& dependency) {
    if (!merged.enabled.value.value_or(false) || merged.rate.value || merged.rate_unreadable)
        return;
    // Turned on in defaults (layer 1): the check of defaults reports it.
    if (!dependency.empty() && merged.enabled.layer == 1)
        return;
    r.error(merged.enabled.where, merged.enabled.path,
            "missing rate (tokens per period, e.g. rate: 100/s)");
}

} // namespace keel::config::detail
