// Helpers for running the loop in the kafka tests: bounded waits for an
// event, never a fixed sleep.
#pragma once

#include <asio/io_context.hpp>

#include <chrono>

namespace keel::kafka::testing {

/// Runs `context` until `done()` or `limit` (a bound, not a timing
/// assertion). Returns done().
template <class Predicate>
bool run_until(asio::io_context& context, Predicate done,
               std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
        context.restart();
        context.run_for(std::chrono::milliseconds(20));
    }
    return done();
}

} // namespace keel::kafka::testing
