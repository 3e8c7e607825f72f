// What keel-sim writes: the summary for people, the JSON for programs, the
// trace as CSV. Pure formatting of a run_result: the same result, the same
// bytes.
#pragma once

#include "simulator.hpp"

#include <string>

namespace keel::sim {

/// The nearest-rank percentile (`p` in (0, 100]) of ascending `sorted`:
/// the smallest value with at least p% of the values at or below it; 0 when
/// empty.
nanos percentile(const std::vector<nanos>& sorted, double p);

/// Milliseconds as a JSON number: exact to the nanosecond, no exponent, no
/// trailing zeros ("1500", "0.25", "12.000001").
std::string format_ms(nanos d);

/// The run as one JSON object (docs/simulator.md lists its keys).
std::string to_json(const run_result& r);

/// `call,attempt,start_ms,end_ms,result`, one row per attempt (attempt 0:
/// a call refused before any attempt).
std::string to_csv(const run_result& r);

/// The readable summary: calls by outcome, attempts per call, latency
/// percentiles, give-up reasons, rejections, transitions.
std::string summary(const run_result& r, const scenario& s);

} // namespace keel::sim
