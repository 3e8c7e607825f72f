// Over 600 lines: the curl multi/epoll driver, easy-handle setup, error
// mapping and response headers share one file until issue 20 splits it by concern.
// libcurl's multi-socket interface driven by Asio: curl says which sockets
// it wants to read or write and when it wants a timeout; the client keeps
// them in an epoll set of its own, which Asio waits on as one descriptor,
// and hands curl the ready ones. Everything touching the multi handle runs
// serially (on the caller's executor when that already runs one handler at a
// time, else on a strand), and no user handler ever runs inside a curl
// callback.
#include <keel/internal/library_fd.hpp>
#include <keel/internal/serial_executor.hpp>
#include <keel/error.hpp>
#include <keel/http/client.hpp>

#include <asio/bind_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <curl/curl.h>
#include <sys/epoll.h>
#include <unistd.h>

extern char** environ; // POSIX: declared by no header

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace keel::http {

namespace detail {

namespace {

std::once_flag curl_global_once;

void init_curl_once() {
    std::call_once(curl_global_once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw std::runtime_error("keel::http: curl_global_init failed");
    });
}

/// Whether `text` begins with the literal `prefix`: a fixed-size memcmp the
/// compiler inlines (string_view's compare is called out of line here, per
/// header line and per method check).
template <std::size_t N>
bool starts_with(std::string_view text, const char (&prefix)[N]) noexcept {
    return text.size() >= N - 1 && std::memcmp(text.data(), prefix, N - 1) == 0;
}

/// Whether `text` is the literal `word`.
template <std::size_t N>
bool is(std::string_view text, const char (&word)[N]) noexcept {
    return text.size() == N - 1 && std::memcmp(text.data(), word, N - 1) == 0;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// Whether any variable that may point curl at a proxy is set (no_proxy,
/// http_proxy, HTTPS_PROXY, all_proxy, ...: any name ending in "_proxy",
/// either case, as curl reads them).
bool proxy_environment_set() noexcept {
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view variable(*entry);
        const std::string_view name = variable.substr(0, variable.find('='));
        if (name.size() >= 6 && iequals(name.substr(name.size() - 6), "_proxy"))
            return true;
    }
    return false;
}

} // namespace

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

/// Frees an easy handle and what it was set up with.
void destroy(const easy_handle& easy) noexcept {
    curl_easy_cleanup(easy.curl);
    curl_url_cleanup(easy.parsed_url); // after the handle that pointed at it
}

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor executor, client_options options)
        : loop_(keel::detail::serial_executor(std::move(executor))), timer_(loop_),
          options_(std::move(options)), proxy_environment_(proxy_environment_set()) {
        init_curl_once();
        multi_ = curl_multi_init();
        if (!multi_)
            throw std::runtime_error("keel::http: curl_multi_init failed");
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &client_impl::on_socket);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &client_impl::on_timer);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
        if (options_.max_connections_per_host > 0)
            curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                              options_.max_connections_per_host);
        for (const auto& [name, value] : options_.default_headers) {
            append_header(default_headers_, name + ": " + value);
            append_header(body_headers_, name + ": " + value);
        }
        // No "Expect: 100-continue" round trip (up to 1 s) for larger
        // bodies. Only requests with a body carry the line: curl checks
        // every line of a custom list against each header it writes (~900
        // instructions per request), and a GET has nothing to expect.
        append_header(body_headers_, "Expect:");
        const int set = ::epoll_create1(EPOLL_CLOEXEC);
        if (set < 0)
            throw std::system_error(errno, std::generic_category(), "keel::http: epoll_create1");
        sockets_epoll_ = keel::detail::library_fd::make(loop_, set);
    }

    static void append_header(curl_slist*& list, const std::string& line) {
        if (curl_slist* next = curl_slist_append(list, line.c_str()))
            list = next;
        else
            throw std::bad_alloc();
    }

    ~client_impl() {
        // Closes the cached connections, through close_socket.
        curl_multi_cleanup(multi_);
        for (const easy_handle& easy : idle_easy_)
            destroy(easy);
        curl_slist_free_all(default_headers_);
        curl_slist_free_all(body_headers_);
        sockets_epoll_->release();
        ::close(sockets_epoll_->native());
    }

    const client_options& options() const noexcept { return options_; }
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
    /// what is its own (prepare() sets what this request needs and the
    /// handle does not have yet). curl is null if none could be made.
    easy_handle take_easy() {
        if (!idle_easy_.empty()) {
            easy_handle easy = std::move(idle_easy_.back());
            idle_easy_.pop_back();
            return easy;
        }
        CURL* easy = curl_easy_init();
        if (!easy)
            return {};
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        if (!proxy_environment_) {
            // curl reads the proxy environment (no_proxy, NO_PROXY, then
            // http_proxy or <scheme>_proxy, all_proxy, ALL_PROXY) on every
            // transfer: ~1.6k instructions per request in getenv. With
            // none of it set when the client was made, "no proxy" says the
            // same once.
            curl_easy_setopt(easy, CURLOPT_PROXY, "");
            curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
        }
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &client_impl::close_socket);
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
        const tls_options& tls = options_.tls;
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L);
        if (!tls.ca_file.empty())
            curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.c_str());
        if (!tls.client_cert.empty())
            curl_easy_setopt(easy, CURLOPT_SSLCERT, tls.client_cert.c_str());
        if (!tls.client_key.empty())
            curl_easy_setopt(easy, CURLOPT_SSLKEY, tls.client_key.c_str());
        easy_handle handle;
        handle.curl = easy;
        return handle;
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

    static int close_socket(void* self, curl_socket_t fd) {
        auto& impl = *static_cast<client_impl*>(self);
        if (watched_socket* s = impl.find_socket(fd)) {
            if (s->registered)
                ::epoll_ctl(impl.sockets_epoll_->native(), EPOLL_CTL_DEL, fd, nullptr);
            impl.set_wanted(*s, 0);
            s->registered = 0;
        }
        return ::close(fd);
    }

