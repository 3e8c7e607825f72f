// Over 400 lines: every strategy's layer beside the merging they share.
// The policy schema (`retry:`, `timeout:`, the strategies' keys of
// defaults, profiles and dependencies) and its merging: layers overlay key by
// key, then the merged policy is checked (exchange and connect within total,
// the first backoff within its cap, the break within its max). Private to
// src/config.
#pragma once

#include <keel/adaptive_throttle.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/config/section_reader.hpp>
#include <keel/hedging.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>
#include <keel/retry_budget.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::config::detail {

inline constexpr std::string_view layer_keys[] = {
    "retry",      "timeout",      "circuit_breaker",   "bulkhead",
    "rate_limit", "retry_budget", "adaptive_throttle", "hedge"};

/// One setting of a layer (defaults, a profile, a dependency's own keys),
/// remembering where it was written for errors found after merging.
template <class T>
struct setting {
    std::optional<T> value;
    std::string path;
    position where; ///< of the key; line 0 for a built-in value
    int layer = 0;  ///< 0 built-in, then defaults, profiles, own keys in merge order
};

/// Keeps `v`, if read, as the setting written at `at`'s key.
template <class T>
void record(setting<T>& s, std::optional<T> v, const value& at, const std::string& path) {
    if (!v)
        return;
    s.value = std::move(v);
    s.path = path;
    s.where = at.key_where();
}

/// `out` = the setting's value, if a layer wrote one.
template <class T, class U>
void set_if_written(T& out, const setting<U>& in) {
    if (in.value)
        out = *in.value;
}

