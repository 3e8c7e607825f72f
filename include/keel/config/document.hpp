// keel::config: per-dependency policies loaded from YAML (docs/configuration.md).
#pragma once

#include <keel/adaptive_throttle.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/hedging.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>
#include <keel/retry_budget.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

namespace detail {
struct value_access; // the loader's way to set what only it knows
} // namespace detail

/// A position in a source file; line and column are 1-based.
struct position {
    std::string file;
    int line = 0;
    int column = 0;
};

/// One problem found in a file: `FILE:LINE:COL: error: MESSAGE`. The message
/// names the key path (e.g. `dependencies.orders-db.timeout.exchange`).
struct diagnostic {
    position where;
    std::string key_path; ///< dotted path of the offending key; empty for syntax errors
    std::string message;  ///< without the position prefix

    /// `FILE:LINE:COL: error: MESSAGE`
    std::string to_string() const;
};

/// Thrown by the loading functions; carries every problem found in the file.
class config_error : public std::runtime_error {
public:
    explicit config_error(std::vector<diagnostic> diagnostics);
    const std::vector<diagnostic>& diagnostics() const noexcept { return diagnostics_; }

private:
    std::vector<diagnostic> diagnostics_;
};

/// The `connection:` section of a dependency, opaque to the core and read by
/// the wrapper for its kind: a tree of scalars, maps and sequences, with the
/// position of every node (for the wrapper's own error messages). Scalars
/// have had `${VAR}` / `${VAR:-default}` substituted.
class value {
public:
    enum class type { null, scalar, map, sequence };

    type kind() const noexcept { return kind_; }
    const position& where() const noexcept { return where_; }
    const std::string& scalar() const; ///< throws std::logic_error unless kind() == scalar
    /// Map entries in file order; throws unless kind() == map.
    const std::vector<std::pair<std::string, value>>& entries() const;
    const std::vector<value>& items() const; ///< throws unless kind() == sequence
    /// The entry named `key` of a map, or nullptr (also when not a map).
    const value* find(std::string_view key) const noexcept;
    /// Where this value's key was written, for a map entry read from a file
    /// (an unknown key is reported there); otherwise where().
    const position& key_where() const noexcept { return key_where_.line ? key_where_ : where_; }
    /// An error about this value was already reported (an unset `${VAR}`):
    /// readers skip it rather than report a second, confusing error.
    bool reported() const noexcept { return reported_; }

    // Construction (used by the loader and by tests).
    static value make_null(position where);
    static value make_scalar(std::string text, position where);
    static value make_map(std::vector<std::pair<std::string, value>> entries, position where);
    static value make_sequence(std::vector<value> items, position where);

private:
    friend struct detail::value_access;

    type kind_ = type::null;
    position where_;
    position key_where_; ///< line 0: not set
    bool reported_ = false;
    std::string scalar_;
    std::vector<std::pair<std::string, value>> entries_;
    std::vector<value> items_;
};

enum class dependency_kind { postgres, kafka, http, generic };
std::string_view to_string(dependency_kind kind) noexcept;

/// One dependency after merging defaults, its profiles (in `extends` order)
/// and its own keys.
struct dependency {
    std::string name;
    dependency_kind kind = dependency_kind::generic;
    std::vector<std::string> extends;
    /// Retry and timeout. Its `strategies` are left empty: the registry
    /// fills them in from the settings below (strategy state is shared by
    /// every pipeline of a dependency, a document is plain data).
    pipeline_policy policy;
    /// The `circuit_breaker:` of defaults, profiles and its own keys, merged
    /// key by key in the same order as retry and timeout; nullopt when none
    /// is on (never written, or turned `off` by a later layer). Valid
    /// (keel::validate passes); `successes` is always set.
    std::optional<keel::circuit_breaker_settings> circuit_breaker;
    /// The `bulkhead:` of defaults, profiles and its own keys, merged the
    /// same way; nullopt when none is on. Valid (keel::validate passes); an
    /// adaptive `min` is always set.
    std::optional<keel::bulkhead_settings> bulkhead;
    /// The `rate_limit:`, merged the same way; nullopt when none is on.
    /// `burst` is always set; `pushback_cap` is the merged
    /// retry.retry_after.max.
    std::optional<keel::rate_limit_settings> rate_limit;
    /// The `retry_budget:`, merged the same way; on unless a layer wrote
    /// `off` (nullopt then).
    std::optional<keel::retry_budget_settings> retry_budget = keel::retry_budget_settings{};
    /// The `adaptive_throttle:`, merged the same way; nullopt when none is on.
    std::optional<keel::adaptive_throttle_settings> adaptive_throttle;
    /// The `hedge:`, merged the same way; nullopt when none is on. With a
    /// hedge, policy.retry.max_attempts is 1 unless a layer wrote it (and
    /// then it is 1: more is an error).
    std::optional<keel::hedge_settings> hedge;
    /// `fallback: {on: [...]}`: the fault classes a fallback of this
    /// dependency's calls answers (keel::with_fallback's `on`); nullopt: not
    /// written (keel::default_fallback_on). Its `faults:` are policy.faults.
    std::optional<keel::fault_set> fallback_on;
    value connection; ///< null when absent
    position where;   ///< of the dependency's key
};

