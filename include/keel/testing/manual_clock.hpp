// A clock that only moves when a test moves it, and the timer that goes with
// it: 90 seconds of backoff test in microseconds.
#pragma once

#include <asio/basic_waitable_timer.hpp>

#include <atomic>
#include <chrono>

namespace keel::testing {

/// A process-wide manual clock. Time starts at 1000 s and moves only by
/// advance()/set(). Tests that use it must not run in parallel threads of
/// one process against each other's expectations.
struct manual_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<manual_clock>;
    static constexpr bool is_steady = true;

    static time_point now() noexcept { return time_point(duration(now_ns().load())); }
    static void advance(duration d) noexcept { now_ns().fetch_add(d.count()); }
    static void set(time_point t) noexcept { now_ns().store(t.time_since_epoch().count()); }
    static void reset() noexcept { set(time_point(std::chrono::seconds(1000))); }

private:
    static std::atomic<rep>& now_ns() noexcept {
        static std::atomic<rep> value{std::chrono::nanoseconds(std::chrono::seconds(1000)).count()};
        return value;
    }
};

/// Wait traits that never let the reactor sleep: the manual clock cannot wake
/// it. Drive an io_context that uses manual timers with poll(), not run().
struct manual_wait_traits {
    static manual_clock::duration to_wait_duration(const manual_clock::duration&) {
        return manual_clock::duration::zero();
    }
    static manual_clock::duration to_wait_duration(const manual_clock::time_point&) {
        return manual_clock::duration::zero();
    }
};

using manual_timer = asio::basic_waitable_timer<manual_clock, manual_wait_traits>;

} // namespace keel::testing
