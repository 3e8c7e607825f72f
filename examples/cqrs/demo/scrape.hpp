// Blocking HTTP for the demo's main thread (readiness, fault control,
// /metrics scrapes), and keel's counters read back from a /metrics page.
#pragma once

#include <keel/http/client.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace cqrs::demo {

/// One request at a time from a thread that is not the loop's (it blocks on
/// the loop): no pipeline, no retries; the caller decides what a failure
/// means.
class http_probe {
public:
    explicit http_probe(asio::io_context& io);

    struct result {
        std::error_code error;
        keel::http::response response;
        bool ok() const { return !error && response.status >= 200 && response.status < 300; }
    };
    result get(const std::string& url, std::chrono::milliseconds timeout = std::chrono::seconds(2));
    result post(const std::string& url, std::string body,
                std::chrono::milliseconds timeout = std::chrono::seconds(2));

private:
    result send(keel::http::request r, std::chrono::milliseconds timeout);
    keel::http::client client_;
};

/// keel's metrics of one dependency: counters summed over their labels (and
/// over the processes added together), gauges summed over the processes.
struct dependency_counts {
    double calls = 0;
    double recovered = 0; ///< calls that succeeded after retrying
    double failed = 0;    ///< calls that gave up (failure, timeout, rejected)
    double retries = 0;
    double timeouts = 0;
    double attempts = 0;
    std::map<std::string, double> rejections; ///< keel_rejections_total by reason
    // Gauges: what the processes show now.
    std::map<std::string, double> circuit; ///< keel_circuit_state: breakers in each state
    bool has_bulkhead = false;             ///< some process exports keel_bulkhead_limit
    double in_flight = 0;                  ///< keel_bulkhead_in_flight
    double limit = 0;                      ///< keel_bulkhead_limit
};
using counts_by_dependency = std::map<std::string, dependency_counts>;

/// keel's calls, attempts, retries, timeouts and rejections (counters), and
/// its breakers' states and bulkheads' in-flight and limits (gauges) of a
/// Prometheus text page, by their `dependency` label.
counts_by_dependency parse_keel_counters(std::string_view page);
void add(counts_by_dependency& into, const counts_by_dependency& more);
/// The counters alone: what a process that is gone still contributes.
counts_by_dependency counters_only(counts_by_dependency counts);

} // namespace cqrs::demo
