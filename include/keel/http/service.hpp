// keel::http::service: one HTTP dependency of the configuration, with its
// pipeline and a client made from its `connection:` section.
#pragma once

#include <keel/config/dependency_service.hpp>
#include <keel/http/client.hpp>
#include <keel/reporting_pipeline.hpp>

#include <string>
#include <string_view>
#include <tuple>

namespace keel::http {

/// client_options from a `kind: http` dependency's `connection:` section
/// (docs/http.md):
///
///   connection:
///     base_url: https://payments.internal:8443
///     headers: { Authorization: "Bearer ${PAYMENTS_TOKEN}" }
///     tls: { verify: true, ca_file: /etc/ssl/internal-ca.pem }
///     deadline_headers: true
///     max_connections_per_host: 16
///
/// Throws config::config_error naming the file, line, column and key of
/// every problem (and of the dependency, when its kind is not http).
client_options options_from(const config::dependency& dependency);

/// `payments.async_post("/charges", body, token)`: retries, timeouts,
/// Retry-After and metrics from the dependency's entry in the file. Policy
/// reloads apply to the calls that start afterwards; the connection section
/// is read once, here.
class service : public config::dependency_service<http::client> {
public:
    /// Throws std::out_of_range for an unknown dependency, config::config_error
    /// for a bad connection section.
    service(executor_type executor, config::registry& policies, std::string_view dependency)
        : dependency_service(std::move(executor), policies, dependency, options_from) {}

    /// Deprecated (one release): client().
    [[deprecated("use client()")]] http::client& http_client() noexcept { return client(); }

    /// client::async_call through the dependency's pipeline: the same
    /// completion signature (`void(std::error_code, response)`), errors,
    /// cancellation (terminal, partial and total, into the attempt in
    /// flight) and leftovers (a request that may have reached the server).
    /// The service must outlive the call; the request is moved in.
    ///
    /// `tail`: `[call_report& report,] [token]`. A report (which must outlive
    /// the call) says how it went: the attempts, and in last_operation_error
    /// the last error the server or the connection gave ("connection
    /// refused, then 503, then the total deadline"), which the completion's
    /// own error would hide. Every verb of every service takes the same tail.
    template <class... Tail>
    auto async_send(request r, Tail&&... tail) {
        return call(std::forward_as_tuple(std::move(r)), std::forward<Tail>(tail)...);
    }

    /// A GET of `url`, as async_send.
    template <class... Tail>
    auto async_get(std::string url, Tail&&... tail) {
        return async_send(get_request(std::move(url)), std::forward<Tail>(tail)...);
    }

    /// A POST of `body` (Content-Type `content_type`), as async_send. Not
    /// retried once it may have reached the server: send a request with an
    /// Idempotency-Key (or request::idempotent) through async_send for that.
    /// A cancelled POST may have been applied by the server.
    template <class... Tail>
    auto async_post(std::string url, std::string body,
                    std::string content_type = "application/json", Tail&&... tail) {
        return async_send(post_request(std::move(url), std::move(body), std::move(content_type)),
                          std::forward<Tail>(tail)...);
    }

private:
    static request get_request(std::string url) {
        request r;
        r.url = std::move(url);
        return r;
    }
    static request post_request(std::string url, std::string body, std::string content_type) {
        request r;
        r.method = "POST";
        r.url = std::move(url);
        r.body = std::move(body);
        r.headers.emplace_back("Content-Type", std::move(content_type));
        return r;
    }
};

} // namespace keel::http
