// Test helpers: an operation whose attempts follow a script on the manual
// clock, and a loop driver that moves that clock.
#pragma once

#include <keel/attempt.hpp>
#include <keel/testing/manual_clock.hpp>

#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

namespace keel::test {

using namespace std::chrono_literals;
using keel::testing::manual_clock;
using keel::testing::manual_timer;
using manual_attempt = keel::basic_attempt<manual_clock>;

/// What one attempt does: wait `delay` on the manual clock (cancellable),
/// then complete with `result` and `value`, optionally advising a delay.
struct step {
    std::chrono::nanoseconds delay{0};
    std::error_code result{};
    int value = 0;
    std::optional<std::chrono::nanoseconds> retry_after{};
    bool forbid_retry = false; ///< the attempt calls attempt.feedback().do_not_retry()
};

inline step ok(int value, std::chrono::nanoseconds delay = 0ns) {
    return {delay, {}, value, {}};
}
inline step fail(std::error_code ec, std::chrono::nanoseconds delay = 0ns) {
    return {delay, ec, 0, {}};
}
/// Never completes on its own (a week is forever on the manual clock).
inline step hang() {
    return {std::chrono::hours(24 * 7), {}, 0, {}};
}

/// What the operation saw of each attempt.
struct seen_attempt {
    int number;
    manual_clock::time_point started;
    manual_clock::time_point connect_deadline;
    manual_clock::time_point exchange_deadline;
    manual_clock::time_point total_deadline;
    bool cancelled = false;
};

/// An operation factory following a script; the last step repeats.
class scripted_op {
public:
    scripted_op(asio::io_context& context, std::vector<step> steps)
        : context_(&context), steps_(std::move(steps)) {}

    template <class Token>
    auto operator()(const manual_attempt& attempt, Token&& token) {
        const std::size_t index = std::min<std::size_t>(
            static_cast<std::size_t>(attempt.number() - 1), steps_.size() - 1);
        const step s = steps_[index];
        const std::size_t record = seen_.size();
        seen_.push_back({attempt.number(), manual_clock::now(), attempt.connect_deadline(),
                         attempt.exchange_deadline(), attempt.total_deadline()});
        auto timer = std::make_shared<manual_timer>(*context_, s.delay);
        return asio::async_compose<Token, void(std::error_code, int)>(
            [this, timer, s, record, &attempt, started = false](auto& self,
                                                                std::error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                if (ec == asio::error::operation_aborted) {
                    seen_[record].cancelled = true;
                    self.complete(ec, 0);
                    return;
                }
                if (s.retry_after)
                    attempt.feedback().retry_after(*s.retry_after);
                if (s.forbid_retry)
                    attempt.feedback().do_not_retry();
                self.complete(s.result, s.value);
            },
            token, *context_);
    }

    const std::vector<seen_attempt>& seen() const { return seen_; }
    int calls() const { return static_cast<int>(seen_.size()); }

private:
    asio::io_context* context_;
    std::vector<step> steps_;
    std::vector<seen_attempt> seen_;
};

/// Moves the manual clock forward in `tick` steps, polling after each, until
/// `duration` has passed or `done()` holds. Returns the time that passed.
template <class Done>
std::chrono::nanoseconds run_for(asio::io_context& context, std::chrono::nanoseconds duration,
                                 Done done, std::chrono::nanoseconds tick = 1ms) {
    std::chrono::nanoseconds passed{0};
    context.restart();
    context.poll();
    while (!done() && passed < duration) {
        manual_clock::advance(tick);
        passed += tick;
        context.restart();
        context.poll();
    }
    return passed;
}

inline std::chrono::nanoseconds run_for(asio::io_context& context,
                                        std::chrono::nanoseconds duration,
                                        std::chrono::nanoseconds tick = 1ms) {
    return run_for(
        context, duration, [] { return false; }, tick);
}

/// Counts how often a completion handler ran.
struct completion {
    int calls = 0;
    std::error_code ec;
    int value = -1;
    bool done() const { return calls > 0; }
};

inline auto record(completion& c) {
    return [&c](std::error_code ec, int value) {
        ++c.calls;
        c.ec = ec;
        c.value = value;
    };
}

} // namespace keel::test
