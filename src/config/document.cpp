// The plain data of keel::config: diagnostics, the `connection:` value tree,
// dependency kinds.
#include <keel/config/document.hpp>

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
    const auto fail = [&](std::string message) {
        if (why)
            *why = std::move(message);
        return false;
    };
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos)
            return fail("unclosed '[' in \"" + std::string(text) + "\" (write [::1]:9464)");
        host = std::string(text.substr(1, close - 1));
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected host:port, got \"" + std::string(text) + "\" (no port)");
        port_text = text.substr(close + 2);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return fail("expected host:port (e.g. 127.0.0.1:9464), got \"" + std::string(text) +
                        "\"");
        host = std::string(text.substr(0, colon));
        if (host.find(':') != std::string::npos)
            return fail("an IPv6 address needs brackets: [" + host +
                        "]:" + std::string(text.substr(colon + 1)));
        port_text = text.substr(colon + 1);
    }
    if (host.empty())
        return fail("expected host:port, got \"" + std::string(text) +
                    "\" (no host: write 0.0.0.0 to listen on every interface)");
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string_view::npos)
        return fail("the port must be a number from 0 to 65535, got \"" + std::string(port_text) +
                    "\"");
    const unsigned long value = std::stoul(std::string(port_text));
    if (value > 65535)
        return fail("the port must be a number from 0 to 65535, got \"" + std::string(port_text) +
                    "\"");
    port = static_cast<std::uint16_t>(value);
    return true;
}

} // namespace keel::config
