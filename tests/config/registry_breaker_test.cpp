// The registry's circuit breakers: one per dependency shared by its
// pipelines, kept or taken over across reloads, listed for health checks.
// Breakers are driven directly with explicit clock ticks.
#include <keel/config/registry.hpp>
#include <keel/error.hpp>

#include "registry_support.hpp"
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

const char* const with_breaker = R"(version: 1
# No retry budget (on by default): these tests count the other strategies.
defaults: {retry_budget: off}
dependencies:
  payments:
    circuit_breaker:
      window: {kind: count, size: 2}
      min_calls: 2
      failure_ratio: 1.0
      break: {duration: 1h, max: 2h}
  search: {}
)";

using test::edited;
using test::load;

/// The pipeline's breaker, of the type the scope makes.
template <class Breakers = keel::circuit_breaker>
std::shared_ptr<Breakers> breaker_of(configured_pipeline& p) {
    const auto& chain = p.policy().strategies;
    if (!chain)
        return nullptr;
    auto breaker = std::dynamic_pointer_cast<Breakers>(chain->breaker);
    EXPECT_NE(breaker, nullptr) << "the chain's breaker is of the scope's type";
    return breaker;
}

/// A call's attempt as the engine hands it over: its endpoint, no waiting.
struct call_of final : admission_waiter {
    explicit call_of(std::string_view endpoint = "") { set_endpoint(endpoint); }
    void admitted() noexcept override {}
};

/// Two failed attempts (of `endpoint`) at `now`: enough to open the breakers
/// below.
template <class Breakers>
void fail_twice(Breakers& b, clock_ticks now, std::string_view endpoint = "") {
    attempt_record failed;
    failed.result = attempt_result::failure;
    failed.fault = fault_class::transient;
    for (int i = 0; i < 2; ++i) {
        call_of call(endpoint);
        const admission a = b.admit(now, call);
        ASSERT_TRUE(a.admitted);
        b.release(now, &failed, a.ticket);
    }
}

class config_registry_breaker : public test::registry_fixture {};

TEST_F(config_registry_breaker, every_pipeline_of_a_dependency_shares_one_breaker) {
    const auto first = make(with_breaker);
    const auto second = make(with_breaker);
    const auto breaker = breaker_of(first->pipeline("payments"));
    ASSERT_NE(breaker, nullptr);
    EXPECT_EQ(breaker_of(second->pipeline("payments")), breaker);
    EXPECT_EQ(breaker->settings().window_size, 2);
    EXPECT_EQ(first->pipeline("search").policy().strategies, nullptr)
        << "no breaker configured, no chain";
    EXPECT_EQ(strategies.size(), 1u);

    // Another registry of strategies keeps its breakers apart.
    keel::strategy_registry elsewhere;
    registry third(context.get_executor(), load(with_breaker), observer_factory(), elsewhere);
    EXPECT_NE(breaker_of(third.pipeline("payments")), breaker);
}

TEST_F(config_registry_breaker, calls_through_an_open_breaker_are_refused_without_running) {
    const auto reg = make(with_breaker);
    auto& payments = reg->pipeline("payments");
    fail_twice(*breaker_of(payments), std::chrono::steady_clock::now().time_since_epoch());

    int operations = 0;
    std::error_code result;
    payments.async_run<void(std::error_code)>(
        [&](const keel::attempt&, auto handler) {
            ++operations;
            asio::post(context, [h = std::move(handler)]() mutable { h(std::error_code()); });
        },
        [&](std::error_code ec) { result = ec; });
    context.run();
    EXPECT_EQ(result, make_error_code(errc::circuit_open));
    EXPECT_EQ(operations, 0);
}

TEST_F(config_registry_breaker, a_reload_keeps_an_unchanged_breaker_with_its_window) {
    const auto reg = make(with_breaker);
    auto& payments = reg->pipeline("payments");
    const auto breaker = breaker_of(payments);
    fail_twice(*breaker, 1s);

    // Retry changes, the breaker does not.
    reg->apply(load(edited(with_breaker, "  search: {}", "  search: {retry: {max_attempts: 5}}")));
    EXPECT_EQ(breaker_of(payments), breaker);
    EXPECT_EQ(breaker->snapshot(2s).state, circuit_state::open);
    EXPECT_EQ(breaker->snapshot(2s).recorded, 2);
}

