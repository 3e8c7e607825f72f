// Over 400 lines: the rate limiter's must-show rules of issue 23, read best side by side.
// keel::rate_limiter: the bucket alone (times handed in), then through a
// real pipeline on the manual clock (timed waits on the deadline queue,
// refusals, pushback, cancelled waiters, the total deadline, the
// admission_wait event), and exact counts on eight threads (run under TSan).
#include <keel/bulkhead.hpp>
#include <keel/classified_category.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

/// A dependency's "slow down" (HTTP 429): classified throttled.
class pushback_category final : public classified_category {
public:
    const char* name() const noexcept override { return "test.pushback"; }
    std::string message(int) const override { return "too many requests"; }
    fault_class fault_of(int) const noexcept override { return fault_class::throttled; }
};
std::error_code too_many_requests() {
    return {429, category_instance<pushback_category>()};
}

rate_limit_settings bucket(std::int64_t per_second, std::int64_t burst,
                           std::chrono::nanoseconds max_wait = 0ns) {
    rate_limit_settings s;
    s.rate = {per_second, 1s};
    s.burst = burst;
    s.max_wait = max_wait;
    return s;
}

struct no_waiter final : admission_waiter {
    void admitted() noexcept override {}
};

clock_ticks at(std::chrono::nanoseconds t) {
    return t;
}

// ---- the rate and the settings -----------------------------------------------------

TEST(rate_parse, reads_tokens_per_unit) {
    EXPECT_EQ(*parse_rate("100/s").rate, (token_rate{100, 1s}));
    EXPECT_EQ(*parse_rate("5/ms").rate, (token_rate{5, 1ms}));
    EXPECT_EQ(*parse_rate("3000/m").rate, (token_rate{3000, std::chrono::minutes(1)}));
    EXPECT_EQ(*parse_rate(" 7 / h ").rate, (token_rate{7, std::chrono::hours(1)}));
    EXPECT_EQ(*parse_rate("2/us").rate, (token_rate{2, 1us}));
}

TEST(rate_parse, says_what_is_wrong) {
    EXPECT_EQ(parse_rate("100").error,
              "expected TOKENS/UNIT (e.g. 100/s, 5/ms, 3000/m), got '100'");
    EXPECT_EQ(parse_rate("ten/s").error, "the token count must be a whole number, got 'ten'");
    EXPECT_EQ(parse_rate("1.5/s").error, "the token count must be a whole number, got '1.5'");
    EXPECT_EQ(parse_rate("0/s").error, "the token count must be > 0, got 0");
    EXPECT_EQ(parse_rate("-3/s").error, "the token count must be > 0, got -3");
    EXPECT_EQ(parse_rate("10/d").error,
              "unknown unit 'd' after '/' (expected ns, us, ms, s, m or h)");
    EXPECT_EQ(parse_rate("10/").error,
              "unknown unit '' after '/' (expected ns, us, ms, s, m or h)");
    EXPECT_EQ(parse_rate("99999999999999999999/s").error,
              "the token count '99999999999999999999' is too large");
    EXPECT_FALSE(parse_rate("10/d"));
    EXPECT_TRUE(parse_rate("10/s"));
}

TEST(rate_settings, the_burst_defaults_to_one_second_of_rate) {
    rate_limit_settings s;
    s.rate = *parse_rate("100/s").rate;
    EXPECT_EQ(s.burst_tokens(), 100);
    s.rate = *parse_rate("5/ms").rate;
    EXPECT_EQ(s.burst_tokens(), 5000);
    s.rate = *parse_rate("3000/m").rate;
    EXPECT_EQ(s.burst_tokens(), 50);
    s.rate = *parse_rate("1/h").rate;
    EXPECT_EQ(s.burst_tokens(), 1) << "at least one token";
    EXPECT_EQ((token_rate{10, 1s}.interval()), 100ms);
    EXPECT_EQ((token_rate{3, 1s}.interval()), 333'333'334ns) << "rounded up: never faster";
}

TEST(rate_settings, impossible_values_are_refused_by_name) {
    auto s = bucket(10, 0);
    EXPECT_THROW(validate(s), std::invalid_argument);
    s = bucket(10, 1, -1ms);
    EXPECT_THROW(rate_limiter{s}, std::invalid_argument);
    s = bucket(0, 1);
    try {
        validate(s);
        FAIL() << "a rate of 0 tokens";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "rate_limit: rate: the token count must be > 0 (is 0)");
    }
}

