// keel::prometheus and circuit breakers: the exact keel_circuit_* series of a
// real keel::circuit_breaker driven at explicit times, and
// keel_rejections_total by reason through a pipeline whose strategies refuse.
#include <keel/circuit_breaker.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/error.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>
#include <keel/strategy.hpp>

#include "run_call.hpp"
#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace keel::test {
namespace {

/// An attempt waiting for admission: a breaker never makes one wait.
struct no_waiting final : admission_waiter {
    void admitted() noexcept override {}
};

/// One transition's labels besides the dependency.
struct transition {
    std::string from, to, reason;
};

const std::vector<transition> every_transition = {
    {"closed", "open", "failure_ratio"},
    {"closed", "open", "slow_calls"},
    {"closed", "open", "consecutive_failures"},
    {"closed", "open", "isolated"},
    {"open", "half_open", "break_ended"},
    {"half_open", "open", "probe_failed"},
    {"half_open", "open", "half_open_timeout"},
    {"half_open", "open", "isolated"},
    {"half_open", "closed", "probes_succeeded"},
    {"half_open", "closed", "reset"},
    {"open", "closed", "reset"},
};

std::string key(const transition& t) {
    return t.from + ">" + t.to + ":" + t.reason;
}

/// Every possible transition at zero except those given ("from>to:reason").
counts only_transitions(const counts& nonzero) {
    std::vector<std::string> keys;
    for (const transition& t : every_transition)
        keys.push_back(key(t));
    return only(keys, nonzero);
}

/// Opens when 3 or more recorded attempts are half failures; breaks of 5 s,
/// then 10 s; a probe has 10 s to answer.
circuit_breaker_settings three_calls_half_fail() {
    circuit_breaker_settings s;
    s.window_size = 4;
    s.min_calls = 3;
    s.failure_ratio = 0.5;
    s.break_duration = 5s;
    s.break_max = 1min;
    s.break_multiplier = 2.0;
    s.half_open_max_wait = 10s;
    return s;
}

class circuit_metrics_test : public ::testing::Test {
protected:
    circuit_metrics_test() : metrics(options()) {}

    keel::prometheus::metrics_options options() {
        keel::prometheus::metrics_options o;
        o.breaker_clock = [this] { return scrape_at; };
        return o;
    }

    /// One attempt admitted at `at`, ending 1 ms later with `error`.
    static void attempt(circuit_breaker& b, clock_ticks at, std::error_code error = {}) {
        no_waiting waiter;
        const admission a = b.admit(at, waiter);
        ASSERT_TRUE(a.admitted) << "at " << at.count();
        attempt_record r;
        r.result = error ? attempt_result::failure : attempt_result::success;
        r.fault = fault_class::transient;
        r.error = error;
        r.duration = 1ms;
        b.release(at + 1ms, &r, a.ticket);
    }

    /// What a scrape at `at` sees.
    snapshot scrape(clock_ticks at) {
        scrape_at = at;
        return snapshot(metrics.registry());
    }

    static counts states(const snapshot& s, const std::string& dep = "payments") {
        counts out;
        for (const auto& m : s.series("keel_circuit_state", {{"dependency", dep}}))
            for (const auto& l : m.label)
                if (l.name == "state")
                    out[l.value] = m.gauge.value;
        return out;
    }
    static counts state_is(const std::string& current) {
        counts out{{"closed", 0}, {"open", 0}, {"half_open", 0}};
        out.at(current) = 1;
        return out;
    }
    static counts transitions(const snapshot& s, const std::string& dep = "payments") {
        counts out;
        for (const auto& m : s.series("keel_circuit_transitions_total", {{"dependency", dep}})) {
            transition t;
            for (const auto& l : m.label) {
                if (l.name == "from")
                    t.from = l.value;
                else if (l.name == "to")
                    t.to = l.value;
                else if (l.name == "reason")
                    t.reason = l.value;
            }
            out[key(t)] = m.counter.value;
        }
        return out;
    }
    static double ratio(const snapshot& s, const std::string& dep = "payments") {
        return s.gauge("keel_circuit_failure_ratio", {{"dependency", dep}});
    }

