// keel::http requests and responses: plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The value of header `name` (case-insensitive), or empty.
std::string_view find_header(const header_list& headers, std::string_view name) noexcept;

struct request {
    std::string method = "GET";
    /// Absolute (`http://host:port/path`) or, with a client's base_url, a
    /// path appended to it (`/orders/42`).
    std::string url;
    header_list headers;
    std::string body;
    /// POST and PATCH are not retried once they may have reached the server
    /// (the server may have acted on them) unless this is set or the request
    /// carries an `Idempotency-Key` header.
    bool idempotent = false;
};

struct response {
    int status = 0; ///< 0 when no response arrived
    header_list headers;
    std::string body;
    std::string_view header(std::string_view name) const noexcept {
        return find_header(headers, name);
    }
};

/// Whether keel may send `r` again after it may have reached the server:
/// GET, HEAD, OPTIONS, TRACE, PUT and DELETE are idempotent by definition
/// (RFC 9110, 9.2.2); POST and PATCH when marked or carrying an
/// Idempotency-Key.
bool is_idempotent(const request& r) noexcept;

} // namespace keel::http
