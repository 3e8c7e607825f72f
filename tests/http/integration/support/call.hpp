// What an http integration test's call completed with, and a bounded run of
// the loop until it did.
#pragma once

#include <keel/http/client.hpp>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <system_error>
#include <utility>

namespace keel::test::http {

/// What a call completed with.
struct outcome {
    bool done = false;
    std::error_code ec;
    keel::http::response r;
};

/// Runs the context until `o` is done (bounded: a hung test fails, it does
/// not hang CI).
inline void run_until(asio::io_context& io, const outcome& o,
                      std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!o.done && std::chrono::steady_clock::now() < end)
        io.run_one_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(o.done) << "the call did not complete";
}

inline auto record(outcome& o) {
    return [&o](std::error_code ec, keel::http::response r) {
        EXPECT_FALSE(o.done) << "handler called twice";
        o.done = true;
        o.ec = ec;
        o.r = std::move(r);
    };
}

} // namespace keel::test::http
