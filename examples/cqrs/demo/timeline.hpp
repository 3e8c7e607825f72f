// What the demo's report plots: samples of the run taken every half second
// (cumulative counters and current gauges, as read) and the fault phases.
// Plain data, no I/O: a test builds one by hand.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cqrs::demo {

/// One dependency at one sample, summed over every process that calls it.
struct dependency_point {
    double attempts = 0;                      ///< cumulative
    double retries = 0;                       ///< cumulative
    std::map<std::string, double> rejections; ///< cumulative, by reason
    std::string circuit;                      ///< "closed", "half_open", "open"; "": no breaker
    bool has_bulkhead = false;
    double in_flight = 0;
    double limit = 0;
};

struct timeline_sample {
    double at = 0;          ///< seconds since the run started
    double orders_done = 0; ///< cumulative
    /// Event created -> applied to the read model, of the events applied
    /// since the previous sample; empty when none was (or the read model
    /// could not be read).
    std::optional<double> lag_p50_ms, lag_p99_ms;
    std::map<std::string, dependency_point> dependencies;
};

/// A fault in effect over [from, to] (seconds since the run started); a
/// fault that is one action (an error burst, a kill and restart) lasts as
/// long as the action took.
struct fault_phase {
    std::string kind;  ///< the --faults name: broker, pg-restart, ...
    std::string label; ///< what was done, e.g. "broker 2 down"
    double from = 0, to = 0;
};

struct timeline {
    std::string title;
    std::vector<timeline_sample> samples; ///< in time order
    std::vector<fault_phase> phases;      ///< in time order of `from`
};

/// The state a breaker band shows for several breakers of one dependency
/// (one per process): the worst, open over half_open over closed; "" when
/// no process reports one.
std::string worst_circuit_state(const std::map<std::string, double>& breakers_in_state);

} // namespace cqrs::demo
