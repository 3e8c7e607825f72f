// A reload that changes a breaker's settings keeps its state with an empty
// window: the new breaker takes over the previous one's state. Ticks are
// passed to the breaker directly.
#include <keel/circuit_breaker.hpp>
#include <keel/error.hpp>

#include <gtest/gtest.h>

namespace keel::test {
namespace {

using namespace std::chrono_literals;

struct no_wait final : admission_waiter {
    void admitted() noexcept override {}
};

attempt_record failure() {
    attempt_record a;
    a.result = attempt_result::failure;
    a.fault = fault_class::transient;
    return a;
}

attempt_record success() {
    return attempt_record{};
}

/// Admits and releases one attempt at `now`; false when it was refused.
bool run(circuit_breaker& b, clock_ticks now, const attempt_record& how) {
    no_wait waiter;
    const admission a = b.admit(now, waiter);
    if (!a.admitted)
        return false;
    b.release(now, &how, a.ticket);
    return true;
}

circuit_breaker_settings opens_after(int failures) {
    circuit_breaker_settings s;
    s.window_size = failures;
    s.min_calls = failures;
    s.failure_ratio = 1.0;
    s.break_duration = 5s;
    s.break_multiplier = 2.0;
    return s;
}

TEST(circuit_breaker_reload, an_open_breaker_stays_open_until_its_break_ends) {
    circuit_breaker before(opens_after(2));
    ASSERT_TRUE(run(before, 1s, failure()));
    ASSERT_TRUE(run(before, 2s, failure()));
    ASSERT_EQ(before.snapshot(2s).state, circuit_state::open);

    circuit_breaker_settings changed = opens_after(3);
    changed.break_duration = 1s; // the break under way keeps its end
    circuit_breaker after(changed, before);
    const circuit_snapshot open = after.snapshot(6s);
    EXPECT_EQ(open.state, circuit_state::open);
    EXPECT_EQ(open.since, 2s);
    EXPECT_EQ(open.recorded, 0);
    no_wait waiter;
    const admission refused = after.admit(6s, waiter);
    EXPECT_FALSE(refused.admitted);
    EXPECT_EQ(refused.refusal, make_error_code(errc::circuit_open));
    EXPECT_EQ(refused.retry_after, 1s);
    EXPECT_EQ(after.snapshot(7s).state, circuit_state::half_open);
    EXPECT_EQ(after.snapshot(7s).since, 7s);
}

TEST(circuit_breaker_reload, the_window_starts_empty_and_break_lengths_carry_on) {
    circuit_breaker before(opens_after(2));
    ASSERT_TRUE(run(before, 1s, success()));
    ASSERT_TRUE(run(before, 2s, failure()));
    ASSERT_EQ(before.snapshot(2s).recorded, 2);

    circuit_breaker after(opens_after(2), before);
    EXPECT_EQ(after.snapshot(2s).state, circuit_state::closed);
    EXPECT_EQ(after.snapshot(2s).recorded, 0);
    // The old window held a failure; the new one needs two of its own.
    ASSERT_TRUE(run(after, 3s, failure()));
    EXPECT_EQ(after.snapshot(3s).state, circuit_state::closed);
    ASSERT_TRUE(run(after, 4s, failure()));
    EXPECT_EQ(after.snapshot(4s).state, circuit_state::open);

    // Taken over half-open after one opening: a failing probe makes the
    // second opening since it was closed, twice the break.
    ASSERT_EQ(after.snapshot(9s).state, circuit_state::half_open);
    circuit_breaker third(opens_after(2), after);
    ASSERT_TRUE(run(third, 9s, failure()));
    EXPECT_EQ(third.snapshot(9s).state, circuit_state::open);
    EXPECT_EQ(third.snapshot(19s - 1ns).state, circuit_state::open);
    EXPECT_EQ(third.snapshot(19s).state, circuit_state::half_open);
}

TEST(circuit_breaker_reload, an_isolated_breaker_stays_isolated) {
    circuit_breaker before(opens_after(2));
    before.isolate(1s);
    circuit_breaker after(opens_after(5), before);
    EXPECT_TRUE(after.snapshot(1h).isolated);
    EXPECT_EQ(after.snapshot(1h).state, circuit_state::open);
    after.reset(1h);
    EXPECT_EQ(after.snapshot(1h).state, circuit_state::closed);
}

} // namespace
} // namespace keel::test
