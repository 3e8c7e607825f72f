// What every service of the CQRS example starts with: its command line, the
// keel policies of config-examples/cqrs.yaml (watched: edits reload), the
// Prometheus metrics every pipeline records into and /metrics, and one
// io_context that runs until SIGINT or SIGTERM.
#pragma once

#include <keel/config/registry.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace keel::pg {
class service;
}

namespace cqrs {

/// `--name value` pairs and bare `--switch`es. Unknown names are an error
/// that names them (check_known), so a typo in a flag is never ignored.
class flags {
public:
    /// Throws std::invalid_argument for an argument that is not `--name`.
    flags(int argc, char** argv);

    bool has(std::string_view name) const;
    std::string get(std::string_view name, std::string fallback = {}) const;
    /// Throws std::invalid_argument naming the flag when it is not an integer.
    long get_int(std::string_view name, long fallback) const;
    /// Throws std::invalid_argument naming every flag not in `known`.
    void check_known(std::initializer_list<std::string_view> known) const;

private:
    std::map<std::string, std::string, std::less<>> values_;
};

/// One service process. Common flags (see usage_common):
///   --config FILE            policies (default $CQRS_CONFIG, else config-examples/cqrs.yaml)
///   --metrics-listen H:P     /metrics address (default: the file's metrics.listen)
///   --name NAME              the instance name in logs (default: the service's)
class runtime {
public:
    /// Loads the file (throws keel::config::config_error naming file, line,
    /// column and key), makes the registry and starts /metrics.
    runtime(std::string service, const flags& command_line);
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    const std::string& name() const noexcept { return name_; }
    asio::io_context& io() noexcept { return io_; }
    keel::config::registry& policies() noexcept { return *policies_; }
    keel::prometheus::metrics& metrics() noexcept { return *metrics_; }
    /// The port /metrics listens on (0 when the file turns metrics off).
    std::uint16_t metrics_port() const;

    /// Called on the loop when SIGINT or SIGTERM arrives: stop accepting,
    /// finish or abandon work, and let the loop run out (or call stop()).
    void on_shutdown(std::function<void()> handler);
    /// Runs the loop on this thread until it runs out of work or stop().
    void run();
    void stop();

    /// One line on stderr: "<time> <name>: <message>".
    void log(std::string_view message) const;

private:
    std::string name_;
    asio::io_context io_{1};
    std::unique_ptr<keel::prometheus::metrics> metrics_;
    std::unique_ptr<keel::config::registry> policies_;
    std::unique_ptr<keel::prometheus::exposer> exposer_;
    struct watch;
    std::unique_ptr<watch> watch_;
};

/// The flags every service takes, for its --help.
std::string_view usage_common();

/// Applies `statements` (common/schema.hpp) in one transaction through `db`.
asio::awaitable<void> apply_schema(keel::pg::service& db,
                                   std::span<const std::string_view> statements);

/// For handlers that run on a thread of their own (cpp-httplib's): runs
/// `work` on the loop and blocks until it is done; rethrows its exception.
template <class T>
T run_on_loop(asio::io_context& io, asio::awaitable<T> work) {
    return asio::co_spawn(io, std::move(work), asio::use_future).get();
}

} // namespace cqrs