private:
    static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
        if (fd >= 0)
            static_cast<client_impl*>(self)->watch(fd, what);
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* self) {
        static_cast<client_impl*>(self)->set_timer(timeout_ms);
        return 0;
    }

    /// curl's sockets are watched through an epoll set of the client's own,
    /// level-triggered, which is itself one descriptor on the Asio loop.
    /// Asio's waits are one-shot: each re-registers its descriptor with
    /// epoll_ctl (a system call), so a wait per socket per response costs
    /// one per request, where one wait on the set serves a whole batch of
    /// responses and a socket stays in the set across requests.
    void watch(curl_socket_t fd, int what) {
        if (what == CURL_POLL_REMOVE) {
            // Curl stops watching a connection it keeps for reuse between
            // requests. Its EPOLLIN stays in the set (an idle connection is
            // rarely readable; when it is, on_sockets_ready() takes it out):
            // the next request on it needs no epoll_ctl.
            if (watched_socket* s = find_socket(fd))
                set_wanted(*s, 0);
            return;
        }
        if (static_cast<std::size_t>(fd) >= sockets_.size())
            sockets_.resize(static_cast<std::size_t>(fd) + 1);
        watched_socket& s = sockets_[static_cast<std::size_t>(fd)];
        set_wanted(s, what);
        // EPOLLOUT only while wanted: a connected socket is nearly always
        // writable, and a level-triggered set would report it every time.
        const std::uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                     ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u) |
                                     (s.registered & EPOLLIN);
        if (events != s.registered && !update_registration(fd, s, events))
            set_wanted(s, 0); // (the set is out of memory) curl's timeouts end the transfer
        arm_sockets_wait();
    }

    /// What curl wants of `s` now. The set is waited for only while curl
    /// wants something of some socket: a wait pending on an idle client
    /// would keep its execution context from running out of work.
    void set_wanted(watched_socket& s, int what) {
        wanted_sockets_ += (what != 0) - (s.wanted != 0);
        s.wanted = what;
        if (wanted_sockets_ == 0 && !in_sockets_ready_)
            sockets_epoll_->cancel();
    }

    /// Puts `fd` in the set with `events` (0: out of it). False if epoll
    /// refused (out of memory, or the descriptor is not a socket any more).
    bool update_registration(curl_socket_t fd, watched_socket& s, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        const int set = sockets_epoll_->native();
        if (events == 0) {
            ::epoll_ctl(set, EPOLL_CTL_DEL, fd, nullptr);
            s.registered = 0;
            return true;
        }
        // What the set holds may differ from `registered` if a descriptor
        // was closed without close_socket() (the kernel drops it from the
        // set) and its number reused: the other operation then succeeds.
        int rc = ::epoll_ctl(set, s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
        if (rc != 0 && (errno == ENOENT || errno == EEXIST))
            rc = ::epoll_ctl(set, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
        if (rc != 0)
            return false;
        s.registered = events;
        return true;
    }

    /// Waits (once) for any socket in the set to be ready. Not while the
    /// last readiness is being handled: sockets not handled yet would
    /// report the set ready again at once.
    void arm_sockets_wait() {
        if (shut_down_ || in_sockets_ready_ || wanted_sockets_ == 0 ||
            sockets_epoll_->waiting_read())
            return;
        sockets_epoll_->wait_readable([self = shared_from_this()](std::error_code ec) {
            if (!ec)
                self->on_sockets_ready();
            else
                self->arm_sockets_wait(); // cancelled while idle; wanted again since?
        });
    }

    /// The set is readable: every ready socket is handed to curl, then the
    /// set is waited for again (sockets with data left report again).
    void on_sockets_ready() {
        std::array<epoll_event, 64> events;
        const int n = ::epoll_wait(sockets_epoll_->native(), events.data(),
                                   static_cast<int>(events.size()), 0);
        in_sockets_ready_ = true;
        for (int i = 0; i < n && !shut_down_; ++i) {
            const curl_socket_t fd = events[i].data.fd;
            watched_socket* s = find_socket(fd);
            if (!s || !s->registered)
                continue; // closed by curl earlier in this batch
            const std::uint32_t ready = events[i].events;
            int action = 0;
            if ((s->wanted & CURL_POLL_IN) && (ready & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                action |= CURL_CSELECT_IN;
            if ((s->wanted & CURL_POLL_OUT) && (ready & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
                action |= CURL_CSELECT_OUT;
            if (action == 0) {
                // Ready for nothing curl wants now (an idle connection the
                // server closed): out of the set until curl wants it.
                update_registration(fd, *s, 0);
                continue;
            }
            if (ready & EPOLLERR)
                action |= CURL_CSELECT_ERR;
            int running = 0;
            curl_multi_socket_action(multi_, fd, action, &running);
            finish_done();
        }
        in_sockets_ready_ = false;
        arm_sockets_wait();
    }

    /// curl's timeout: when it wants socket_action(CURL_SOCKET_TIMEOUT).
    /// A wake-up earlier than curl needs is harmless (curl answers with the
    /// time left), so an armed timer that expires no later than asked is
    /// kept, and "no timeout" (-1) leaves it: each re-arm of a kernel timer
    /// costs a syscall.
    void set_timer(long timeout_ms) {
        if (timeout_ms < 0)
            return;
        if (timeout_ms == 0 && starting_queued_)
            return; // start_queued() calls socket_action as soon as it has added them
        if (timeout_ms == 0) {
            // "As soon as possible": a zero-delay kernel timer costs far more
            // than a post. Never call curl back from inside its callback.
            if (!immediate_posted_) {
                immediate_posted_ = true;
                asio::post(loop_, [self = shared_from_this()] {
                    self->immediate_posted_ = false;
                    self->on_curl_timeout();
                });
            }
            return;
        }
        const auto when = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        if (timer_armed_ && armed_until_ <= when)
            return;
        timer_armed_ = true;
        armed_until_ = when;
        timer_.expires_at(when); // a wait it replaces ends with operation_aborted
        timer_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec)
                return;
            self->timer_armed_ = false;
            self->on_curl_timeout();
        });
    }

    /// What curl's timer asked for: its timeouts and due transfers run.
    void on_curl_timeout() {
        int running = 0;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        finish_done();
    }

    void finish_done();
    /// Forgets `t` if it is running (it may not have been added).
    void stop_running(transfer& t);
    /// Posted by add(): hands every queued transfer to curl, then lets curl
    /// start them all in one socket_action.
    void start_queued();

    /// The caller's executor when it runs one handler at a time, else a
    /// strand on it (keel::detail::serial_executor).
    asio::any_io_executor loop_;
    asio::steady_timer timer_;
    bool timer_armed_ = false;
    std::chrono::steady_clock::time_point armed_until_;
    bool immediate_posted_ = false;
    client_options options_;
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

    /// Its entry, or null beyond the table.
    watched_socket* find_socket(curl_socket_t fd) noexcept {
        const auto i = static_cast<std::size_t>(fd);
        return fd >= 0 && i < sockets_.size() ? &sockets_[i] : nullptr;
    }
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

// ---- one transfer ----------------------------------------------------------------------

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
    bool prepare(easy_handle&& handle, std::error_code& why) {
        handle_ = std::move(handle);
        easy_ = handle_.curl;
        CURL* easy = easy_;
        const client_options& o = owner_->options();
        // The URL only when it differs from the handle's last one: curl
        // copies it (an allocation and a free) and parses it per transfer
        // anyway.
        const std::string& url = request_.url;
        const bool relative = !url.empty() && url.front() == '/' && !o.base_url.empty();
        const bool same_url = relative ? handle_.url.size() == o.base_url.size() + url.size() &&
                                             handle_.url.starts_with(o.base_url) &&
                                             handle_.url.ends_with(url)
                                       : handle_.url == url;
        if (!same_url && !set_url(relative ? o.base_url : std::string_view(), url, why))
            return false;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
        if (!handle_.callbacks_set) {
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &transfer::on_body);
            curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &transfer::on_header);
            handle_.callbacks_set = true;
        }

        // The method: back to a plain GET first (HTTPGET also clears NOBODY
        // and UPLOAD), then what this request needs.
        const std::string_view method = request_.method;
        const bool has_body = !request_.body.empty() || is(method, "POST") || is(method, "PUT") ||
                              is(method, "PATCH");
        // A plain GET on a handle whose last request was one too: nothing
        // to change.
        const bool plain_get = is(method, "GET") && !has_body;
        if (!(plain_get && handle_.plain_get)) {
            // (POSTFIELDS, even null, makes the method POST: HTTPGET goes last.)
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
            curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, static_cast<curl_seek_callback>(nullptr));
            curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        }
        handle_.plain_get = plain_get;
        if (is(method, "HEAD"))
            curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
        else if (!is(method, "GET") && !is(method, "POST"))
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
        else if (is(method, "GET") && has_body)
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "GET"); // a body would make it a POST
        if (has_body && !is(method, "HEAD")) {
            curl_easy_setopt(easy, CURLOPT_POST, 1L);
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request_.body.size()));
            if (is_idempotent(request_)) {
                curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_.body.data());
            } else {
                // libcurl resends a request by itself when a reused connection
                // dies before the response, rewinding the body first. A body
                // it reads through us cannot be rewound: the transfer fails
                // instead of sending a non-idempotent request twice.
                curl_easy_setopt(easy, CURLOPT_READFUNCTION, &transfer::read_body);
                curl_easy_setopt(easy, CURLOPT_READDATA, this);
                curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &transfer::refuse_rewind);
                curl_easy_setopt(easy, CURLOPT_SEEKDATA, this);
            }
        }

        // Headers: the client's list as it is, unless this request adds some.
        const bool deadline_headers = o.deadline_headers && options_.attempt;
        const curl_slist* defaults = owner_->default_headers(has_body && !is(method, "HEAD"));
        if (request_.headers.empty() && !deadline_headers) {
            if (handle_.shared_headers != defaults)
                curl_easy_setopt(easy, CURLOPT_HTTPHEADER, defaults);
            handle_.shared_headers = defaults;
        } else {
            const auto add_header = [this](const std::string& line) {
                curl_slist* next = curl_slist_append(headers_, line.c_str());
                if (next)
                    headers_ = next;
                return next != nullptr;
            };
            bool ok = true;
            for (const curl_slist* h = defaults; h; h = h->next)
                ok = ok && add_header(h->data);
            for (const auto& [name, value] : request_.headers)
                ok = ok && add_header(name + ": " + value);
            if (deadline_headers) {
                ok = ok &&
                     add_header("X-Keel-Attempt: " + std::to_string(options_.attempt->number()));
                if (auto left = keel::attempt::time_left(options_.attempt->exchange_deadline()))
                    ok = ok &&
                         add_header("X-Keel-Deadline-Ms: " +
                                    std::to_string(
                                        std::chrono::duration_cast<std::chrono::milliseconds>(*left)
                                            .count()));
            }
            if (!ok) {
                why = make_error_code(std::errc::not_enough_memory);
                return false;
            }
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
            // Not null, and no shared list (alive as long as the client) has
            // this address: the next request on the handle sets its own.
            handle_.shared_headers = headers_;
        }

        // Deadlines: the attempt's (through a pipeline) or the send's own;
        // 0 means "none" to libcurl.
        std::optional<std::chrono::milliseconds> connect = options_.connect_timeout;
        std::optional<std::chrono::milliseconds> total = options_.timeout;
        const auto ms = [](std::chrono::nanoseconds d) {
            // Round up: a deadline 0.4 ms away is not "no time at all".
            return std::max(std::chrono::milliseconds(1),
                            std::chrono::ceil<std::chrono::milliseconds>(d));
        };
        if (options_.attempt) {
            const auto now = std::chrono::steady_clock::now();
            if (auto left = keel::attempt::time_left(options_.attempt->connect_deadline(), now))
                connect = ms(*left);
            if (auto left = keel::attempt::time_left(options_.attempt->exchange_deadline(), now))
                total = ms(*left);
        }
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(connect ? connect->count() : 0));
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(total ? total->count() : 0));
        connect_timeout_ = connect;
        total_timeout_ = total;
        return true;
    }

    /// Gives the handle `base` + `url`, parsed as curl parses a URL string
    /// (a missing scheme guessed, any scheme let through to fail later as
    /// unsupported), both as the string (which curl keeps for a proxy's
    /// request line) and as the parsed URL it uses. False and `why` if the
    /// URL is malformed: the error curl would have given the transfer.
    bool set_url(std::string_view base, std::string_view url, std::error_code& why) {
        CURL* easy = handle_.curl;
        handle_.url.assign(base).append(url);
        if (!handle_.parsed_url && !(handle_.parsed_url = curl_url())) {
            handle_.url.clear();
            why = make_error_code(std::errc::not_enough_memory);
            return false;
        }
        // Cleared first: a URL handle that holds one resolves the next as
        // relative to it (a redirect), where curl parses each URL alone.
        curl_url_set(handle_.parsed_url, CURLUPART_URL, nullptr, 0);
        const CURLUcode parsed =
            curl_url_set(handle_.parsed_url, CURLUPART_URL, handle_.url.c_str(),
                         CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
        if (parsed != CURLUE_OK ||
            curl_easy_setopt(easy, CURLOPT_URL, handle_.url.c_str()) != CURLE_OK) {
            // Neither is trusted now: the next request sets both again.
            handle_.url.clear();
            curl_easy_setopt(easy, CURLOPT_CURLU, static_cast<CURLU*>(nullptr));
            why = parsed == CURLUE_OUT_OF_MEMORY || parsed == CURLUE_OK
                      ? make_error_code(std::errc::not_enough_memory)
                      : std::error_code(CURLE_URL_MALFORMAT, curl_category());
            return false;
        }
        curl_easy_setopt(easy, CURLOPT_CURLU, handle_.parsed_url);
        return true;
    }

    /// On loop(), after curl finished the transfer (or it was aborted): its
    /// outcome, then the user's handler, always posted.
    void complete(CURLcode rc, std::error_code forced = {}) {
        deliver(outcome(rc, forced), keel::detail::upcall::post);
    }

    /// The outcome (status, error, Retry-After, whether a retry is allowed),
    /// read while the easy handle is still this transfer's.
    std::error_code outcome(CURLcode rc, std::error_code forced = {}) {
        finished_ = true;
        std::error_code ec = forced;
        bool may_have_reached = false;
        if (easy_) {
            long status = 0;
            curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
            response_.status = static_cast<int>(status);
            // A response proves it; without one, whether any of the request
            // was sent (or the transfer got that far) says it may have.
            may_have_reached = response_.status > 0;
            if (!may_have_reached) {
                long request_size = 0;
                curl_easy_getinfo(easy_, CURLINFO_REQUEST_SIZE, &request_size);
                curl_off_t pretransfer = 0;
                curl_easy_getinfo(easy_, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
                may_have_reached = request_size > 0 || pretransfer > 0;
            }
            if (!ec)
                ec = map_error(rc, may_have_reached);
            if (!ec && response_.status >= 400)
                ec = make_status_error(response_.status);
            if (options_.attempt && (response_.status == 429 || response_.status == 503)) {
                curl_off_t retry_after = 0;
                if (curl_easy_getinfo(easy_, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
                    retry_after > 0)
                    options_.attempt->feedback().retry_after(std::chrono::seconds(retry_after));
            }
        }
        if (ec && options_.attempt && may_have_reached && !is_idempotent(request_))
            options_.attempt->feedback().outcome_unknown();
        return ec;
    }

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
    std::error_code map_error(CURLcode rc, bool may_have_reached) const {
        long os_errno = 0;
        switch (rc) {
        case CURLE_OK:
            return {};
        case CURLE_OPERATION_TIMEDOUT:
            // Before the request left, with a connect deadline sooner than
            // the exchange one: the connect deadline expired.
            if (!may_have_reached && connect_timeout_ &&
                (!total_timeout_ || *connect_timeout_ < *total_timeout_))
                return keel::errc::connect_timeout;
            return keel::errc::exchange_timeout;
        case CURLE_SEND_FAIL_REWIND:
            // We refused curl's own resend of a non-idempotent request: the
            // reused connection died after it was sent, before a response.
            if (rewind_refused_)
                return make_error_code(std::errc::connection_reset);
            return std::error_code(static_cast<int>(rc), curl_category());
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
            // The system's own error (ECONNREFUSED, ECONNRESET) when curl
            // kept it: portable, and keel classifies it.
            curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &os_errno);
            if (os_errno != 0)
                return std::error_code(static_cast<int>(os_errno), std::generic_category());
            [[fallthrough]];
        default:
            return std::error_code(static_cast<int>(rc), curl_category());
        }
    }

    static std::size_t read_body(char* out, std::size_t size, std::size_t count, void* self) {
        auto& t = *static_cast<transfer*>(self);
        const std::size_t n = std::min(size * count, t.request_.body.size() - t.body_sent_);
        std::memcpy(out, t.request_.body.data() + t.body_sent_, n);
        t.body_sent_ += n;
        return n;
    }

    static int refuse_rewind(void* self, curl_off_t, int) {
        static_cast<transfer*>(self)->rewind_refused_ = true;
        return CURL_SEEKFUNC_FAIL;
    }

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self) {
        auto& t = *static_cast<transfer*>(self);
        t.response_.body.append(data, size * count);
        return size * count;
    }

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self) {
        auto& t = *static_cast<transfer*>(self);
        const std::string_view line(data, size * count);
        if (starts_with(line, "HTTP/"))
            t.response_.headers.clear(); // a new response (after 100 Continue)
        else
            t.response_.headers.add_line(line);
        return size * count;
    }

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

