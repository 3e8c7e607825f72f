// One state per dependency and endpoint, kept across reloads that leave its
// settings unchanged.
#include <keel/strategy_registry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

struct breaker_settings {
    int failures = 5;
    friend bool operator==(const breaker_settings&, const breaker_settings&) = default;
};

/// Stands for a breaker: its state is whether it is open.
struct fake_breaker {
    explicit fake_breaker(const breaker_settings& s) : settings(s) {}
    breaker_settings settings;
    bool open = false;
};

struct fake_bulkhead {
    explicit fake_bulkhead(int) {}
};

TEST(strategy_registry, every_caller_of_a_dependency_gets_one_state) {
    strategy_registry r;
    auto a = r.obtain<fake_breaker>("payments", "", breaker_settings{});
    auto b = r.obtain<fake_breaker>("payments", "", breaker_settings{});
    EXPECT_EQ(a, b);
    EXPECT_NE(a, r.obtain<fake_breaker>("orders", "", breaker_settings{}));
    EXPECT_EQ(r.size(), 2u);
}

TEST(strategy_registry, endpoints_and_state_types_are_kept_apart) {
    strategy_registry r;
    auto one = r.obtain<fake_breaker>("payments", "10.0.0.1:443", breaker_settings{});
    auto two = r.obtain<fake_breaker>("payments", "10.0.0.2:443", breaker_settings{});
    EXPECT_NE(one, two);
    auto bulkhead = r.obtain<fake_bulkhead>("payments", "", 4);
    EXPECT_NE(bulkhead, nullptr);
    const auto breakers = r.states_of<fake_breaker>("payments");
    ASSERT_EQ(breakers.size(), 2u);
    EXPECT_EQ(breakers[0].first, "10.0.0.1:443");
    EXPECT_EQ(breakers[0].second, one);
    EXPECT_EQ(breakers[1].second, two);
    EXPECT_EQ(r.states_of<fake_bulkhead>("payments").size(), 1u);
}

TEST(strategy_registry, a_reload_with_the_same_settings_keeps_the_state) {
    strategy_registry r;
    auto before = r.obtain<fake_breaker>("payments", "", breaker_settings{5});
    before->open = true;
    auto after = r.obtain<fake_breaker>("payments", "", breaker_settings{5});
    EXPECT_EQ(after, before);
    EXPECT_TRUE(after->open) << "an open breaker stays open across an unchanged reload";
}

TEST(strategy_registry, new_settings_make_a_new_state_and_old_holders_keep_theirs) {
    strategy_registry r;
    auto before = r.obtain<fake_breaker>("payments", "", breaker_settings{5});
    before->open = true;
    auto after = r.obtain<fake_breaker>("payments", "", breaker_settings{10});
    EXPECT_NE(after, before);
    EXPECT_FALSE(after->open);
    EXPECT_EQ(after->settings.failures, 10);
    EXPECT_TRUE(before->open) << "calls in flight keep the state they started with";
    EXPECT_EQ(r.obtain<fake_breaker>("payments", "", breaker_settings{10}), after);
    EXPECT_EQ(r.size(), 1u);
}

TEST(strategy_registry, forget_drops_a_dependency) {
    strategy_registry r;
    auto kept = r.obtain<fake_breaker>("payments", "", breaker_settings{});
    r.obtain<fake_breaker>("orders", "", breaker_settings{});
    r.forget("payments");
    EXPECT_EQ(r.size(), 1u);
    EXPECT_NE(r.obtain<fake_breaker>("payments", "", breaker_settings{}), kept);
}

TEST(strategy_registry, forgetting_one_strategy_keeps_the_others) {
    strategy_registry r;
    auto breaker = r.obtain<fake_breaker>("payments", "", breaker_settings{});
    r.obtain<fake_breaker>("payments", "10.0.0.1:443", breaker_settings{});
    r.obtain<fake_bulkhead>("payments", "", 4);
    auto other = r.obtain<fake_bulkhead>("orders", "", 4);
    r.forget<fake_bulkhead>("payments");
    EXPECT_EQ(r.size(), 3u) << "both breakers of payments and the bulkhead of orders";
    EXPECT_TRUE(r.states_of<fake_bulkhead>("payments").empty());
    EXPECT_EQ(r.obtain<fake_breaker>("payments", "", breaker_settings{}), breaker);
    EXPECT_EQ(r.obtain<fake_bulkhead>("orders", "", 4), other);
    r.forget<fake_breaker>("payments");
    EXPECT_EQ(r.size(), 1u) << "every endpoint's breaker goes";
}

TEST(strategy_registry, threads_racing_for_a_new_state_get_the_same_one) {
    strategy_registry r;
    std::atomic<int> made{0};
    std::vector<std::shared_ptr<fake_breaker>> got(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            got[i] = r.obtain<fake_breaker>("payments", "", breaker_settings{}, [&] {
                ++made;
                return std::make_shared<fake_breaker>(breaker_settings{});
            });
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(made.load(), 1);
    for (const auto& g : got)
        EXPECT_EQ(g, got[0]);
}

} // namespace
} // namespace keel::test
