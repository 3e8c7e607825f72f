// Loading `faults:` and `fallback:`: rules read into a seeded plan, positioned
// errors (all at once), --explain loading back equal, and a reload turning
// rules on and off on a running registry's pipeline.
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/fallback.hpp>
#include <keel/fault_injection.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

constexpr const char* with_faults = R"(version: 1
dependencies:
  orders:
    faults:
      - { kind: latency, rate: 0.05, delay: 300ms }
      - { kind: error, rate: 0.01, error: connection_reset, retry_after: 1s, method: POST }
      - { kind: hang, rate: 0.001 }
      - { kind: error, rate: 1.0, error: connection_refused, endpoint: "10.0.0.5:5432" }
    fallback: { on: [rejected, timeout] }
  seeded:
    faults: { seed: 42, rules: [{ kind: hang, rate: 0.5, statement: get_order }] }
  plain: {}
)";

TEST(config_faults, rules_are_read_into_a_seeded_plan) {
    const document doc = load_string(with_faults, "t.yaml");
    const fault_plan* plan = doc.find("orders")->policy.faults.get();
    ASSERT_NE(plan, nullptr);
    ASSERT_EQ(plan->rules().size(), 4u);
    const fault_rule& latency = plan->rules()[0];
    EXPECT_EQ(latency.kind, fault_kind::latency);
    EXPECT_EQ(latency.rate, 0.05);
    EXPECT_EQ(latency.delay, 300ms);
    const fault_rule& reset = plan->rules()[1];
    EXPECT_EQ(reset.error, std::make_error_code(std::errc::connection_reset));
    EXPECT_EQ(reset.retry_after, std::optional<std::chrono::nanoseconds>(1s));
    EXPECT_EQ(reset.method, "POST");
    EXPECT_EQ(plan->rules()[2].kind, fault_kind::hang);
    EXPECT_EQ(plan->rules()[3].endpoint, "10.0.0.5:5432");
    const fault_set on{fault_class::rejected, fault_class::timeout};
    EXPECT_EQ(doc.find("orders")->fallback_on, on);

    const fault_plan* seeded = doc.find("seeded")->policy.faults.get();
    ASSERT_NE(seeded, nullptr);
    EXPECT_EQ(seeded->seed(), 42u);
    EXPECT_EQ(seeded->rules()[0].statement, "get_order");
    EXPECT_EQ(doc.find("plain")->policy.faults, nullptr);
    EXPECT_FALSE(doc.find("plain")->fallback_on.has_value());
    // The default seed is the dependency's name's, the same in every run.
    EXPECT_EQ(load_string(with_faults, "t.yaml").find("orders")->policy.faults->seed(),
              plan->seed());
}

TEST(config_faults, every_bad_rule_is_reported_at_once_with_its_position) {
    const load_result r = try_load_string(R"(version: 1
dependencies:
  d:
    faults:
      - { kind: latncy, rate: 0.1 }
      - { kind: error, rate: 1.5, error: http_5033 }
      - { kind: error, rate: 0.1, error: conection_refused, delay: 1s }
      - { kind: latency, rate: 0.1 }
      - { kind: hang, rate: 0.1, endpoit: x }
  e:
    faults: { seed: -1, rules: [] }
  f:
    faults: 0.1
    fallback: { on: [transiant] }
)",
                                          "t.yaml");
    std::vector<std::string> got;
    for (const diagnostic& d : r.errors)
        got.push_back(d.to_string());
    const std::vector<std::string> want = {
        "t.yaml:5:17: error: dependencies.d.faults[0].kind: unknown fault kind 'latncy' (did "
        "you mean 'latency'?); expected one of: latency, error, hang",
        "t.yaml:6:30: error: dependencies.d.faults[1].rate: must be in [0, 1], got 1.5",
        // keel::config alone: the HTTP names come with keel::http.
        "t.yaml:6:42: error: dependencies.d.faults[1].error: this program was built without "
        "keel::http",
        "t.yaml:7:42: error: dependencies.d.faults[2].error: unknown error 'conection_refused' "
        "(connection_refused, connection_reset, http_<status>, pg_<SQLSTATE>, kafka_<librdkafka "
        "name>)",
        "t.yaml:7:61: error: dependencies.d.faults[2].delay: not a setting of kind error",
        "t.yaml:8:9: error: dependencies.d.faults[3]: missing delay (a latency rule adds it "
        "before the operation)",
        "t.yaml:9:34: error: dependencies.d.faults[4].endpoit: unknown key 'endpoit' (did you "
        "mean 'endpoint'?); expected one of: kind, rate, delay, error, retry_after, endpoint, "
        "method, statement",
        "t.yaml:11:21: error: dependencies.e.faults.seed: expected a whole number >= 0, got \"-1\"",
        "t.yaml:13:13: error: dependencies.f.faults: expected a sequence of rules such as "
        "[{kind: error, rate: 0.01, error: http_503}], got \"0.1\"",
        "t.yaml:14:22: error: dependencies.f.fallback.on[0]: unknown fault class 'transiant' "
        "(did you mean 'transient'?); expected one of: transient, timeout, throttled, "
        "permanent, cancelled, rejected",
    };
    EXPECT_EQ(got, want);
}

