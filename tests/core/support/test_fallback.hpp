// Test helper: a fallback (keel::with_fallback) that answers or fails after
// 1 ms on the manual clock and remembers what it was told.
#pragma once

#include <keel/fallback.hpp>
#include <keel/testing/manual_clock.hpp>

#include <asio/compose.hpp>
#include <asio/io_context.hpp>

#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace keel::test {

/// Answers `value`, or fails with `error` when it is set; `seen` collects
/// the context of every call.
struct test_fallback {
    asio::io_context* context;
    std::error_code error;
    int value;
    std::vector<fallback_context>* seen;

    template <class Token>
    auto operator()(fallback_context c, Token&& token) {
        seen->push_back(std::move(c));
        auto timer =
            std::make_shared<keel::testing::manual_timer>(*context, std::chrono::milliseconds(1));
        return asio::async_compose<Token, void(std::error_code, int)>(
            [timer, error = error, value = value, started = false](auto& self,
                                                                   std::error_code = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                self.complete(error, error ? 0 : value);
            },
            token, *context);
    }
};

} // namespace keel::test
