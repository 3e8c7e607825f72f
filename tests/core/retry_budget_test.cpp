// Issue 24's retry budget and adaptive throttling: the must-show numbers on
// times handed in (the ratio and tokens kinds, the refusal probability and
// its seeded draws), then through a real pipeline on the manual clock (a
// refused retry keeps the last real error and gives up with `budget`; a
// throttled call makes no attempt; a 400 leaves the tokens alone).
#include <keel/adaptive_throttle.hpp>
#include <keel/budget_gate.hpp>
#include <keel/classified_category.hpp>
#include <keel/pipeline.hpp>
#include <keel/retry_budget.hpp>

#include "support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

namespace keel::test {
namespace {

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;
using std::chrono::milliseconds;
using std::chrono::seconds;

retry_budget_settings tokens(double max, double ratio) {
    retry_budget_settings s;
    s.kind = retry_budget_settings::budget_kind::tokens;
    s.max_tokens = max;
    s.token_ratio = ratio;
    return s;
}

// ---- tokens (gRPC retry throttling) ---------------------------------------------------

TEST(retry_budget_tokens, four_failures_leave_six_and_a_fifth_refuses_until_a_success) {
    retry_budget b(tokens(10, 0.1));
    EXPECT_EQ(b.milli_tokens(), 10'000) << "starts full";
    for (int i = 0; i < 4; ++i)
        b.on_attempt_end(attempt_result::failure, true);
    EXPECT_EQ(b.milli_tokens(), 6'000);
    EXPECT_TRUE(b.try_withdraw(0s));
    EXPECT_EQ(b.milli_tokens(), 6'000) << "a retry takes nothing: the failure did";
    b.on_attempt_end(attempt_result::failure, true);
    EXPECT_EQ(b.milli_tokens(), 5'000);
    EXPECT_FALSE(b.try_withdraw(0s)) << "5 is not more than 10 / 2";
    EXPECT_EQ(b.denied(), 1u);
    b.on_attempt_end(attempt_result::success, false);
    EXPECT_EQ(b.milli_tokens(), 5'100);
    EXPECT_DOUBLE_EQ(b.available(0s), 5.1);
    EXPECT_TRUE(b.try_withdraw(0s));
    for (int i = 0; i < 1000; ++i)
        b.on_attempt_end(attempt_result::success, false);
    EXPECT_EQ(b.milli_tokens(), 10'000) << "capped at max_tokens";
}

TEST(retry_budget_tokens, failures_outside_retry_on_change_nothing_and_tokens_stop_at_zero) {
    retry_budget b(tokens(2, 0.5));
    b.on_attempt_end(attempt_result::failure, false); // e.g. HTTP 400
    b.on_attempt_end(attempt_result::timeout, false);
    EXPECT_EQ(b.milli_tokens(), 2'000);
    for (int i = 0; i < 5; ++i)
        b.on_attempt_end(attempt_result::timeout, true);
    EXPECT_EQ(b.milli_tokens(), 0);
    b.on_attempt_end(attempt_result::success, false);
    EXPECT_EQ(b.milli_tokens(), 500);
}

// ---- ratio (Finagle RetryBudget) --------------------------------------------------------

TEST(retry_budget_ratio, with_no_calls_100_retries_pass_in_10s_and_the_101st_is_refused) {
    retry_budget b(retry_budget_settings{}); // 20%, 10/s, 10 s
    for (int i = 0; i < 100; ++i)
        ASSERT_TRUE(b.try_withdraw(milliseconds(i * 100))) << "retry " << i + 1;
    EXPECT_FALSE(b.try_withdraw(milliseconds(9'999))) << "the 101st";
    EXPECT_EQ(b.denied(), 1u);
    EXPECT_EQ(b.available(milliseconds(9'999)), 0.0);
    // At 10 s the first withdrawal (at 0) has expired: one more.
    EXPECT_TRUE(b.try_withdraw(seconds(10)));
    EXPECT_FALSE(b.try_withdraw(seconds(10)));
}

TEST(retry_budget_ratio, fifty_calls_add_ten_retries_and_deposits_expire_after_10s) {
    retry_budget b(retry_budget_settings{});
    for (int i = 0; i < 50; ++i)
        b.deposit(0s);
    EXPECT_EQ(b.available(0s), 110.0);
    EXPECT_EQ(b.available(milliseconds(9'999)), 110.0);
    EXPECT_EQ(b.available(seconds(10)), 100.0) << "the deposits of t=0 expired";
    // Spent: 110 retries within the ttl of the deposits, not one more.
    retry_budget spent(retry_budget_settings{});
    for (int i = 0; i < 50; ++i)
        spent.deposit(0s);
    for (int i = 0; i < 110; ++i)
        ASSERT_TRUE(spent.try_withdraw(seconds(1))) << "retry " << i + 1;
    EXPECT_FALSE(spent.try_withdraw(seconds(1)));
    // At 10 s the deposits expire, the withdrawals made at 1 s still count.
    EXPECT_FALSE(spent.try_withdraw(seconds(10)));
    // At 11 s the withdrawals expire too: the reserve is whole again.
    EXPECT_EQ(spent.available(seconds(11)), 100.0);
}

TEST(retry_budget_ratio, impossible_settings_are_refused) {
    retry_budget_settings s;
    s.percent = -1;
    EXPECT_THROW(retry_budget{s}, std::invalid_argument);
    s = {};
    s.ttl = milliseconds(10);
    EXPECT_THROW(retry_budget{s}, std::invalid_argument);
    EXPECT_THROW(retry_budget{tokens(0, 0.1)}, std::invalid_argument);
    EXPECT_THROW(retry_budget{tokens(10, 0)}, std::invalid_argument);
}

// ---- adaptive throttling ----------------------------------------------------------------

TEST(adaptive_throttle_probability, hundred_requests_and_forty_accepts_refuse_0_198) {
    const adaptive_throttle_settings s; // k 2
    EXPECT_NEAR(rejection_probability(s, 100, 40), 20.0 / 101.0, 1e-12);
    EXPECT_NEAR(rejection_probability(s, 100, 40), 0.198, 0.0005);
    EXPECT_EQ(rejection_probability(s, 100, 50), 0.0);
    EXPECT_EQ(rejection_probability(s, 19, 0), 0.0) << "below min_requests";
    EXPECT_NEAR(rejection_probability(s, 20, 0), 0.9, 1e-12) << "capped at max_rejection";
}

TEST(adaptive_throttle_probability, the_window_counts_requests_and_accepts_and_forgets_them) {
    adaptive_throttle t(adaptive_throttle_settings{});
    for (int i = 0; i < 100; ++i)
        t.record_request(0s);
    for (int i = 0; i < 40; ++i)
        t.record_accept(0s);
    EXPECT_NEAR(t.probability(seconds(119)), 20.0 / 101.0, 1e-12);
    for (int i = 0; i < 10; ++i)
        t.record_accept(seconds(119));
    EXPECT_EQ(t.probability(seconds(119)), 0.0) << "50 accepts";
    EXPECT_EQ(t.probability(seconds(120)), 0.0) << "the requests of t=0 left the window";
}

TEST(adaptive_throttle_probability, ten_thousand_seeded_draws_refuse_1980_give_or_take_130) {
    adaptive_throttle_settings s;
    s.seed = 42;
    adaptive_throttle t(s);
    for (int i = 0; i < 100; ++i)
        t.record_request(0s);
    for (int i = 0; i < 40; ++i)
        t.record_accept(0s);
    const double p = t.probability(0s);
    int refused = 0;
    for (int i = 0; i < 10'000; ++i)
        refused += t.draw_refuses(p) ? 1 : 0;
    EXPECT_NEAR(refused, 1'980, 130);
    // Deterministic per seed.
    adaptive_throttle again(s);
    int refused_again = 0;
    for (int i = 0; i < 10'000; ++i)
        refused_again += again.draw_refuses(p) ? 1 : 0;
    EXPECT_EQ(refused_again, refused);
}

TEST(adaptive_throttle_probability, a_refused_call_counts_as_a_request) {
    adaptive_throttle_settings s;
    s.max_rejection = 1.0;
    s.min_requests = 1;
    adaptive_throttle t(s);
    t.record_request(0s);
    t.record_request(0s); // 2 requests, no accept: (2 - 0) / 3
    EXPECT_NEAR(t.probability(0s), 2.0 / 3.0, 1e-12);
    (void)t.refuse_call(0s);
    EXPECT_NEAR(t.probability(0s), 3.0 / 4.0, 1e-12);
}

// ---- through the pipeline ---------------------------------------------------------------

/// HTTP-like statuses: 503 transient, 400 permanent.
class status_category final : public classified_category {
public:
    const char* name() const noexcept override { return "test.status"; }
    std::string message(int) const override { return "status"; }
    fault_class fault_of(int code) const noexcept override {
        return code == 503 ? fault_class::transient : fault_class::permanent;
    }
};
std::error_code status(int code) {
    return {code, category_instance<status_category>()};
}

class budget_pipeline_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    pipeline_policy policy_with(std::shared_ptr<retry_budget> budget,
                                std::shared_ptr<adaptive_throttle> throttle = nullptr) {
        auto chain = std::make_shared<strategy_chain>();
        chain->gate = std::make_shared<budget_gate>(std::move(budget), std::move(throttle));
        pipeline_policy policy;
        policy.retry.max_attempts = 5;
        policy.retry.backoff.kind = backoff_kind::constant;
        policy.retry.backoff.initial = 10ms;
        policy.retry.backoff.jitter = jitter_kind::none;
        policy.strategies = chain;
        return policy;
    }
    /// One call of `op` through `p`, run until it completes.
    call_report run(chain_pipeline& p, scripted_op& op, completion& c) {
        call_report report;
        p.async_run(std::ref(op), report, record(c));
        run_for(context, 1s, [&] { return c.done(); });
        return report;
    }
    asio::io_context context;
};

TEST_F(budget_pipeline_test, a_refused_retry_ends_with_the_last_real_error_and_reason_budget) {
    retry_budget_settings s;
    s.min_per_second = 0.1; // 1 retry in reserve over 10 s
    auto budget = std::make_shared<retry_budget>(s);
    chain_pipeline p(context, "dep", policy_with(budget));
    scripted_op op(context, {fail(status(503))});
    completion c;
    const call_report report = run(p, op, c);
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, status(503));
    EXPECT_EQ(op.calls(), 2) << "1 in reserve + 20% of 1 call: one retry";
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.reason, give_up_reason::budget);
    EXPECT_EQ(to_string(report.reason), "budget");
    EXPECT_EQ(report.refusal, make_error_code(errc::retry_budget_exhausted));
    EXPECT_EQ(report.outcome, call_outcome::failure_after_retry);
    EXPECT_EQ(budget->denied(), 1u);
}

TEST_F(budget_pipeline_test, a_throttled_call_ends_rejected_with_no_attempt) {
    adaptive_throttle_settings ts;
    ts.min_requests = 1;
    ts.max_rejection = 1.0;
    auto throttle = std::make_shared<adaptive_throttle>(ts);
    for (int i = 0; i < 1000; ++i) // no accept: refusal probability 1000/1001
        throttle->record_request(manual_clock::now().time_since_epoch());
    chain_pipeline p(context, "dep", policy_with(nullptr, throttle));
    scripted_op op(context, {ok(1)});
    completion c;
    const call_report report = run(p, op, c);
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, make_error_code(errc::throttled_locally));
    EXPECT_TRUE(c.ec == condition::rejected);
    EXPECT_EQ(op.calls(), 0) << "the operation is never called";
    EXPECT_EQ(report.attempts, 0);
    EXPECT_EQ(report.outcome, call_outcome::rejected);
    EXPECT_EQ(report.fault, fault_class::rejected);
    EXPECT_EQ(throttle->refused(), 1u);
}

TEST_F(budget_pipeline_test, the_throttle_hears_which_calls_the_dependency_answered) {
    adaptive_throttle_settings ts;
    ts.min_requests = 1000; // never refuses here: only counts
    auto throttle = std::make_shared<adaptive_throttle>(ts);
    pipeline_policy policy = policy_with(nullptr, throttle);
    policy.retry.max_attempts = 1;
    chain_pipeline p(context, "dep", policy);
    scripted_op bad_request(context, {fail(status(400))});
    scripted_op unavailable(context, {fail(status(503))});
    scripted_op fine(context, {ok(1)});
    completion a, b, c;
    p.async_run(std::ref(bad_request), record(a));
    p.async_run(std::ref(unavailable), record(b));
    p.async_run(std::ref(fine), record(c));
    run_for(context, 1s, [&] { return a.done() && b.done() && c.done(); });
    const clock_ticks now = manual_clock::now().time_since_epoch();
    EXPECT_EQ(throttle->requests(now), 3);
    EXPECT_EQ(throttle->accepts(now), 2) << "the 400 and the success; not the 503";
}

TEST_F(budget_pipeline_test, a_400_does_not_change_the_tokens_and_a_503_takes_one) {
    auto budget = std::make_shared<retry_budget>(tokens(10, 0.1));
    chain_pipeline p(context, "dep", policy_with(budget));
    scripted_op bad_request(context, {fail(status(400))});
    completion c;
    p.async_run(std::ref(bad_request), record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(bad_request.calls(), 1);
    EXPECT_EQ(budget->milli_tokens(), 10'000);
    scripted_op unavailable_then_ok(context, {fail(status(503)), ok(7)});
    completion d;
    p.async_run(std::ref(unavailable_then_ok), record(d));
    run_for(context, 1s, [&] { return d.done(); });
    EXPECT_EQ(d.value, 7);
    EXPECT_EQ(budget->milli_tokens(), 9'100) << "-1 for the 503, +0.1 for the success";
}

TEST_F(budget_pipeline_test, a_tokens_budget_below_half_stops_retries) {
    auto budget = std::make_shared<retry_budget>(tokens(4, 0.1));
    chain_pipeline p(context, "dep", policy_with(budget));
    scripted_op op(context, {fail(status(503))});
    completion c;
    const call_report report = run(p, op, c);
    // 4 -> 3 (retry), 3 -> 2 (2 is not more than 2: refused).
    EXPECT_EQ(op.calls(), 2);
    EXPECT_EQ(report.reason, give_up_reason::budget);
    EXPECT_EQ(c.ec, status(503));
}

/// A breaker stand-in that refuses every attempt, as an open circuit does.
struct open_circuit final : admission_strategy {
    int asked = 0;
    admission admit(clock_ticks, admission_waiter&) override {
        ++asked;
        return admission::reject(errc::circuit_open);
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {}
};

TEST_F(budget_pipeline_test, a_call_an_open_breaker_refuses_deposits_nothing) {
    retry_budget_settings s;
    s.percent = 100; // a call deposits a whole retry: visible in available()
    auto budget = std::make_shared<retry_budget>(s);
    pipeline_policy policy = policy_with(budget);
    auto breaker = std::make_shared<open_circuit>();
    auto chain = std::make_shared<strategy_chain>(*policy.strategies);
    chain->breaker = breaker;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(1)});
    completion c;
    const call_report report = run(p, op, c);
    EXPECT_EQ(c.ec, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.attempts, 0);
    EXPECT_EQ(breaker->asked, 1);
    EXPECT_EQ(budget->available(manual_clock::now().time_since_epoch()), 100.0)
        << "the reserve only: a call never sent deposits nothing";
}

} // namespace
} // namespace keel::test