void client_impl::add(const std::shared_ptr<transfer>& t) {
    if (t->finished())
        return; // cancelled before it started
    if (shut_down_) {
        t->complete(CURLE_OK, asio::error::operation_aborted);
        return;
    }
    easy_handle easy = take_easy();
    if (!easy.curl) {
        t->complete(CURLE_OK, make_error_code(std::errc::not_enough_memory));
        return;
    }
    std::error_code why;
    if (!t->prepare(std::move(easy), why)) {
        give_back(t->release_easy());
        t->complete(CURLE_OK, why);
        return;
    }
    t->running_index = running_.size();
    running_.push_back(t);
    // Not added to curl yet: curl_multi_socket_action on any socket also
    // runs every transfer due, a new one included, so a transfer added now
    // would be sent in the middle of the batch of responses being read, one
    // request out per response in. Queued, the requests started by one batch
    // of completions leave together after it, as a curl_multi_perform loop
    // sends them; the server then finds several waiting instead of sleeping
    // (and being woken) between every two.
    queued_.push_back(t);
    if (!start_posted_) {
        start_posted_ = true;
        asio::post(loop_, [self = shared_from_this()] { self->start_queued(); });
    }
}

void client_impl::start_queued() {
    start_posted_ = false;
    starting_.swap(queued_);
    starting_queued_ = true;
    bool added = false;
    for (const std::shared_ptr<transfer>& t : starting_) {
        if (t->finished())
            continue; // aborted while queued (or by shutdown): already let go
        if (CURLMcode rc = curl_multi_add_handle(multi_, t->easy()); rc != CURLM_OK) {
            stop_running(*t);
            give_back(t->release_easy());
            t->complete(CURLE_OK, std::error_code(CURLE_FAILED_INIT, curl_category()));
            continue;
        }
        t->in_multi = true;
        added = true;
    }
    starting_queued_ = false;
    starting_.clear();
    if (!added)
        return;
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done();
}

