// keel::http's messages: header lookup, the response's header block, and
// which requests are idempotent and which may be hedged (keel/http/message.hpp).
#include <keel/http/message.hpp>

#include "text.hpp"

#include <string_view>

namespace keel::http {

std::string_view find_header(const header_list& headers, std::string_view name) noexcept {
    for (const auto& [n, v] : headers)
        if (detail::iequals(n, name))
            return v;
    return {};
}

namespace {

/// One field of a header block: the line up to its '\n' split at the first
/// ':' (the value without surrounding whitespace), or nothing when the line
/// is not a field. `rest` moves past the line.
bool next_field(std::string_view& rest, std::string_view& name, std::string_view& value) {
    while (!rest.empty()) {
        const std::size_t end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            continue;
        name = line.substr(0, colon);
        value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() &&
               (value.back() == '\r' || value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        return true;
    }
    return false;
}

} // namespace

std::string_view response_headers::find(std::string_view name) const noexcept {
    std::string_view rest = block_, field, value;
    while (next_field(rest, field, value))
        if (detail::iequals(field, name))
            return value;
    return {};
}

header_list response_headers::list() const {
    header_list fields;
    std::string_view rest = block_, name, value;
    while (next_field(rest, name, value))
        fields.emplace_back(name, value);
    return fields;
}

std::size_t response_headers::size() const noexcept {
    std::size_t n = 0;
    std::string_view rest = block_, name, value;
    while (next_field(rest, name, value))
        ++n;
    return n;
}

void response_headers::add_line(std::string_view line) {
    // Kept as received, one copy per line: a response's fields are
    // written once and most are never read, so the work of splitting and
    // trimming is left to the reader (next_field). A line without its
    // '\n' gets one, so that lines stay apart.
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return; // the blank line that ends the fields, or not a field
    block_.append(line);
    if (line.back() != '\n')
        block_.push_back('\n');
}

bool is_idempotent(const request& r) noexcept {
    if (r.idempotent)
        return true;
    if (detail::is(r.method, "POST") || detail::is(r.method, "PATCH"))
        return !find_header(r.headers, "Idempotency-Key").empty();
    return true;
}

bool may_hedge(const request& r) noexcept {
    using detail::is;
    const std::string_view method = r.method;
    if (is(method, "GET") || is(method, "HEAD") || is(method, "OPTIONS") || is(method, "PUT") ||
        is(method, "DELETE"))
        return true;
    return r.idempotent || !find_header(r.headers, "Idempotency-Key").empty();
}

std::string endpoint_of(std::string_view url) {
    const auto lower = [](std::string_view text) {
        std::string out(text);
        for (char& c : out)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        return out;
    };
    std::string scheme = "http";
    if (const std::size_t sep = url.find("://"); sep != std::string_view::npos) {
        scheme = lower(url.substr(0, sep));
        url.remove_prefix(sep + 3);
    }
    std::string_view authority = url.substr(0, url.find_first_of("/?#"));
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos)
        authority.remove_prefix(at + 1);
    // An IPv6 literal keeps its brackets; its colons are not the port's.
    const std::size_t host_end = authority.starts_with('[') ? authority.find(']') + 1 : 0;
    const std::size_t colon = authority.find(':', host_end);
    std::string_view host = authority.substr(0, colon);
    std::string_view port =
        colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
    std::string out = scheme + "://" + lower(host);
    if (port.empty())
        port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
    if (!port.empty())
        out.append(":").append(port);
    return out;
}

} // namespace keel::http
