// Loading valid files: merge order, environment substitution, the
// `connection:` tree, files on disk, and several errors in one file.
#include <keel/config/document.hpp>

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

load_options with_env(std::map<std::string, std::string> vars) {
    load_options options;
    options.env = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto found = vars.find(name);
        if (found == vars.end())
            return std::nullopt;
        return found->second;
    };
    return options;
}

std::string errors_of(const load_result& r) {
    std::string out;
    for (const diagnostic& d : r.errors)
        out += d.to_string() + "\n";
    return out;
}

TEST(config_load, minimal_file_gives_builtin_defaults) {
    const document doc = load_string("version: 1\n");
    EXPECT_EQ(doc.version, 1);
    EXPECT_EQ(doc.source, "<string>");
    EXPECT_TRUE(doc.dependencies.empty());
    EXPECT_EQ(doc.defaults.retry.max_attempts, pipeline_policy{}.retry.max_attempts);
    EXPECT_EQ(doc.defaults.retry.backoff, pipeline_policy{}.retry.backoff);
    EXPECT_EQ(doc.defaults.timeout, pipeline_policy{}.timeout);
}

TEST(config_load, every_key_is_read) {
    const document doc = load_string(R"(version: 1
dependencies:
  d:
    kind: kafka
    retry:
      max_attempts: 7
      backoff: {kind: linear, initial: 1m30s, multiplier: 1.5, step: 250ms, max: 1h, jitter: equal}
      retry_on: [throttled, permanent]
      retry_after: {honor: false, max: 2s}
    timeout: {connect: 100us, exchange: 5s, total: unlimited}
)");
    ASSERT_EQ(doc.dependencies.size(), 1u);
    const dependency& d = doc.dependencies[0];
    EXPECT_EQ(d.name, "d");
    EXPECT_EQ(d.kind, dependency_kind::kafka);
    EXPECT_EQ(d.where.line, 3);
    EXPECT_EQ(d.where.column, 3);
    const retry_policy& r = d.policy.retry;
    EXPECT_EQ(r.max_attempts, 7);
    EXPECT_EQ(r.backoff.kind, backoff_kind::linear);
    EXPECT_EQ(r.backoff.initial, 90s);
    EXPECT_EQ(r.backoff.multiplier, 1.5);
    EXPECT_EQ(r.backoff.step, 250ms);
    EXPECT_EQ(r.backoff.max, 1h);
    EXPECT_EQ(r.backoff.jitter, jitter_kind::equal);
    EXPECT_EQ(r.retry_on, (fault_set{fault_class::throttled, fault_class::permanent}));
    EXPECT_FALSE(r.retry_after.honor);
    EXPECT_EQ(r.retry_after.max, 2s);
    EXPECT_EQ(d.policy.timeout.connect, 100us);
    EXPECT_EQ(d.policy.timeout.exchange, 5s);
    EXPECT_EQ(d.policy.timeout.total, unlimited);
    EXPECT_EQ(d.connection.kind(), value::type::null);
}

