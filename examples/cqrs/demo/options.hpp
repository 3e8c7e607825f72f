// cqrs-demo's command line: what to run, against what, with which faults.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

namespace cqrs::demo {

/// The faults the demo can inject (--faults).
enum class fault { broker, pg_restart, payment, projector_kill, relay_kill };

struct options {
    int orders = 2000;
    int concurrency = 16;
    std::set<fault> faults;
    std::string kafka;           ///< external bootstrap; empty: start keel-kafka-mock
    std::string pg;              ///< external server's conninfo; empty: start a cluster
    std::string event_store_dsn; ///< explicit databases (with or instead of --pg)
    std::string read_model_dsn;
    std::string bin_dir; ///< empty: this build tree's
    std::string config;  ///< the policies file
    std::uint64_t seed = 1;
    std::string work_dir;              ///< empty: a new temp dir
    std::string occupy_port_of;        ///< a service whose first port is taken (a test)
    std::chrono::seconds timeout{120}; ///< for the read model to catch up
    bool keep = false;                 ///< keep the work dir after a successful run
    std::string report;                ///< the HTML report; empty: report.html in the work dir

    bool external_pg() const { return !pg.empty() || !event_store_dsn.empty(); }
    bool external_kafka() const { return !kafka.empty(); }
    bool has(fault f) const { return faults.count(f) != 0; }
};

/// The help text.
std::string usage();

/// Parses argv (throws std::invalid_argument naming the flag). `help` is set
/// for --help, and the rest is then not checked.
options parse(int argc, char** argv, bool& help);

std::string to_string(fault f);

} // namespace cqrs::demo