    const std::error_code refused = make_error_code(std::errc::connection_refused);
    clock_ticks scrape_at{0};
    keel::prometheus::metrics metrics;
};

TEST_F(circuit_metrics_test, a_watched_breaker_starts_closed_with_every_transition_at_zero) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    const snapshot s = scrape(0s);
    EXPECT_EQ(states(s), state_is("closed"));
    EXPECT_EQ(transitions(s), only_transitions({}));
    EXPECT_EQ(ratio(s), 0.0);
    // A dependency without a breaker has no circuit series.
    metrics.dependency("orders-db");
    EXPECT_TRUE(scrape(0s).series("keel_circuit_state", {{"dependency", "orders-db"}}).empty());
    EXPECT_TRUE(
        scrape(0s).series("keel_circuit_failure_ratio", {{"dependency", "orders-db"}}).empty());
}

TEST_F(circuit_metrics_test, state_ratio_and_transitions_follow_the_breaker) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    attempt(*breaker, 1s);
    attempt(*breaker, 2s, refused);
    snapshot s = scrape(2500ms);
    EXPECT_EQ(states(s), state_is("closed")) << "2 recorded, below min_calls";
    EXPECT_EQ(ratio(s), 0.5);

    attempt(*breaker, 3s, refused); // 2 of 3 failed: opens at 3.001 s until 8.001 s
    s = scrape(4s);
    EXPECT_EQ(states(s), state_is("open"));
    EXPECT_DOUBLE_EQ(ratio(s), 2.0 / 3.0) << "the window that opened it";
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1}}));

    // No call arrives: the scrape itself reads the break's end.
    s = scrape(9s);
    EXPECT_EQ(states(s), state_is("half_open"));
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1},
                                                {"open>half_open:break_ended", 1}}));

    attempt(*breaker, 9500ms, refused); // the probe fails: open for 10 s (x2)
    s = scrape(10s);
    EXPECT_EQ(states(s), state_is("open"));
    attempt(*breaker, 19600ms); // half-open at 19.501 s; the probe succeeds
    s = scrape(20s);
    EXPECT_EQ(states(s), state_is("closed"));
    EXPECT_EQ(ratio(s), 0.0) << "closing empties the window";
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1},
                                                {"open>half_open:break_ended", 2},
                                                {"half_open>open:probe_failed", 1},
                                                {"half_open>closed:probes_succeeded", 1}}));
}

TEST_F(circuit_metrics_test, an_open_period_between_two_scrapes_is_counted) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    EXPECT_EQ(states(scrape(0s)), state_is("closed"));
    for (const clock_ticks at : {1s, 2s, 3s})
        attempt(*breaker, at, refused); // open from 3.001 s to 8.001 s
    attempt(*breaker, 8500ms);          // the probe closes it
    const snapshot s = scrape(10s);
    EXPECT_EQ(states(s), state_is("closed")) << "the gauge never saw it open";
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1},
                                                {"open>half_open:break_ended", 1},
                                                {"half_open>closed:probes_succeeded", 1}}));
}

TEST_F(circuit_metrics_test, a_probe_that_never_ends_reopens_it) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    for (const clock_ticks at : {1s, 2s, 3s})
        attempt(*breaker, at, refused);
    no_waiting waiter;
    ASSERT_TRUE(breaker->admit(9s, waiter).admitted); // the probe, half-open since 8.001 s
    const snapshot s = scrape(18002ms);               // max_wait 10 s ran out at 18.001 s
    EXPECT_EQ(states(s), state_is("open"));
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1},
                                                {"open>half_open:break_ended", 1},
                                                {"half_open>open:half_open_timeout", 1}}));
}

TEST_F(circuit_metrics_test, isolate_and_reset) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    breaker->isolate(1s);
    EXPECT_EQ(states(scrape(100s)), state_is("open")) << "held open past any break";
    breaker->reset(101s);
    const snapshot s = scrape(102s);
    EXPECT_EQ(states(s), state_is("closed"));
    EXPECT_EQ(transitions(s),
              only_transitions({{"closed>open:isolated", 1}, {"open>closed:reset", 1}}));
}