// built-in <- defaults <- profiles in extends order <- the dependency's own
// keys, key by key.
TEST(config_load, merge_order) {
    const document doc = load_string(R"(version: 1
defaults:
  retry: {max_attempts: 5, backoff: {initial: 10ms}}
  timeout: {connect: 1s, exchange: 2s, total: 10s}
profiles:
  a:
    retry: {max_attempts: 6, backoff: {max: 7s}}
    timeout: {exchange: 300ms, total: 20s}
  b:
    retry: {max_attempts: 8}
    timeout: {exchange: 400ms}
dependencies:
  ab: {extends: [a, b]}
  ba: {extends: [b, a]}
  own: {extends: [a, b], timeout: {exchange: 50ms}, retry: {backoff: {jitter: none}}}
  plain: {}
)");
    ASSERT_EQ(doc.dependencies.size(), 4u);
    const dependency& ab = *doc.find("ab");
    EXPECT_EQ(ab.extends, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(ab.policy.retry.max_attempts, 8);         // b is last
    EXPECT_EQ(ab.policy.timeout.exchange, 400ms);       // b is last
    EXPECT_EQ(ab.policy.timeout.total, 20s);            // only a sets it
    EXPECT_EQ(ab.policy.timeout.connect, 1s);           // from defaults
    EXPECT_EQ(ab.policy.retry.backoff.initial, 10ms);   // from defaults
    EXPECT_EQ(ab.policy.retry.backoff.max, 7s);         // a, partial backoff
    EXPECT_EQ(ab.policy.retry.backoff.multiplier, 2.0); // built-in
    const dependency& ba = *doc.find("ba");
    EXPECT_EQ(ba.policy.retry.max_attempts, 6); // a is last
    EXPECT_EQ(ba.policy.timeout.exchange, 300ms);
    const dependency& own = *doc.find("own");
    EXPECT_EQ(own.policy.timeout.exchange, 50ms);
    EXPECT_EQ(own.policy.timeout.total, 20s);
    EXPECT_EQ(own.policy.retry.backoff.jitter, jitter_kind::none);
    EXPECT_EQ(own.policy.retry.backoff.max, 7s);
    const dependency& plain = *doc.find("plain");
    EXPECT_EQ(plain.policy.retry.max_attempts, 5);
    EXPECT_EQ(plain.policy.timeout.exchange, 2s);
    EXPECT_EQ(plain.kind, dependency_kind::generic);
    EXPECT_EQ(doc.defaults.retry.max_attempts, 5);
    EXPECT_EQ(doc.defaults.timeout.total, 10s);
    EXPECT_EQ(doc.find("nope"), nullptr);
}

// A later layer can lift a limit an earlier one set, so the check runs on
// the merged policy, not on each layer.
TEST(config_load, relations_are_checked_after_merging) {
    const load_result r = try_load_string(R"(version: 1
defaults:
  timeout: {total: 1s}
dependencies:
  d: {timeout: {exchange: 5s, total: 10s}}
)");
    EXPECT_TRUE(r.doc) << errors_of(r);
}

TEST(config_load, a_single_profile_may_be_written_bare) {
    const document doc = load_string(R"(version: 1
profiles: {p: {retry: {max_attempts: 9}}}
dependencies: {d: {extends: p}}
)");
    EXPECT_EQ(doc.dependencies[0].extends, (std::vector<std::string>{"p"}));
    EXPECT_EQ(doc.dependencies[0].policy.retry.max_attempts, 9);
}

TEST(config_load, empty_sections_are_allowed) {
    const document doc = load_string("version: 1\ndefaults:\nprofiles:\ndependencies:\n  d:\n");
    ASSERT_EQ(doc.dependencies.size(), 1u);
    EXPECT_EQ(doc.dependencies[0].policy.timeout, timeout_policy{});
}

TEST(config_load, retry_on_may_be_empty) {
    const document doc = load_string("version: 1\ndefaults: {retry: {retry_on: []}}\n");
    EXPECT_TRUE(doc.defaults.retry.retry_on.empty());
}

TEST(config_load, retry_on_may_name_rejected) {
    // Local refusals are not retried by default; a policy may opt in.
    const document doc =
        load_string("version: 1\ndefaults: {retry: {retry_on: [transient, rejected]}}\n");
    EXPECT_EQ(doc.defaults.retry.retry_on,
              (fault_set{fault_class::transient, fault_class::rejected}));
    EXPECT_FALSE(
        load_string("version: 1\n").defaults.retry.retry_on.contains(fault_class::rejected));
}

TEST(config_load, metrics_section) {
    const document doc = load_string(R"(version: 1
metrics:
  enabled: true
  listen: "[::1]:0"
  path: /internal/metrics
  buckets:
    call: [1ms, 2500us, 1s]
    attempt: [100us, 1m]
)",
                                     "m.yaml");
    EXPECT_TRUE(doc.metrics.enabled);
    EXPECT_EQ(doc.metrics.listen, "[::1]:0");
    EXPECT_EQ(doc.metrics.path, "/internal/metrics");
    EXPECT_EQ(doc.metrics.call_buckets, (std::vector<double>{0.001, 0.0025, 1.0}));
    EXPECT_EQ(doc.metrics.attempt_buckets, (std::vector<double>{0.0001, 60.0}));
    EXPECT_EQ(doc.metrics.where.line, 3);
    EXPECT_EQ(doc.metrics.listen_where.line, 4);
    EXPECT_EQ(doc.metrics.listen_where.column, 11);
    EXPECT_EQ(doc.metrics.listen_where.file, "m.yaml");
}

