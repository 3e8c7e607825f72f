// The C++ blocks of docs/circuit-breaker.md: each region is copied into the
// page by scripts/docs-sync; the test build compiles this file.

#include <keel/keel.hpp>

#include <asio/async_result.hpp>

#include <string>
#include <system_error>
#include <vector>

namespace circuit_breaker_docs {

/// Stands for a client's initiating function that reads from one replica.
template <class Token>
auto async_read_replica(const std::string& /*replica*/, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [](auto handler) { std::move(handler)(std::error_code()); }, token);
}

[[maybe_unused]] void per_endpoint(keel::pipeline& replicas, const std::string& replica) {
    // [snippet:with-endpoint]
    auto read = [replica](const keel::attempt&, auto&& token) {
        return async_read_replica(replica, std::forward<decltype(token)>(token));
    };
    // With scope: endpoint, each replica ("db2:5432") has a breaker of its own.
    replicas.async_run(keel::with_endpoint(read, replica), [](std::error_code) { /* ... */ });
    // [end]
}

[[maybe_unused]] void by_hand(keel::endpoint_circuit_breakers& breakers, keel::clock_ticks now,
                             std::vector<std::string>& down) {
    // [snippet:endpoint-control]
    breakers.isolate("http://10.0.0.7:8080", now); // drain one node: refuse its calls
    breakers.reset("http://10.0.0.7:8080", now);   // and let it back in
    for (const keel::endpoint_circuit_snapshot& e : breakers.snapshot(now))
        if (e.snapshot.state != keel::circuit_state::closed)
            down.push_back(e.endpoint);
    // [end]
}

} // namespace circuit_breaker_docs