// ---- the bucket alone -----------------------------------------------------------------

TEST(rate_limiter_bucket, ten_pass_at_once_the_eleventh_is_refused_for_100ms_ten_more_at_1s) {
    rate_limiter limiter(bucket(10, 10));
    no_waiter w;
    for (int i = 0; i < 10; ++i)
        EXPECT_TRUE(limiter.admit(at(0s), w).admitted) << i;
    const admission eleventh = limiter.admit(at(0s), w);
    EXPECT_FALSE(eleventh.admitted);
    EXPECT_FALSE(eleventh.wait) << "max_wait 0: refused, never waits";
    EXPECT_EQ(eleventh.refusal, make_error_code(errc::rate_limited));
    EXPECT_EQ(eleventh.retry_after, 100ms);
    for (int i = 0; i < 10; ++i)
        EXPECT_TRUE(limiter.admit(at(1s), w).admitted) << i;
    EXPECT_EQ(limiter.admit(at(1s), w).retry_after, 100ms);
}

TEST(rate_limiter_bucket, a_wait_within_max_wait_reserves_the_next_token_in_order) {
    rate_limiter limiter(bucket(10, 1, 150ms));
    no_waiter w;
    EXPECT_TRUE(limiter.admit(at(0s), w).admitted);
    const admission second = limiter.admit(at(0s), w);
    EXPECT_FALSE(second.admitted);
    EXPECT_TRUE(second.reserved);
    EXPECT_EQ(second.wait, 100ms);
    const admission third = limiter.admit(at(0s), w);
    EXPECT_FALSE(third.reserved);
    EXPECT_FALSE(third.wait);
    EXPECT_EQ(third.retry_after, 200ms) << "the token after the second's";
    EXPECT_EQ(limiter.admit(at(60ms), w).wait, 140ms) << "a later asker queues behind";
}

TEST(rate_limiter_bucket, a_returned_reservation_goes_to_the_next_asker) {
    rate_limiter limiter(bucket(10, 1, 1s));
    no_waiter w;
    limiter.admit(at(0s), w);                     // runs at 0
    const admission b = limiter.admit(at(0s), w); // 100 ms
    const admission c = limiter.admit(at(0s), w); // 200 ms
    ASSERT_EQ(c.wait, 200ms);
    limiter.release(at(50ms), nullptr, b.ticket); // b's call was cancelled
    EXPECT_EQ(limiter.next_free(at(50ms)), at(100ms));
    const admission d = limiter.admit(at(50ms), w);
    EXPECT_EQ(d.wait, 50ms) << "b's token, at 100 ms; c keeps 200 ms";
    EXPECT_EQ(limiter.admit(at(50ms), w).wait, 250ms) << "then behind c";
}

TEST(rate_limiter_bucket, a_returned_token_once_past_is_dropped_and_the_queue_goes_on) {
    rate_limiter limiter(bucket(10, 1, 1s));
    no_waiter w;
    limiter.admit(at(0s), w);                     // runs at 0
    const admission b = limiter.admit(at(0s), w); // 100 ms
    limiter.admit(at(0s), w);                     // 200 ms
    limiter.release(at(50ms), nullptr, b.ticket); // 100 ms kept for the next asker
    EXPECT_EQ(limiter.admit(at(150ms), w).wait, 150ms) << "100 ms is past: the next, 300 ms";
    EXPECT_EQ(limiter.admit(at(150ms), w).wait, 250ms);
    EXPECT_EQ(limiter.next_free(at(150ms)), at(500ms));
}

TEST(rate_limiter_bucket, the_last_reservation_returned_shortens_the_queue) {
    rate_limiter limiter(bucket(10, 1, 1s));
    no_waiter w;
    limiter.admit(at(0s), w);
    limiter.admit(at(0s), w);                     // 100 ms
    const admission c = limiter.admit(at(0s), w); // 200 ms
    limiter.release(at(10ms), nullptr, c.ticket);
    EXPECT_EQ(limiter.admit(at(10ms), w).wait, 190ms);
}