TEST_F(config_registry_breaker, changed_settings_keep_the_state_with_an_empty_window) {
    const auto reg = make(with_breaker);
    auto& payments = reg->pipeline("payments");
    const auto before = breaker_of(payments);
    fail_twice(*before, 1s);

    std::vector<std::shared_ptr<keel::circuit_breaker>> heard;
    reg->on_circuit_breaker([&](std::string_view dependency, const auto& breaker) {
        EXPECT_EQ(dependency, "payments");
        heard.push_back(breaker);
    });
    ASSERT_EQ(heard.size(), 1u) << "told at once of the breaker in place";
    EXPECT_EQ(heard[0], before);

    reg->apply(load(edited(with_breaker, "min_calls: 2", "min_calls: 1")));
    const auto after = breaker_of(payments);
    ASSERT_NE(after, before);
    ASSERT_EQ(heard.size(), 2u) << "told of the new breaker";
    EXPECT_EQ(heard[1], after);
    EXPECT_EQ(after->settings().min_calls, 1);
    const circuit_snapshot taken_over = after->snapshot(2s);
    EXPECT_EQ(taken_over.state, circuit_state::open) << "open until its break ends";
    EXPECT_EQ(taken_over.since, 1s);
    EXPECT_EQ(taken_over.recorded, 0);
    EXPECT_EQ(after->snapshot(1h + 1s).state, circuit_state::half_open);
    EXPECT_EQ(breaker_of(reg->pipeline("payments")), after);
}

TEST_F(config_registry_breaker, a_dependency_that_loses_its_breaker_gets_an_empty_chain) {
    const auto reg = make(with_breaker);
    auto& payments = reg->pipeline("payments");
    ASSERT_NE(breaker_of(payments), nullptr);
    reg->apply(load("version: 1\ndefaults: {retry_budget: off}\ndependencies:\n  payments: {}\n  "
                    "search: {}\n"));
    EXPECT_EQ(payments.policy().strategies, nullptr);
    EXPECT_TRUE(reg->circuit_breakers(1s).empty());
    EXPECT_EQ(strategies.size(), 0u);
}

TEST_F(config_registry_breaker, pipelines_of_undeclared_dependencies_get_the_defaults_breaker) {
    const auto reg =
        make("version: 1\ndefaults:\n  circuit_breaker: {min_calls: 3}\n  retry_budget: off\n"
             "dependencies:\n  search: {circuit_breaker: off}\n");
    EXPECT_EQ(reg->pipeline("search").policy().strategies, nullptr);
    auto& adhoc = reg->pipeline_or_defaults("adhoc");
    ASSERT_NE(breaker_of(adhoc), nullptr);
    EXPECT_EQ(breaker_of(adhoc)->settings().min_calls, 3);

    reg->apply(load("version: 1\ndefaults: {retry_budget: off}\ndependencies:\n  search: {}\n"));
    EXPECT_EQ(adhoc.policy().strategies, nullptr) << "follows the new defaults";
}

TEST_F(config_registry_breaker, lists_every_breaker_for_health_checks) {
    const auto reg = make(edited(with_breaker, "  search: {}", "  search: {circuit_breaker: {}}"));
    fail_twice(*breaker_of(reg->pipeline("payments")), 1s);
    const std::vector<circuit_breaker_status> listed = reg->circuit_breakers(2s);
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].dependency, "payments");
    EXPECT_EQ(listed[0].endpoint, "");
    EXPECT_EQ(listed[0].snapshot.state, circuit_state::open);
    EXPECT_EQ(listed[0].snapshot.since, 1s);
    EXPECT_DOUBLE_EQ(listed[0].snapshot.failure_ratio, 1.0);
    EXPECT_EQ(listed[1].dependency, "search");
    EXPECT_EQ(listed[1].snapshot.state, circuit_state::closed);
}

// ---- scope: endpoint -----------------------------------------------------------------

/// with_breaker, its payments breaker per endpoint (4 at most).
const std::string per_endpoint = edited(with_breaker, "      break: {duration: 1h, max: 2h}\n",
                                        "      break: {duration: 1h, max: 2h}\n"
                                        "      scope: endpoint\n      max_endpoints: 4\n");

std::shared_ptr<keel::endpoint_circuit_breakers> endpoints_of(configured_pipeline& p) {
    return breaker_of<keel::endpoint_circuit_breakers>(p);
}

