// From the parsed tree to the values the readers see: `${VAR}` substituted,
// every value and map key positioned. Private to src/config.
#pragma once

#include <keel/config/section_reader.hpp>

#include "tree.hpp"

#include <string>

namespace keel::config::detail {

/// The tree as the readers see it: every value scalar with `${VAR}` and
/// `${VAR:-default}` substituted from `env` (the process environment when
/// empty); keys stay literal, as the rest of the file refers to them. A
/// substitution that fails is reported to `out` at its value, which is then
/// marked value::reported.
value resolve(const node& root, const std::string& file, const environment& env, reader& out);

} // namespace keel::config::detail