TEST(rate_limiter_bucket, an_unstarted_token_with_nothing_promised_goes_back_into_the_bucket) {
    rate_limiter limiter(bucket(10, 2));
    no_waiter w;
    const admission a = limiter.admit(at(0s), w);
    limiter.admit(at(0s), w);
    EXPECT_FALSE(limiter.admit(at(0s), w).admitted);
    limiter.release(at(0s), nullptr, a.ticket); // the bulkhead refused it
    EXPECT_TRUE(limiter.admit(at(0s), w).admitted);
    EXPECT_FALSE(limiter.admit(at(0s), w).admitted);
    // Never more than the burst: two back into a full bucket leave it full.
    limiter.release(at(5s), nullptr, a.ticket);
    limiter.release(at(5s), nullptr, a.ticket);
    EXPECT_TRUE(limiter.admit(at(5s), w).admitted);
    EXPECT_TRUE(limiter.admit(at(5s), w).admitted);
    EXPECT_FALSE(limiter.admit(at(5s), w).admitted);
}

attempt_record throttled(std::chrono::nanoseconds retry_after) {
    attempt_record r;
    r.result = attempt_result::failure;
    r.fault = fault_class::throttled;
    r.error = too_many_requests();
    r.retry_after = retry_after;
    return r;
}

TEST(rate_limiter_bucket, a_throttled_attempt_pauses_the_bucket_capped_and_only_when_honoured) {
    auto s = bucket(10, 10);
    s.pushback_cap = 5s;
    rate_limiter limiter(s);
    no_waiter w;
    const attempt_record record = throttled(2s);
    limiter.release_at(lazy_time(at(0s)), &record, 0);
    EXPECT_EQ(limiter.paused_until(), at(2s));
    EXPECT_EQ(limiter.admit(at(1999ms), w).retry_after, 1ms);
    EXPECT_TRUE(limiter.admit(at(2s), w).admitted);
    EXPECT_EQ(limiter.admit(at(2s), w).retry_after, 100ms) << "it refills from empty";

    const attempt_record long_one = throttled(60s);
    limiter.release(at(3s), &long_one, 0);
    EXPECT_EQ(limiter.paused_until(), at(8s)) << "capped by pushback_cap";

    s.honor_pushback = false;
    rate_limiter deaf(s);
    deaf.release(at(0s), &record, 0);
    EXPECT_TRUE(deaf.admit(at(0s), w).admitted);
}

TEST(rate_limiter_bucket, far_from_the_clocks_epoch_a_pushback_pauses_as_near_it) {
    // A system_clock's time: 56 years since its epoch.
    const clock_ticks now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::years(56));
    auto s = bucket(10, 10);
    s.pushback_cap = std::chrono::hours(24 * 365 * 100); // a cap that never caps
    rate_limiter limiter(s);
    no_waiter w;
    const attempt_record record = throttled(2s);
    limiter.release(now, &record, 0);
    EXPECT_EQ(limiter.paused_until(), now + 2s);
    EXPECT_EQ(limiter.admit(now + 1999ms, w).retry_after, 1ms);
    EXPECT_TRUE(limiter.admit(now + 2s, w).admitted);
}

TEST(rate_limiter_bucket, a_success_or_a_failure_without_advice_changes_nothing) {
    rate_limiter limiter(bucket(10, 1));
    no_waiter w;
    attempt_record r = throttled(2s);
    r.retry_after.reset();
    limiter.release(at(0s), &r, 0);
    r = throttled(2s);
    r.result = attempt_result::success;
    r.fault = fault_class::transient;
    limiter.release(at(0s), &r, 0);
    EXPECT_TRUE(limiter.admit(at(0s), w).admitted);
}

