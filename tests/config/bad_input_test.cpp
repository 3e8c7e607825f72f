// Bad inputs to the loader: each must be rejected with the exact message,
// line and column a user would see from keel-check.
#include <keel/config/document.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace keel::config {
namespace {

struct bad_case {
    const char* name;
    const char* yaml;
    int line;
    int column;
    const char* message; ///< a substring of the diagnostic's message
};

std::ostream& operator<<(std::ostream& out, const bad_case& c) {
    return out << c.name;
}

load_options no_env() {
    load_options options;
    options.env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "SET")
            return "value";
        return std::nullopt;
    };
    return options;
}

// One dependency around a snippet: keeps the cases short. The snippet starts
// on line 4, column 5.
#define DEP(snippet) "version: 1\ndependencies:\n  d:\n    " snippet "\n"

const bad_case cases[] = {
    // YAML syntax
    {"syntax_flow", "version: 1\ndefaults: {a: [1, 2}\n", 2, 20, "invalid YAML: "},
    {"syntax_tab", "version: 1\n\tdefaults: {}\n", 2, 1, "invalid YAML: "},
    {"syntax_indent", "version: 1\ndefaults:\n  a: 1\n b: 2\n", 4, 2, "invalid YAML: "},
    {"empty_document", "", 1, 1, "empty document"},
    {"root_not_a_map", "- version: 1\n", 1, 1, "expected a map with 'version: 1'"},
    {"two_documents", "version: 1\n---\nversion: 1\n", 2, 1, "holds one YAML document"},
    {"nested_too_deeply",
     "version: 1\nmetrics: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
     2, 509, "invalid YAML: nested too deeply"},
    {"unterminated_quote", "version: 1\nmetrics: \"abc\n", 3, 1,
     "invalid YAML: found unexpected end of stream (while scanning a quoted scalar that starts "
     "at 2:10)"},
    {"invalid_utf8", "version: 1\nmetrics: \xff\n", 2, 10,
     "invalid YAML: invalid leading UTF-8 octet (0xff)"},
    {"undefined_alias", "version: 1\nmetrics: *nope\n", 2, 10,
     "invalid YAML: found undefined alias 'nope'"},
    // Columns count bytes: "\xc3\xa9" is one character, two columns.
    {"column_after_non_ascii", "version: 1\ndefaults: {\xc3\xa9: 1, timout: 1}\n", 2, 19,
     "defaults.timout: unknown key 'timout' (did you mean 'timeout'?)"},
    {"non_scalar_key", "version: 1\n? [a, b]\n: 1\n", 2, 3, "map keys must be plain strings"},
    // version
    {"version_missing", "dependencies: {}\n", 1, 1, "version: missing"},
    {"version_unsupported", "version: 2\n", 1, 10,
     "version: unsupported version 2 (this keel reads version 1)"},
    {"version_not_integer", "version: one\n", 1, 10, "version: expected an integer, got \"one\""},
    // unknown keys
    {"unknown_top_key_close", "version: 1\ndependecies: {}\n", 2, 1,
     "dependecies: unknown key 'dependecies' (did you mean 'dependencies'?)"},
    {"unknown_top_key_far", "version: 1\nfoo: 1\n", 2, 1,
     "foo: unknown key 'foo'; expected one of: version, defaults, profiles, dependencies, "
     "metrics"},
    {"unknown_timeout_key", "version: 1\ndefaults:\n  timeout: {exchnage: 1s}\n", 3, 13,
     "defaults.timeout.exchnage: unknown key 'exchnage' (did you mean 'exchange'?)"},
    {"unknown_backoff_key", DEP("retry: {backoff: {initail: 1s}}"), 4, 23,
     "dependencies.d.retry.backoff.initail: unknown key 'initail' (did you mean 'initial'?)"},
    {"unknown_dependency_key", DEP("timout: {total: 1s}"), 4, 5,
     "dependencies.d.timout: unknown key 'timout' (did you mean 'timeout'?)"},
    {"unknown_profile_key", "version: 1\nprofiles:\n  p: {kind: http}\n", 3, 7,
     "profiles.p.kind: unknown key 'kind'; expected one of: retry, timeout, circuit_breaker, "
     "bulkhead"},
    {"merge_key", "version: 1\nbase: &b {}\n<<: *b\n", 3, 1, "YAML merge keys are not supported"},
    // duplicate keys
    {"duplicate_top_key", "version: 1\nversion: 1\n", 2, 1,
     "version: duplicate key 'version' (first defined at 1:1)"},
    {"duplicate_dependency", "version: 1\ndependencies:\n  a: {}\n  b: {}\n  a: {}\n", 5, 3,
     "dependencies.a: duplicate key 'a' (first defined at 3:3)"},
    {"duplicate_flow_key", DEP("timeout: {total: 1s, total: 2s}"), 4, 26,
     "dependencies.d.timeout.total: duplicate key 'total' (first defined at 4:15)"},
    // wrong types
    {"defaults_scalar", "version: 1\ndefaults: 3\n", 2, 11, "defaults: expected a map, got \"3\""},
    {"retry_sequence", DEP("retry: [1]"), 4, 12,
     "dependencies.d.retry: expected a map, got a sequence"},
    {"profiles_sequence", "version: 1\nprofiles: [a]\n", 2, 11,
     "profiles: expected a map of profile names, got a sequence"},
    {"dependencies_scalar", "version: 1\ndependencies: x\n", 2, 15,
     "dependencies: expected a map of dependency names, got \"x\""},
    {"dependency_sequence", "version: 1\ndependencies:\n  d: [1]\n", 3, 6,
     "dependencies.d: expected a map, got a sequence"},
    {"retry_on_scalar", DEP("retry: {retry_on: transient}"), 4, 23,
     "dependencies.d.retry.retry_on: expected a sequence of fault classes"},
    {"extends_map", DEP("extends: {a: 1}"), 4, 14,
     "dependencies.d.extends: expected a sequence of profile names, got a map"},
    {"duration_map", DEP("timeout: {total: {s: 1}}"), 4, 22,
     "dependencies.d.timeout.total: expected a duration (e.g. 250ms), got a map"},
    {"duration_empty_value", "version: 1\ndefaults:\n  timeout:\n    total:\n", 4, 5,
     "defaults.timeout.total: expected a duration (e.g. 250ms), got an empty value"},
    {"metrics_scalar", "version: 1\nmetrics: on\n", 2, 10, "metrics: expected a map, got \"on\""},
    // metrics
    {"metrics_unknown_key", "version: 1\nmetrics:\n  listne: 127.0.0.1:9464\n", 3, 3,
     "metrics.listne: unknown key 'listne' (did you mean 'listen'?)"},
    {"metrics_listen_no_port", "version: 1\nmetrics: {listen: 127.0.0.1}\n", 2, 19,
     "metrics.listen: expected host:port (e.g. 127.0.0.1:9464), got \"127.0.0.1\""},
    {"metrics_listen_port_range", "version: 1\nmetrics: {listen: \"127.0.0.1:70000\"}\n", 2, 19,
     "metrics.listen: the port must be a number from 0 to 65535, got \"70000\""},
    {"metrics_listen_v6_brackets", "version: 1\nmetrics: {listen: \"::1:9464\"}\n", 2, 19,
     "metrics.listen: an IPv6 address needs brackets: [::1]:9464"},
    {"metrics_listen_no_host", "version: 1\nmetrics: {listen: \":9464\"}\n", 2, 19,
     "metrics.listen: expected host:port, got \":9464\" (no host"},
    {"metrics_enabled_yes", "version: 1\nmetrics: {enabled: yes}\n", 2, 20,
     "metrics.enabled: expected a boolean (true or false), got \"yes\""},
    {"metrics_path_relative", "version: 1\nmetrics: {path: metrics}\n", 2, 17,
     "metrics.path: expected a URL path starting with '/'"},
    {"metrics_buckets_not_increasing", "version: 1\nmetrics: {buckets: [5ms, 10ms, 10ms]}\n", 2, 32,
     "metrics.buckets[2]: bucket bounds must be strictly increasing: 10ms after 10ms"},
    {"metrics_buckets_zero", "version: 1\nmetrics: {buckets: [0s, 1s]}\n", 2, 21,
     "metrics.buckets[0]: a bucket bound must be positive, got 0s"},
    {"metrics_buckets_no_unit", "version: 1\nmetrics:\n  buckets: {call: [0.5]}\n", 3, 20,
     "metrics.buckets.call[0]: "},
    {"metrics_buckets_empty", "version: 1\nmetrics:\n  buckets: {attempt: []}\n", 3, 22,
     "metrics.buckets.attempt: needs at least one bucket bound"},
    {"metrics_buckets_unknown_histogram", "version: 1\nmetrics:\n  buckets: {calls: [1s]}\n", 3, 13,
     "metrics.buckets.calls: unknown key 'calls' (did you mean 'call'?)"},
    {"metrics_buckets_scalar", "version: 1\nmetrics: {buckets: 5ms}\n", 2, 20,
     "metrics.buckets: expected a sequence of durations"},
    // numbers and booleans
    {"max_attempts_fraction", DEP("retry: {max_attempts: 3.5}"), 4, 27,
     "dependencies.d.retry.max_attempts: expected an integer, got \"3.5\""},
    {"max_attempts_zero", DEP("retry: {max_attempts: 0}"), 4, 27,
     "dependencies.d.retry.max_attempts: must be >= 1 (the first call included), got 0"},
    {"max_attempts_negative", DEP("retry: {max_attempts: -2}"), 4, 27, "must be >= 1"},
    {"max_attempts_huge", DEP("retry: {max_attempts: 99999999999}"), 4, 27,
     "dependencies.d.retry.max_attempts: must be <= 1000, got 99999999999"},
    {"max_attempts_over_limit", DEP("retry: {max_attempts: 1001}"), 4, 27,
     "dependencies.d.retry.max_attempts: must be <= 1000, got 1001"},
    {"multiplier_below_one", DEP("retry: {backoff: {multiplier: 0.5}}"), 4, 35,
     "dependencies.d.retry.backoff.multiplier: must be >= 1, got 0.5"},
    {"multiplier_not_number", DEP("retry: {backoff: {multiplier: fast}}"), 4, 35,
     "expected a number, got \"fast\""},
    {"multiplier_infinite", DEP("retry: {backoff: {multiplier: .inf}}"), 4, 35,
     "expected a number, got \".inf\""},
    {"honor_yes", DEP("retry: {retry_after: {honor: yes}}"), 4, 34,
     "dependencies.d.retry.retry_after.honor: expected a boolean (true or false), got \"yes\""},
    // durations
    {"duration_no_unit", DEP("timeout: {exchange: 200}"), 4, 25,
     "dependencies.d.timeout.exchange: duration \"200\" needs a unit (ns, us, ms, s, m, h)"},
    {"duration_zero_no_unit", DEP("retry: {backoff: {initial: 0}}"), 4, 32,
     "duration \"0\" needs a unit"},
    {"duration_negative", DEP("retry: {backoff: {step: -5s}}"), 4, 29,
     "dependencies.d.retry.backoff.step: duration \"-5s\" is negative"},
    {"duration_overflow", DEP("timeout: {total: 9999999h}"), 4, 22,
     "duration \"9999999h\" is too long"},
    {"duration_unknown_unit", DEP("timeout: {total: 5sec}"), 4, 22,
     "duration \"5sec\" has an unknown unit \"sec\" (expected ns, us, ms, s, m, h)"},
    {"duration_fraction", DEP("timeout: {total: 1.5s}"), 4, 22,
     "duration \"1.5s\" must use whole numbers"},
    {"duration_unit_order", DEP("timeout: {total: 30s1m}"), 4, 22,
     "must list each unit once, largest first"},
    {"duration_garbage", DEP("timeout: {total: soon}"), 4, 22, "\"soon\" is not a duration"},
    {"timeout_zero", DEP("timeout: {connect: 0s}"), 4, 24,
     "dependencies.d.timeout.connect: a timeout must be positive"},
    {"initial_unlimited", DEP("retry: {backoff: {initial: unlimited}}"), 4, 32,
     "dependencies.d.retry.backoff.initial: cannot be unlimited"},
    // enumerations
    {"backoff_kind", DEP("retry: {backoff: {kind: exponental}}"), 4, 29,
     "unknown backoff kind 'exponental' (did you mean 'exponential'?); expected one of: "
     "constant, linear, exponential"},
    {"jitter", DEP("retry: {backoff: {jitter: random}}"), 4, 31,
     "dependencies.d.retry.backoff.jitter: unknown jitter 'random'; expected one of: none, full, "
     "equal, decorrelated"},
    {"fault_class", DEP("retry: {retry_on: [transient, timeot]}"), 4, 35,
     "dependencies.d.retry.retry_on[1]: unknown fault class 'timeot' (did you mean 'timeout'?)"},
    {"dependency_kind", DEP("kind: postgress"), 4, 11,
     "dependencies.d.kind: unknown dependency kind 'postgress' (did you mean 'postgres'?); "
     "expected one of: postgres, kafka, http, generic"},
    // relations between values, after merging
    {"exchange_over_total_defaults",
     "version: 1\ndefaults:\n  timeout: {exchange: 3s, total: 1s}\n", 3, 13,
     "defaults.timeout.exchange: timeout.exchange (3s) is longer than timeout.total (1s, from "
     "defaults.timeout.total at 3:27)"},
    {"connect_over_inherited_total",
     "version: 1\ndefaults:\n  timeout: {total: 1s}\ndependencies:\n  d: {timeout: {connect: "
     "2s}}\n",
     5, 17,
     "dependencies.d.timeout.connect: timeout.connect (2s) is longer than timeout.total (1s, from "
     "defaults.timeout.total at 3:13)"},
    {"total_under_inherited_exchange",
     "version: 1\ndefaults:\n  timeout: {exchange: 2s}\ndependencies:\n  d: {timeout: {total: "
     "1s}}\n",
     5, 17,
     "dependencies.d.timeout.total: timeout.total (1s) is shorter than timeout.exchange (2s, from "
     "defaults.timeout.exchange at 3:13)"},
    {"profile_exchange_over_total",
     "version: 1\ndefaults:\n  timeout: {total: 1s}\nprofiles:\n  slow: {timeout: {exchange: "
     "5s}}\ndependencies:\n  d: {extends: [slow]}\n",
     5, 20,
     "profiles.slow.timeout.exchange: timeout.exchange (5s) is longer than timeout.total (1s, "
     "from defaults.timeout.total at 3:13) in dependency 'd'"},
    {"initial_over_max", DEP("retry: {backoff: {initial: 10s}}"), 4, 23,
     "dependencies.d.retry.backoff.initial: retry.backoff.initial (10s) is longer than "
     "retry.backoff.max (5s, the built-in retry.backoff.max)"},
    // circuit_breaker
    {"cb_not_a_map", DEP("circuit_breaker: on"), 4, 22,
     "dependencies.d.circuit_breaker: expected a map of circuit breaker settings or 'off', got "
     "\"on\""},
    {"cb_unknown_key", DEP("circuit_breaker: {min_call: 3}"), 4, 23,
     "dependencies.d.circuit_breaker.min_call: unknown key 'min_call' (did you mean 'min_calls'?); "
     "expected one of: window, min_calls, failure_ratio, consecutive_failures, slow_call, record, "
     "ignore, break, half_open, scope, max_endpoints"},
    {"cb_window_kind", DEP("circuit_breaker: {window: {kind: cont}}"), 4, 38,
     "dependencies.d.circuit_breaker.window.kind: unknown window kind 'cont' (did you mean "
     "'count'?); expected one of: count, time"},
    {"cb_count_window_size_is_a_number", DEP("circuit_breaker: {window: {size: 20s}}"), 4, 38,
     "dependencies.d.circuit_breaker.window.size: expected a whole number >= 1, got \"20s\""},
    {"cb_time_window_size_is_a_duration", DEP("circuit_breaker: {window: {kind: time, size: 20}}"),
     4, 50,
     "dependencies.d.circuit_breaker.window.size: duration \"20\" needs a unit (ns, us, ms, s, m, "
     "h)"},
    {"cb_window_too_large", DEP("circuit_breaker: {window: {size: 100001}}"), 4, 38,
     "dependencies.d.circuit_breaker.window.size: must be <= 100000, got 100001"},
    {"cb_buckets_of_a_count_window", DEP("circuit_breaker: {window: {size: 5, buckets: 2}}"), 4, 50,
     "dependencies.d.circuit_breaker.window.buckets: only a time window has buckets (kind: time)"},
    {"cb_too_many_buckets", DEP("circuit_breaker: {window: {kind: time, buckets: 1001}}"), 4, 53,
     "dependencies.d.circuit_breaker.window.buckets: must be <= 1000, got 1001"},
    {"cb_window_shorter_than_its_buckets",
     DEP("circuit_breaker: {window: {kind: time, size: 5ns}}"), 4, 31,
     "dependencies.d.circuit_breaker.window: a window of 5ns cannot hold 10 buckets"},
    {"cb_window_empty", DEP("circuit_breaker: {window: }"), 4, 31,
     "dependencies.d.circuit_breaker.window: expected a map such as {kind: count, size: 20}, got "
     "an empty value"},
    {"cb_min_calls_zero", DEP("circuit_breaker: {min_calls: 0}"), 4, 34,
     "dependencies.d.circuit_breaker.min_calls: expected a whole number >= 1, got \"0\""},
    {"cb_failure_ratio_over_one", DEP("circuit_breaker: {failure_ratio: 1.5}"), 4, 38,
     "dependencies.d.circuit_breaker.failure_ratio: must be in (0, 1], got 1.5"},
    {"cb_failure_ratio_zero", DEP("circuit_breaker: {failure_ratio: 0}"), 4, 38,
     "dependencies.d.circuit_breaker.failure_ratio: must be in (0, 1], got 0"},
    {"cb_consecutive_failures_negative", DEP("circuit_breaker: {consecutive_failures: -1}"), 4, 45,
     "dependencies.d.circuit_breaker.consecutive_failures: expected a whole number >= 0, got "
     "\"-1\""},
    {"cb_slow_call_without_threshold", DEP("circuit_breaker: {slow_call: {ratio: 0.8}}"), 4, 34,
     "dependencies.d.circuit_breaker.slow_call: missing threshold (the duration from which an "
     "attempt is slow)"},
    {"cb_slow_call_scalar", DEP("circuit_breaker: {slow_call: fast}"), 4, 34,
     "dependencies.d.circuit_breaker.slow_call: expected a map such as {threshold: 2s, ratio: 0.8} "
     "or 'off', got \"fast\""},
    {"cb_slow_threshold_zero", DEP("circuit_breaker: {slow_call: {threshold: 0s}}"), 4, 46,
     "dependencies.d.circuit_breaker.slow_call.threshold: must be positive, got 0s"},
    {"cb_slow_ratio_zero", DEP("circuit_breaker: {slow_call: {threshold: 1s, ratio: 0}}"), 4, 57,
     "dependencies.d.circuit_breaker.slow_call.ratio: must be in (0, 1], got 0"},
    {"cb_record_unknown_class", DEP("circuit_breaker: {record: [transient, timeouts]}"), 4, 43,
     "dependencies.d.circuit_breaker.record[1]: unknown fault class 'timeouts' (did you mean "
     "'timeout'?); expected one of: transient, timeout, throttled, permanent, cancelled, rejected"},
    {"cb_ignore_not_a_sequence", DEP("circuit_breaker: {ignore: cancelled}"), 4, 31,
     "dependencies.d.circuit_breaker.ignore: expected a sequence of fault classes (e.g. "
     "[transient, timeout]), got \"cancelled\""},
    {"cb_break_zero", DEP("circuit_breaker: {break: {duration: 0s}}"), 4, 41,
     "dependencies.d.circuit_breaker.break.duration: must be positive, got 0s"},
    {"cb_break_max_unlimited", DEP("circuit_breaker: {break: {max: unlimited}}"), 4, 36,
     "dependencies.d.circuit_breaker.break.max: cannot be unlimited"},
    {"cb_break_multiplier_below_one", DEP("circuit_breaker: {break: {multiplier: 0.5}}"), 4, 43,
     "dependencies.d.circuit_breaker.break.multiplier: must be >= 1, got 0.5"},
    {"cb_break_jitter_one", DEP("circuit_breaker: {break: {jitter: 1}}"), 4, 39,
     "dependencies.d.circuit_breaker.break.jitter: must be in [0, 1), got 1"},
    {"cb_probes_zero", DEP("circuit_breaker: {half_open: {probes: 0}}"), 4, 43,
     "dependencies.d.circuit_breaker.half_open.probes: expected a whole number >= 1, got \"0\""},
    {"cb_successes_zero", DEP("circuit_breaker: {half_open: {successes: 0}}"), 4, 46,
     "dependencies.d.circuit_breaker.half_open.successes: expected a whole number >= 1, got \"0\""},
    {"cb_max_wait_zero", DEP("circuit_breaker: {half_open: {max_wait: 0s}}"), 4, 45,
     "dependencies.d.circuit_breaker.half_open.max_wait: must be positive, got 0s"},
    {"cb_scope", DEP("circuit_breaker: {scope: endpoints}"), 4, 30,
     "dependencies.d.circuit_breaker.scope: unknown scope 'endpoints' (did you mean 'endpoint'?); "
     "expected one of: dependency, endpoint"},
    {"cb_max_endpoints_zero", DEP("circuit_breaker: {max_endpoints: 0}"), 4, 38,
     "dependencies.d.circuit_breaker.max_endpoints: expected a whole number >= 1, got \"0\""},
    {"cb_break_over_builtin_max", DEP("circuit_breaker: {break: {duration: 3m}}"), 4, 31,
     "dependencies.d.circuit_breaker.break.duration: circuit_breaker.break.duration (3m) is longer "
     "than circuit_breaker.break.max (2m, the built-in circuit_breaker.break.max)"},
    {"cb_max_under_inherited_duration",
     "version: 1\ndefaults:\n  circuit_breaker: {break: {duration: 10s}}\ndependencies:\n  d: "
     "{circuit_breaker: {break: {max: 5s}}}\n",
     5, 33,
     "dependencies.d.circuit_breaker.break.max: circuit_breaker.break.max (5s) is shorter than "
     "circuit_breaker.break.duration (10s, from defaults.circuit_breaker.break.duration at 3:29)"},
    {"cb_profile_break_over_inherited_max",
     "version: 1\ndefaults:\n  circuit_breaker: {break: {max: 10s}}\nprofiles:\n  slow: "
     "{circuit_breaker: {break: {duration: 1m}}}\ndependencies:\n  d: {extends: [slow]}\n",
     5, 36,
     "profiles.slow.circuit_breaker.break.duration: circuit_breaker.break.duration (1m) is longer "
     "than circuit_breaker.break.max (10s, from defaults.circuit_breaker.break.max at 3:29) in "
     "dependency 'd'"},
    // extends
    {"extends_unknown_close",
     "version: 1\nprofiles:\n  fast-read: {}\ndependencies:\n  d: {extends: [fast-raed]}\n", 5, 17,
     "dependencies.d.extends[0]: unknown profile 'fast-raed' (did you mean 'fast-read'?)"},
    {"extends_no_profiles", DEP("extends: [fast]"), 4, 15,
     "dependencies.d.extends[0]: unknown profile 'fast' (the file defines no profiles)"},
    // environment
    {"env_unset", DEP("connection: {dsn: \"host=${UNSET_VAR}\"}"), 4, 23,
     "dependencies.d.connection.dsn: environment variable UNSET_VAR is not set and "
     "\"${UNSET_VAR}\" has no default"},
    {"env_in_duration", DEP("timeout: {total: \"${NOPE}\"}"), 4, 22,
     "dependencies.d.timeout.total: environment variable NOPE is not set"},
    {"env_bad_name", DEP("connection: {dsn: \"${1X}\"}"), 4, 23,
     "invalid environment variable name \"1X\""},
    {"env_unterminated", DEP("connection: {dsn: \"${SET\"}"), 4, 23, "unterminated \"${\""},
    // the substituted text is checked like any other
    {"env_value_checked", DEP("timeout: {total: \"${SET}\"}"), 4, 22,
     "\"value\" is not a duration"},
};

