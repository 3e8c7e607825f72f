// Reading a section of a configuration file: the one reader behind the
// loader's own schema and the `connection:` sections that keel::http,
// keel::pg and keel::kafka read, so that every key of a file reads and fails
// alike: the same positions (FILE:LINE:COL), the same "expected X, got Y"
// wording, the same YAML booleans, and "did you mean" for an unknown key or
// choice.
#pragma once

#include <keel/config/document.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

/// The valid names of a map's keys or of a choice, in the order listed.
using names = std::span<const std::string_view>;

/// Levenshtein distance: insertions, deletions and substitutions of bytes.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// "unknown WHAT 'got' (did you mean 'x'?); expected one of: a, b": `x` is
/// the closest of `valid` within edit distance 2, if any; the list is left
/// out when `valid` is empty.
std::string unknown_name(std::string_view what, std::string_view got, names valid);

/// "an empty value", "a map", "a sequence" or the scalar's text in quotes:
/// what "expected X, got Y" says was found instead.
std::string describe(const value& v);

/// "path.key", or "key" when `path` is empty.
std::string join(const std::string& path, std::string_view key);

/// What a duration may be besides a plain duration.
struct duration_rules {
    bool allow_unlimited = false; ///< the word `unlimited` (keel::unlimited)
    bool positive = false;        ///< 0 is an error (a timeout)
};

/// Reads values of a file and collects every problem as a diagnostic (the
/// position of the value, the dotted path, the message), rather than stopping
/// at the first. Each reading function returns nullopt (or false) after
/// reporting why; a value already reported (value::reported) yields nullopt
/// without a second error.
class reader {
public:
    /// Appends to `errors`, which must outlive the reader.
    explicit reader(std::vector<diagnostic>& errors) noexcept : errors_(&errors) {}

    /// `FILE:LINE:COL: error: PATH: MESSAGE` (just MESSAGE when `path` is empty).
    void error(const position& where, const std::string& path, const std::string& message);
    void error(const value& at, const std::string& path, const std::string& message) {
        error(at.where(), path, message);
    }
    const std::vector<diagnostic>& errors() const noexcept { return *errors_; }

    /// Whether `v` is a map to read: false for an empty value (nothing was
    /// written), false and an error for a scalar or a sequence. Every key not
    /// in `valid` is an error at the key, with "did you mean".
    bool map(const value& v, const std::string& path, names valid);
    bool map(const value& v, const std::string& path,
             std::initializer_list<std::string_view> valid) {
        return map(v, path, names(valid.begin(), valid.size()));
    }

    /// Whether `v` is a map of any keys (header names, library properties):
    /// false for an empty value, false and "expected <expected>, got ..." for
    /// a scalar or a sequence.
    bool any_map(const value& v, const std::string& path, std::string_view expected);

    /// map(v, path, valid), then read(key, item, path of the key) for each
    /// entry with a valid key, in file order.
    template <class Read>
    void entries(const value& v, const std::string& path, names valid, Read read) {
        if (!map(v, path, valid))
            return;
        for (const auto& [key, item] : v.entries())
            if (std::find(valid.begin(), valid.end(), key) != valid.end())
                read(key, item, join(path, key));
    }

    /// The text of a scalar, or "expected <expected>, got <what it was>".
    std::optional<std::string> scalar(const value& v, const std::string& path,
                                      std::string_view expected);
    /// A YAML boolean: true, True, TRUE, false, False or FALSE (YAML 1.2's
    /// spellings; yes/no/on/off are YAML 1.1's and a classic surprise).
    std::optional<bool> boolean(const value& v, const std::string& path);
    /// A signed decimal integer that fits a long long.
    std::optional<long long> integer(const value& v, const std::string& path);
    /// A decimal integer >= `min`, else "expected a whole number >= MIN, got X".
    std::optional<long long> whole_number(const value& v, const std::string& path, long long min);
    /// A finite decimal number.
    std::optional<double> number(const value& v, const std::string& path);
    /// A duration with units (parse_duration), and `unlimited` if allowed.
    std::optional<std::chrono::nanoseconds> duration(const value& v, const std::string& path,
                                                     duration_rules rules = {});
    /// The index in `valid` of the scalar's text, or "unknown WHAT" with
    /// "did you mean".
    std::optional<std::size_t> choice(const value& v, const std::string& path,
                                      std::string_view what, names valid);

private:
    std::vector<diagnostic>* errors_;
};

/// A reader for one dependency's `connection:` section, as keel::http,
/// keel::pg and keel::kafka build their options from it:
///
///     section_reader r(dep, dependency_kind::http, "keel::http::service");
///     r.entries(r.section(), r.base(), keys,
///               [&](const std::string& key, const value& v, const std::string& path) {
///                   if (key == "verify") { if (auto b = r.boolean(v, path)) out.verify = *b; }
///               });
///     r.throw_if_errors(); // every problem of the section, positioned
class section_reader : public reader {
public:
    /// Throws config_error unless `dep` is of `kind`; `who` names the caller
    /// ("keel::http::service"). `dep` must outlive the reader.
    section_reader(const dependency& dep, dependency_kind kind, std::string_view who);
    // The base reader points at this one's own list of errors.
    section_reader(const section_reader&) = delete;
    section_reader& operator=(const section_reader&) = delete;

    /// "dependencies.<name>.connection"
    const std::string& base() const noexcept { return base_; }
    /// The section itself (dependency::connection; null when not written).
    const value& section() const noexcept { return *section_; }
    /// Where to report a key the section lacks: the section, or the
    /// dependency's key when there is no section.
    const position& where() const noexcept;

    /// Throws config_error with every error collected, if any.
    void throw_if_errors();

private:
    std::vector<diagnostic> own_errors_;
    std::string base_;
    const value* section_;
    const position* dependency_where_;
};

} // namespace keel::config
