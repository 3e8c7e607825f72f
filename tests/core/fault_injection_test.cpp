// Fault injection through the real driver on the manual clock (issue 25's
// must-show cases): the seeded rate, no draw when disabled, injected latency
// cut by the exchange deadline, a hang ended by the total deadline, an
// injected error with its advised delay, endpoint, method and statement
// scoping, and an injected error turned into the operation's own (those
// through the operation wrappers that forward them).
#include <keel/circuit_breaker.hpp>
#include <keel/endpoint.hpp>
#include <keel/fallback.hpp>
#include <keel/fault_injection.hpp>
#include <keel/idempotent.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>

#include "support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using manual_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;
using nanos = std::chrono::nanoseconds;

fault_rule error_rule(double rate, std::error_code error = asio::error::connection_refused) {
    fault_rule r;
    r.kind = fault_kind::error;
    r.rate = rate;
    r.error_name = "connection_refused";
    r.error = error;
    return r;
}

/// A rule that applies to every attempt.
fault_rule always(fault_kind kind, nanos delay = {}) {
    fault_rule r;
    r.kind = kind;
    r.rate = 1.0;
    r.delay = delay;
    return r;
}

std::shared_ptr<fault_plan> plan_of(fault_rule rule) {
    return std::make_shared<fault_plan>(std::vector<fault_rule>{std::move(rule)});
}

class fault_injection_test : public ::testing::Test {
protected:
    void SetUp() override {
        manual_clock::reset();
        enable_fault_injection(true);
    }
    void TearDown() override { enable_fault_injection(false); }

    static pipeline_policy policy(std::shared_ptr<fault_plan> plan, int attempts = 1) {
        pipeline_policy p;
        p.retry.max_attempts = attempts;
        p.retry.backoff.jitter = jitter_kind::none;
        p.faults = std::move(plan);
        return p;
    }

    /// Runs `calls` calls of `op`, one after the other; returns how many failed.
    template <class Op>
    int failures(manual_pipeline& pipeline, Op op, int calls) {
        int failed = 0;
        for (int i = 0; i < calls; ++i) {
            completion done;
            pipeline.async_run(op, record(done));
            run_for(context, 1s, [&] { return done.done(); });
            if (done.ec)
                ++failed;
        }
        return failed;
    }

    struct outcome {
        completion done;
        call_report report;
        nanos ended_at{-1};
    };
    template <class Op>
    outcome run_one(manual_pipeline& pipeline, Op op, nanos limit = 10s) {
        outcome o;
        const auto started = manual_clock::now();
        pipeline.async_run(std::move(op), o.report, [&](std::error_code ec, int value) {
            o.ended_at = manual_clock::now() - started;
            record(o.done)(ec, value);
        });
        run_for(context, limit, [&] { return o.done.done(); });
        return o;
    }

    /// One call of `op` through a pipeline of `p`.
    outcome run_with(const pipeline_policy& p, scripted_op& op) {
        manual_pipeline pipeline(context, "orders", p);
        return run_one(pipeline, std::ref(op));
    }

    asio::io_context context;
};

TEST_F(fault_injection_test, a_rate_of_a_tenth_injects_about_1000_of_10000_and_the_seed_replays) {
    auto count = [&](std::uint64_t seed) {
        auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{error_rule(0.1)}, seed);
        manual_pipeline pipeline(context, "orders", policy(plan));
        scripted_op op(context, {ok(1)});
        const int failed = failures(pipeline, std::ref(op), 10000);
        EXPECT_EQ(op.calls(), 10000 - failed); // an injected error never reaches the operation
        EXPECT_EQ(plan->injected(fault_kind::error), static_cast<std::uint64_t>(failed));
        return failed;
    };
    const int first = count(42);
    EXPECT_NEAR(first, 1000, 90);
    EXPECT_EQ(count(42), first);
    EXPECT_NE(count(43), first); // another seed, another run
}

TEST_F(fault_injection_test, disabled_injects_nothing_and_draws_no_random_number) {
    enable_fault_injection(false);
    auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{error_rule(0.5)}, 7);
    manual_pipeline pipeline(context, "orders", policy(plan));
    scripted_op op(context, {ok(1)});
    EXPECT_EQ(failures(pipeline, std::ref(op), 200), 0);
    EXPECT_EQ(op.calls(), 200);
    EXPECT_EQ(plan->draws(), 0u);
    EXPECT_EQ(plan->injected(fault_kind::error), 0u);

    // The same pipeline once enabled: it draws at every call.
    enable_fault_injection(true);
    failures(pipeline, std::ref(op), 10);
    EXPECT_EQ(plan->draws(), 10u);
}

