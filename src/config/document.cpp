// The plain data of keel::config: diagnostics, the `connection:` value tree,
// dependency kinds.
#include <keel/config/document.hpp>
#include <keel/internal/listen_address.hpp>

#include <stdexcept>

namespace keel::config {

std::string diagnostic::to_string() const {
    // A problem with the file as a whole (it cannot be read) has no line.
    if (where.line <= 0)
        return where.file + ": error: " + message;
    return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
           ": error: " + message;
}

namespace {

std::string summary(const std::vector<diagnostic>& diagnostics) {
    if (diagnostics.empty())
        return "keel::config: invalid configuration";
    std::string out = diagnostics.front().to_string();
    for (std::size_t i = 1; i < diagnostics.size(); ++i) {
        out.push_back('\n');
        out += diagnostics[i].to_string();
    }
    return out;
}

} // namespace

config_error::config_error(std::vector<diagnostic> diagnostics)
    : std::runtime_error(summary(diagnostics)), diagnostics_(std::move(diagnostics)) {}

const std::string& value::scalar() const {
    if (kind_ != type::scalar)
        throw std::logic_error("keel::config::value: not a scalar");
    return scalar_;
}

const std::vector<std::pair<std::string, value>>& value::entries() const {
    if (kind_ != type::map)
        throw std::logic_error("keel::config::value: not a map");
    return entries_;
}

const std::vector<value>& value::items() const {
    if (kind_ != type::sequence)
        throw std::logic_error("keel::config::value: not a sequence");
    return items_;
}

const value* value::find(std::string_view key) const noexcept {
    if (kind_ != type::map)
        return nullptr;
    for (const auto& [k, v] : entries_)
        if (k == key)
            return &v;
    return nullptr;
}

value value::make_null(position where) {
    value v;
    v.where_ = std::move(where);
    return v;
}

value value::make_scalar(std::string text, position where) {
    value v;
    v.kind_ = type::scalar;
    v.scalar_ = std::move(text);
    v.where_ = std::move(where);
    return v;
}

value value::make_map(std::vector<std::pair<std::string, value>> entries, position where) {
    value v;
    v.kind_ = type::map;
    v.entries_ = std::move(entries);
    v.where_ = std::move(where);
    return v;
}

value value::make_sequence(std::vector<value> items, position where) {
    value v;
    v.kind_ = type::sequence;
    v.items_ = std::move(items);
    v.where_ = std::move(where);
    return v;
}

std::string_view to_string(dependency_kind kind) noexcept {
    switch (kind) {
    case dependency_kind::postgres:
        return "postgres";
    case dependency_kind::kafka:
        return "kafka";
    case dependency_kind::http:
        return "http";
    case dependency_kind::generic:
        return "generic";
    }
    return "generic";
}

const dependency* document::find(std::string_view name) const noexcept {
    for (const dependency& dep : dependencies)
        if (dep.name == name)
            return &dep;
    return nullptr;
}

} // namespace keel::config

namespace keel::config {

bool split_listen_address(std::string_view text, std::string& host, std::uint16_t& port,
                          std::string* why) {
    return keel::internal::split_listen_address(text, host, port, why);
}

} // namespace keel::config
