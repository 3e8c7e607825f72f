// The registry's bulkheads: one per dependency shared by its pipelines,
// kept across equal reloads, reconfigured in place across changed ones, and
// forgotten strategy by strategy. Bulkheads are driven directly through
// admit() and release() where no call is needed.
#include <keel/config/registry.hpp>
#include <keel/error.hpp>

#include "registry_support.hpp"
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

const char* const with_bulkhead = R"(version: 1
# No retry budget (on by default): these tests count the other strategies.
defaults: {retry_budget: off}
dependencies:
  payments:
    bulkhead: {max_concurrent: 2}
    circuit_breaker: {min_calls: 2, failure_ratio: 1.0, window: {size: 2}, break: {duration: 1h, max: 2h}}
  search: {}
)";

using test::edited;
using test::load;

std::shared_ptr<keel::bulkhead> bulkhead_of(configured_pipeline& p) {
    const auto& chain = p.policy().strategies;
    return chain ? std::dynamic_pointer_cast<keel::bulkhead>(chain->bulkhead) : nullptr;
}

std::shared_ptr<keel::circuit_breaker> breaker_of(configured_pipeline& p) {
    const auto& chain = p.policy().strategies;
    return chain ? std::dynamic_pointer_cast<keel::circuit_breaker>(chain->breaker) : nullptr;
}

struct call_of final : admission_waiter {
    void admitted() noexcept override {}
};

/// Takes `n` permits that are never given back in the test.
void hold(keel::bulkhead& b, int n) {
    for (int i = 0; i < n; ++i) {
        call_of call;
        ASSERT_TRUE(b.admit(0ns, call).admitted);
    }
}

class config_registry_bulkhead : public test::registry_fixture {};

TEST_F(config_registry_bulkhead, every_pipeline_of_a_dependency_shares_one_bulkhead) {
    const auto first = make(with_bulkhead);
    const auto second = make(with_bulkhead);
    const auto bulkhead = bulkhead_of(first->pipeline("payments"));
    ASSERT_NE(bulkhead, nullptr);
    EXPECT_EQ(bulkhead_of(second->pipeline("payments")), bulkhead);
    EXPECT_EQ(bulkhead->limit(), 2);
    EXPECT_NE(breaker_of(first->pipeline("payments")), nullptr) << "both in one chain";
    EXPECT_EQ(first->pipeline("search").policy().strategies, nullptr);
    EXPECT_EQ(strategies.size(), 2u) << "a breaker and a bulkhead";
}

TEST_F(config_registry_bulkhead, calls_over_the_limit_are_refused_without_running) {
    const auto reg = make(with_bulkhead);
    auto& payments = reg->pipeline("payments");
    int operations = 0;
    std::vector<std::function<void()>> finish;
    const auto op = [&](const keel::attempt&, auto handler) {
        ++operations;
        // Shared: the handler is move-only, std::function copies.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        finish.push_back([h] { (*h)(std::error_code()); });
    };
    std::vector<std::error_code> results;
    for (int i = 0; i < 3; ++i)
        payments.async_run<void(std::error_code)>(
            op, [&](std::error_code ec) { results.push_back(ec); });
    context.poll();
    EXPECT_EQ(operations, 2);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0], make_error_code(errc::bulkhead_full));
    for (auto& f : finish)
        f();
    context.poll();
    EXPECT_EQ(results.size(), 3u);
    EXPECT_EQ(bulkhead_of(payments)->in_flight(), 0);
}

TEST_F(config_registry_bulkhead, an_equal_reload_keeps_the_bulkhead_and_its_permits) {
    const auto reg = make(with_bulkhead);
    auto& payments = reg->pipeline("payments");
    const auto before = bulkhead_of(payments);
    hold(*before, 1);
    reg->apply(load(edited(with_bulkhead, "  search: {}", "  search: {retry: {max_attempts: 5}}")));
    EXPECT_EQ(bulkhead_of(payments), before);
    EXPECT_EQ(before->in_flight(), 1);
}