TEST_F(circuit_metrics_test, endpoint_breakers_show_as_their_dependency) {
    auto a = std::make_shared<circuit_breaker>(three_calls_half_fail()); // a:443
    auto b = std::make_shared<circuit_breaker>(three_calls_half_fail()); // b:443
    metrics.watch("payments", a);
    metrics.watch("payments", b);
    attempt(*a, 1s);
    attempt(*a, 2s, refused);
    for (const clock_ticks at : {1s, 2s, 3s})
        attempt(*b, at, refused);
    snapshot s = scrape(4s);
    EXPECT_EQ(s.series("keel_circuit_state").size(), 3u) << "no endpoint label";
    EXPECT_EQ(states(s), state_is("open")) << "b is open, a closed";
    EXPECT_EQ(ratio(s), 1.0) << "the highest: b's";

    s = scrape(9s);
    EXPECT_EQ(states(s), state_is("half_open")) << "b half-open, a closed";
    a->isolate(10s);
    EXPECT_EQ(states(scrape(10s)), state_is("open")) << "a open beats b half-open";

    a->reset(11s);
    attempt(*b, 11s); // b's probe closes it
    s = scrape(12s);
    EXPECT_EQ(states(s), state_is("closed"));
    EXPECT_EQ(ratio(s), 0.0);
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 1},
                                                {"open>half_open:break_ended", 1},
                                                {"half_open>closed:probes_succeeded", 1},
                                                {"closed>open:isolated", 1},
                                                {"open>closed:reset", 1}}));
}

/// The call of an endpoint, as the engine hands it to an endpoint set.
struct call_of final : admission_waiter {
    explicit call_of(std::string_view endpoint) { set_endpoint(endpoint); }
    void admitted() noexcept override {}
};

TEST_F(circuit_metrics_test, an_endpoint_set_counts_its_endpoints_per_state) {
    circuit_breaker_settings settings = three_calls_half_fail();
    settings.scope = circuit_breaker_settings::scope_kind::endpoint;
    auto set = std::make_shared<endpoint_circuit_breakers>(settings);
    metrics.watch("payments", set);
    EXPECT_EQ(states(scrape(0s)), (counts{{"closed", 0}, {"open", 0}, {"half_open", 0}}))
        << "no endpoint yet";
    const auto attempt_of = [&](std::string_view endpoint, clock_ticks at, std::error_code e) {
        call_of call(endpoint);
        const admission a = set->admit(at, call);
        ASSERT_TRUE(a.admitted);
        attempt_record r;
        r.result = e ? attempt_result::failure : attempt_result::success;
        r.fault = fault_class::transient;
        r.error = e;
        set->release(at + 1ms, &r, a.ticket);
    };
    attempt_of("a:443", 1s, {});
    attempt_of("a:443", 2s, refused); // a: 1 of 2 failed, closed
    for (const std::string_view endpoint : {"b:443", "c:443"})
        for (const clock_ticks at : {1s, 2s, 3s})
            attempt_of(endpoint, at, refused);
    snapshot s = scrape(4s);
    EXPECT_EQ(s.series("keel_circuit_state").size(), 3u) << "no endpoint label";
    EXPECT_EQ(states(s), (counts{{"closed", 1}, {"open", 2}, {"half_open", 0}}));
    EXPECT_EQ(ratio(s), 1.0) << "the highest: b's and c's";

    s = scrape(9s); // b's and c's breaks end
    EXPECT_EQ(states(s), (counts{{"closed", 1}, {"open", 0}, {"half_open", 2}}));
    EXPECT_EQ(ratio(s), 1.0) << "b's and c's windows are kept until they close";
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:failure_ratio", 2},
                                                {"open>half_open:break_ended", 2}}))
        << "summed over the endpoints";
}

TEST_F(circuit_metrics_test, a_breaker_watched_twice_counts_once) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    metrics.watch("payments", breaker); // e.g. reported by two pipelines of it
    metrics.breaker_watcher()("payments", breaker);
    breaker->isolate(1s);
    EXPECT_EQ(transitions(scrape(2s)), only_transitions({{"closed>open:isolated", 1}}));
    EXPECT_THROW(metrics.watch("payments", std::shared_ptr<circuit_breaker>()),
                 std::invalid_argument);
    EXPECT_THROW(metrics.watch("payments", std::shared_ptr<endpoint_circuit_breakers>()),
                 std::invalid_argument);
}