TEST(config_load, metrics_one_bucket_list_serves_both_histograms) {
    const document doc = load_string("version: 1\nmetrics: {buckets: [10ms, 100ms]}\n");
    EXPECT_EQ(doc.metrics.call_buckets, (std::vector<double>{0.01, 0.1}));
    EXPECT_EQ(doc.metrics.attempt_buckets, doc.metrics.call_buckets);
}

TEST(config_load, metrics_defaults_when_absent) {
    const document doc = load_string("version: 1\n");
    EXPECT_TRUE(doc.metrics.enabled);
    EXPECT_TRUE(doc.metrics.listen.empty()); // nothing is served unless asked
    EXPECT_EQ(doc.metrics.path, "/metrics");
    EXPECT_TRUE(doc.metrics.call_buckets.empty()); // keel::prometheus's defaults
    EXPECT_TRUE(doc.metrics.attempt_buckets.empty());
    EXPECT_FALSE(load_string("version: 1\nmetrics: {enabled: false}\n").metrics.enabled);
}

TEST(config_load, listen_addresses) {
    std::string host, why;
    std::uint16_t port = 1;
    ASSERT_TRUE(split_listen_address("127.0.0.1:9464", host, port, &why)) << why;
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 9464);
    ASSERT_TRUE(split_listen_address("[::1]:0", host, port, &why)) << why;
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 0);
    ASSERT_TRUE(split_listen_address("localhost:65535", host, port, &why)) << why;
    EXPECT_EQ(port, 65535);
    EXPECT_FALSE(split_listen_address("[::1:80", host, port, &why));
    EXPECT_NE(why.find("unclosed '['"), std::string::npos);
    EXPECT_FALSE(split_listen_address("[::1]80", host, port, &why));
    EXPECT_FALSE(split_listen_address("h:-1", host, port, &why));
    EXPECT_FALSE(split_listen_address("h:", host, port, &why));
    EXPECT_FALSE(split_listen_address("h:123456", host, port, &why));
}

TEST(config_load, env_substitution) {
    const document doc =
        load_string(R"(version: 1
defaults:
  retry: {max_attempts: "${ATTEMPTS}"}
  timeout: {total: "${TOTAL:-3s}", exchange: "${EMPTY:-1s}"}
dependencies:
  d:
    connection:
      dsn: "host=${HOST} port=${PORT:-5432} user=${USER_NAME:-}"
      literal: "$${NOT_A_VAR} and $HOME and 100$"
      list: ["${HOST}", x]
)",
                    "env.yaml", with_env({{"ATTEMPTS", "4"}, {"HOST", "db.local"}, {"EMPTY", ""}}));
    EXPECT_EQ(doc.defaults.retry.max_attempts, 4);
    EXPECT_EQ(doc.defaults.timeout.total, 3s);
    EXPECT_EQ(doc.defaults.timeout.exchange, 1s); // empty counts as unset for :-
    const value& c = doc.dependencies[0].connection;
    EXPECT_EQ(c.find("dsn")->scalar(), "host=db.local port=5432 user=");
    EXPECT_EQ(c.find("literal")->scalar(), "${NOT_A_VAR} and $HOME and 100$");
    EXPECT_EQ(c.find("list")->items()[0].scalar(), "db.local");
}

TEST(config_load, env_defaults_to_the_process_environment) {
    ::setenv("KEEL_CONFIG_TEST_VAR", "from-process", 1);
    const document doc = load_string(
        "version: 1\ndependencies:\n  d:\n    connection:\n      v: ${KEEL_CONFIG_TEST_VAR}\n");
    EXPECT_EQ(doc.dependencies[0].connection.find("v")->scalar(), "from-process");
    ::unsetenv("KEEL_CONFIG_TEST_VAR");
}