TEST(rate_limiter_bucket, eight_threads_over_two_seconds_get_exactly_2100_tokens) {
    rate_limiter limiter(bucket(1000, 100));
    std::atomic<std::int64_t> now_ms{0};
    std::atomic<std::int64_t> drained_at{-1}; // a refusal was seen at this time
    std::atomic<int> granted{0};
    std::atomic<bool> go{false};
    constexpr std::int64_t end_ms = 2000;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            no_waiter w;
            while (!go.load())
                std::this_thread::yield();
            for (;;) {
                const std::int64_t ms = now_ms.load();
                while (limiter.admit(at(std::chrono::milliseconds(ms)), w).admitted)
                    granted.fetch_add(1);
                drained_at.store(ms);
                if (ms == end_ms)
                    return;
                while (now_ms.load() == ms)
                    std::this_thread::yield();
            }
        });
    go.store(true);
    // The clock moves on only once the bucket is empty at the current time:
    // a token left unclaimed while the bucket is full would be lost.
    for (std::int64_t ms = 0; ms < end_ms; ++ms) {
        while (drained_at.load() != ms)
            std::this_thread::yield();
        now_ms.store(ms + 1);
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(granted.load(), 2100);
}

// ---- through a pipeline ---------------------------------------------------------------

/// Records events::admission_wait; every other event is ignored.
struct wait_log {
    std::shared_ptr<std::vector<events::admission_wait>> waits =
        std::make_shared<std::vector<events::admission_wait>>();
    void on(const events::admission_wait& e) const { waits->push_back(e); }
    template <class Event>
    void on(const Event&) const {}
};
using observed_pipeline =
    basic_pipeline<manual_timer, wait_log, asio::any_io_executor, strategy_chain>;

/// One attempt at a time, `queue_max` waiting at most `timeout`.
bulkhead_settings one_slot(int queue_max = 0, std::chrono::nanoseconds timeout = 50ms) {
    bulkhead_settings s;
    s.max_concurrent = 1;
    s.queue = {queue_max, timeout};
    return s;
}

class rate_limiter_test : public ::testing::Test {
protected:
    void SetUp() override {
        manual_clock::reset();
        origin = manual_clock::now();
    }

    static pipeline_policy policy(std::shared_ptr<rate_limiter> r,
                                  std::shared_ptr<bulkhead> b = nullptr,
                                  std::chrono::nanoseconds total = unlimited) {
        auto chain = std::make_shared<strategy_chain>();
        chain->rate_limiter = std::move(r);
        chain->bulkhead = std::move(b);
        pipeline_policy policy;
        policy.retry.max_attempts = 1;
        policy.timeout.total = total;
        policy.strategies = chain;
        return policy;
    }

    chain_pipeline pipeline(std::shared_ptr<rate_limiter> r, std::shared_ptr<bulkhead> b = nullptr,
                            std::chrono::nanoseconds total = unlimited) {
        return chain_pipeline(context, "dep", policy(std::move(r), std::move(b), total));
    }

    std::chrono::nanoseconds since_start(manual_clock::time_point t) const { return t - origin; }

    asio::io_context context;
    manual_clock::time_point origin;
};

TEST_F(rate_limiter_test, ten_calls_pass_the_eleventh_is_refused_with_100ms_and_ten_more_at_1s) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 10));
    auto p = pipeline(r);
    scripted_op op(context, {ok(1)});
    completion c[21];
    call_report eleventh;
    for (int i = 0; i < 10; ++i)
        p.async_run(std::ref(op), record(c[i]));
    p.async_run(std::ref(op), eleventh, record(c[10]));
    context.poll();
    EXPECT_EQ(op.calls(), 10);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(c[i].value, 1) << i;
    ASSERT_EQ(c[10].calls, 1);
    EXPECT_EQ(c[10].ec, make_error_code(errc::rate_limited));
    EXPECT_TRUE(c[10].ec == condition::rejected);
    EXPECT_EQ(eleventh.attempts, 0);
    EXPECT_EQ(eleventh.outcome, call_outcome::rejected);
    EXPECT_EQ(eleventh.retry_after, 100ms);
    manual_clock::advance(1s);
    for (int i = 11; i < 21; ++i)
        p.async_run(std::ref(op), record(c[i]));
    context.restart();
    context.poll();
    EXPECT_EQ(op.calls(), 20);
    for (int i = 11; i < 21; ++i)
        EXPECT_EQ(c[i].value, 1) << i;
}

