// What an http integration test's call completed with, a bounded run of the
// loop until it did, and the operation and policy the tests call with.
#pragma once

#include <keel/attempt.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/fault_injection.hpp>
#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
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

/// An operation that GETs `url` through `client` at each attempt, handing
/// the attempt on (its deadlines, its feedback).
inline auto get_each_attempt(keel::http::client& client, std::string url) {
    return [&client, url = std::move(url)](const keel::attempt& a, auto&& token) {
        keel::http::request r;
        r.url = url;
        keel::http::send_options o;
        o.attempt = &a;
        return client.async_send(std::move(r), o, std::forward<decltype(token)>(token));
    };
}

/// The policy the fault-injection tests compare real and injected errors
/// under: two attempts (transient and throttled retried, a server's
/// Retry-After capped at 50 ms, no jitter), 5 s in all, `plan`'s rules
/// (none when null) and `breaker` as the chain's one strategy.
inline pipeline_policy two_attempts_through(std::shared_ptr<circuit_breaker> breaker,
                                            std::shared_ptr<fault_plan> plan) {
    using namespace std::chrono_literals;
    pipeline_policy p;
    p.retry.max_attempts = 2;
    p.retry.backoff.jitter = jitter_kind::none;
    p.retry.retry_on = {fault_class::transient, fault_class::throttled};
    p.retry.retry_after.max = 50ms;
    p.timeout.total = 5s;
    p.faults = std::move(plan);
    auto chain = std::make_shared<strategy_chain>();
    chain->breaker = std::move(breaker);
    p.strategies = std::move(chain);
    return p;
}

} // namespace keel::test::http