TEST(config_load, connection_tree_keeps_positions) {
    const document doc = load_string(R"(version: 1
dependencies:
  orders-db:
    kind: postgres
    connection:
      dsn: "host=x"
      pool: {size: 4}
      hosts:
        - a
        - b
      empty:
)",
                                     "c.yaml");
    const value& c = doc.dependencies[0].connection;
    ASSERT_EQ(c.kind(), value::type::map);
    EXPECT_EQ(c.where().file, "c.yaml");
    EXPECT_EQ(c.where().line, 6);
    EXPECT_EQ(c.where().column, 7);
    ASSERT_EQ(c.entries().size(), 4u);
    EXPECT_EQ(c.entries()[0].first, "dsn"); // file order
    EXPECT_EQ(c.entries()[3].first, "empty");
    const value* dsn = c.find("dsn");
    ASSERT_NE(dsn, nullptr);
    EXPECT_EQ(dsn->scalar(), "host=x");
    EXPECT_EQ(dsn->where().line, 6);
    EXPECT_EQ(dsn->where().column, 12);
    const value* size = c.find("pool")->find("size");
    EXPECT_EQ(size->scalar(), "4");
    EXPECT_EQ(size->where().line, 7);
    EXPECT_EQ(size->where().column, 20);
    const value* hosts = c.find("hosts");
    ASSERT_EQ(hosts->kind(), value::type::sequence);
    ASSERT_EQ(hosts->items().size(), 2u);
    EXPECT_EQ(hosts->items()[1].scalar(), "b");
    EXPECT_EQ(hosts->items()[1].where().line, 10);
    EXPECT_EQ(hosts->items()[1].where().column, 11);
    EXPECT_EQ(c.find("empty")->kind(), value::type::null);
    EXPECT_EQ(c.find("missing"), nullptr);
    // Asking a node for what it is not is a programming error.
    EXPECT_THROW((void)hosts->scalar(), std::logic_error);
    EXPECT_THROW((void)dsn->entries(), std::logic_error);
    EXPECT_THROW((void)dsn->items(), std::logic_error);
    EXPECT_EQ(dsn->find("x"), nullptr);
}

TEST(config_load, aliases_are_expanded) {
    const document doc = load_string(R"(version: 1
profiles:
  p: {timeout: &t {exchange: 100ms, total: 1s}}
dependencies:
  d: {timeout: *t}
)");
    EXPECT_EQ(doc.dependencies[0].policy.timeout.exchange, 100ms);
}

TEST(config_load, alias_bombs_are_refused) {
    std::string yaml = "version: 1\nmetrics:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 9; ++i)
        yaml += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
    const load_result r = try_load_string(yaml);
    ASSERT_FALSE(r.doc);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].message.find("document too large"), std::string::npos);
}

TEST(config_load, every_error_is_reported_in_file_order) {
    const load_result r = try_load_string(R"(version: 3
defaults:
  timeout: {exchange: 200}
  retry: {max_attempts: 0, backoff: {jitter: ful}}
dependencies:
  a: {kind: postgress, timout: {}}
  b: {extends: [nope]}
  a: {}
)",
                                          "many.yaml");
    ASSERT_FALSE(r.doc);
    const std::vector<std::string> expected = {
        "many.yaml:1:10: error: version: unsupported version 3 (this keel reads version 1)",
        "many.yaml:3:23: error: defaults.timeout.exchange: duration \"200\" needs a unit (ns, us, "
        "ms, s, m, h)",
        "many.yaml:4:25: error: defaults.retry.max_attempts: must be >= 1 (the first call "
        "included), got 0",
        "many.yaml:4:46: error: defaults.retry.backoff.jitter: unknown jitter 'ful' (did you mean "
        "'full'?); expected one of: none, full, equal, decorrelated",
        "many.yaml:6:13: error: dependencies.a.kind: unknown dependency kind 'postgress' (did you "
        "mean 'postgres'?); expected one of: postgres, kafka, http, generic",
        "many.yaml:6:24: error: dependencies.a.timout: unknown key 'timout' (did you mean "
        "'timeout'?); expected one of: kind, extends, retry, timeout, circuit_breaker, bulkhead, "
        "rate_limit, retry_budget, adaptive_throttle, hedge, connection, faults, fallback",
        "many.yaml:7:17: error: dependencies.b.extends[0]: unknown profile 'nope' (the file "
        "defines no profiles)",
        "many.yaml:8:3: error: dependencies.a: duplicate key 'a' (first defined at 6:3)",
    };
    std::vector<std::string> got;
    for (const diagnostic& d : r.errors)
        got.push_back(d.to_string());
    EXPECT_EQ(got, expected);
}

