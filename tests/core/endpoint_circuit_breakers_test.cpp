// keel::endpoint_circuit_breakers on the manual clock: one breaker per
// endpoint through a real pipeline, eviction of idle breakers only, the
// busy-everywhere case, reloads endpoint by endpoint, and with_endpoint.
#include <keel/endpoint.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/fallback.hpp>
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using nanos = std::chrono::nanoseconds;

/// A waiter as the engine sets one up: the call's endpoint.
struct call_of final : admission_waiter {
    explicit call_of(std::string_view endpoint) { set_endpoint(endpoint); }
    void admitted() noexcept override {}
};

attempt_record failed() {
    attempt_record r;
    r.result = attempt_result::failure;
    r.fault = fault_class::transient;
    return r;
}

circuit_breaker_settings two_failures_open(int max_endpoints = 8) {
    circuit_breaker_settings s;
    s.scope = circuit_breaker_settings::scope_kind::endpoint;
    s.max_endpoints = max_endpoints;
    s.consecutive_failures = 2;
    s.break_duration = 5s;
    return s;
}

/// Two failed attempts of `endpoint` at `at`: its breaker opens.
void open_it(endpoint_circuit_breakers& set, std::string_view endpoint, nanos at) {
    call_of call(endpoint);
    const attempt_record fail = failed();
    for (int i = 0; i < 2; ++i) {
        const admission a = set.admit(at, call);
        ASSERT_TRUE(a.admitted);
        set.release(at, &fail, a.ticket);
    }
}

std::vector<std::string> endpoints_of(endpoint_circuit_breakers& set, nanos now) {
    std::vector<std::string> out;
    for (const endpoint_circuit_snapshot& e : set.snapshot(now))
        out.push_back(e.endpoint);
    return out;
}

// ---- through the pipeline ---------------------------------------------------------

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

nanos ticks_now() {
    return manual_clock::now().time_since_epoch();
}

class endpoint_pipeline_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    pipeline_policy policy_with(std::shared_ptr<admission_strategy> breaker) {
        auto chain = std::make_shared<strategy_chain>();
        chain->breaker = std::move(breaker);
        pipeline_policy p;
        p.retry.max_attempts = 1;
        p.strategies = chain;
        return p;
    }

    asio::io_context context;
};

TEST_F(endpoint_pipeline_test, endpoint_scope_keeps_a443_closed_while_b443_is_open) {
    auto set = std::make_shared<endpoint_circuit_breakers>(two_failures_open());
    chain_pipeline p(context, "payments", policy_with(set));
    scripted_op a(context, {ok(1, 1ms)});
    scripted_op b(context, {fail(std::make_error_code(std::errc::connection_refused), 1ms)});
    for (int i = 0; i < 2; ++i) {
        completion c;
        p.async_run(with_endpoint(std::ref(b), "b:443"), record(c));
        run_for(context, 1s, [&] { return c.done(); });
        ASSERT_TRUE(c.done());
    }
    completion to_b;
    call_report b_report;
    p.async_run(with_endpoint(std::ref(b), "b:443"), b_report, record(to_b));
    run_for(context, 0ms, [&] { return to_b.done(); });
    EXPECT_EQ(to_b.ec, make_error_code(errc::circuit_open));
    EXPECT_EQ(b_report.attempts, 0);
    EXPECT_EQ(b.calls(), 2) << "b's operation is not called while its breaker is open";

    completion to_a;
    p.async_run(with_endpoint(std::ref(a), "a:443"), record(to_a));
    run_for(context, 1s, [&] { return to_a.done(); });
    EXPECT_FALSE(to_a.ec);
    EXPECT_EQ(to_a.value, 1);
    EXPECT_EQ(a.calls(), 1);

    const auto snapshots = set->snapshot(ticks_now());
    ASSERT_EQ(snapshots.size(), 2u);
    EXPECT_EQ(snapshots[0].endpoint, "a:443");
    EXPECT_EQ(snapshots[0].snapshot.state, circuit_state::closed);
    EXPECT_EQ(snapshots[1].endpoint, "b:443");
    EXPECT_EQ(snapshots[1].snapshot.state, circuit_state::open);
}

TEST_F(endpoint_pipeline_test, a_call_without_an_endpoint_shares_the_empty_endpoints_breaker) {
    auto set = std::make_shared<endpoint_circuit_breakers>(two_failures_open());
    chain_pipeline p(context, "payments", policy_with(set));
    scripted_op op(context, {fail(std::make_error_code(std::errc::connection_refused), 1ms)});
    for (int i = 0; i < 3; ++i) {
        completion c;
        p.async_run(std::ref(op), record(c));
        run_for(context, 1s, [&] { return c.done(); });
    }
    EXPECT_EQ(op.calls(), 2) << "the third call was refused";
    EXPECT_EQ(endpoints_of(*set, ticks_now()), std::vector<std::string>{""});
}

