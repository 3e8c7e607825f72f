// Splitting a `host:port` listen address: shared by keel::config (the
// `metrics.listen` key, keel::config::split_listen_address) and
// keel::prometheus's exposer, which must not depend on keel::config.
//
// Internal: not installed, reached only by keel's own targets (their PRIVATE
// include path src/internal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::internal {

/// Splits `host:port` or `[v6-host]:port` (port 0 to 65535; 0 picks a free
/// one). Returns false and says why otherwise.
bool split_listen_address(std::string_view text, std::string& host, std::uint16_t& port,
                          std::string* why);

} // namespace keel::internal
