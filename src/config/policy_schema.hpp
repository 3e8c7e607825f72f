// The policy schema (`retry:` and `timeout:` of defaults, profiles and
// dependencies) and its merging: layers overlay key by key, then the merged
// policy is checked (exchange and connect within total, the first backoff
// within its cap). Private to src/config.
#pragma once

#include <keel/config/section_reader.hpp>
#include <keel/pipeline.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace keel::config::detail {

inline constexpr std::string_view layer_keys[] = {"retry", "timeout"};

/// One setting of a layer (defaults, a profile, a dependency's own keys),
/// remembering where it was written for errors found after merging.
template <class T>
struct setting {
    std::optional<T> value;
    std::string path;
    position where; ///< of the key; line 0 for a built-in value
    int layer = 0;  ///< 0 built-in, then defaults, profiles, own keys in merge order
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

/// Reads `retry:` and `timeout:` of `map` (defaults, a profile or a
/// dependency, already checked to be a map) into `out`.
void read_layer(reader& r, const value& map, const std::string& path, layer& out);

/// The rules of keel::validate on a merged layer, as positioned errors.
/// `dependency` is empty for defaults; a rule broken only by settings from
/// defaults is reported once, by the check of defaults. `at` and `path` name
/// the section for a rule the schema does not know.
void check(reader& r, const layer& merged, const std::string& dependency, const position& at,
           const std::string& path);

} // namespace keel::config::detail
