// keel::http::service: one HTTP dependency of the configuration, with its
// pipeline and a client made from its `connection:` section.
#pragma once

#include <keel/config/dependency_service.hpp>
#include <keel/http/client.hpp>
#include <keel/reporting_pipeline.hpp>

#include <string>
#include <string_view>
#include <type_traits>

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
class service : public config::dependency_service<client> {
public:
    /// Throws std::out_of_range for an unknown dependency, config::config_error
    /// for a bad connection section.
    service(executor_type executor, config::registry& policies, std::string_view dependency)
        : dependency_service(std::move(executor), policies, dependency, options_from) {}

    client& http_client() noexcept { return client_; }

    /// client::async_call through the dependency's pipeline: the same
    /// completion signature (`void(std::error_code, response)`), errors,
    /// cancellation (terminal, partial and total, into the attempt in
    /// flight) and leftovers (a request that may have reached the server).
    /// The service must outlive the call; the request is moved in.
    template <class Token = asio::default_completion_token_t<executor_type>>
    requires(!std::is_same_v<std::decay_t<Token>, call_report>) auto async_send(
        request r, Token&& token = asio::default_completion_token_t<executor_type>()) {
        return call(std::move(r), std::forward<Token>(token));
    }

    /// As above, and `report` (which must outlive the call) says how it
    /// went: the attempts, and in last_operation_error the last error the
    /// server or the connection gave ("connection refused, then 503, then
    /// the total deadline"), which the completion's own error would hide.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_send(request r, call_report& report,
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        return call_reported(report, std::move(r), std::forward<Token>(token));
    }

    /// A GET of `url`, as async_send.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_get(std::string url,
                   Token&& token = asio::default_completion_token_t<executor_type>()) {
        request r;
        r.url = std::move(url);
        return async_send(std::move(r), std::forward<Token>(token));
    }

    /// A POST of `body` (Content-Type `content_type`), as async_send. Not
    /// retried once it may have reached the server: send a request with an
    /// Idempotency-Key (or request::idempotent) through async_send for that.
    /// A cancelled POST may have been applied by the server.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_post(std::string url, std::string body,
                    std::string content_type = "application/json",
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        request r;
        r.method = "POST";
        r.url = std::move(url);
        r.body = std::move(body);
        r.headers.emplace_back("Content-Type", std::move(content_type));
        return async_send(std::move(r), std::forward<Token>(token));
    }
};

} // namespace keel::http
