// From a run to its plot: calls by outcome and attempts, per time bin, and the
// states each strategy was in (from its transitions).
#pragma once

#include "plot.hpp"
#include "scenario.hpp"
#include "simulator.hpp"

namespace keel::sim {

/// The plot of `r` (run with run_options::timeline), titled after `s`.
plot_data plot_of(const run_result& r, const scenario& s);

} // namespace keel::sim
