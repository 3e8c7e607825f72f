// Reading a dependency's `connection:` section: what keel::http, keel::pg and
// keel::kafka share when they build their options from the configuration
// (positioned errors, the kind check, scalars and known keys).
#pragma once

#include <keel/config/document.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

/// Collects positioned errors about one dependency's connection section.
class section_reader {
public:
    /// Throws config_error unless `dep` is of `kind`; `who` names the reader
    /// ("keel::http::service").
    section_reader(const dependency& dep, dependency_kind kind, std::string_view who);

    /// "dependencies.<name>.connection"
    const std::string& base() const noexcept { return base_; }
    std::vector<diagnostic>& errors() noexcept { return errors_; }

    void error(const position& where, const std::string& key, const std::string& message);
    void error(const value& at, const std::string& key, const std::string& message) {
        error(at.where(), key, message);
    }

    /// The text of a scalar, or an error "expected <expected>".
    std::optional<std::string> scalar(const value& v, const std::string& key, const char* expected);
    /// true or false, or an error.
    std::optional<bool> boolean(const value& v, const std::string& key);
    /// Whether `map` is a map (an error if it is neither that nor empty), with
    /// an error for every key of it not in `keys`.
    bool known(const value& map, const std::string& key,
               std::initializer_list<std::string_view> keys);

    /// Throws config_error with every error collected, if any.
    void throw_if_errors();

private:
    std::string base_;
    std::vector<diagnostic> errors_;
};

} // namespace keel::config
