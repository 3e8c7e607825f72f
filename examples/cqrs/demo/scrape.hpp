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

/// keel's counters of one dependency, summed over their labels.
struct dependency_counts {
    double calls = 0;
    double recovered = 0; ///< calls that succeeded after retrying
    double failed = 0;    ///< calls that gave up (failure, timeout, rejected)
    double retries = 0;
    double timeouts = 0;
};
using counts_by_dependency = std::map<std::string, dependency_counts>;

/// keel_calls_total, keel_retries_total and keel_timeouts_total of a
/// Prometheus text page, by their `dependency` label.
counts_by_dependency parse_keel_counters(std::string_view page);
void add(counts_by_dependency& into, const counts_by_dependency& more);

} // namespace cqrs::demo
