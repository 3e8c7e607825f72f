#include <keel/fault.hpp>
#include <keel/http/error.hpp>

#include <curl/curl.h>

#include <mutex>
#include <string>

namespace keel::http {

namespace {

class status_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "keel.http.status"; }
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

class curl_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "keel.http.curl"; }
    std::string message(int code) const override {
        return curl_easy_strerror(static_cast<CURLcode>(code));
    }
};

bool classify_status(const std::error_code& ec, fault_class& out) {
    switch (ec.value()) {
    case 429:
    case 503:
        out = fault_class::throttled;
        return true;
    case 500:
    case 502:
    case 504:
        out = fault_class::transient;
        return true;
    default:
        out = fault_class::permanent;
        return true;
    }
}

bool classify_curl(const std::error_code& ec, fault_class& out) {
    switch (static_cast<CURLcode>(ec.value())) {
    case CURLE_GOT_NOTHING:  // the server closed without a reply
    case CURLE_PARTIAL_FILE: // the body stopped short
    case CURLE_RECV_ERROR:   // without an errno
    case CURLE_SEND_ERROR:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: // DNS hiccups are common in clusters
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        out = fault_class::transient;
        return true;
    case CURLE_OPERATION_TIMEDOUT:
        out = fault_class::timeout;
        return true;
    case CURLE_ABORTED_BY_CALLBACK:
        out = fault_class::cancelled;
        return true;
    default:
        out = fault_class::permanent; // TLS, protocol, bad URL: the same again
        return true;
    }
}

} // namespace

const std::error_category& status_category() noexcept {
    static const status_category_impl instance;
    return instance;
}

std::error_code make_status_error(int status) noexcept {
    return std::error_code(status, status_category());
}

const std::error_category& curl_category() noexcept {
    static const curl_category_impl instance;
    return instance;
}

void register_classifiers() {
    static std::once_flag once;
    std::call_once(once, [] {
        keel::register_classifier(status_category(), &classify_status);
        keel::register_classifier(curl_category(), &classify_curl);
    });
}

} // namespace keel::http