void client_impl::abort(transfer& t, std::error_code ec) {
    CURL* easy = t.easy(); // null when it has not been prepared yet
    // Not inside a curl callback (we run from the strand): removing the
    // handle here is allowed, and closes or caches its connection.
    if (t.in_multi) {
        curl_multi_remove_handle(multi_, easy);
        t.in_multi = false;
    }
    auto keep = t.shared_from_this(); // running_ may hold the last reference
    stop_running(t);
    t.complete(CURLE_OK, ec);
    if (easy)
        give_back(t.release_easy());
}

void client_impl::stop_running(transfer& t) {
    const std::size_t i = t.running_index;
    if (i >= running_.size() || running_[i].get() != &t)
        return;
    if (i + 1 != running_.size()) {
        running_[i] = std::move(running_.back());
        running_[i]->running_index = i;
    }
    running_.pop_back();
    t.running_index = static_cast<std::size_t>(-1);
}

void client_impl::finish_done() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg != CURLMSG_DONE)
            continue;
        CURL* easy = message->easy_handle;
        const CURLcode rc = message->data.result;
        void* pointer = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &pointer);
        auto* t = static_cast<transfer*>(pointer);
        curl_multi_remove_handle(multi_, easy);
        t->in_multi = false;
        auto keep = t->shared_from_this();
        stop_running(*t);
        const std::error_code ec = t->outcome(rc);
        // The handle is free before the handler runs: a request it starts
        // reuses it rather than making another.
        give_back(t->release_easy());
        t->deliver(ec, keel::detail::upcall::dispatch);
    }
}