class bad_input : public ::testing::TestWithParam<bad_case> {};

TEST_P(bad_input, is_reported_at_its_position) {
    const bad_case& c = GetParam();
    const load_result result = try_load_string(c.yaml, "t.yaml", no_env());
    EXPECT_FALSE(result.doc.has_value());
    ASSERT_FALSE(result.errors.empty());
    std::string all;
    bool found = false;
    for (const diagnostic& d : result.errors) {
        all += d.to_string() + "\n";
        if (d.where.line == c.line && d.where.column == c.column &&
            d.message.find(c.message) != std::string::npos) {
            found = true;
            EXPECT_EQ(d.where.file, "t.yaml");
            EXPECT_EQ(d.to_string().rfind("t.yaml:" + std::to_string(c.line) + ":" +
                                              std::to_string(c.column) + ": error: ",
                                          0),
                      0u);
            // The message starts with the key path it names.
            if (!d.key_path.empty()) {
                EXPECT_EQ(d.message.rfind(d.key_path + ": ", 0), 0u) << d.message;
            }
        }
    }
    EXPECT_TRUE(found) << "expected " << c.line << ":" << c.column << " \"" << c.message
                       << "\"\ngot:\n"
                       << all;
}

INSTANTIATE_TEST_SUITE_P(config, bad_input, ::testing::ValuesIn(cases),
                         [](const auto& info) { return std::string(info.param.name); });

} // namespace
} // namespace keel::config
