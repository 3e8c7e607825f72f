// A keel-sim scenario: which policy, which dependency, how calls arrive and
// how the dependency behaves over time (docs/simulator.md). Read from YAML
// with keel's reader, so every problem is reported FILE:LINE:COL, all at once.
#pragma once

#include <keel/config/document.hpp>

#include "dependency_model.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace keel::sim {

/// A call every `interval`, the first at 0.
struct every_arrivals {
    nanos interval{0};
};
/// Poisson arrivals at `per_second` calls per second on average.
struct poisson_arrivals {
    double per_second = 0;
};
/// Calls at these times, in order.
struct explicit_arrivals {
    std::vector<nanos> times;
};
/// A closed loop: each caller starts its next call `think` after its last ended.
struct closed_loop_arrivals {
    int callers = 1;
    nanos think{0};
};
using arrivals =
    std::variant<every_arrivals, poisson_arrivals, explicit_arrivals, closed_loop_arrivals>;

struct scenario {
    std::string source;      ///< the scenario file
    config::document policy; ///< the policy file, or the inline document
    std::string dependency;  ///< whose policy runs
    std::uint64_t seed = 1;
    std::optional<nanos> duration; ///< calls start before it; none: only with `at`
    arrivals calls;
    std::vector<behaviour_window> behaviour; ///< never empty
    /// `operation.idempotent`: whether the simulated operation says it may
    /// run twice at once, so that a `hedge:` hedges it.
    bool idempotent = true;
};

/// Reads and validates a scenario file; a policy path in it is relative to
/// the file's folder. On any problem, nullopt and every problem in `errors`,
/// in file order (a policy file's own problems included).
std::optional<scenario> load_scenario(const std::string& path,
                                      std::vector<config::diagnostic>& errors);

/// The same from text; `name` is used in messages and `folder` resolves a
/// relative policy path.
std::optional<scenario> load_scenario_string(std::string_view text, const std::string& name,
                                             const std::string& folder,
                                             std::vector<config::diagnostic>& errors);

} // namespace keel::sim