/// One successful attempt of `endpoint` at `now`.
void succeed(keel::endpoint_circuit_breakers& set, std::string_view endpoint, clock_ticks now) {
    attempt_record ok;
    call_of call(endpoint);
    const admission a = set.admit(now, call);
    ASSERT_TRUE(a.admitted);
    set.release(now, &ok, a.ticket);
}

TEST_F(config_registry_breaker, scope_endpoint_gives_the_dependency_one_shared_endpoint_set) {
    const auto first = make(per_endpoint);
    const auto second = make(per_endpoint);
    const auto set = endpoints_of(first->pipeline("payments"));
    ASSERT_NE(set, nullptr);
    EXPECT_EQ(endpoints_of(second->pipeline("payments")), set);
    EXPECT_EQ(set->settings().max_endpoints, 4);

    std::vector<std::string> heard;
    first->on_endpoint_circuit_breakers(
        [&](std::string_view dependency,
            const std::shared_ptr<keel::endpoint_circuit_breakers>& s) {
            heard.push_back(std::string(dependency));
            EXPECT_EQ(s, set);
        });
    EXPECT_EQ(heard, std::vector<std::string>{"payments"}) << "told of the set in place";
}

TEST_F(config_registry_breaker, lists_one_entry_per_endpoint_for_health_checks) {
    const auto reg = make(edited(per_endpoint, "  search: {}", "  search: {circuit_breaker: {}}"));
    const auto set = endpoints_of(reg->pipeline("payments"));
    fail_twice(*set, 1s, "http://b:80");
    succeed(*set, "http://a:80", 1s);
    const std::vector<circuit_breaker_status> listed = reg->circuit_breakers(2s);
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].dependency, "payments");
    EXPECT_EQ(listed[0].endpoint, "http://a:80");
    EXPECT_EQ(listed[0].snapshot.state, circuit_state::closed);
    EXPECT_EQ(listed[1].dependency, "payments");
    EXPECT_EQ(listed[1].endpoint, "http://b:80");
    EXPECT_EQ(listed[1].snapshot.state, circuit_state::open);
    EXPECT_EQ(listed[1].snapshot.since, 1s);
    EXPECT_EQ(listed[2].dependency, "search");
    EXPECT_EQ(listed[2].endpoint, "");
}

TEST_F(config_registry_breaker, a_reload_keeps_each_endpoints_state) {
    const auto reg = make(per_endpoint);
    auto& payments = reg->pipeline("payments");
    const auto set = endpoints_of(payments);
    fail_twice(*set, 1s, "b:443");
    succeed(*set, "a:443", 1s);

    // Unchanged breaker settings: the same set, windows and all.
    reg->apply(load(edited(per_endpoint, "  search: {}", "  search: {timeout: {total: 3s}}")));
    EXPECT_EQ(endpoints_of(payments), set);
    EXPECT_EQ(set->snapshot("a:443", 2s)->recorded, 1);

    // Changed settings: a new set; each endpoint keeps its state, with an
    // empty window.
    reg->apply(load(edited(per_endpoint, "min_calls: 2", "min_calls: 3")));
    const auto changed = endpoints_of(payments);
    ASSERT_NE(changed, set);
    EXPECT_EQ(changed->settings().min_calls, 3);
    EXPECT_EQ(changed->snapshot("b:443", 2s)->state, circuit_state::open);
    EXPECT_EQ(changed->snapshot("b:443", 2s)->since, 1s);
    EXPECT_EQ(changed->snapshot("a:443", 2s)->recorded, 0);

    // A scope changed: a fresh breaker, nothing carried over.
    reg->apply(load(edited(per_endpoint, "      scope: endpoint\n", "")));
    const auto whole = breaker_of(payments);
    ASSERT_NE(whole, nullptr);
    EXPECT_EQ(whole->snapshot(2s).state, circuit_state::closed);
    EXPECT_EQ(reg->circuit_breakers(2s).size(), 1u);

    // And back: a fresh set, not the one before.
    reg->apply(load(per_endpoint));
    const auto again = endpoints_of(payments);
    ASSERT_NE(again, nullptr);
    EXPECT_NE(again, changed);
    EXPECT_EQ(again->size(), 0u);
}

} // namespace
} // namespace keel::config