/// The `metrics:` section, read by keel::prometheus (docs/metrics.md). It is
/// applied when metrics are set up: a reload that changes it changes the
/// policies but not the metrics (histogram buckets and the listening socket
/// cannot change under a running exporter).
struct metrics_settings {
    bool enabled = true; ///< false: record nothing and serve nothing
    std::string listen;  ///< `host:port` (`[v6]:port`) to serve on; empty: do not serve
    std::string path = "/metrics";
    /// Histogram bucket upper bounds in seconds, strictly increasing; empty:
    /// keel::prometheus's defaults.
    std::vector<double> call_buckets;
    std::vector<double> attempt_buckets;
    position where;        ///< where the section's contents start (the file's start when absent)
    position listen_where; ///< of the `listen` value, for a socket error
};

/// Splits `host:port` or `[v6-host]:port` (port 0 to 65535; 0 picks a free
/// one). Returns false and says why otherwise.
bool split_listen_address(std::string_view text, std::string& host, std::uint16_t& port,
                          std::string* why);

/// A whole file, validated and merged.
struct document {
    int version = 1;
    std::string source;       ///< the file name (or the name given to load_string)
    pipeline_policy defaults; ///< the built-in defaults with the file's `defaults:` applied
    /// The breaker of `defaults:` (already merged into each dependency's
    /// circuit_breaker): what a pipeline the file does not declare gets
    /// (registry::pipeline_or_defaults).
    std::optional<keel::circuit_breaker_settings> defaults_circuit_breaker;
    /// The bulkhead of `defaults:`, for the same pipelines.
    std::optional<keel::bulkhead_settings> defaults_bulkhead;
    /// The rate limit of `defaults:`, likewise.
    std::optional<keel::rate_limit_settings> defaults_rate_limit;
    /// The retry budget and adaptive throttle of `defaults:`, likewise.
    std::optional<keel::retry_budget_settings> defaults_retry_budget =
        keel::retry_budget_settings{};
    std::optional<keel::adaptive_throttle_settings> defaults_adaptive_throttle;
    /// The hedge of `defaults:`, likewise.
    std::optional<keel::hedge_settings> defaults_hedge;
    /// In file order; names are unique.
    std::vector<dependency> dependencies;
    metrics_settings metrics;

    const dependency* find(std::string_view name) const noexcept;
};

/// Where `${VAR}` values come from; by default the process environment.
using environment = std::function<std::optional<std::string>(const std::string& name)>;

struct load_options {
    environment env; ///< empty: the process environment (std::getenv)
};

/// Parses and validates. On any problem, throws config_error listing every
/// problem found (not just the first), in file order.
document load_file(const std::string& path, const load_options& options = {});
document load_string(std::string_view yaml, std::string name = "<string>",
                     const load_options& options = {});

/// The same, without exceptions: either a document or the diagnostics.
struct load_result {
    std::optional<document> doc;
    std::vector<diagnostic> errors;
};
load_result try_load_file(const std::string& path, const load_options& options = {});
load_result try_load_string(std::string_view yaml, std::string name = "<string>",
                            const load_options& options = {});
/// Validates a document already read into positioned values (a map, as
/// parse_yaml gives): a policy written inside another file, such as
/// keel-sim's inline `policy:`. Positions are the tree's own; `name` names
/// the document (document::source).
load_result try_load_value(const value& root, std::string name);

/// Parses a duration with units (`250ms`, `1m30s`, `2h`, `0s`); nullopt and a
/// message on error (no unit, negative, overflow, unknown unit). `why` may be
/// null. The word `unlimited` is not a duration: the loader accepts it where
/// the schema allows it.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* why);

/// The effective policies as YAML in the file's own schema (what
/// `keel-check --explain` prints): `dependencies:` with each dependency's
/// kind, retry, timeout, circuit breaker, bulkhead and rate limit (when on)
/// fully spelled out. `only`: one dependency; throws
/// std::invalid_argument if the document has no dependency of that name. The
/// output loads back (load_string) to the same policies.
std::string explain(const document& doc, std::string_view only = {});

} // namespace keel::config