TEST_F(rate_limiter_test, max_wait_150ms_runs_the_first_now_the_second_at_100ms_refuses_the_third) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 1, 150ms));
    auto p = pipeline(r);
    scripted_op op(context, {ok(1)});
    completion c[3];
    call_report third;
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));
    p.async_run(std::ref(op), third, record(c[2]));
    context.poll();
    EXPECT_EQ(op.calls(), 1);
    ASSERT_EQ(c[2].calls, 1) << "refused at once, at t=0";
    EXPECT_EQ(c[2].ec, make_error_code(errc::rate_limited));
    EXPECT_EQ(third.retry_after, 200ms);
    EXPECT_EQ(c[1].calls, 0);
    run_for(context, 1s, [&] { return c[1].done(); });
    ASSERT_EQ(op.calls(), 2);
    EXPECT_EQ(since_start(op.seen()[1].started), 100ms) << "the second ran at its token";
    EXPECT_EQ(c[1].value, 1);
}

TEST_F(rate_limiter_test, a_429_with_retry_after_2s_pauses_the_bucket_for_2s) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 10));
    auto p = pipeline(r);
    step throttled_step = fail(too_many_requests());
    throttled_step.retry_after = 2s;
    scripted_op throttling(context, {throttled_step});
    scripted_op op(context, {ok(1)});
    completion first;
    p.async_run(std::ref(throttling), record(first));
    context.poll();
    ASSERT_EQ(first.ec, too_many_requests());
    EXPECT_EQ(r->paused_until(), origin.time_since_epoch() + 2s);

    completion during;
    call_report during_report;
    manual_clock::advance(1999ms);
    p.async_run(std::ref(op), during_report, record(during));
    context.restart();
    context.poll();
    EXPECT_EQ(during.ec, make_error_code(errc::rate_limited)) << "paused at 1.999 s";
    EXPECT_EQ(during_report.retry_after, 1ms);
    EXPECT_EQ(op.calls(), 0);

    completion after;
    manual_clock::advance(1ms);
    p.async_run(std::ref(op), record(after));
    context.restart();
    context.poll();
    EXPECT_EQ(after.value, 1) << "admitted at 2 s";
    EXPECT_EQ(op.calls(), 1);
}

TEST_F(rate_limiter_test, a_cancelled_waiter_returns_its_reservation_to_the_next_one) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 1, 1s));
    auto p = pipeline(r);
    scripted_op op(context, {ok(1)});
    completion first, cancelled, next;
    call_report cancelled_report;
    asio::cancellation_signal signal;
    p.async_run(std::ref(op), record(first));
    p.async_run(std::ref(op), cancelled_report,
                asio::bind_cancellation_slot(signal.slot(), record(cancelled)));
    context.poll();
    EXPECT_EQ(op.calls(), 1) << "the second waits for its token at 100 ms";
    run_for(context, 50ms);
    signal.emit(asio::cancellation_type::terminal);
    context.restart();
    context.poll();
    ASSERT_EQ(cancelled.calls, 1);
    EXPECT_EQ(cancelled.ec, asio::error::operation_aborted);
    EXPECT_EQ(cancelled_report.attempts, 0);
    run_for(context, 10ms);
    p.async_run(std::ref(op), record(next));
    run_for(context, 1s, [&] { return next.done(); });
    ASSERT_EQ(op.calls(), 2) << "the cancelled call never ran";
    EXPECT_EQ(since_start(op.seen()[1].started), 100ms)
        << "the next one ran at the cancelled waiter's token, not at 200 ms";
}

TEST_F(rate_limiter_test, a_wait_past_the_total_deadline_is_refused_at_once_and_handed_back) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 1, 1s));
    auto p = pipeline(r, nullptr, 150ms);
    scripted_op op(context, {ok(1)});
    completion c[3];
    call_report third;
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));        // token at 100 ms: before its deadline
    p.async_run(std::ref(op), third, record(c[2])); // 200 ms: past its 150 ms
    context.poll();
    EXPECT_EQ(op.calls(), 1);
    ASSERT_EQ(c[2].calls, 1) << "refused at once: it never waits first";
    EXPECT_EQ(c[2].ec, make_error_code(errc::rate_limited));
    EXPECT_EQ(third.attempts, 0);
    EXPECT_EQ(third.retry_after, 200ms);
    EXPECT_EQ(r->next_free(origin.time_since_epoch()), origin.time_since_epoch() + 200ms)
        << "its reservation came back: the next token is still the one at 200 ms";
    run_for(context, 1s, [&] { return c[1].done(); });
    EXPECT_EQ(op.calls(), 2);
    EXPECT_EQ(since_start(op.seen()[1].started), 100ms);
}