TEST_F(fault_injection_test, injected_latency_is_cut_by_the_exchange_deadline_with_its_timer) {
    pipeline_policy p = policy(plan_of(always(fault_kind::latency, 200ms)));
    p.timeout.exchange = 100ms;
    scripted_op op(context, {ok(1)});
    const outcome o = run_with(p, op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.ec, make_error_code(errc::exchange_timeout));
    // The call completes only once its attempt has: the delay's timer was
    // cancelled at 100 ms, not left to run to 200 ms.
    EXPECT_EQ(o.ended_at, nanos(100ms));
    EXPECT_EQ(op.calls(), 0);
}

TEST_F(fault_injection_test, injected_latency_delays_the_operation_then_runs_it) {
    scripted_op op(context, {ok(5, 30ms)});
    const outcome o = run_with(policy(plan_of(always(fault_kind::latency, 200ms))), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_FALSE(o.done.ec);
    EXPECT_EQ(o.done.value, 5);
    EXPECT_EQ(o.ended_at, nanos(230ms));
}

TEST_F(fault_injection_test, a_hang_ends_only_at_the_total_deadline) {
    pipeline_policy p = policy(plan_of(always(fault_kind::hang)));
    p.timeout.total = 2s;
    scripted_op op(context, {ok(1)});
    const outcome o = run_with(p, op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.ec, make_error_code(errc::deadline_exceeded));
    EXPECT_EQ(o.ended_at, nanos(2s));
    EXPECT_EQ(op.calls(), 0);
}

TEST_F(fault_injection_test, an_injected_error_advises_its_retry_after_as_a_wrapper_does) {
    fault_rule throttled = error_rule(1.0);
    throttled.retry_after = 1s;
    manual_pipeline pipeline(
        context, "orders",
        policy(std::make_shared<fault_plan>(std::vector<fault_rule>{throttled}), 2));
    scripted_op op(context, {ok(1)});
    const outcome o = run_one(pipeline, std::ref(op));
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.ec, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(classify(o.done.ec), fault_class::transient);
    EXPECT_EQ(o.report.attempts, 2);
    EXPECT_EQ(o.ended_at, nanos(1s)); // the advised delay, not the backoff
}

TEST_F(fault_injection_test, a_rule_scoped_to_one_endpoint_never_touches_another) {
    fault_rule refused = error_rule(1.0);
    refused.endpoint = "10.0.0.5:5432";
    auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{refused});
    manual_pipeline pipeline(context, "orders", policy(plan));
    scripted_op op(context, {ok(1)});
    EXPECT_EQ(failures(pipeline, with_endpoint(std::ref(op), "10.0.0.6:5432"), 100), 0);
    EXPECT_EQ(failures(pipeline, std::ref(op), 100), 0); // no endpoint at all
    EXPECT_EQ(op.calls(), 200);
    EXPECT_EQ(failures(pipeline, with_endpoint(std::ref(op), "10.0.0.5:5432"), 100), 100);
    EXPECT_EQ(op.calls(), 200);
    EXPECT_EQ(plan->injected(fault_kind::error), 100u);
}

/// An operation of the user's own that reports its HTTP method and
/// statement name, as keel::http's and keel::pg's calls do.
struct described_op {
    scripted_op* op;
    std::string_view method;
    std::string_view statement;
    std::string_view fault_method() const noexcept { return method; }
    std::string_view fault_statement() const noexcept { return statement; }
    template <class Token>
    auto operator()(const manual_attempt& attempt, Token&& token) {
        return (*op)(attempt, std::forward<Token>(token));
    }
};

/// A plan that fails every POST and every statement named order_total.
std::shared_ptr<fault_plan> posts_and_order_totals_fail() {
    fault_rule posts = error_rule(1.0);
    posts.method = "POST";
    fault_rule totals = error_rule(1.0);
    totals.statement = "order_total";
    return std::make_shared<fault_plan>(std::vector<fault_rule>{posts, totals});
}

