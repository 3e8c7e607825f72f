// One request of keel::http::client on its easy handle: set up (prepare),
// run by the client's multi driver, then read back and completed. Private
// to src/http; transfer.cpp holds what is not inline here.
#pragma once

#include "client_impl.hpp"
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

namespace keel::http::detail {

class transfer final : public keel::detail::call_handle,
                       public std::enable_shared_from_this<transfer> {
public:
    /// `borrowed`: a request that outlives the transfer (async_call's, held
    /// by the pipeline's operation), sent without a copy; otherwise `owned`.
    transfer(std::shared_ptr<client_impl> owner, request* owned, const request* borrowed,
             const send_options& options, keel::detail::completion_ptr<send_completion> done)
        : owner_(std::move(owner)), owned_(take(owned, borrowed)),
          request_(borrowed ? *borrowed : *owned_), options_(options), done_(std::move(done)) {
        response_.headers.reserve(512); // nginx's usual fields take ~250 bytes
    }

    ~transfer() override {
        if (headers_)
            curl_slist_free_all(headers_);
    }

    void start() override {
        // At once when the caller already runs on the loop (add() never runs
        // a handler inline: a completion is always posted), else posted.
        if (owner_->on_loop())
            owner_->add(shared_from_this());
        else
            asio::post(owner_->loop(), [self = shared_from_this()] { self->owner_->add(self); });
    }

    // Any cancellation type: the transfer is removed at once.
    void cancel(asio::cancellation_type) override {
        asio::dispatch(owner_->loop(), [self = shared_from_this()] {
            if (!self->finished_)
                self->owner_->abort(*self, asio::error::operation_aborted);
        });
    }

    /// Sets up the easy handle; false (and `why`) if curl refused an option.
    /// Handles are reused without a reset: every option a request may change
    /// is set here, each time.
    bool prepare(easy_handle&& handle, std::error_code& why);

    /// On loop(), after curl finished the transfer (or it was aborted): its
    /// outcome, then the user's handler, always posted.
    void complete(CURLcode rc, std::error_code forced = {}) {
        deliver(outcome(rc, forced), keel::detail::upcall::post);
    }

    /// The outcome (status, error, Retry-After, whether a retry is allowed),
    /// read while the easy handle is still this transfer's.
    std::error_code outcome(CURLcode rc, std::error_code forced = {});

    /// Hands `ec` and the response to the user's handler: upcall::dispatch
    /// only on the loop, outside any curl callback and outside the
    /// initiating function.
    void deliver(std::error_code ec, keel::detail::upcall how) {
        // complete() frees the completion itself, before the handler runs.
        done_.release()->complete(how, ec, std::move(response_));
    }

    /// Its place in the client's running_ list (client_impl's to manage).
    std::size_t running_index = static_cast<std::size_t>(-1);

    CURL* easy() const noexcept { return easy_; }
    /// The handle, back to the client (with what it is now set up for).
    easy_handle release_easy() noexcept {
        easy_ = nullptr;
        return std::move(handle_);
    }
    bool finished() const noexcept { return finished_; }
    /// Whether the easy handle is in the multi handle (start_queued() put it
    /// there; abort() and finish_done() take it out).
    bool in_multi = false;

private:
    /// Gives the handle `base` + `url` (see transfer.cpp).
    bool set_url(std::string_view base, std::string_view url, std::error_code& why);

    // curl's callbacks for the body and header lines it receives, and for
    // the body of a non-idempotent request it sends.
    static std::size_t read_body(char* out, std::size_t size, std::size_t count, void* self);
    static int refuse_rewind(void* self, curl_off_t, int);
    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);

    /// The request moved in, unless it is borrowed.
    static std::optional<request> take(request* owned, const request* borrowed) {
        if (borrowed)
            return std::nullopt;
        return std::move(*owned);
    }

    std::shared_ptr<client_impl> owner_;
    std::optional<request> owned_;
    const request& request_;
    send_options options_;
    keel::detail::completion_ptr<send_completion> done_;
    response response_;
    CURL* easy_ = nullptr;
    easy_handle handle_;
    curl_slist* headers_ = nullptr;
    std::optional<std::chrono::milliseconds> connect_timeout_;
    std::optional<std::chrono::milliseconds> total_timeout_;
    bool finished_ = false;
    std::size_t body_sent_ = 0;   ///< read_body's position
    bool rewind_refused_ = false; ///< curl wanted to send the body again
};

} // namespace keel::http::detail