TEST_F(rate_limiter_test, a_token_the_bulkhead_refuses_goes_back_into_the_bucket) {
    auto r = std::make_shared<rate_limiter>(bucket(10, 1, 1s));
    auto b = std::make_shared<bulkhead>(one_slot());
    auto p = pipeline(r, b);
    scripted_op op(context, {ok(1, 500ms)});
    completion c[2];
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));
    run_for(context, 100ms, [&] { return c[1].done(); });
    ASSERT_EQ(c[1].calls, 1);
    EXPECT_EQ(c[1].ec, make_error_code(errc::bulkhead_full)) << "waited 100 ms, then refused";
    const clock_ticks now = manual_clock::now().time_since_epoch();
    EXPECT_EQ(since_start(manual_clock::now()), 100ms);
    EXPECT_EQ(r->next_free(now), now) << "its token is free again";
    EXPECT_EQ(op.calls(), 1);
    run_for(context, 1s, [&] { return c[0].done(); });
}

TEST_F(rate_limiter_test, every_wait_is_reported_with_its_stage_its_time_and_its_refusal) {
    wait_log log;
    observed_pipeline p(context, "dep",
                        policy(std::make_shared<rate_limiter>(bucket(10, 1, 1s)),
                               std::make_shared<bulkhead>(one_slot(2, 100ms))),
                        log);
    scripted_op op(context, {ok(1, 150ms), ok(2, 500ms)});
    scripted_op second_op(context, {ok(2, 10ms)});
    scripted_op third_op(context, {ok(3, 10ms)});
    completion c[3];
    asio::cancellation_signal signal;
    p.async_run(std::ref(op), record(c[0]));        // runs 0..150 ms
    p.async_run(std::ref(second_op), record(c[1])); // token at 100, bulkhead 100..150
    p.async_run(std::ref(third_op), asio::bind_cancellation_slot(signal.slot(), record(c[2])));
    context.poll();
    EXPECT_TRUE(log.waits->empty()) << "nothing reported for attempts admitted at once";
    run_for(context, 40ms);
    signal.emit(asio::cancellation_type::terminal); // the third waited 40 ms for its token
    run_for(context, 1s, [&] { return c[1].done(); });
    ASSERT_EQ(log.waits->size(), 3u);
    const auto& cut = (*log.waits)[0];
    EXPECT_EQ(cut.stage, admission_stage::rate_limiter);
    EXPECT_EQ(cut.waited, 40ms);
    EXPECT_EQ(cut.refusal, asio::error::operation_aborted);
    EXPECT_EQ(cut.dependency, "dep");
    const auto& token = (*log.waits)[1];
    EXPECT_EQ(token.stage, admission_stage::rate_limiter);
    EXPECT_EQ(token.waited, 100ms);
    EXPECT_FALSE(token.refusal);
    EXPECT_EQ(token.attempt, 1);
    const auto& queue = (*log.waits)[2];
    EXPECT_EQ(queue.stage, admission_stage::bulkhead);
    EXPECT_EQ(queue.waited, 50ms) << "from its token at 100 ms to the free slot at 150 ms";
    EXPECT_FALSE(queue.refusal);
}

TEST_F(rate_limiter_test, a_bulkhead_wait_that_runs_out_is_reported_with_its_refusal) {
    wait_log log;
    observed_pipeline p(context, "dep",
                        policy(nullptr, std::make_shared<bulkhead>(one_slot(1, 100ms))), log);
    scripted_op op(context, {ok(1, 300ms)});
    completion c[2];
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));
    run_for(context, 1s, [&] { return c[1].done(); });
    run_for(context, 1s, [&] { return c[0].done(); });
    ASSERT_EQ(log.waits->size(), 1u);
    EXPECT_EQ((*log.waits)[0].stage, admission_stage::bulkhead);
    EXPECT_EQ((*log.waits)[0].waited, 100ms);
    EXPECT_EQ((*log.waits)[0].refusal, make_error_code(errc::bulkhead_timeout));
}

} // namespace
} // namespace keel::test
