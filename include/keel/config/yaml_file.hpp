// A YAML file as positioned values: what the policy loader reads, for tools
// that read files of their own with keel's reader (keel-sim's scenarios), so
// that their errors say FILE:LINE:COL like a policy file's.
#pragma once

#include <keel/config/document.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

/// Parses one YAML document into values that know where they were written,
/// with `${VAR}` and `${VAR:-default}` substituted as in a policy file.
/// Problems (syntax, duplicate keys, a failed substitution, an empty
/// document) are appended to `errors`; nullopt when no tree could be built.
/// A failed substitution still yields a tree, its value marked
/// value::reported.
std::optional<value> parse_yaml(std::string_view text, const std::string& name,
                                std::vector<diagnostic>& errors, const load_options& options = {});

/// The same for a file; an unreadable file (missing, a directory) is one
/// error at `path`.
std::optional<value> parse_yaml_file(const std::string& path, std::vector<diagnostic>& errors,
                                     const load_options& options = {});

} // namespace keel::config