TEST_F(circuit_metrics_test, when_its_breakers_are_gone_state_and_ratio_go_too) {
    auto breaker = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", breaker);
    breaker->isolate(1s);
    EXPECT_EQ(states(scrape(2s)), state_is("open"));
    breaker.reset(); // a reload replaced it, say
    snapshot s = scrape(3s);
    EXPECT_TRUE(s.series("keel_circuit_state", {{"dependency", "payments"}}).empty())
        << "no stale open state to alert on";
    EXPECT_TRUE(s.series("keel_circuit_failure_ratio", {{"dependency", "payments"}}).empty());
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:isolated", 1}})) << "counters stay";

    auto next = std::make_shared<circuit_breaker>(three_calls_half_fail());
    metrics.watch("payments", next);
    s = scrape(4s);
    EXPECT_EQ(states(s), state_is("closed"));
    EXPECT_EQ(transitions(s), only_transitions({{"closed>open:isolated", 1}}));
}

TEST(circuit_metrics_lifetime, the_watcher_and_the_breaker_keep_what_they_count_into) {
    auto breaker = std::make_shared<circuit_breaker>(circuit_breaker_settings{});
    std::function<void(std::string_view, const std::shared_ptr<circuit_breaker>&)> watcher;
    std::shared_ptr<::prometheus::Registry> registry;
    {
        keel::prometheus::metrics m;
        watcher = m.breaker_watcher();
        registry = m.registry();
    }
    watcher("payments", breaker);
    breaker->isolate(1s);
    EXPECT_EQ(
        snapshot(registry).counter("keel_circuit_transitions_total", {{"dependency", "payments"},
                                                                      {"from", "closed"},
                                                                      {"to", "open"},
                                                                      {"reason", "isolated"}}),
        1);
}

// ---- keel_rejections_total through a pipeline ---------------------------------------------

using chain_pipeline = keel::basic_pipeline<manual_timer, keel::prometheus::dependency_metrics,
                                            asio::any_io_executor, strategy_chain>;

const std::vector<std::string> refusals = {"circuit_open",           "bulkhead_full",
                                           "bulkhead_timeout",       "rate_limited",
                                           "retry_budget_exhausted", "throttled_locally"};

/// Refuses every attempt with `why`.
struct refuse_all final : admission_strategy {
    explicit refuse_all(std::error_code why) : why(why) {}
    std::error_code why;
    admission admit(clock_ticks, admission_waiter&) override {
        admission a;
        a.admitted = false;
        a.refusal = why;
        return a;
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {}
};

/// Refuses every retry: the budget is spent.
struct no_budget final : retry_gate {
    admission may_retry(clock_ticks, int) noexcept override {
        return admission::reject(errc::retry_budget_exhausted);
    }
};

class rejections_test : public ::testing::Test {
protected:
    rejections_test() : metrics(options()) { manual_clock::reset(); }

    static keel::prometheus::metrics_options options() {
        keel::prometheus::metrics_options o;
        o.breaker_clock = [] { return clock_ticks(manual_clock::now().time_since_epoch()); };
        return o;
    }

    static pipeline_policy policy(std::shared_ptr<strategy_chain> chain) {
        pipeline_policy p;
        p.retry.max_attempts = 3;
        p.retry.backoff.kind = backoff_kind::constant;
        p.retry.backoff.initial = 10ms;
        p.retry.backoff.jitter = jitter_kind::none;
        p.retry.retry_on = {fault_class::transient};
        p.timeout.total = 1s;
        p.strategies = std::move(chain);
        return p;
    }

    call_report run_call(const std::shared_ptr<strategy_chain>& chain,
                         const std::vector<step>& steps) {
        chain_pipeline p(context, "payments", policy(chain), metrics.dependency("payments"));
        return run_to_end(context, p, steps);
    }

    counts rejections() const {
        return snapshot(metrics.registry()).by("keel_rejections_total", "payments", "reason");
    }
    static counts only_refusals(const counts& nonzero) { return only(refusals, nonzero); }
    double calls(const std::string& outcome) const {
        return snapshot(metrics.registry())
            .counter("keel_calls_total", {{"dependency", "payments"}, {"outcome", outcome}});
    }

