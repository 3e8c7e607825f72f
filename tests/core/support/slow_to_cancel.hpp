// Test helper: an operation that, when cancelled, takes a while more to
// complete, as a client that must tell its server first. Shows that keel
// holds what guards an attempt (a bulkhead's permit) until the operation has
// really completed, not merely until keel stopped waiting for it.
#pragma once

#include "scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>

namespace keel::test {

/// Waits an hour unless cancelled; once cancelled, lingers `linger` out of
/// reach of a second cancel, sets `*completed` and completes with
/// operation_aborted.
struct slow_to_cancel {
    asio::io_context* context;
    std::chrono::nanoseconds linger;
    bool* completed;

    template <class Token>
    auto operator()(const manual_attempt&, Token&& token) {
        auto timer = std::make_shared<manual_timer>(*context, std::chrono::hours(1));
        return asio::async_compose<Token, void(std::error_code, int)>(
            [timer, linger = linger, completed = completed,
             state = 0](auto& self, std::error_code ec = {}) mutable {
                if (state == 0) {
                    state = 1;
                    timer->async_wait(std::move(self));
                    return;
                }
                if (state == 1 && ec == asio::error::operation_aborted) {
                    state = 2; // cancelled: linger, out of reach of a second cancel
                    timer->expires_after(linger);
                    timer->async_wait(
                        asio::bind_cancellation_slot(asio::cancellation_slot(), std::move(self)));
                    return;
                }
                *completed = true;
                self.complete(asio::error::operation_aborted, 0);
            },
            token, *context);
    }
};

} // namespace keel::test