TEST_F(endpoint_pipeline_test, a_fallback_sees_through_to_the_endpoint_inside_it) {
    auto set = std::make_shared<endpoint_circuit_breakers>(two_failures_open());
    chain_pipeline p(context, "payments", policy_with(set));
    scripted_op op(context, {ok(7, 1ms)});
    auto fallback = [](const fallback_context&, auto&& token) {
        return asio::async_initiate<decltype(token), void(std::error_code, int)>(
            [](auto handler) { std::move(handler)(std::error_code(), -1); }, token);
    };
    completion c;
    p.async_run(with_fallback(with_endpoint(std::ref(op), "db1:5432"), fallback), record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(c.value, 7);
    EXPECT_EQ(endpoints_of(*set, ticks_now()), std::vector<std::string>{"db1:5432"});
}

// ---- the set alone -----------------------------------------------------------------

TEST(endpoint_circuit_breakers, the_least_recently_used_idle_endpoint_is_evicted_when_full) {
    endpoint_circuit_breakers set(two_failures_open(2));
    open_it(set, "a:443", 0ms);
    open_it(set, "b:443", 1ms);
    call_of a("a:443"); // a is used again: b is now the least recently used
    EXPECT_FALSE(set.admit(2ms, a).admitted);
    call_of c("c:443");
    const admission admitted = set.admit(3ms, c);
    ASSERT_TRUE(admitted.admitted);
    set.release(3ms, nullptr, admitted.ticket);
    EXPECT_EQ(endpoints_of(set, 3ms), (std::vector<std::string>{"a:443", "c:443"}));
    EXPECT_EQ(set.snapshot("a:443", 3ms)->state, circuit_state::open) << "a kept its state";
    // b comes back with a fresh breaker: its open state was forgotten.
    call_of b("b:443");
    EXPECT_TRUE(set.admit(4ms, b).admitted);
    EXPECT_EQ(set.unguarded(), 0u);
}

TEST(endpoint_circuit_breakers, a_busy_endpoint_is_never_evicted) {
    endpoint_circuit_breakers set(two_failures_open(2));
    call_of a("a:443");
    call_of b("b:443");
    const admission in_flight = set.admit(0ms, a); // a's attempt runs on
    ASSERT_TRUE(in_flight.admitted);
    open_it(set, "b:443", 1ms); // b is idle, and more recently used than a
    call_of c("c:443");
    const admission admitted = set.admit(2ms, c);
    ASSERT_TRUE(admitted.admitted);
    EXPECT_EQ(endpoints_of(set, 2ms), (std::vector<std::string>{"a:443", "c:443"}))
        << "b was evicted although a was used longer ago: a is busy";
    // a's late result still reaches a's own breaker.
    const attempt_record fail = failed();
    set.release(3ms, &fail, in_flight.ticket);
    set.release(3ms, &fail, set.admit(3ms, a).ticket); // the second failure in a row
    EXPECT_EQ(set.snapshot("a:443", 3ms)->state, circuit_state::open);
    EXPECT_EQ(set.snapshot("c:443", 3ms)->state, circuit_state::closed);
    set.release(3ms, nullptr, admitted.ticket);
}

TEST(endpoint_circuit_breakers, when_every_endpoint_is_busy_a_new_one_is_admitted_unguarded) {
    endpoint_circuit_breakers set(two_failures_open(2));
    call_of a("a:443");
    call_of b("b:443");
    const admission busy_a = set.admit(0ms, a);
    const admission busy_b = set.admit(0ms, b);
    call_of c("c:443");
    const admission unguarded = set.admit(1ms, c);
    EXPECT_TRUE(unguarded.admitted);
    EXPECT_EQ(unguarded.ticket, 0u);
    EXPECT_EQ(set.unguarded(), 1u);
    const attempt_record fail = failed();
    set.release(2ms, &fail, unguarded.ticket); // counted nowhere
    EXPECT_EQ(endpoints_of(set, 2ms), (std::vector<std::string>{"a:443", "b:443"}));
    set.release(2ms, nullptr, busy_a.ticket);
    set.release(2ms, nullptr, busy_b.ticket);
    // Room again: c gets a breaker of its own.
    const admission guarded = set.admit(3ms, c);
    EXPECT_NE(guarded.ticket, 0u);
    EXPECT_EQ(set.unguarded(), 1u);
    set.release(3ms, nullptr, guarded.ticket);
}

TEST(endpoint_circuit_breakers, an_isolated_endpoint_is_kept_and_refuses_until_reset) {
    endpoint_circuit_breakers set(two_failures_open(1));
    set.isolate("a:443", 0ms);
    call_of a("a:443");
    EXPECT_FALSE(set.admit(1ms, a).admitted);
    call_of b("b:443");
    EXPECT_EQ(set.admit(2ms, b).ticket, 0u) << "the only breaker is isolated: b is unguarded";
    EXPECT_THROW(set.isolate("b:443", 3ms), std::length_error);
    set.reset("a:443", 4ms);
    EXPECT_TRUE(set.admit(5ms, a).admitted);
}

TEST(endpoint_circuit_breakers, isolate_all_and_reset_all_reach_every_endpoint) {
    endpoint_circuit_breakers set(two_failures_open());
    open_it(set, "a:443", 0ms);
    call_of b("b:443");
    set.release(0ms, nullptr, set.admit(0ms, b).ticket);
    set.isolate_all(1ms);
    for (const auto& e : set.snapshot(1ms))
        EXPECT_TRUE(e.snapshot.isolated) << e.endpoint;
    set.reset_all(2ms);
    for (const auto& e : set.snapshot(2ms))
        EXPECT_EQ(e.snapshot.state, circuit_state::closed) << e.endpoint;
}

TEST(endpoint_circuit_breakers, listeners_hear_each_transition_with_its_endpoint) {
    endpoint_circuit_breakers set(two_failures_open());
    std::vector<std::string> heard;
    set.on_transition([&](std::string_view endpoint, const circuit_transition& t) {
        heard.push_back(std::string(endpoint) + " " + std::string(t.reason));
    });
    open_it(set, "b:443", 0ms);
    set.snapshot(5s); // the break ends
    EXPECT_EQ(heard, (std::vector<std::string>{"b:443 consecutive_failures", "b:443 break_ended"}));
}

TEST(endpoint_circuit_breakers, jitter_differs_per_endpoint) {
    circuit_breaker_settings s = two_failures_open();
    s.break_jitter = 0.5;
    endpoint_circuit_breakers set(s, 42);
    std::vector<nanos> breaks;
    for (std::string_view endpoint : {"a:443", "b:443"}) {
        open_it(set, endpoint, 0ms);
        call_of call(endpoint);
        breaks.push_back(*set.admit(0ms, call).retry_after);
    }
    EXPECT_NE(breaks[0], breaks[1]);
}

TEST(endpoint_circuit_breakers, a_set_with_new_settings_takes_over_each_endpoints_state) {
    endpoint_circuit_breakers before(two_failures_open());
    open_it(before, "b:443", 0ms);
    call_of a("a:443");
    const attempt_record fail = failed();
    before.release(0ms, &fail, before.admit(0ms, a).ticket);
    circuit_breaker_settings changed = two_failures_open();
    changed.consecutive_failures = 3;
    endpoint_circuit_breakers after(changed, before);
    EXPECT_EQ(endpoints_of(after, 1ms), (std::vector<std::string>{"a:443", "b:443"}));
    EXPECT_EQ(after.snapshot("b:443", 1ms)->state, circuit_state::open) << "still open";
    EXPECT_EQ(after.snapshot("a:443", 1ms)->recorded, 0) << "with an empty window";
    EXPECT_EQ(after.snapshot("b:443", 5s)->state, circuit_state::half_open)
        << "until its break ends";
}

TEST(endpoint_circuit_breakers, eight_threads_over_more_endpoints_than_room_leave_no_pin_behind) {
    endpoint_circuit_breakers set(two_failures_open(2));
    constexpr int threads = 8;
    constexpr int per_thread = 2000;
    const std::string endpoints[] = {"a:443", "b:443", "c:443", "d:443"};
    std::atomic<int> admitted{0};
    std::vector<std::thread> running;
    for (int t = 0; t < threads; ++t) {
        running.emplace_back([&, t] {
            const attempt_record ok;
            for (int i = 0; i < per_thread; ++i) {
                call_of call(endpoints[(t + i) % 4]);
                const admission a = set.admit(nanos(i), call);
                if (a.admitted)
                    ++admitted;
                set.release(nanos(i), &ok, a.ticket);
            }
        });
    }
    for (std::thread& t : running)
        t.join();
    EXPECT_EQ(admitted.load(), threads * per_thread) << "successes never open a breaker";
    EXPECT_EQ(set.size(), 2u);
    // Every attempt gave its breaker back: two new endpoints take both places.
    for (const std::string_view endpoint : {"x:443", "y:443"}) {
        call_of call(endpoint);
        const admission a = set.admit(1s, call);
        EXPECT_NE(a.ticket, 0u) << endpoint << " found an idle breaker to evict";
        set.release(1s, nullptr, a.ticket);
    }
    EXPECT_EQ(endpoints_of(set, 1s), (std::vector<std::string>{"x:443", "y:443"}));
}

} // namespace
} // namespace keel::test
