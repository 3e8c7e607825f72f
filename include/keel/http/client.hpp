// keel::http::client: HTTP requests on the Asio loop (libcurl's multi-socket
// interface), alone or through a keel pipeline.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/block_cache.hpp>
#include <keel/http/error.hpp>
#include <keel/http/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
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

/// The user's handler behind a virtual call: the transfer machinery is
/// compiled once, not per handler type.
class completion {
public:
    /// Called on the client's loop once; frees the completion before the
    /// handler runs (as Asio frees an operation before its upcall, so the
    /// handler's next call can reuse the memory). `may_run_inline`: the
    /// caller is outside curl and outside the initiating function, so the
    /// handler may run at once if its executor is the one running the
    /// caller (dispatch); else it is posted.
    virtual void complete(std::error_code ec, response&& r, bool may_run_inline) = 0;
    /// Frees a completion that never completed (its transfer never ran).
    virtual void destroy() noexcept = 0;

protected:
    ~completion() = default;
};

struct completion_deleter {
    void operator()(completion* c) const noexcept { c->destroy(); }
};
using completion_ptr = std::unique_ptr<completion, completion_deleter>;

template <class Handler>
class completion_for final : public completion {
    // Without an allocator of its own, a handler's completion comes from
    // keel's per-thread block cache (keel/detail/block_cache.hpp); a
    // handler's own allocator is used as is.
    using allocator_type = typename std::allocator_traits<asio::associated_allocator_t<
        Handler, keel::detail::cached_allocator<void>>>::template rebind_alloc<completion_for>;

public:
    /// Allocated with the handler's associated allocator. `fallback`: where
    /// the handler runs when it names no executor of its own.
    static completion_ptr make(Handler handler, const asio::any_io_executor& fallback) {
        allocator_type allocator(
            asio::get_associated_allocator(handler, keel::detail::cached_allocator<void>()));
        completion_for* p = std::allocator_traits<allocator_type>::allocate(allocator, 1);
        try {
            new (p) completion_for(std::move(handler), fallback, allocator);
        } catch (...) {
            std::allocator_traits<allocator_type>::deallocate(allocator, p, 1);
            throw;
        }
        return completion_ptr(p);
    }

    void destroy() noexcept override {
        allocator_type allocator(allocator_);
        this->~completion_for();
        std::allocator_traits<allocator_type>::deallocate(allocator, this, 1);
    }

    void complete(std::error_code ec, response&& r, bool may_run_inline) override {
        auto executor = work_.get_executor();
        auto invoke = [handler = std::move(handler_), work = std::move(work_), ec,
                       r = std::move(r)]() mutable {
            // The slot is the caller's: free it on the caller's executor,
            // where it may be emitted, before the handler reuses it.
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.clear();
            std::move(handler)(ec, std::move(r));
        };
        destroy(); // nothing of this object is used below
        if (may_run_inline)
            asio::dispatch(executor, std::move(invoke));
        else
            asio::post(executor, std::move(invoke));
    }

private:
    completion_for(Handler handler, const asio::any_io_executor& fallback,
                   const allocator_type& allocator)
        : handler_(std::move(handler)), work_(asio::get_associated_executor(handler_, fallback)),
          allocator_(allocator) {}
    ~completion_for() = default;

    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
    allocator_type allocator_;
};

/// What a cancellation slot holds: it may fire after the transfer ended
/// (then it does nothing).
class transfer_handle {
public:
    virtual ~transfer_handle() = default;
    virtual void cancel() = 0;
};

/// Starts sending `*borrowed` (which must outlive the transfer) or, when it
/// is null, `*owned` (moved from).
std::shared_ptr<transfer_handle> start_transfer(const std::shared_ptr<client_impl>& client,
                                                request* owned, const request* borrowed,
                                                const send_options& options, completion_ptr done);

} // namespace detail

/// An HTTP client on an executor. Requests run concurrently, connections are
/// reused, and every completion comes through Asio's completion tokens
/// (callbacks, use_future, use_awaitable, deferred). Thread-safe; like an
/// Asio I/O object it must outlive its calls, and destroying it cancels the
/// transfers still running (their handlers get operation_aborted).
class client {
public:
    using executor_type = asio::any_io_executor;

    explicit client(executor_type executor, client_options options = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    executor_type get_executor() const noexcept { return executor_; }
    const client_options& options() const noexcept;

    /// Sends one request, with no retries. Completes with
    /// `void(std::error_code, response)`: the error is a status error
    /// (make_status_error) for a response >= 400, which is still delivered;
    /// a system error (refused, reset), keel::errc::connect_timeout or
    /// exchange_timeout, a curl_category error, or operation_aborted when
    /// cancelled. Cancellation (any type) removes the transfer at once.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_send(request r, send_options options = {},
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, response)>(
            initiate_send{this}, token, std::move(r), options);
    }

    /// Sends `r` through `pipeline`: each attempt is one send with the
    /// attempt's connect and exchange deadlines; a 429/503's Retry-After
    /// becomes the next delay; a POST or PATCH that may have reached the
    /// server is not retried unless it is idempotent (request::idempotent or
    /// an Idempotency-Key header). Completes like async_send, with the last
    /// attempt's error and response.
    template <class Pipeline, class Token = asio::default_completion_token_t<executor_type>>
    auto async_call(Pipeline&& pipeline, request r,
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        static_assert(
            std::is_same_v<typename std::remove_cvref_t<Pipeline>::attempt_type, keel::attempt>,
            "keel::http runs on the steady clock: use a pipeline with a steady_timer");
        // The pipeline keeps this factory (and the request in it) until the
        // call completes, after its last attempt: attempts send it uncopied.
        return pipeline.template async_run<void(std::error_code, response)>(
            [this, r = std::move(r)](const keel::attempt& a, auto&& attempt_token) {
                send_options o;
                o.attempt = &a;
                return asio::async_initiate<decltype(attempt_token),
                                            void(std::error_code, response)>(
                    initiate_borrowed_send{this}, attempt_token, o, &r);
            },
            std::forward<Token>(token));
    }

private:
    /// Sends a request of its own (async_send).
    struct initiate_send {
        client* self;
        using executor_type = client::executor_type;
        executor_type get_executor() const noexcept { return self->executor_; }

        template <class Handler>
        void operator()(Handler&& handler, request r, const send_options& options) const {
            self->start(std::forward<Handler>(handler), &r, nullptr, options);
        }
    };

    /// Sends a request that outlives the send (an async_call attempt's):
    /// no request is passed by value, so an attempt moves none.
    struct initiate_borrowed_send {
        client* self;
        using executor_type = client::executor_type;
        executor_type get_executor() const noexcept { return self->executor_; }

        template <class Handler>
        void operator()(Handler&& handler, const send_options& options,
                        const request* borrowed) const {
            self->start(std::forward<Handler>(handler), nullptr, borrowed, options);
        }
    };

    /// Makes the handler's completion, starts the transfer, and ties the
    /// handler's cancellation slot (if any) to it.
    template <class Handler>
    void start(Handler&& handler, request* owned, const request* borrowed,
               const send_options& options) {
        using handler_type = std::decay_t<Handler>;
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto done =
            detail::completion_for<handler_type>::make(std::forward<Handler>(handler), executor_);
        auto transfer = detail::start_transfer(impl_, owned, borrowed, options, std::move(done));
        if (slot.is_connected())
            slot.assign(
                [transfer = std::move(transfer)](asio::cancellation_type) { transfer->cancel(); });
    }

    executor_type executor_;
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace keel::http
