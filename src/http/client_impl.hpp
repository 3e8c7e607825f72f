// The machinery behind keel::http::client: libcurl's multi-socket interface
// driven by Asio. Private to src/http.
//
// curl says which sockets it wants to read or write and when it wants a
// timeout; the client keeps them in an epoll set of its own, which Asio
// waits on as one descriptor, and hands curl the ready ones. Everything
// touching the multi handle runs serially (on the caller's executor when
// that already runs one handler at a time, else on a strand), and no user
// handler ever runs inside a curl callback.
//
// multi_driver.cpp drives the multi handle (sockets, timer, queueing);
// transfer.cpp sets up easy handles and reads what curl reports; outcome.cpp
// decides what a finished transfer means.
#pragma once

#include <keel/http/client.hpp>
#include <keel/internal/library_fd.hpp>
#include <keel/internal/serial_executor.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace keel::http::detail {

class transfer;

/// One socket curl uses: what curl wants of it, and what the client's own
/// epoll set is told to report for it. The descriptor is curl's.
struct watched_socket {
    int wanted = 0;               ///< CURL_POLL_IN / _OUT / _INOUT; 0 when unwatched
    std::uint32_t registered = 0; ///< EPOLLIN / EPOLLOUT in the set; 0: not in it
};

/// An easy handle and what it was last set up for: handles are reused
/// without curl_easy_reset, and a request sets again only what differs.
struct easy_handle {
    CURL* curl = nullptr;
    bool callbacks_set = false; ///< the write and header callbacks
    bool plain_get = false;     ///< the method options are a plain GET's
    /// What HTTPHEADER points at: one of the client's lists (null: none, as
    /// on a fresh handle), or the last transfer's own list, which no shared
    /// list can equal, so the next request sets its list again.
    const curl_slist* shared_headers = nullptr;
    /// The URL curl has (CURLOPT_URL copies it; its capacity is kept, so a
    /// handle sent to a new URL rarely allocates here).
    std::string url;
    /// The same URL parsed once (CURLOPT_CURLU): given a parsed URL, curl
    /// copies its parts per transfer instead of parsing the string again and
    /// rebuilding it (~6k instructions per request). Null until first used.
    CURLU* parsed_url = nullptr;
};

/// A new easy handle with the options every request of a client shares
/// (transfer.cpp); curl is null if none could be made. `proxy_environment`:
/// a proxy variable was set when the client was made. `close_socket` and
/// `close_data`: the client's CURLOPT_CLOSESOCKETFUNCTION.
easy_handle make_easy(const client_options& options, bool proxy_environment,
                      curl_closesocket_callback close_socket, void* close_data);

/// Frees an easy handle and what it was set up with.
void destroy(const easy_handle& easy) noexcept;

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor executor, client_options options);
    ~client_impl();

    const client_options& options() const noexcept { return options_; }
    /// endpoint_of(options().base_url), worked out once: the endpoint of
    /// every request whose URL is a path.
    const std::string& base_endpoint() const noexcept { return base_endpoint_; }
    /// Where everything touching the multi handle runs, one at a time.
    const asio::any_io_executor& loop() const noexcept { return loop_; }
    /// Whether the calling thread is running the loop now (then the client's
    /// state may be touched directly).
    bool on_loop() const noexcept { return keel::detail::running_in(loop_); }

    /// On loop(): prepares `t` and queues it for the next start_queued()
    /// (or completes it at once if it cannot start).
    void add(const std::shared_ptr<transfer>& t);
    /// On loop(): ends `t` early with `ec` (cancellation, shutdown).
    void abort(transfer& t, std::error_code ec);
    /// Cancels every transfer (the client is going away).
    void shutdown();

    /// An easy handle with the options every request shares already set:
    /// handles are reused without curl_easy_reset, so a request only sets
    /// what is its own (transfer::prepare() sets what this request needs and
    /// the handle does not have yet). curl is null if none could be made.
    easy_handle take_easy() {
        if (!idle_easy_.empty()) {
            easy_handle easy = std::move(idle_easy_.back());
            idle_easy_.pop_back();
            return easy;
        }
        return make_easy(options_, proxy_environment_, &client_impl::close_socket, this);
    }
    void give_back(easy_handle&& easy) {
        if (idle_easy_.size() < 256)
            idle_easy_.push_back(std::move(easy));
        else
            destroy(easy);
    }

    /// The client's default headers, made once (a request without headers
    /// of its own sends this list; null when there are none), and with
    /// "Expect:" for a request that sends a body.
    curl_slist* default_headers(bool sends_body) const noexcept {
        return sends_body ? body_headers_ : default_headers_;
    }