void client_impl::shutdown() {
    shut_down_ = true;
    std::vector<std::shared_ptr<transfer>> all(running_);
    for (const auto& t : all)
        if (!t->finished())
            abort(*t, asio::error::operation_aborted);
    // Nothing of ours may stay queued holding this object: the waits on
    // cached connections and curl's timer end now, and the object goes
    // when the last of their handlers has run.
    timer_armed_ = false;
    timer_.cancel();
    for (watched_socket& s : sockets_)
        s.wanted = 0;
    wanted_sockets_ = 0;
    sockets_epoll_->cancel();
}

void shut_down(const std::shared_ptr<client_impl>& impl) {
    asio::dispatch(impl->loop(), [impl] { impl->shutdown(); });
}

std::shared_ptr<keel::detail::call_handle>
make_transfer(const std::shared_ptr<client_impl>& client, request* owned, const request* borrowed,
              const send_options& options, keel::detail::completion_ptr<send_completion> done) {
    // From the thread's block cache: with one call started per completion,
    // the last transfer's memory is usually there.
    return std::allocate_shared<transfer>(keel::detail::cached_allocator<transfer>(), client, owned,
                                          borrowed, options, std::move(done));
}

} // namespace detail

// ---- message helpers ---------------------------------------------------------------------

std::string_view find_header(const header_list& headers, std::string_view name) noexcept {
    for (const auto& [n, v] : headers)
        if (detail::iequals(n, name))
            return v;
    return {};
}

