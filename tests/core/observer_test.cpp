// The events a pipeline reports, in order, with their durations on the manual clock.
#include <keel/observer.hpp>
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace keel::test {
namespace {

/// Writes each event as a line; a pointer so the pipeline's copy shares it.
struct trace_observer {
    std::vector<std::string>* lines;

    template <class... Parts>
    void add(const Parts&... parts) const {
        std::ostringstream out;
        ((out << parts << ' '), ...);
        std::string s = out.str();
        s.pop_back();
        lines->push_back(s);
    }
    static long ms(std::chrono::nanoseconds d) {
        return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
    void on(const events::call_start& e) const { add("call_start", e.dependency); }
    void on(const events::attempt_start& e) const { add("attempt_start", e.attempt); }
    void on(const events::attempt_end& e) const {
        add("attempt_end", e.attempt, to_string(e.result), ms(e.duration));
    }
    void on(const events::retry_scheduled& e) const {
        add("retry", e.next_attempt, ms(e.delay), to_string(e.reason));
    }
    void on(const events::timeout& e) const { add("timeout", e.attempt, to_string(e.phase)); }
    void on(const events::call_end& e) const {
        add("call_end", to_string(e.outcome), e.attempts, ms(e.duration));
    }
};

static_assert(observer_enabled_v<trace_observer>);
static_assert(!observer_enabled_v<null_observer>);

TEST(observer, reports_every_step_of_a_call) {
    manual_clock::reset();
    asio::io_context context;
    std::vector<std::string> lines;
    pipeline_policy policy;
    policy.retry.max_attempts = 3;
    policy.retry.backoff.kind = backoff_kind::constant;
    policy.retry.backoff.initial = 100ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.timeout.exchange = 1s;
    keel::basic_pipeline<manual_timer, trace_observer> p(context, "orders-db", policy,
                                                         trace_observer{&lines});
    scripted_op op(context, {fail(asio::error::connection_refused, 50ms), hang(), ok(1, 20ms)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(context, 10s, [&] { return c.done(); });
    const std::vector<std::string> expected = {
        "call_start orders-db",
        "attempt_start 1",
        "attempt_end 1 failure 50",
        "retry 2 100 transient",
        "attempt_start 2",
        "attempt_end 2 timeout 1000",
        "timeout 2 exchange",
        "retry 3 100 timeout",
        "attempt_start 3",
        "attempt_end 3 success 20",
        "call_end success_after_retry 3 1270",
    };
    EXPECT_EQ(lines, expected);
}

TEST(observer, connect_timeouts_reported_by_the_operation_keep_their_phase) {
    manual_clock::reset();
    asio::io_context context;
    std::vector<std::string> lines;
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    keel::basic_pipeline<manual_timer, trace_observer> p(context, "api", policy,
                                                         trace_observer{&lines});
    scripted_op op(context, {fail(errc::connect_timeout, 300ms)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, errc::connect_timeout);
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[lines.size() - 2], "timeout 1 connect");
    EXPECT_EQ(lines.back(), "call_end timeout 1 300");
}

TEST(observer, admission_stages_have_the_names_metrics_and_traces_use) {
    EXPECT_EQ(to_string(admission_stage::breaker), "breaker");
    EXPECT_EQ(to_string(admission_stage::rate_limiter), "rate_limiter");
    EXPECT_EQ(to_string(admission_stage::bulkhead), "bulkhead");
}

} // namespace
} // namespace keel::test
