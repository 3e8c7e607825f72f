#include <keel/classified_category.hpp>
#include <keel/fault_injection.hpp>
#include <keel/http/error.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <optional>
#include <string>

namespace keel::http {

namespace {

class status_category_impl final : public classified_category {
public:
    const char* name() const noexcept override { return "keel.http.status"; }
    fault_class fault_of(int status) const noexcept override {
        switch (status) {
        case 429:
        case 503:
            return fault_class::throttled;
        case 500:
        case 502:
        case 504:
            return fault_class::transient;
        default:
            return fault_class::permanent;
        }
    }
    std::string message(int status) const override {
        const char* reason = "";
        switch (status) {
        case 400:
            reason = " Bad Request";
            break;
        case 401:
            reason = " Unauthorized";
            break;
        case 403:
            reason = " Forbidden";
            break;
        case 404:
            reason = " Not Found";
            break;
        case 408:
            reason = " Request Timeout";
            break;
        case 409:
            reason = " Conflict";
            break;
        case 422:
            reason = " Unprocessable Content";
            break;
        case 429:
            reason = " Too Many Requests";
            break;
        case 500:
            reason = " Internal Server Error";
            break;
        case 501:
            reason = " Not Implemented";
            break;
        case 502:
            reason = " Bad Gateway";
            break;
        case 503:
            reason = " Service Unavailable";
            break;
        case 504:
            reason = " Gateway Timeout";
            break;
        default:
            break;
        }
        return "HTTP " + std::to_string(status) + reason;
    }
};

class curl_category_impl final : public classified_category {
public:
    const char* name() const noexcept override { return "keel.http.curl"; }
    std::string message(int code) const override {
        return curl_easy_strerror(static_cast<CURLcode>(code));
    }
    fault_class fault_of(int code) const noexcept override {
        // Transient: the server closed without a reply, the body stopped
        // short, a send or receive failed without an errno, the connection
        // or a DNS lookup failed (hiccups are common in clusters), an HTTP/2
        // stream broke. Anything else (TLS, protocol, a bad URL) fails the
        // same way again.
        static constexpr CURLcode transient[] = {CURLE_GOT_NOTHING,
                                                 CURLE_PARTIAL_FILE,
                                                 CURLE_RECV_ERROR,
                                                 CURLE_SEND_ERROR,
                                                 CURLE_COULDNT_CONNECT,
                                                 CURLE_COULDNT_RESOLVE_HOST,
                                                 CURLE_COULDNT_RESOLVE_PROXY,
                                                 CURLE_HTTP2,
                                                 CURLE_HTTP2_STREAM};
        const auto curl_code = static_cast<CURLcode>(code);
        if (std::find(std::begin(transient), std::end(transient), curl_code) != std::end(transient))
            return fault_class::transient;
        if (curl_code == CURLE_OPERATION_TIMEDOUT)
            return fault_class::timeout;
        if (curl_code == CURLE_ABORTED_BY_CALLBACK)
            return fault_class::cancelled;
        return fault_class::permanent;
    }
};

} // namespace

const std::error_category& status_category() noexcept {
    return category_instance<status_category_impl>();
}

std::error_code make_status_error(int status) noexcept {
    return std::error_code(status, status_category());
}

const std::error_category& curl_category() noexcept {
    return category_instance<curl_category_impl>();
}

namespace {

std::optional<std::error_code> status_from_name(std::string_view digits, std::string& why) {
    int status = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), status);
    if (ec != std::errc() || end != digits.data() + digits.size() || status < 400 || status > 599) {
        why = "an HTTP error is http_<status> with a status from 400 to 599";
        return std::nullopt;
    }
    return make_status_error(status);
}

// Linked in with the status category: every program that can send a
// request can name its errors in a fault rule.
[[maybe_unused]] const bool registered = (register_fault_errors(), true);

} // namespace

void register_fault_errors() {
    register_fault_error_family("http_", &status_from_name);
}

} // namespace keel::http