TEST(config_faults, explain_shows_them_and_loads_back_equal) {
    const document doc = load_string(with_faults, "t.yaml");
    const std::string text = explain(doc);
    EXPECT_NE(text.find("faults:"), std::string::npos) << text;
    EXPECT_NE(text.find("fallback: {on: [timeout, rejected]}"), std::string::npos) << text;
    const document again = load_string(text, "explained.yaml");
    for (const char* name : {"orders", "seeded"}) {
        const fault_plan& a = *doc.find(name)->policy.faults;
        const fault_plan& b = *again.find(name)->policy.faults;
        EXPECT_EQ(a.seed(), b.seed()) << name;
        ASSERT_EQ(a.rules().size(), b.rules().size()) << name;
        for (std::size_t i = 0; i < a.rules().size(); ++i) {
            const fault_rule& x = a.rules()[i];
            const fault_rule& y = b.rules()[i];
            EXPECT_EQ(x.kind, y.kind);
            EXPECT_EQ(x.rate, y.rate);
            EXPECT_EQ(x.delay, y.delay);
            EXPECT_EQ(x.error, y.error);
            EXPECT_EQ(x.retry_after, y.retry_after);
            EXPECT_EQ(x.endpoint, y.endpoint);
            EXPECT_EQ(x.method, y.method);
            EXPECT_EQ(x.statement, y.statement);
        }
    }
    EXPECT_EQ(again.find("orders")->fallback_on, doc.find("orders")->fallback_on);
    EXPECT_EQ(again.find("plain")->policy.faults, nullptr);
}

TEST(config_faults, a_reload_turns_rules_on_and_off_on_a_running_pipeline) {
    asio::io_context context;
    registry reg(context.get_executor(), load_string("version: 1\ndependencies:\n  orders: {}\n"));
    std::vector<std::shared_ptr<fault_plan>> heard; // what keel::prometheus watches
    reg.on_fault_plan([&](std::string_view name, const std::shared_ptr<fault_plan>& plan) {
        EXPECT_EQ(name, "orders");
        heard.push_back(plan);
    });
    auto& orders = reg.pipeline("orders");
    EXPECT_EQ(orders.policy().faults, nullptr);
    EXPECT_TRUE(heard.empty());
    reg.apply(load_string(R"(version: 1
dependencies:
  orders:
    faults: [{ kind: error, rate: 1.0, error: connection_refused }]
)"));
    ASSERT_NE(orders.policy().faults, nullptr);
    EXPECT_EQ(orders.policy().faults->rules().size(), 1u);
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(heard[0], orders.policy().faults);
    reg.apply(load_string("version: 1\ndependencies:\n  orders: {}\n"));
    EXPECT_EQ(orders.policy().faults, nullptr);
}

} // namespace
} // namespace keel::config