    asio::io_context context;
    keel::prometheus::metrics metrics;
    const std::error_code refused = make_error_code(std::errc::connection_refused);
};

TEST_F(rejections_test, every_refusal_exists_at_zero) {
    metrics.dependency("payments");
    EXPECT_EQ(rejections(), only_refusals({}));
}

TEST_F(rejections_test, a_first_attempt_refused_by_an_open_breaker) {
    auto breaker = std::make_shared<circuit_breaker>(circuit_breaker_settings{});
    metrics.watch("payments", breaker);
    breaker->isolate(clock_ticks(manual_clock::now().time_since_epoch()));
    auto chain = std::make_shared<strategy_chain>();
    chain->breaker = breaker;
    const call_report r = run_call(chain, {ok(1)});
    EXPECT_EQ(r.outcome, call_outcome::rejected);
    EXPECT_EQ(r.attempts, 0);
    EXPECT_EQ(rejections(), only_refusals({{"circuit_open", 1}}));
    EXPECT_EQ(calls("rejected"), 1);
    EXPECT_EQ(snapshot(metrics.registry())
                  .gauge("keel_circuit_state", {{"dependency", "payments"}, {"state", "open"}}),
              1);
}

TEST_F(rejections_test, a_retry_refused_mid_call_by_the_breaker_it_opened) {
    circuit_breaker_settings settings;
    settings.consecutive_failures = 1; // the first failure opens it
    auto breaker = std::make_shared<circuit_breaker>(settings);
    metrics.watch("payments", breaker);
    auto chain = std::make_shared<strategy_chain>();
    chain->breaker = breaker;
    const call_report r = run_call(chain, {fail(refused, 1ms)});
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    EXPECT_EQ(r.attempts, 1);
    EXPECT_EQ(r.error, refused) << "the operation's own error";
    EXPECT_EQ(rejections(), only_refusals({{"circuit_open", 1}}));
    EXPECT_EQ(calls("failure"), 1);
    const snapshot s(metrics.registry());
    EXPECT_EQ(s.counter("keel_circuit_transitions_total", {{"dependency", "payments"},
                                                           {"from", "closed"},
                                                           {"to", "open"},
                                                           {"reason", "consecutive_failures"}}),
              1);
    EXPECT_EQ(s.gauge("keel_circuit_state", {{"dependency", "payments"}, {"state", "open"}}), 1);
}

TEST_F(rejections_test, counted_by_the_refusal_of_each_strategy) {
    auto bulkhead = std::make_shared<strategy_chain>();
    bulkhead->bulkhead = std::make_shared<refuse_all>(make_error_code(errc::bulkhead_full));
    run_call(bulkhead, {ok(1)});
    auto limiter = std::make_shared<strategy_chain>();
    limiter->rate_limiter = std::make_shared<refuse_all>(make_error_code(errc::rate_limited));
    run_call(limiter, {ok(1)});
    run_call(limiter, {ok(1)});
    auto budget = std::make_shared<strategy_chain>();
    budget->gate = std::make_shared<no_budget>();
    const call_report r = run_call(budget, {fail(refused, 1ms)});
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    run_call(budget, {ok(1)}); // a first success asks the gate nothing
    EXPECT_EQ(
        rejections(),
        only_refusals({{"bulkhead_full", 1}, {"rate_limited", 2}, {"retry_budget_exhausted", 1}}));
    EXPECT_EQ(calls("rejected"), 3);
    EXPECT_EQ(calls("failure"), 1);
    EXPECT_EQ(calls("success"), 1);
}

TEST_F(rejections_test, a_refusal_code_of_the_users_own_is_not_a_reason) {
    auto chain = std::make_shared<strategy_chain>();
    chain->bulkhead =
        std::make_shared<refuse_all>(make_error_code(std::errc::resource_unavailable_try_again));
    const call_report r = run_call(chain, {ok(1)});
    EXPECT_EQ(r.outcome, call_outcome::rejected);
    EXPECT_EQ(rejections(), only_refusals({}));
    EXPECT_EQ(calls("rejected"), 1);
    EXPECT_EQ(
        snapshot(metrics.registry()).gauge("keel_inflight_calls", {{"dependency", "payments"}}), 0)
        << "no other cell was written instead";
}

} // namespace
} // namespace keel::test
