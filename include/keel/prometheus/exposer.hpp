// keel::prometheus::exposer: the /metrics page Prometheus scrapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Collectable;
class Exposer;
} // namespace prometheus

namespace keel::prometheus {

class metrics;

/// Serves the Prometheus text format over HTTP, from prometheus-cpp's pull
/// exposer (civetweb, its own threads: scraping never runs on the service's
/// Asio threads). Serving stops when it is destroyed.
class exposer {
public:
    /// Listens on `listen` (`host:port` or `[v6-host]:port`; port 0 picks a
    /// free one, see port()) and serves `path`. Throws std::invalid_argument
    /// for a malformed address, std::runtime_error naming the address and
    /// the reason (e.g. "Address already in use") when it cannot listen.
    explicit exposer(std::string_view listen, std::string path = "/metrics");
    /// The same, serving `source`'s registry.
    exposer(const metrics& source, std::string_view listen, std::string path = "/metrics");
    ~exposer();
    exposer(const exposer&) = delete;
    exposer& operator=(const exposer&) = delete;

    /// Adds a registry (or any collectable) to the page; it is dropped from
    /// the page when it expires.
    void add(std::weak_ptr<::prometheus::Collectable> collectable);
    void add(const metrics& source);

    /// The port it listens on (the one the system picked for port 0).
    std::uint16_t port() const;
    /// `http://host:port/path`, the address to scrape.
    std::string url() const;

private:
    std::string host_;
    std::string path_;
    std::unique_ptr<::prometheus::Exposer> server_;
};

} // namespace keel::prometheus