/// f(a_i, b_i) for the elements of two tuples of the same size.
template <class A, class B, class F>
void pairwise(A&& a, B&& b, F f) {
    static_assert(std::tuple_size_v<std::remove_cvref_t<A>> ==
                  std::tuple_size_v<std::remove_cvref_t<B>>);
    [&]<std::size_t... i>(std::index_sequence<i...>) {
        (f(std::get<i>(a), std::get<i>(b)), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<A>>>{});
}

/// Each setting of `theirs` that was written replaces the one in `mine`
/// (tuples of settings, as settings() gives); `rank` is its layer.
template <class Mine, class Theirs>
void overlay_settings(Mine&& mine, Theirs&& theirs, int rank) {
    pairwise(mine, theirs, [rank](auto& m, auto& t) {
        if (t.value) {
            m = std::move(t);
            m.layer = rank;
        }
    });
}

/// The start of a strategy layer's overlay (breaker_layer, bulkhead_layer):
/// false when `top` does not write the strategy at all; `off` forgets what
/// the layers below set, so one turned on again later starts from the
/// built-in settings.
template <class Layer>
bool overlay_enabled(Layer& mine, Layer& top, int rank) {
    if (!top.enabled.value)
        return false;
    if (!*top.enabled.value)
        mine = Layer{};
    mine.enabled = std::move(top.enabled);
    mine.enabled.layer = rank;
    return true;
}

/// A strategy layer's whole overlay, for a layer whose settings() are all
/// merged key by key under its `enabled`.
template <class Layer>
void overlay_layer(Layer& mine, Layer& top, int rank) {
    if (overlay_enabled(mine, top, rank))
        overlay_settings(mine.settings(), top.settings(), rank);
}

/// `circuit_breaker.window`: replaced whole, as the meaning of its size
/// depends on its kind. The fields of the other kind keep their built-in
/// values, so equal windows compare equal.
struct breaker_window {
    circuit_breaker_settings::window_kind kind = circuit_breaker_settings{}.window;
    int size = circuit_breaker_settings{}.window_size;
    std::chrono::nanoseconds time = circuit_breaker_settings{}.window_time;
    int buckets = circuit_breaker_settings{}.buckets;
};

/// `circuit_breaker.slow_call`: replaced whole (a ratio means nothing
/// without its threshold); `off` is an unset threshold.
struct breaker_slow_call {
    std::optional<std::chrono::nanoseconds> threshold;
    double ratio = circuit_breaker_settings{}.slow_ratio;
};

/// The `circuit_breaker:` settings of a layer.
struct breaker_layer {
    /// true: the layer wrote a `circuit_breaker:` map; false: `off`, which
    /// also drops every breaker setting of the layers below.
    setting<bool> enabled;
    setting<breaker_window> window;
    setting<int> min_calls;
    setting<double> failure_ratio;
    setting<int> consecutive_failures;
    setting<breaker_slow_call> slow_call;
    setting<fault_set> record;
    setting<fault_set> ignore;
    setting<std::chrono::nanoseconds> break_duration;
    setting<double> break_multiplier;
    setting<std::chrono::nanoseconds> break_max;
    setting<double> break_jitter;
    setting<int> probes;
    setting<int> successes;
    setting<std::chrono::nanoseconds> max_wait;
    setting<circuit_breaker_settings::scope_kind> scope;
    setting<int> max_endpoints;

    auto settings() noexcept {
        return std::tie(window, min_calls, failure_ratio, consecutive_failures, slow_call, record,
                        ignore, break_duration, break_multiplier, break_max, break_jitter, probes,
                        successes, max_wait, scope, max_endpoints);
    }

    void overlay(breaker_layer top, int rank);
    /// The built-in settings with this layer's applied; nullopt when no
    /// breaker is on. `successes` is always set (to `probes` when not
    /// written), so that what --explain prints loads back equal.
    std::optional<circuit_breaker_settings> apply() const;
};

/// The `bulkhead:` settings of a layer, merged key by key (`queue` and
/// `adaptive` too); `off` drops the layers' below, `adaptive: off` their
/// adaptive settings.
struct bulkhead_layer {
    using algorithm_kind = bulkhead_settings::adaptive_settings::algorithm_kind;

    setting<bool> enabled; ///< as breaker_layer::enabled
    setting<int> max_concurrent;
    setting<int> queue_max;
    setting<std::chrono::nanoseconds> queue_timeout;
    /// true: a layer wrote an `adaptive:` map; false: `adaptive: off`.
    setting<bool> adaptive;
    setting<algorithm_kind> algorithm;
    setting<int> initial;
    setting<int> min;
    setting<int> max;
    setting<double> backoff_ratio;
    /// nullopt inside: `timeout: off` (only timeouts and throttling drop).
    setting<std::optional<std::chrono::nanoseconds>> timeout;
    setting<double> smoothing;
    setting<int> queue_size;
    setting<double> tolerance;
    setting<int> long_window;

    auto settings() noexcept { return std::tie(max_concurrent, queue_max, queue_timeout); }
    auto adaptive_settings() noexcept {
        return std::tie(algorithm, initial, min, max, backoff_ratio, timeout, smoothing, queue_size,
                        tolerance, long_window);
    }

    void overlay(bulkhead_layer top, int rank);
    /// The built-in settings with this layer's applied; nullopt when no
    /// bulkhead is on. An adaptive `min` is always set (to the algorithm's
    /// own when not written), so that what --explain prints loads back equal.
    std::optional<bulkhead_settings> apply() const;
};

/// The `rate_limit:` settings of a layer (rate_limit_schema.cpp).
struct rate_limit_layer {
    setting<bool> enabled; ///< as breaker_layer::enabled
    setting<token_rate> rate;
    setting<std::int64_t> burst;
    setting<std::chrono::nanoseconds> max_wait;
    setting<bool> honor_pushback;
    bool rate_unreadable = false; ///< `rate:` was written but reported: no "missing rate"

    auto settings() noexcept { return std::tie(rate, burst, max_wait, honor_pushback); }

    void overlay(rate_limit_layer top, int rank);
    /// The built-in settings with this layer's applied; nullopt when no
    /// rate limit is on or it has no rate. `burst` is always set, and the
    /// pushback is capped by `pushback_cap` (the merged retry_after.max), so
    /// that what --explain prints loads back equal.
    std::optional<rate_limit_settings> apply(std::chrono::nanoseconds pushback_cap) const;
};

/// The `retry_budget:` settings of a layer (budget_schema.cpp): on unless
/// a layer wrote `off`.
struct retry_budget_layer {
    setting<bool> enabled; ///< as breaker_layer::enabled; unset: on (the built-in budget)
    setting<retry_budget_settings::budget_kind> kind;
    setting<double> percent;
    setting<double> min_per_second;
    setting<std::chrono::nanoseconds> ttl;
    setting<double> max_tokens;
    setting<double> token_ratio;

    auto settings() noexcept {
        return std::tie(kind, percent, min_per_second, ttl, max_tokens, token_ratio);
    }

    void overlay(retry_budget_layer top, int rank);
    /// The built-in settings with this layer's applied.
    retry_budget_settings merged() const;
    /// merged(); nullopt when a layer turned it `off`.
    std::optional<retry_budget_settings> apply() const;
};

/// The `adaptive_throttle:` settings of a layer (budget_schema.cpp): off
/// unless a layer wrote it.
struct throttle_layer {
    setting<bool> enabled; ///< as breaker_layer::enabled
    setting<double> k;
    setting<std::chrono::nanoseconds> window;
    setting<int> min_requests;
    setting<double> max_rejection;
    setting<std::uint64_t> seed;

    auto settings() noexcept { return std::tie(k, window, min_requests, max_rejection, seed); }

    void overlay(throttle_layer top, int rank);
    std::optional<adaptive_throttle_settings> apply() const;
};

/// `hedge.delay`: replaced whole, a duration or a quantile. A quantile
/// leaves the fixed delay at its built-in value, so equal delays compare
/// equal.
struct hedge_delay {
    std::chrono::nanoseconds fixed = hedge_settings{}.delay;
    std::optional<double> quantile;
};

/// The `hedge:` settings of a layer (hedge_schema.cpp): off unless a layer
/// wrote it.
struct hedge_layer {
    setting<bool> enabled; ///< as breaker_layer::enabled
    setting<int> max_attempts;
    setting<hedge_delay> delay;
    setting<int> min_samples;
    setting<std::chrono::nanoseconds> fallback_delay;
    setting<fault_set> non_fatal;
    setting<std::chrono::nanoseconds> min_remaining;

    auto settings() noexcept {
        return std::tie(max_attempts, delay, min_samples, fallback_delay, non_fatal, min_remaining);
    }

    void overlay(hedge_layer top, int rank);
    std::optional<hedge_settings> apply() const;
};

struct layer {
    setting<int> max_attempts;
    setting<backoff_kind> kind;
    setting<std::chrono::nanoseconds> initial;
    setting<double> multiplier;
    setting<std::chrono::nanoseconds> step;
    setting<std::chrono::nanoseconds> backoff_max;
    setting<jitter_kind> jitter;
    setting<fault_set> retry_on;
    setting<bool> honor;
    setting<std::chrono::nanoseconds> retry_after_max;
    setting<std::chrono::nanoseconds> connect;
    setting<std::chrono::nanoseconds> exchange;
    setting<std::chrono::nanoseconds> total;
    breaker_layer breaker;
    bulkhead_layer bulkhead;
    rate_limit_layer rate_limit;
    retry_budget_layer retry_budget;
    throttle_layer throttle;
    hedge_layer hedge;

    /// Every setting, in the order of pipeline_fields.
    auto settings() noexcept {
        return std::tie(max_attempts, kind, initial, multiplier, step, backoff_max, jitter,
                        retry_on, honor, retry_after_max, connect, exchange, total);
    }
    auto settings() const noexcept {
        return std::tie(max_attempts, kind, initial, multiplier, step, backoff_max, jitter,
                        retry_on, honor, retry_after_max, connect, exchange, total);
    }

    /// Key by key: what `top` sets replaces what is here; `rank` is top's
    /// place in the merge order.
    void overlay(layer top, int rank);
    /// The built-in policy with every setting of this layer applied.
    pipeline_policy apply() const;
};

/// The fields of `p` that layer::settings() set, in the same order.
inline auto pipeline_fields(pipeline_policy& p) noexcept {
    retry_policy& r = p.retry;
    return std::tie(r.max_attempts, r.backoff.kind, r.backoff.initial, r.backoff.multiplier,
                    r.backoff.step, r.backoff.max, r.backoff.jitter, r.retry_on,
                    r.retry_after.honor, r.retry_after.max, p.timeout.connect, p.timeout.exchange,
                    p.timeout.total);
}

/// A number >= 1 (a backoff or break multiplier).
std::optional<double> read_multiplier(reader& r, const value& v, const std::string& path);

/// A sequence of fault classes (`retry_on`, `record`, `ignore`).
std::optional<fault_set> read_fault_list(reader& r, const value& n, const std::string& path);

/// A positive duration (a break, a wait, a window); not `unlimited`.
std::optional<std::chrono::nanoseconds> period(reader& r, const value& v, const std::string& p);

/// A whole number in [min, max] that fits an int.
std::optional<int> count(reader& r, const value& v, const std::string& p, long long min,
                         long long max = 1'000'000'000);

/// A number in (0, 1], or in [0, 1) when `zero_allowed` (a jitter).
std::optional<double> fraction(reader& r, const value& v, const std::string& p,
                               bool zero_allowed = false);

/// The shortest text of `v` for a message.
std::string text_of(double v);

/// A strategy's key that is a map of settings, empty, or `off`: false for
/// `off`, true for a map or an empty value (the built-in settings), nullopt
/// after an error ("expected <expected> or 'off'").
std::optional<bool> on_or_off(reader& r, const value& n, const std::string& path,
                              std::string_view expected);

/// A safety net: every rule of keel::validate(settings) is checked while
/// reading or after merging, so this reports (at `at`) only a rule the
/// core grew and the loader lacks.
template <class Settings>
void check_validates(reader& r, const Settings& settings, const position& at,
                     const std::string& path) {
    try {
        validate(settings);
    } catch (const std::invalid_argument& e) {
        r.error(at, path, e.what());
    }
}

/// Reads `circuit_breaker:` (a map, empty, or `off`) into `out`.
void read_breaker(reader& r, const value& n, const std::string& path, breaker_layer& out);

/// One of two settings that must be in order, as an error names it.
struct order_side {
    std::string_view name; ///< "timeout.exchange"
    std::string text;      ///< its value as written back ("2s")
    std::string path;      ///< where it was set, or "the built-in ..."
    position where;        ///< line 0: built in
    int layer = 0;
};

template <class T>
order_side side_of(const setting<T>& s, std::string_view name, std::string text) {
    return {name, std::move(text), s.path, s.where, s.layer};
}

/// "longer than" / "shorter than", "above" / "below": how the message says
/// that `a` exceeds `b`, from either side.
struct order_words {
    const char* above;
    const char* below;
};

/// Reports that `a` exceeds `b` (check_order's rule and wording, for any
/// kind of value), at whichever was written in the later layer. True also
/// when it leaves the report to the check of defaults.
bool report_order(reader& r, const order_side& a, const order_side& b, const order_words& words,
                  const std::string& dependency);

/// `a` must not be longer than `b` (exchange and total, a break and its
/// max). A setting with no position is a built-in one, and its path says so
/// ("the built-in retry.backoff.max"). The error points at whichever of the
/// two was written in the later layer: the one the user most likely just
/// changed. True when the rule is broken (reported here or, for settings
/// that all come from defaults, by the check of defaults).
bool check_order(reader& r, const setting<std::chrono::nanoseconds>& a, std::string_view a_name,
                 const setting<std::chrono::nanoseconds>& b, std::string_view b_name,
                 const std::string& dependency);

/// Reads `bulkhead:` (a map, empty, or `off`) into `out`.
void read_bulkhead(reader& r, const value& n, const std::string& path, bulkhead_layer& out);

/// Reads `rate_limit:` (a map or `off`) into `out`.
void read_rate_limit(reader& r, const value& n, const std::string& path, rate_limit_layer& out);

/// A rate limit that is on needs a rate; reported once, where it was turned on.
void check_rate_limit(reader& r, const rate_limit_layer& merged, const std::string& dependency);

/// Reads `retry_budget:` (a map, empty, or `off`) into `out`.
void read_retry_budget(reader& r, const value& n, const std::string& path, retry_budget_layer& out);

/// The rules of keel::validate(retry_budget_settings) that span keys
/// (token_ratio within max_tokens) on a merged layer.
void check_retry_budget(reader& r, const retry_budget_layer& merged, const std::string& dependency,
                        const position& at, const std::string& path);

/// Reads `adaptive_throttle:` (a map, empty, or `off`) into `out`.
void read_adaptive_throttle(reader& r, const value& n, const std::string& path,
                            throttle_layer& out);

/// Reads `hedge:` (a map, empty, or `off`) into `out`.
void read_hedge(reader& r, const value& n, const std::string& path, hedge_layer& out);

/// A hedge and a written retry.max_attempts above 1 are exclusive (reported
/// at `hedge`); then keel::validate(hedge_settings) on a merged layer.
struct layer;
void check_hedge(reader& r, const layer& merged, const std::string& dependency, const position& at,
                 const std::string& path);

/// The rules of keel::validate(bulkhead_settings) that span keys (an
/// adaptive limit's initial within [min, max]) on a merged layer.
void check_bulkhead(reader& r, const bulkhead_layer& merged, const std::string& dependency,
                    const position& at, const std::string& path);

/// The rules of keel::validate(circuit_breaker_settings) on a merged layer.
void check_breaker(reader& r, const breaker_layer& merged, const std::string& dependency,
                   const position& at, const std::string& path);

/// Reads a dependency's `faults:` (a sequence of rules, or {seed, rules})
/// into `out.faults`; the seed defaults to a hash of the dependency's name.
void read_faults(reader& r, const value& n, const std::string& path, const std::string& dependency,
                 pipeline_policy& out);

/// Reads a dependency's `fallback: {on: [...]}`.
void read_fallback(reader& r, const value& n, const std::string& path,
                   std::optional<fault_set>& on);

/// Reads `retry:`, `timeout:` and `circuit_breaker:` of `map` (defaults, a profile or a
/// dependency, already checked to be a map) into `out`.
void read_layer(reader& r, const value& map, const std::string& path, layer& out);

/// The rules of keel::validate on a merged layer, as positioned errors.
/// `dependency` is empty for defaults; a rule broken only by settings from
/// defaults is reported once, by the check of defaults. `at` and `path` name
/// the section for a rule the schema does not know.
void check(reader& r, const layer& merged, const std::string& dependency, const position& at,
           const std::string& path);

} // namespace keel::config::detail