TEST(config_load, one_error_reached_twice_is_reported_once) {
    const load_result r = try_load_string(R"(version: 1
defaults:
  timeout: {exchange: 3s, total: 1s}
dependencies: {a: {}, b: {}}
)");
    ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
    EXPECT_EQ(r.errors[0].key_path, "defaults.timeout.exchange");
}

TEST(config_load, load_string_throws_config_error_with_every_diagnostic) {
    try {
        (void)load_string("version: 2\nfoo: 1\n", "x.yaml");
        FAIL() << "no exception";
    } catch (const config_error& e) {
        ASSERT_EQ(e.diagnostics().size(), 2u);
        EXPECT_EQ(std::string(e.what()),
                  "x.yaml:1:10: error: version: unsupported version 2 (this keel reads version "
                  "1)\nx.yaml:2:1: error: foo: unknown key 'foo'; expected one of: version, "
                  "defaults, profiles, dependencies, metrics");
    }
}

TEST(config_load, load_file_reads_the_example) {
    const std::string path = std::string(KEEL_TEST_DATA_DIR) + "/orders.yaml";
    const document doc = load_file(path, with_env({{"ORDERS_DB_DSN", "host=db"}}));
    EXPECT_EQ(doc.source, path);
    const dependency* db = doc.find("orders-db");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->kind, dependency_kind::postgres);
    EXPECT_EQ(db->policy.timeout.connect, 500ms);
    EXPECT_EQ(db->policy.timeout.exchange, 200ms);
    EXPECT_EQ(db->policy.timeout.total, 10s);
    EXPECT_EQ(db->connection.find("dsn")->scalar(), "host=db");
    EXPECT_EQ(db->connection.where().file, path);
}

TEST(config_load, load_file_reports_errors_with_the_file_name) {
    const std::string path = std::string(KEEL_TEST_DATA_DIR) + "/broken.yaml";
    const load_result r = try_load_file(path);
    ASSERT_FALSE(r.doc);
    ASSERT_EQ(r.errors.size(), 3u) << errors_of(r);
    EXPECT_EQ(r.errors[0].to_string(),
              path + ":3:24: error: defaults.timeout.exchange: duration \"200\" needs a unit "
                     "(ns, us, ms, s, m, h)");
    EXPECT_EQ(r.errors[1].where.line, 6);
    EXPECT_EQ(r.errors[2].where.line, 7);
}

TEST(config_load, load_file_on_a_missing_file_names_it) {
    const std::string path = std::string(KEEL_TEST_DATA_DIR) + "/does-not-exist.yaml";
    const load_result r = try_load_file(path);
    ASSERT_FALSE(r.doc);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].where.file, path);
    EXPECT_EQ(r.errors[0].to_string(),
              path + ": error: cannot read the configuration file: No such file or directory");
    EXPECT_THROW((void)load_file(path), config_error);
}

TEST(config_load, load_file_on_a_directory) {
    const load_result r = try_load_file(KEEL_TEST_DATA_DIR);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].message.find("it is a directory"), std::string::npos);
}

TEST(config_load, diagnostic_format) {
    // Field by field: g++ 12 -O3 reports a false -Wmaybe-uninitialized for a
    // nested brace initialisation of diagnostic.
    diagnostic d;
    d.where.file = "f.yaml";
    d.where.line = 12;
    d.where.column = 16;
    d.key_path = "a.b";
    d.message = "a.b: bad";
    EXPECT_EQ(d.to_string(), "f.yaml:12:16: error: a.b: bad");
    EXPECT_EQ(to_string(dependency_kind::postgres), "postgres");
    EXPECT_EQ(to_string(dependency_kind::kafka), "kafka");
    EXPECT_EQ(to_string(dependency_kind::http), "http");
    EXPECT_EQ(to_string(dependency_kind::generic), "generic");
}

} // namespace
} // namespace keel::config
