// The payment service the order service calls, as a stub that misbehaves on
// demand (CONTRACT.md, "Payment stub"): the decisions only — which answer a
// request gets — so they are testable without sockets; main.cpp serves them
// through keel's test_server, which carries out the socket-level faults.
#pragma once

#include "harness/http/test_server.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>

namespace cqrs {

/// Fault mix for POST /payments (POST /admin/faults). Fractions of requests;
/// each request draws once, so unavailable + stall + reset <= 1.
struct payment_faults {
    double unavailable = 0;        ///< 503 with Retry-After: retry_after; nothing charged
    double stall = 0;              ///< charged, then nothing sent for stall_ms, then closed
    double reset = 0;              ///< charged, then the connection reset (SO_LINGER 0)
    std::string retry_after = "1"; ///< the Retry-After value (seconds or an HTTP date)
    long stall_ms = 1000;          ///< 0: the stall lasts until the client gives up
};

struct payment_stats {
    long requests = 0;    ///< POST /payments received (faulted ones included)
    long charges = 0;     ///< distinct Idempotency-Keys charged
    long duplicates = 0;  ///< requests answered with an existing key's payment
    long rejected = 0;    ///< 400 (no key, bad body)
    long unavailable = 0; ///< answered 503
    long stalled = 0;
    long reset = 0;
};

/// Every route of the stub. Thread-safe (the /metrics listener is a second
/// server on its own thread).
class payment_stub {
public:
    explicit payment_stub(std::uint64_t seed) : random_(seed) {}

    /// The answer to one request, any route: /payments (faulted as set),
    /// /admin/faults, /admin/stats, /healthz, /metrics (never faulted).
    keel::test::http::response answer(const keel::test::http::received_request& req);

    payment_stats stats() const;
    payment_faults faults() const;

private:
    using response = keel::test::http::response;
    response pay(const keel::test::http::received_request& req);
    response set_faults(const keel::test::http::received_request& req);
    std::string metrics_text() const;

    mutable std::mutex mutex_;
    std::mt19937_64 random_;
    payment_faults faults_;
    payment_stats stats_;
    std::map<std::string, std::string, std::less<>> payments_; // Idempotency-Key -> payment_id
};

} // namespace cqrs