TEST_F(fault_injection_test, method_and_statement_selectors_match_through_every_wrapper) {
    auto plan = posts_and_order_totals_fail();
    manual_pipeline pipeline(context, "orders", policy(plan));
    scripted_op op(context, {ok(1)});
    const described_op get{&op, "GET", "insert_order"};
    const described_op post{&op, "POST", "insert_order"};
    const described_op total{&op, "GET", "order_total"};
    // with_fallback's `on` is empty: the fallback never answers, so a
    // failure shows.
    const auto unused_fallback = [](const fallback_context&, auto&& token) {
        return asio::async_initiate<decltype(token), void(std::error_code, int)>(
            [](auto handler) { std::move(handler)(std::error_code(), -1); }, token);
    };
    // Each form of the operation: 10 calls of each kind; only POST and
    // order_total fail, and never reach the operation.
    const auto check = [&](auto wrap, const char* form) {
        const int calls_before = op.calls();
        EXPECT_EQ(failures(pipeline, wrap(get), 10), 0) << form;
        EXPECT_EQ(failures(pipeline, wrap(post), 10), 10) << form;
        EXPECT_EQ(failures(pipeline, wrap(total), 10), 10) << form;
        EXPECT_EQ(op.calls() - calls_before, 10) << form << ": only the GETs ran";
    };
    check([](const described_op& o) { return o; }, "bare");
    check([](const described_op& o) { return idempotent(o); }, "idempotent");
    check([](const described_op& o) { return with_endpoint(o, "db1:5432"); }, "with_endpoint");
    check([&](const described_op& o) { return with_fallback(o, unused_fallback, fault_set{}); },
          "with_fallback");
    check(
        [&](const described_op& o) {
            return with_fallback(with_endpoint(idempotent(o), "db1:5432"), unused_fallback,
                                 fault_set{});
        },
        "all three");
    EXPECT_EQ(plan->injected(fault_kind::error), 5u * 20u);
}

/// An operation whose wrapper reports a refused connection with a code of
/// its own, as keel::pg's calls do (pg::errc::connect_failed): here
/// connect_timeout, whose fault class (timeout) differs from the generic
/// code's (transient), so that a class taken from the wrong code shows.
struct translating_op {
    scripted_op* op;
    std::error_code fault_error(std::error_code generic) const {
        return generic == std::errc::connection_refused ? make_error_code(errc::connect_timeout)
                                                        : generic;
    }
    template <class Token>
    auto operator()(const manual_attempt& attempt, Token&& token) {
        return (*op)(attempt, std::forward<Token>(token));
    }
};

TEST_F(fault_injection_test, an_injected_error_is_the_operations_own_through_every_wrapper) {
    fault_rule refused = error_rule(1.0, std::make_error_code(std::errc::connection_refused));
    fault_rule reset = error_rule(1.0, std::make_error_code(std::errc::connection_reset));
    reset.endpoint = "db2:5432";
    refused.endpoint = "db1:5432";
    auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{refused, reset});
    manual_pipeline pipeline(context, "orders", policy(plan));
    scripted_op op(context, {ok(1)});
    const translating_op translating{&op};
    const auto unused_fallback = [](const fallback_context&, auto&& token) {
        return asio::async_initiate<decltype(token), void(std::error_code, int)>(
            [](auto handler) { std::move(handler)(std::error_code(), -1); }, token);
    };
    const auto check = [&](auto wrap, const char* form) {
        const outcome translated = run_one(pipeline, wrap(translating, "db1:5432"));
        EXPECT_EQ(translated.done.ec, make_error_code(errc::connect_timeout)) << form;
        EXPECT_EQ(classify(translated.done.ec), fault_class::timeout) << form;
        EXPECT_EQ(translated.report.fault, fault_class::timeout) << form;
        // An error the operation does not translate stays the generic one.
        const outcome untranslated = run_one(pipeline, wrap(translating, "db2:5432"));
        EXPECT_EQ(untranslated.done.ec, std::errc::connection_reset) << form;
        EXPECT_EQ(classify(untranslated.done.ec), fault_class::transient) << form;
        // An operation that translates nothing gets the generic code.
        const outcome generic = run_one(pipeline, wrap(std::ref(op), "db1:5432"));
        EXPECT_EQ(generic.done.ec, std::errc::connection_refused) << form;
        EXPECT_EQ(classify(generic.done.ec), fault_class::transient) << form;
    };
    check([](auto o, const char* name) { return with_endpoint(o, name); }, "with_endpoint");
    check([](auto o, const char* name) { return with_endpoint(idempotent(o), name); },
          "idempotent");
    check(
        [&](auto o, const char* name) {
            return with_fallback(with_endpoint(o, name), unused_fallback, fault_set{});
        },
        "with_fallback");
    check(
        [&](auto o, const char* name) {
            return with_fallback(with_endpoint(idempotent(o), name), unused_fallback, fault_set{});
        },
        "all three");
    EXPECT_EQ(op.calls(), 0) << "every attempt was injected";
    EXPECT_EQ(plan->injected(fault_kind::error), 4u * 3u);
}

