// Fault injection with keel::http (issue 25): an injected http_503 and a real
// one from the test server end a call alike -- the same error, fault class,
// call report, advised delay and breaker window -- fault rules in a YAML
// file reach a running client's calls and leave them on a reload, and a
// `method:` rule touches only the requests of that method.
#include <keel/circuit_breaker.hpp>
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/fault_injection.hpp>
#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>

#include "harness/http/test_server.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;
using keel::test::http::behaviour;
using keel::test::http::outcome;
using keel::test::http::record;
using keel::test::http::run_until;

/// The advised delays a pipeline reports.
struct delays {
    std::shared_ptr<std::vector<std::chrono::nanoseconds>> seen =
        std::make_shared<std::vector<std::chrono::nanoseconds>>();
    void on(const events::retry_scheduled& e) const {
        if (e.server_advised)
            seen->push_back(e.delay);
    }
    template <class E>
    void on(const E&) const {}
};
using chain_pipeline =
    keel::basic_pipeline<asio::steady_timer, delays, asio::any_io_executor, strategy_chain>;

class http_fault_injection : public ::testing::Test {
protected:
    void SetUp() override { enable_fault_injection(true); }
    void TearDown() override { enable_fault_injection(false); }

    /// What one call through a fresh breaker left behind.
    struct seen {
        outcome out;
        call_report report;
        std::vector<std::chrono::nanoseconds> advised;
        circuit_snapshot window;
    };
    seen call_through_breaker(const std::string& path, std::shared_ptr<fault_plan> plan) {
        auto breaker = std::make_shared<circuit_breaker>(circuit_breaker_settings{});
        chain_pipeline pipeline(io, "api", keel::test::http::two_attempts_through(breaker, plan));
        seen s;
        pipeline.async_run<void(std::error_code, kh::response)>(
            keel::test::http::get_each_attempt(client, server.url(path)), s.report, record(s.out));
        run_until(io, s.out);
        s.advised = *pipeline.observer().seen;
        s.window = breaker->snapshot(clock_ticks(0));
        return s;
    }

    keel::test::http::test_server server;
    asio::io_context io;
    kh::client client{io.get_executor()};
};

TEST_F(http_fault_injection, an_injected_503_ends_a_call_as_a_real_one_does) {
    server.script("/real", {{behaviour::reply, 503, {{"Retry-After", "1"}}}});
    const seen real = call_through_breaker("/real", nullptr);

    std::string why;
    fault_rule rule;
    rule.kind = fault_kind::error;
    rule.rate = 1.0;
    rule.error_name = "http_503";
    rule.error = *fault_error_from_name("http_503", why);
    rule.retry_after = 1s;
    const seen injected = call_through_breaker(
        "/injected", std::make_shared<fault_plan>(std::vector<fault_rule>{rule}));

    EXPECT_EQ(real.out.ec, kh::make_status_error(503));
    EXPECT_EQ(injected.out.ec, real.out.ec);
    EXPECT_EQ(classify(injected.out.ec), fault_class::throttled);
    EXPECT_EQ(injected.report.outcome, real.report.outcome);
    EXPECT_EQ(injected.report.attempts, real.report.attempts);
    EXPECT_EQ(injected.report.fault, real.report.fault);
    EXPECT_EQ(injected.advised, real.advised) << "Retry-After 1s, capped at 50ms";
    EXPECT_EQ(real.advised.size(), 1u);
    EXPECT_EQ(injected.window.recorded, real.window.recorded);
    EXPECT_EQ(injected.window.failure_ratio, real.window.failure_ratio);
    EXPECT_EQ(server.count("/injected"), 0) << "an injected error never reaches the server";
}

TEST_F(http_fault_injection, rules_in_yaml_reach_a_running_client_and_a_reload_removes_them) {
    server.script("/orders", {{behaviour::reply, 200}});
    const std::string plain = "version: 1\ndependencies:\n  api: { kind: http }\n";
    config::registry policies(io.get_executor(), config::load_string(plain));
    auto& api = policies.pipeline("api");
    const auto send = [&] {
        outcome o;
        kh::request r;
        r.url = server.url("/orders");
        client.async_call(api, std::move(r), record(o));
        run_until(io, o);
        return o.ec;
    };
    EXPECT_FALSE(send());
    EXPECT_EQ(server.count("/orders"), 1);

    policies.apply(config::load_string(R"(version: 1
dependencies:
  api:
    kind: http
    retry: { max_attempts: 1 }
    faults: [{ kind: error, rate: 1.0, error: http_503 }]
)"));
    EXPECT_EQ(send(), kh::make_status_error(503));
    EXPECT_EQ(server.count("/orders"), 1) << "injected: the server saw nothing";

    policies.apply(config::load_string(plain));
    EXPECT_FALSE(send());
    EXPECT_EQ(server.count("/orders"), 2);
}

TEST_F(http_fault_injection, a_method_rule_fails_posts_and_never_touches_gets_on_the_same_client) {
    server.script("/orders", {{behaviour::reply, 200}});
    config::registry policies(io.get_executor(), config::load_string(R"(version: 1
dependencies:
  api:
    kind: http
    faults: [{ kind: error, rate: 1.0, error: http_503, method: POST }]
)"));
    auto& api = policies.pipeline("api");
    const auto send = [&](const char* method) {
        outcome o;
        kh::request r;
        r.method = method;
        r.url = server.url("/orders");
        r.body = "{}";
        client.async_call(api, std::move(r), record(o));
        run_until(io, o);
        return o;
    };
    for (int i = 0; i < 5; ++i) {
        const outcome get = send("GET");
        EXPECT_FALSE(get.ec) << get.ec.message();
        EXPECT_EQ(get.r.status, 200);
        EXPECT_EQ(send("POST").ec, kh::make_status_error(503));
    }
    EXPECT_EQ(server.count("/orders"), 5) << "the GETs reached the server, no POST did";
}

} // namespace
} // namespace keel::test
