// Everything the demo runs besides itself: keel-kafka-mock, a throwaway
// PostgreSQL (or external ones), the payment stub, the order service, the
// outbox relay, two projectors and the query service. Started, restarted
// and stopped from the demo's main thread only: a child dies with the
// thread that forked it (PR_SET_PDEATHSIG), and so does the cluster.
#pragma once

#include "options.hpp"
#include "processes.hpp"
#include "scrape.hpp"
#include <harness/pg/cluster.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cqrs::demo {

/// One service process: how it was started (to start it again) and where
/// it answers.
struct service {
    std::string name; ///< its --name (projector-1) and log file's
    std::string executable;
    std::vector<std::string> extra_args;
    bool has_http = false;   ///< answers GET /healthz on http_port
    bool has_metrics = true; ///< answers GET /metrics on metrics_port
    std::uint16_t http_port = 0;
    std::uint16_t metrics_port = 0;
    child process;
    int starts = 0;
    bool crashed = false; ///< killed on purpose, not restarted yet
};

class stack {
public:
    stack(const options& opts, std::string work_dir, const std::atomic<bool>& interrupted);
    ~stack();

    /// Kafka and PostgreSQL (started or external; the databases created),
    /// the services' ports picked, and the CQRS_* environment set for the
    /// services and for the demo's own policies. Throws std::runtime_error.
    void start_infrastructure();
    /// The services, each waited for until ready (needs a running loop
    /// behind `probe`). Throws std::runtime_error naming the service and
    /// its log. Returns whether a service had to move to fresh ports (its
    /// address in the environment changed after the demo's policies were
    /// read).
    bool start_services(http_probe& probe);

    const std::string& bootstrap() const { return bootstrap_; }
    const std::string& event_store_dsn() const { return event_store_dsn_; }
    const std::string& read_model_dsn() const { return read_model_dsn_; }
    std::string url(const std::string& service_name) const; ///< http://127.0.0.1:PORT
    std::vector<service*> services();
    service& get(const std::string& name);

    // ---- faults ----
    bool has_mock() const { return mock_.has_value(); }
    /// Sends one control line to keel-kafka-mock; returns its answer ("ok",
    /// "error: ...", or "no answer").
    std::string mock_control(const std::string& command);
    bool has_cluster() const { return cluster_ != nullptr; }
    /// Stops PostgreSQL like a crash (immediate) and starts it again;
    /// returns when it accepts connections.
    void restart_pg();
    /// Stops a service with SIGKILL (a crash), after adding what its
    /// /metrics said to `banked` (its counters die with it).
    void crash(const std::string& name, http_probe& probe);
    void restart(const std::string& name, http_probe& probe);

    /// keel's counters of every service now, plus those of crashed ones.
    counts_by_dependency scrape_all(http_probe& probe);

    /// Stops everything it started, in reverse order; returns one line per
    /// process that did not end cleanly (a crash during the run shows here).
    std::vector<std::string> stop_all();

    const std::string& work_dir() const { return work_dir_; }
    /// Where PostgreSQL logs, if the demo started it.
    std::string pg_log() const;

private:
    /// The services' URLs, in the environment every service reads them from.
    void export_service_urls();
    void spawn(service& s);
    void wait_ready(service& s, http_probe& probe);
    std::string executable(const std::string& part, const std::string& name) const;

    const options& opts_;
    std::string work_dir_;
    const std::atomic<bool>& interrupted_;
    std::optional<child> mock_;
    bool mock_silent_ = false;
    std::unique_ptr<keel::test::pg::cluster> cluster_;
    std::string bootstrap_;
    std::string event_store_dsn_;
    std::string read_model_dsn_;
    std::vector<std::unique_ptr<service>> services_;
    counts_by_dependency banked_;
};

/// `conninfo` (keywords or a postgresql:// URI) with its database replaced.
std::string with_database(const std::string& conninfo, const std::string& database);

} // namespace cqrs::demo