TEST_F(fault_injection_test, a_latency_rule_never_asks_for_a_translation) {
    // Injected latency runs the operation: there is no injected error.
    struct counting_op : translating_op {
        int* asked;
        std::error_code fault_error(std::error_code generic) const {
            ++*asked;
            return translating_op::fault_error(generic);
        }
    };
    int asked = 0;
    scripted_op op(context, {ok(1)});
    manual_pipeline pipeline(context, "orders", policy(plan_of(always(fault_kind::latency, 10ms))));
    const outcome o = run_one(pipeline, counting_op{{&op}, &asked});
    EXPECT_FALSE(o.done.ec);
    EXPECT_EQ(op.calls(), 1);
    EXPECT_EQ(asked, 0);
}

TEST_F(fault_injection_test, an_operation_that_reports_no_method_or_statement_is_never_selected) {
    auto plan = posts_and_order_totals_fail();
    manual_pipeline pipeline(context, "orders", policy(plan));
    scripted_op op(context, {ok(1)});
    EXPECT_EQ(failures(pipeline, with_endpoint(std::ref(op), "db1:5432"), 10), 0);
    EXPECT_EQ(failures(pipeline, described_op{&op, "", ""}, 10), 0);
    EXPECT_EQ(op.calls(), 20);
    EXPECT_EQ(plan->injected(fault_kind::error), 0u);
}

TEST_F(fault_injection_test, an_injected_error_counts_in_the_breaker_as_a_real_one) {
    auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{error_rule(1.0)});
    pipeline_policy p = policy(plan);
    circuit_breaker_settings settings;
    settings.consecutive_failures = 3;
    auto chain = std::make_shared<strategy_chain>();
    auto breaker = std::make_shared<circuit_breaker>(settings);
    chain->breaker = breaker;
    p.strategies = chain;
    manual_pipeline pipeline(context, "orders", p);
    scripted_op op(context, {ok(1)});
    EXPECT_EQ(failures(pipeline, std::ref(op), 3), 3);
    const outcome o = run_one(pipeline, std::ref(op));
    EXPECT_EQ(o.done.ec, make_error_code(errc::circuit_open));
    EXPECT_EQ(op.calls(), 0);
}

TEST(fault_error_names, core_names_and_registered_families) {
    std::string why;
    EXPECT_EQ(fault_error_from_name("connection_refused", why),
              std::make_error_code(std::errc::connection_refused));
    EXPECT_EQ(fault_error_from_name("connection_reset", why),
              std::make_error_code(std::errc::connection_reset));
    EXPECT_FALSE(fault_error_from_name("conection_refused", why));
    EXPECT_EQ(why, ""); // unknown: the caller offers "did you mean"

    // keel::core alone: a wrapper's family needs that wrapper.
    EXPECT_FALSE(fault_error_from_name("kafka_not_leader_for_partition", why));
    EXPECT_EQ(why, "this program was built without keel::kafka");

    register_fault_error_family(
        "test_", [](std::string_view rest, std::string& reason) -> std::optional<std::error_code> {
            if (rest == "timeout")
                return make_error_code(errc::exchange_timeout);
            reason = "only test_timeout";
            return std::nullopt;
        });
    EXPECT_EQ(fault_error_from_name("test_timeout", why), make_error_code(errc::exchange_timeout));
    EXPECT_FALSE(fault_error_from_name("test_other", why));
    EXPECT_EQ(why, "only test_timeout");
}

} // namespace
} // namespace keel::test
