// The loader's own YAML tree: every node keeps its position, and map keys
// keep theirs, which yaml-cpp's Node API loses (and it merges duplicate keys
// silently). Private to src/config.
#pragma once

#include <keel/config/document.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::config::detail {

struct node_entry;

struct node {
    enum class type { null, scalar, map, sequence };

    type kind = type::null;
    int line = 1;     ///< 1-based
    int column = 1;   ///< 1-based
    std::string text; ///< scalars only; after ${VAR} substitution
    /// ${VAR} substitution failed: the error is reported, later checks skip
    /// the node instead of reporting a second, confusing error.
    bool invalid = false;
    /// Maps: (key, value) in file order. Not std::pair: a pair of the
    /// still-incomplete node is ill-formed (clang rejects it).
    std::vector<node_entry> entries;
    std::vector<node> items; ///< sequences

    /// The value of `key` in a map, or nullptr.
    const node* find(std::string_view key) const noexcept;
    /// The key node `key` of a map, or nullptr.
    const node* find_key(std::string_view key) const noexcept;
};

struct node_entry {
    node_entry() = default;
    node_entry(node key, node value) : first(std::move(key)), second(std::move(value)) {}
    node first;  ///< the key
    node second; ///< the value
};

inline const node* node::find(std::string_view key) const noexcept {
    for (const auto& [k, v] : entries)
        if (k.text == key)
            return &v;
    return nullptr;
}

inline const node* node::find_key(std::string_view key) const noexcept {
    for (const auto& [k, v] : entries)
        if (k.text == key)
            return &k;
    return nullptr;
}

/// Parses one YAML document. Syntax errors, duplicate keys and non-scalar
/// keys are appended to `errors`; nullopt when no tree could be built.
/// Duplicate keys are dropped from the tree (the first one is kept).
std::optional<node> parse_tree(std::string_view text, const std::string& file,
                               std::vector<diagnostic>& errors);

/// The whole text of `path`; otherwise nullopt and one error at `path`,
/// "cannot read the <what>: <why>" (missing, a directory, a read error).
std::optional<std::string> read_file(const std::string& path, std::string_view what,
                                     std::vector<diagnostic>& errors);

} // namespace keel::config::detail
