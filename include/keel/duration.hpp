// Writing durations the way keel's configuration reads them: "1m30s", "250ms".
#pragma once

#include <chrono>
#include <string>

namespace keel {

/// Exact and compact: each non-zero unit from hours down to nanoseconds, e.g.
/// "1h2m3s", "250ms", "1s500ms", "0s"; keel::unlimited is "unlimited".
std::string format_duration(std::chrono::nanoseconds d);

} // namespace keel