TEST_F(config_registry_bulkhead, a_changed_limit_applies_in_place_to_the_attempts_running) {
    const auto reg = make(with_bulkhead);
    auto& payments = reg->pipeline("payments");
    const auto before = bulkhead_of(payments);
    hold(*before, 2);

    std::vector<std::shared_ptr<keel::bulkhead>> heard;
    reg->on_bulkhead([&](std::string_view dependency, const auto& bulkhead) {
        EXPECT_EQ(dependency, "payments");
        heard.push_back(bulkhead);
    });
    ASSERT_EQ(heard.size(), 1u) << "told at once of the bulkhead in place";

    reg->apply(load(edited(with_bulkhead, "max_concurrent: 2", "max_concurrent: 1")));
    const auto after = bulkhead_of(payments);
    EXPECT_EQ(after, before) << "the same bulkhead: its permits are the running attempts'";
    EXPECT_EQ(after->limit(), 1);
    EXPECT_EQ(after->in_flight(), 2);
    call_of late;
    EXPECT_EQ(after->admit(0ns, late).refusal, make_error_code(errc::bulkhead_full));
    EXPECT_EQ(heard.size(), 1u) << "not a new bulkhead";

    // Adaptive now: still the same bulkhead, starting from `initial`.
    reg->apply(load(edited(with_bulkhead, "max_concurrent: 2",
                           "adaptive: {algorithm: aimd, initial: 5, max: 10}")));
    EXPECT_EQ(bulkhead_of(payments), before);
    EXPECT_EQ(before->limit(), 5);
    EXPECT_EQ(strategies.states_of<keel::bulkhead>("payments").size(), 1u);
}

TEST_F(config_registry_bulkhead, removing_one_strategy_keeps_the_others_state) {
    const auto reg = make(with_bulkhead);
    auto& payments = reg->pipeline("payments");
    const auto bulkhead = bulkhead_of(payments);
    const auto breaker = breaker_of(payments);
    hold(*bulkhead, 1);

    // The bulkhead goes, the breaker stays the same.
    reg->apply(load(edited(with_bulkhead, "    bulkhead: {max_concurrent: 2}\n", "")));
    EXPECT_EQ(bulkhead_of(payments), nullptr);
    EXPECT_EQ(breaker_of(payments), breaker);
    EXPECT_EQ(strategies.size(), 1u);

    std::vector<std::shared_ptr<keel::bulkhead>> heard;
    reg->on_bulkhead([&](std::string_view, const auto& b) { heard.push_back(b); });
    EXPECT_TRUE(heard.empty());

    // Back: a new bulkhead (the old one's permits are its own), heard of.
    reg->apply(load(with_bulkhead));
    const auto again = bulkhead_of(payments);
    ASSERT_NE(again, nullptr);
    EXPECT_NE(again, bulkhead);
    EXPECT_EQ(again->in_flight(), 0);
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(heard[0], again);

    // The breaker goes, the bulkhead stays the same.
    reg->apply(load(edited(with_bulkhead,
                           "    circuit_breaker: {min_calls: 2, failure_ratio: 1.0, window: "
                           "{size: 2}, break: {duration: 1h, max: 2h}}\n",
                           "")));
    EXPECT_EQ(breaker_of(payments), nullptr);
    EXPECT_EQ(bulkhead_of(payments), again);
    EXPECT_EQ(strategies.size(), 1u);

    // Neither: no chain at all, no state left.
    reg->apply(load("version: 1\ndefaults: {retry_budget: off}\ndependencies:\n  payments: {}\n  "
                    "search: {}\n"));
    EXPECT_EQ(payments.policy().strategies, nullptr);
    EXPECT_EQ(strategies.size(), 0u);
}

TEST_F(config_registry_bulkhead, pipelines_of_undeclared_dependencies_get_the_defaults_bulkhead) {
    const auto reg =
        make("version: 1\ndefaults:\n  bulkhead: {max_concurrent: 3}\n  retry_budget: off\n"
             "dependencies:\n  search: {bulkhead: off}\n");
    EXPECT_EQ(reg->pipeline("search").policy().strategies, nullptr);
    std::vector<std::string> heard;
    reg->on_bulkhead([&](std::string_view dependency, const auto&) {
        heard.push_back(std::string(dependency));
    });
    auto& adhoc = reg->pipeline_or_defaults("adhoc");
    ASSERT_NE(bulkhead_of(adhoc), nullptr);
    EXPECT_EQ(bulkhead_of(adhoc)->limit(), 3);
    EXPECT_EQ(heard, std::vector<std::string>{"adhoc"}) << "told before calls use it";

    reg->apply(load("version: 1\ndefaults: {retry_budget: off}\ndependencies:\n  search: {}\n"));
    EXPECT_EQ(adhoc.policy().strategies, nullptr) << "follows the new defaults";
}

} // namespace
} // namespace keel::config
