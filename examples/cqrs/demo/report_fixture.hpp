// A fixed timeline with every kind of series and fault phase: the input of
// the report's unit tests and of its screenshot test (no demo run needed).
#pragma once

#include "timeline.hpp"

namespace cqrs::demo {

/// 60 s sampled every 500 ms: orders, lag, three dependencies (one named
/// with characters HTML must escape), rejections, a breaker that opens and
/// recovers, a bulkhead's in-flight against its limit, and four phases.
timeline fixture_timeline();

} // namespace cqrs::demo
