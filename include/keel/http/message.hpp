// keel::http requests and responses: plain values.
#pragma once

#include <cstddef>
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

    /// What fault rules' `method:` selector matches (exactly, as written
    /// here): a call through client::async_call reports it.
    friend std::string_view fault_method_of(const request& r) noexcept { return r.method; }
};

/// A response's header fields as they arrived, kept in one buffer and looked
/// up on demand: a caller reads one or two fields, or none, so splitting
/// every field into strings of its own would cost allocations for nothing.
class response_headers {
public:
    /// The value of the first field named `name` (case-insensitive), or
    /// empty. Valid while this object is neither changed nor destroyed.
    std::string_view find(std::string_view name) const noexcept;
    /// Every field, in the order received.
    header_list list() const;
    /// How many fields there are.
    std::size_t size() const noexcept;
    bool empty() const noexcept { return block_.empty(); }

    /// Adds one field line as received ("Name: value\r\n"); a line that is
    /// not a field (the blank line that ends them) is ignored.
    void add_line(std::string_view line);
    void clear() noexcept { block_.clear(); }
    /// Room for `bytes` of fields, so the usual response takes one allocation.
    void reserve(std::size_t bytes) { block_.reserve(bytes); }

private:
    /// The field lines as received, each ending in '\n'.
    std::string block_;
};

struct response {
    int status = 0; ///< 0 when no response arrived
    response_headers headers;
    std::string body;
    std::string_view header(std::string_view name) const noexcept { return headers.find(name); }
};

/// Whether keel may send `r` again after it may have reached the server:
/// GET, HEAD, OPTIONS, TRACE, PUT and DELETE are idempotent by definition
/// (RFC 9110, 9.2.2); POST and PATCH when marked or carrying an
/// Idempotency-Key.
bool is_idempotent(const request& r) noexcept;

/// Whether keel may send `r` more than once at a time (a dependency's
/// hedging, keel/hedging.hpp): GET, HEAD, OPTIONS, PUT and DELETE (methods
/// are case-sensitive), or a request marked idempotent or carrying an
/// Idempotency-Key (any case). Narrower than is_idempotent: a method keel
/// does not list (TRACE, CONNECT, WebDAV's LOCK) runs one attempt at a time.
bool may_hedge(const request& r) noexcept;

/// The endpoint an absolute URL goes to, as keel keys per-endpoint state
/// (a circuit breaker with `scope: endpoint`): `scheme://host:port`, the
/// scheme and host lower-cased, user info dropped, the port the scheme's
/// default (http 80, https 443) when the URL names none; a URL without a
/// scheme is http. "HTTPS://Api.Example.com/v1" -> "https://api.example.com:443".
std::string endpoint_of(std::string_view url);

} // namespace keel::http
