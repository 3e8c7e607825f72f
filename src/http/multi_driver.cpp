// The multi/epoll driver of keel::http::client: curl's sockets in an epoll
// set of the client's own, curl's timer on an Asio timer, and transfers
// queued, handed to the multi handle and finished (client_impl.hpp).
#include <keel/http/error.hpp>

#include "client_impl.hpp"
#include "text.hpp"
#include "transfer.hpp"
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <sys/epoll.h>
#include <unistd.h>

extern char** environ; // POSIX: declared by no header

#include <array>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace keel::http::detail {

namespace {

std::once_flag curl_global_once;

void init_curl_once() {
    std::call_once(curl_global_once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw std::runtime_error("keel::http: curl_global_init failed");
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

client_impl::client_impl(asio::any_io_executor executor, client_options options)
    : loop_(keel::detail::serial_executor(std::move(executor))), timer_(loop_),
      options_(std::move(options)),
      base_endpoint_(options_.base_url.empty() ? std::string() : endpoint_of(options_.base_url)),
      proxy_environment_(proxy_environment_set()) {
    init_curl_once();
    multi_ = curl_multi_init();
    if (!multi_)
        throw std::runtime_error("keel::http: curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &client_impl::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &client_impl::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    if (options_.max_connections_per_host > 0)
        curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_connections_per_host);
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

void client_impl::append_header(curl_slist*& list, const std::string& line) {
    if (curl_slist* next = curl_slist_append(list, line.c_str()))
        list = next;
    else
        throw std::bad_alloc();
}

client_impl::~client_impl() {
    // Closes the cached connections, through close_socket.
    curl_multi_cleanup(multi_);
    for (const easy_handle& easy : idle_easy_)
        destroy(easy);
    curl_slist_free_all(default_headers_);
    curl_slist_free_all(body_headers_);
    sockets_epoll_->release();
    ::close(sockets_epoll_->native());
}

int client_impl::close_socket(void* self, curl_socket_t fd) {
    auto& impl = *static_cast<client_impl*>(self);
    if (watched_socket* s = impl.find_socket(fd)) {
        if (s->registered)
            ::epoll_ctl(impl.sockets_epoll_->native(), EPOLL_CTL_DEL, fd, nullptr);
        impl.set_wanted(*s, 0);
        s->registered = 0;
    }
    return ::close(fd);
}

int client_impl::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
    if (fd >= 0)
        static_cast<client_impl*>(self)->watch(fd, what);
    return 0;
}

int client_impl::on_timer(CURLM*, long timeout_ms, void* self) {
    static_cast<client_impl*>(self)->set_timer(timeout_ms);
    return 0;
}

void client_impl::watch(curl_socket_t fd, int what) {
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

void client_impl::set_wanted(watched_socket& s, int what) {
    wanted_sockets_ += (what != 0) - (s.wanted != 0);
    s.wanted = what;
    if (wanted_sockets_ == 0 && !in_sockets_ready_)
        sockets_epoll_->cancel();
}

bool client_impl::update_registration(curl_socket_t fd, watched_socket& s, std::uint32_t events) {
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

void client_impl::arm_sockets_wait() {
    if (shut_down_ || in_sockets_ready_ || wanted_sockets_ == 0 || sockets_epoll_->waiting_read())
        return;
    sockets_epoll_->wait_readable([self = shared_from_this()](std::error_code ec) {
        if (!ec)
            self->on_sockets_ready();
        else
            self->arm_sockets_wait(); // cancelled while idle; wanted again since?
    });
}

void client_impl::on_sockets_ready() {
    std::array<epoll_event, 64> events;
    const int n =
        ::epoll_wait(sockets_epoll_->native(), events.data(), static_cast<int>(events.size()), 0);
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

void client_impl::set_timer(long timeout_ms) {
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

void client_impl::on_curl_timeout() {
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done();
}

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

// The client's destructor: the shutdown runs on the loop, which owns every
// transfer.
void shut_down(const std::shared_ptr<client_impl>& impl) {
    asio::dispatch(impl->loop(), [impl] { impl->shutdown(); });
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

} // namespace keel::http::detail
