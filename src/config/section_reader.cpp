#include <keel/config/section_reader.hpp>
#include <keel/timeout.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace keel::config {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const bool same = a[i - 1] == b[j - 1];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string unknown_name(std::string_view what, std::string_view got, names valid) {
    std::string out = "unknown " + std::string(what) + " '" + std::string(got) + "'";
    std::string_view best;
    std::size_t best_distance = 3; // a suggestion further away is a guess, not a typo
    for (std::string_view name : valid) {
        const std::size_t d = edit_distance(got, name);
        if (d < best_distance) {
            best_distance = d;
            best = name;
        }
    }
    if (!best.empty())
        out += " (did you mean '" + std::string(best) + "'?)";
    if (valid.empty())
        return out;
    out += "; expected one of: ";
    for (std::size_t i = 0; i < valid.size(); ++i)
        out.append(i ? ", " : "").append(valid[i]);
    return out;
}

std::string describe(const value& v) {
    switch (v.kind()) {
    case value::type::null:
        return "an empty value";
    case value::type::map:
        return "a map";
    case value::type::sequence:
        return "a sequence";
    case value::type::scalar:
        return "\"" + v.scalar() + "\"";
    }
    return "?";
}

std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

void reader::error(const position& where, const std::string& path, const std::string& message) {
    diagnostic d;
    d.where = where;
    d.key_path = path;
    d.message = path.empty() ? message : path + ": " + message;
    errors_->push_back(std::move(d));
}

bool reader::map(const value& v, const std::string& path, names valid) {
    if (v.kind() == value::type::null)
        return false;
    if (v.kind() != value::type::map) {
        if (!v.reported())
            error(v, path, "expected a map, got " + describe(v));
        return false;
    }
    for (const auto& [key, item] : v.entries())
        if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
            std::string message = unknown_name("key", key, valid);
            if (key == "<<")
                message += " (YAML merge keys are not supported: use profiles and extends)";
            error(item.key_where(), join(path, key), message);
        }
    return true;
}

bool reader::any_map(const value& v, const std::string& path, std::string_view expected) {
    if (v.kind() == value::type::map)
        return true;
    if (v.kind() != value::type::null && !v.reported())
        error(v, path, "expected " + std::string(expected) + ", got " + describe(v));
    return false;
}

std::optional<std::string> reader::scalar(const value& v, const std::string& path,
                                          std::string_view expected) {
    if (v.reported())
        return std::nullopt;
    if (v.kind() != value::type::scalar) {
        error(v, path, "expected " + std::string(expected) + ", got " + describe(v));
        return std::nullopt;
    }
    return v.scalar();
}

std::optional<bool> reader::boolean(const value& v, const std::string& path) {
    auto text = scalar(v, path, "a boolean (true or false)");
    if (!text)
        return std::nullopt;
    if (*text == "true" || *text == "True" || *text == "TRUE")
        return true;
    if (*text == "false" || *text == "False" || *text == "FALSE")
        return false;
    error(v, path, "expected a boolean (true or false), got \"" + *text + "\"");
    return std::nullopt;
}

namespace {

/// The whole of `text` as a decimal long long; nullopt otherwise, with
/// `out_of_range` set when it is an integer too large for one.
std::optional<long long> whole_integer(const std::string& text, bool& out_of_range) {
    long long n = 0;
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(text.data(), last, n);
    out_of_range = ec == std::errc::result_out_of_range;
    if (ec != std::errc() || end != last)
        return std::nullopt;
    return n;
}

} // namespace

std::optional<long long> reader::integer(const value& v, const std::string& path) {
    auto text = scalar(v, path, "an integer");
    if (!text)
        return std::nullopt;
    bool out_of_range = false;
    auto n = whole_integer(*text, out_of_range);
    if (out_of_range)
        error(v, path, "integer \"" + *text + "\" is out of range");
    else if (!n)
        error(v, path, "expected an integer, got \"" + *text + "\"");
    return n;
}

std::optional<long long> reader::whole_number(const value& v, const std::string& path,
                                              long long min) {
    const std::string expected = "a whole number >= " + std::to_string(min);
    auto text = scalar(v, path, expected);
    if (!text)
        return std::nullopt;
    bool out_of_range = false;
    auto n = whole_integer(*text, out_of_range);
    if (n && *n >= min)
        return n;
    error(v, path, "expected " + expected + ", got \"" + *text + "\"");
    return std::nullopt;
}

std::optional<double> reader::number(const value& v, const std::string& path) {
    auto text = scalar(v, path, "a number");
    if (!text)
        return std::nullopt;
    double n = 0;
    const char* first = text->data();
    const char* last = first + text->size();
    auto [end, ec] = std::from_chars(first, last, n);
    if (ec != std::errc() || end != last || !std::isfinite(n)) {
        error(v, path, "expected a number, got \"" + *text + "\"");
        return std::nullopt;
    }
    return n;
}

std::optional<std::chrono::nanoseconds> reader::duration(const value& v, const std::string& path,
                                                         duration_rules rules) {
    auto text = scalar(v, path, "a duration (e.g. 250ms)");
    if (!text)
        return std::nullopt;
    if (*text == "unlimited") {
        if (rules.allow_unlimited)
            return unlimited;
        error(v, path, "cannot be unlimited");
        return std::nullopt;
    }
    std::string why;
    auto d = parse_duration(*text, &why);
    if (!d) {
        error(v, path, why);
        return std::nullopt;
    }
    if (rules.positive && *d == std::chrono::nanoseconds::zero()) {
        error(v, path, "a timeout must be positive (write 'unlimited' for no deadline)");
        return std::nullopt;
    }
    return d;
}

std::optional<std::size_t> reader::choice(const value& v, const std::string& path,
                                          std::string_view what, names valid) {
    std::string expected = "one of: ";
    for (std::size_t i = 0; i < valid.size(); ++i)
        expected.append(i ? ", " : "").append(valid[i]);
    auto text = scalar(v, path, expected);
    if (!text)
        return std::nullopt;
    const auto found = std::find(valid.begin(), valid.end(), *text);
    if (found != valid.end())
        return static_cast<std::size_t>(found - valid.begin());
    error(v, path, unknown_name(what, *text, valid));
    return std::nullopt;
}

section_reader::section_reader(const dependency& dep, dependency_kind kind, std::string_view who)
    : reader(own_errors_), base_("dependencies." + dep.name + ".connection"),
      section_(&dep.connection), dependency_where_(&dep.where) {
    if (dep.kind == kind)
        return;
    error(dep.where, "dependencies." + dep.name,
          "is kind " + std::string(to_string(dep.kind)) + ", not " + std::string(to_string(kind)) +
              " (" + std::string(who) + " needs kind: " + std::string(to_string(kind)) + ")");
    throw_if_errors();
}

const position& section_reader::where() const noexcept {
    return section_->kind() == value::type::null ? *dependency_where_ : section_->where();
}

void section_reader::throw_if_errors() {
    if (!own_errors_.empty())
        throw config_error(std::move(own_errors_));
}

} // namespace keel::config