private:
    static void append_header(curl_slist*& list, const std::string& line);

    // curl's callbacks.
    static int close_socket(void* self, curl_socket_t fd);
    static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*);
    static int on_timer(CURLM*, long timeout_ms, void* self);

    /// curl's sockets are watched through an epoll set of the client's own,
    /// level-triggered, which is itself one descriptor on the Asio loop.
    /// Asio's waits are one-shot: each re-registers its descriptor with
    /// epoll_ctl (a system call), so a wait per socket per response costs
    /// one per request, where one wait on the set serves a whole batch of
    /// responses and a socket stays in the set across requests.
    void watch(curl_socket_t fd, int what);
    /// What curl wants of `s` now. The set is waited for only while curl
    /// wants something of some socket: a wait pending on an idle client
    /// would keep its execution context from running out of work.
    void set_wanted(watched_socket& s, int what);
    /// Puts `fd` in the set with `events` (0: out of it). False if epoll
    /// refused (out of memory, or the descriptor is not a socket any more).
    bool update_registration(curl_socket_t fd, watched_socket& s, std::uint32_t events);
    /// Waits (once) for any socket in the set to be ready. Not while the
    /// last readiness is being handled: sockets not handled yet would
    /// report the set ready again at once.
    void arm_sockets_wait();
    /// The set is readable: every ready socket is handed to curl, then the
    /// set is waited for again (sockets with data left report again).
    void on_sockets_ready();
    /// curl's timeout: when it wants socket_action(CURL_SOCKET_TIMEOUT).
    /// A wake-up earlier than curl needs is harmless (curl answers with the
    /// time left), so an armed timer that expires no later than asked is
    /// kept, and "no timeout" (-1) leaves it: each re-arm of a kernel timer
    /// costs a syscall.
    void set_timer(long timeout_ms);
    /// What curl's timer asked for: its timeouts and due transfers run.
    void on_curl_timeout();

    void finish_done();
    /// Forgets `t` if it is running (it may not have been added).
    void stop_running(transfer& t);
    /// Posted by add(): hands every queued transfer to curl, then lets curl
    /// start them all in one socket_action.
    void start_queued();

    /// Its entry, or null beyond the table.
    watched_socket* find_socket(curl_socket_t fd) noexcept {
        const auto i = static_cast<std::size_t>(fd);
        return fd >= 0 && i < sockets_.size() ? &sockets_[i] : nullptr;
    }

    /// The caller's executor when it runs one handler at a time, else a
    /// strand on it (keel::detail::serial_executor).
    asio::any_io_executor loop_;
    asio::steady_timer timer_;
    bool timer_armed_ = false;
    std::chrono::steady_clock::time_point armed_until_;
    bool immediate_posted_ = false;
    client_options options_;
    std::string base_endpoint_;
    /// Whether a proxy variable was set when the client was made (then
    /// curl reads the environment per transfer, as it does by default).
    bool proxy_environment_;
    CURLM* multi_ = nullptr;
    /// The sockets curl uses, indexed by descriptor (descriptors are small
    /// and reused: a lookup per curl callback costs an index, not a hash).
    std::vector<watched_socket> sockets_;
    /// The client's epoll set of curl's sockets (see watch()).
    std::shared_ptr<keel::detail::library_fd> sockets_epoll_;
    bool in_sockets_ready_ = false; ///< inside on_sockets_ready()
    int wanted_sockets_ = 0;        ///< sockets curl wants something of

    /// Transfers added to the multi handle (each knows its index: removal
    /// swaps the last one into its place, no allocation per request).
    std::vector<std::shared_ptr<transfer>> running_;
    /// Prepared transfers (also in running_) waiting for start_queued(); the
    /// second vector is its swap partner, so that neither allocates per call.
    std::vector<std::shared_ptr<transfer>> queued_;
    std::vector<std::shared_ptr<transfer>> starting_;
    bool start_posted_ = false;
    bool starting_queued_ = false; ///< inside start_queued(), adding handles
    std::vector<easy_handle> idle_easy_;
    curl_slist* default_headers_ = nullptr;
    curl_slist* body_headers_ = nullptr;
    bool shut_down_ = false;
};

} // namespace keel::http::detail
