// keel::http::client: HTTP requests on the Asio loop (libcurl's multi-socket
// interface), alone or through a keel pipeline.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/call_with_attempts.hpp>
#include <keel/detail/initiate_call.hpp>
#include <keel/detail/io_object.hpp>
#include <keel/http/error.hpp>
#include <keel/http/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::http {

struct tls_options {
    bool verify = true;      ///< verify the server's certificate and name
    std::string ca_file;     ///< PEM bundle; empty: the system's
    std::string client_cert; ///< PEM, for mutual TLS
    std::string client_key;  ///< PEM
};

struct client_options {
    /// Prepended to a request URL that starts with '/'.
    std::string base_url;
    /// Sent with every request (a request's own header of the same name is
    /// sent as well; put per-request values on the request).
    header_list default_headers;
    tls_options tls;
    /// Adds `X-Keel-Attempt: N` and `X-Keel-Deadline-Ms: <ms left>` to each
    /// attempt, so a server can give up when the caller will have (as Envoy
    /// does with x-envoy-expected-rq-timeout-ms).
    bool deadline_headers = false;
    /// Connections kept per host; 0: libcurl's default (no limit).
    long max_connections_per_host = 0;
};

/// Deadlines of one send. Through a pipeline, they come from the attempt.
struct send_options {
    std::optional<std::chrono::milliseconds> connect_timeout; ///< CURLOPT_CONNECTTIMEOUT_MS
    std::optional<std::chrono::milliseconds> timeout;         ///< the whole exchange
    /// The keel attempt this send is (set by async_call): receives the
    /// server's Retry-After, and feedback().outcome_unknown() for a non-idempotent request
    /// that may have reached the server. Must outlive the send.
    const keel::attempt* attempt = nullptr;
};

namespace detail {

class client_impl;

/// Ends the transfers still running (operation_aborted), on the client's loop.
void shut_down(const std::shared_ptr<client_impl>& impl);

using send_completion = keel::detail::completion<std::error_code, response>;

/// Makes the transfer sending `*borrowed` (which must outlive the transfer)
/// or, when it is null, `*owned` (moved from); start() sends it.
std::shared_ptr<keel::detail::call_handle>
make_transfer(const std::shared_ptr<client_impl>& client, request* owned, const request* borrowed,
              const send_options& options, keel::detail::completion_ptr<send_completion> done);

} // namespace detail

/// An HTTP client on an executor. Requests run concurrently, connections are
/// reused, and every completion comes through Asio's completion tokens
/// (callbacks, use_future, use_awaitable, deferred). Thread-safe; like an
/// Asio I/O object it must outlive its calls, and destroying it cancels the
/// transfers still running (their handlers get operation_aborted).
class client : public keel::detail::io_object<detail::client_impl> {
public:
    explicit client(executor_type executor, client_options options = {});

    const client_options& options() const noexcept;

    /// Sends one request, with no retries.
    ///
    /// Completion signature: `void(std::error_code, response)`.
    ///
    /// Errors: a status error (make_status_error) for a response >= 400,
    /// which is still delivered; a system error (connection refused, reset);
    /// keel::errc::connect_timeout or exchange_timeout (the deadlines in
    /// `options`); a curl_category() error; operation_aborted when cancelled
    /// or when the client is destroyed first.
    ///
    /// Per-operation cancellation: terminal, partial and total alike remove
    /// the transfer from libcurl at once (curl_multi_remove_handle, on the
    /// client's loop), and the call completes with operation_aborted; the
    /// response then holds whatever had arrived (ignore it). What it leaves
    /// behind: the request may have reached the server, in part or whole,
    /// and been acted on; the connection of an unfinished exchange is closed
    /// by libcurl, a finished one's kept for reuse.
    ///
    /// Lifetimes: the client must outlive the call; the request is moved in;
    /// `options.attempt`, when set, must outlive the call.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_send(request r, send_options options = {},
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, response)>(
            initiate_send{{this}}, token, std::move(r), options);
    }

    /// Sends `r` through `pipeline`: each attempt is one async_send with the
    /// attempt's connect and exchange deadlines; a 429/503's Retry-After
    /// becomes the next delay; a POST or PATCH that may have reached the
    /// server is not retried unless it is idempotent (request::idempotent or
    /// an Idempotency-Key header).
    ///
    /// Completion signature, errors and per-operation cancellation: those of
    /// async_send for each attempt, with what pipeline::async_run adds
    /// (deadlines, local refusals with no request sent, cancellation between
    /// attempts); the last attempt's response. What a cancellation leaves
    /// behind: the attempt in flight may have reached the server, as may
    /// earlier ones of an idempotent request.
    ///
    /// With hedging in the pipeline (keel/hedging.hpp), a request that
    /// may_hedge() runs parallel attempts, each its own transfer on its own
    /// connection; a losing one is removed from libcurl, which closes its
    /// connection, before the call completes. Any other request (a POST or
    /// PATCH without an Idempotency-Key) runs one attempt at a time.
    ///
    /// The call reports endpoint_for(r) to the pipeline's strategies kept
    /// per endpoint (a circuit breaker with `scope: endpoint`).
    ///
    /// Lifetimes: the client and the pipeline must outlive the call; the
    /// request is moved in and kept, unchanged, until the call completes.
    template <class Pipeline, class Token = asio::default_completion_token_t<executor_type>>
    auto async_call(Pipeline&& pipeline, request r,
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        call_endpoint endpoint = call_endpoint_of(r);
        const bool hedged = may_hedge(r);
        return keel::detail::call_with_attempts<void(std::error_code, response), send_options>(
            pipeline, initiate_borrowed_send{{this}}, std::move(r), hedged,
            std::forward<Token>(token), std::move(endpoint));
    }

    /// The endpoint `r` goes to: endpoint_of its URL, or of base_url for a
    /// URL that starts with '/'.
    std::string endpoint_for(const request& r) const;

private:
    /// A call's endpoint, kept by the call: a view of the client's own for a
    /// path under base_url (no allocation per call), else the URL's.
    struct call_endpoint {
        std::string_view base;
        std::string own;
        operator std::string_view() const noexcept {
            return own.empty() ? base : std::string_view(own);
        }
    };
    call_endpoint call_endpoint_of(const request& r) const;

    /// Sends a request of its own (async_send).
    struct initiate_send : initiation<client> {
        template <class Handler>
        void operator()(Handler&& handler, request r, const send_options& options) const {
            self->start(std::forward<Handler>(handler), &r, nullptr, options);
        }
    };

    /// Sends a request that outlives the send (an async_call attempt's):
    /// no request is passed by value, so an attempt moves none.
    struct initiate_borrowed_send : initiation<client> {
        template <class Handler>
        void operator()(Handler&& handler, const send_options& options,
                        const request* borrowed) const {
            self->start(std::forward<Handler>(handler), nullptr, borrowed, options);
        }
    };

    template <class Handler>
    void start(Handler&& handler, request* owned, const request* borrowed,
               const send_options& options) {
        keel::detail::initiate_call<keel::detail::completion, std::error_code, response>(
            std::forward<Handler>(handler), executor_, [&](auto done) {
                return detail::make_transfer(impl_, owned, borrowed, options, std::move(done));
            });
    }
};

} // namespace keel::http