namespace {

/// One field of a header block: the line up to its '\n' split at the first
/// ':' (the value without surrounding whitespace), or nothing when the line
/// is not a field. `rest` moves past the line.
bool next_field(std::string_view& rest, std::string_view& name, std::string_view& value) {
    while (!rest.empty()) {
        const std::size_t end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            continue;
        name = line.substr(0, colon);
        value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() &&
               (value.back() == '\r' || value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        return true;
    }
    return false;
}

} // namespace

std::string_view response_headers::find(std::string_view name) const noexcept {
    std::string_view rest = block_, field, value;
    while (next_field(rest, field, value))
        if (detail::iequals(field, name))
            return value;
    return {};
}

header_list response_headers::list() const {
    header_list fields;
    std::string_view rest = block_, name, value;
    while (next_field(rest, name, value))
        fields.emplace_back(name, value);
    return fields;
}

std::size_t response_headers::size() const noexcept {
    std::size_t n = 0;
    std::string_view rest = block_, name, value;
    while (next_field(rest, name, value))
        ++n;
    return n;
}

void response_headers::add_line(std::string_view line) {
    // Kept as received, one copy per line: a response's fields are
    // written once and most are never read, so the work of splitting and
    // trimming is left to the reader (next_field). A line without its
    // '\n' gets one, so that lines stay apart.
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return; // the blank line that ends the fields, or not a field
    block_.append(line);
    if (line.back() != '\n')
        block_.push_back('\n');
}

bool is_idempotent(const request& r) noexcept {
    if (r.idempotent)
        return true;
    if (detail::is(r.method, "POST") || detail::is(r.method, "PATCH"))
        return !find_header(r.headers, "Idempotency-Key").empty();
    return true;
}

// ---- client ------------------------------------------------------------------------------

client::client(executor_type executor, client_options options)
    : io_object(executor, std::make_shared<detail::client_impl>(executor, std::move(options))) {}

const client_options& client::options() const noexcept {
    return impl_->options();
}

} // namespace keel::http
