// Over 600 lines: acquiring, connecting, running and draining connections
// share one file until issue 20 splits it by concern.
#include <keel/error.hpp>

#include "pool_impl.hpp"
#include <asio/bind_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace keel::pg {

namespace detail {

namespace {

/// A startup failure carries no result to ask for its SQLSTATE: with
/// PQERRORS_VERBOSE libpq writes it into the message ("FATAL:  53300: sorry,
/// too many clients already"), and this finds it.
std::error_code sqlstate_in_message(std::string_view message) {
    for (std::string_view severity : {"FATAL:  ", "ERROR:  "}) {
        for (std::size_t at = message.find(severity); at != std::string_view::npos;
             at = message.find(severity, at + 1)) {
            std::string_view rest = message.substr(at + severity.size());
            if (rest.size() > 5 && rest[5] == ':' &&
                std::all_of(rest.begin(), rest.begin() + 5, [](char ch) {
                    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
                }))
                return pg::sqlstate(rest.substr(0, 5));
        }
    }
    return {};
}

std::string message_of(PGconn* pg) {
    std::string m = pg ? PQerrorMessage(pg) : "out of memory";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
        m.pop_back();
    return m;
}

} // namespace

std::error_code error_of(const PGresult* res) {
    if (res) {
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_EMPTY_QUERY:
        case PGRES_SINGLE_TUPLE:
            return {};
        default:
            break;
        }
        if (const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE))
            return pg::sqlstate(state);
    }
    // No SQLSTATE: libpq's own failure, which in practice is the connection.
    return make_error_code(errc::connection_lost);
}

bool outcome_unknown(const std::error_code& ec) noexcept {
    if (!ec)
        return false;
    if (ec.category() != sqlstate_category())
        return true;
    const std::string code = sqlstate_text(ec);
    if (code == "57014")
        return false; // query_canceled: the statement was stopped, not applied
    return code.starts_with("08") || code.starts_with("57") || code.starts_with("58") ||
           code.starts_with("XX");
}

pool_impl::pool_impl(asio::any_io_executor executor, pool_options options)
    : executor_(executor), strand_(keel::detail::serial_executor(executor)),
      options_(std::move(options)), waiter_timer_(strand_) {
    if (options_.size == 0)
        throw std::invalid_argument("keel::pg::pool: size must be at least 1");
}

pool_impl::~pool_impl() {
    // shutdown() ran (the pool's destructor posts it); connections left
    // here are only those of a context destroyed before it could run.
    for (auto& c : all_) {
        if (c->fd)
            c->fd->release();
        if (c->collected)
            PQclear(c->collected);
        if (c->pg)
            PQfinish(c->pg);
        c->pg = nullptr;
    }
    cancel_worker_.stop(); // a PQcancel in progress finishes first
}

pool_stats pool_impl::stats() const {
    pool_stats s;
    s.open = stat_open_.load(std::memory_order_relaxed);
    s.idle = stat_idle_.load(std::memory_order_relaxed);
    s.waiting = stat_waiting_.load(std::memory_order_relaxed);
    s.opened = stat_opened_.load(std::memory_order_relaxed);
    s.closed_broken = stat_broken_.load(std::memory_order_relaxed);
    return s;
}

// ---- acquiring ----------------------------------------------------------------------------

void pool_impl::acquire(const std::shared_ptr<acquirer>& a) {
    if (closed_) {
        a->on_acquire_failed(make_error_code(errc::pool_closed), {});
        return;
    }
    while (!idle_.empty()) {
        std::shared_ptr<connection> c = std::move(idle_.back());
        idle_.pop_back();
        stat_idle_.store(idle_.size(), std::memory_order_relaxed);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            close(c, true);
            continue;
        }
        c->st = connection::state::busy; // the holder's until release()
        a->on_acquired(std::move(c));
        return;
    }
    if (a->deadline <= clock::now()) {
        a->on_acquire_failed(make_error_code(errc::pool_exhausted), {});
        return;
    }
    a->waiting = true;
    waiters_.push_back(a);
    stat_waiting_.store(waiters_.size(), std::memory_order_relaxed);
    if (a->deadline < waiter_timer_at_)
        arm_waiter_timer(a->deadline);
    if (all_.size() < options_.size)
        open_for(a);
}

bool pool_impl::withdraw(acquirer& a) {
    if (!a.waiting)
        return false;
    a.waiting = false;
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [&](const std::shared_ptr<acquirer>& w) { return w.get() == &a; });
    if (it != waiters_.end())
        waiters_.erase(it);
    stat_waiting_.store(waiters_.size(), std::memory_order_relaxed);
    return true;
}

std::shared_ptr<acquirer> pool_impl::pop_oldest_waiter() {
    std::shared_ptr<acquirer> a = std::move(waiters_.front());
    waiters_.pop_front();
    a->waiting = false;
    stat_waiting_.store(waiters_.size(), std::memory_order_relaxed);
    return a;
}

void pool_impl::arm_waiter_timer(clock::time_point deadline) {
    waiter_timer_at_ = deadline;
    waiter_timer_.expires_at(deadline); // a wait it replaces ends with operation_aborted
    waiter_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec)
            self->on_waiter_timer();
    });
}

void pool_impl::on_waiter_timer() {
    waiter_timer_at_ = clock::time_point::max();
    const clock::time_point now = clock::now();
    clock::time_point next = clock::time_point::max();
    // Connections still opening past their deadline are abandoned (libpq
    // ignores connect_timeout in non-blocking mode), even when the call they
    // were opened for was served by another one meanwhile: a connect that
    // hangs must not hold a slot of the pool.
    std::vector<std::shared_ptr<connection>> stale;
    for (auto& c : all_) {
        if (c->st != connection::state::connecting)
            continue;
        if (c->connect_deadline <= now)
            stale.push_back(c);
        else
            next = std::min(next, c->connect_deadline);
    }
    for (auto& c : stale) {
        std::shared_ptr<acquirer> a = c->opened_for.lock();
        close(c, false);
        if (a && withdraw(*a))
            a->on_acquire_failed(make_error_code(keel::errc::connect_timeout), {});
    }
    std::vector<std::shared_ptr<acquirer>> expired;
    for (auto& w : waiters_) {
        if (w->deadline <= now)
            expired.push_back(w);
        else
            next = std::min(next, w->deadline);
    }
    for (auto& w : expired)
        on_expired(w);
    if (!stale.empty())
        replace_if_needed();
    // (Opening connections above may have armed it sooner already.)
    if (next < waiter_timer_at_ && !closed_)
        arm_waiter_timer(next);
}

void pool_impl::on_expired(const std::shared_ptr<acquirer>& a) {
    if (!a->waiting)
        return;
    std::shared_ptr<connection> opening = a->opening.lock();
    withdraw(*a);
    if (opening && opening->st == connection::state::connecting &&
        opening->opened_for.lock() == a) {
        // libpq ignores connect_timeout in non-blocking mode: keel enforces
        // the deadline by abandoning the connection it was opening.
        close(opening, false);
        a->on_acquire_failed(make_error_code(keel::errc::connect_timeout), {});
        replace_if_needed();
        return;
    }
    a->on_acquire_failed(make_error_code(errc::pool_exhausted), {});
}

// ---- connecting ---------------------------------------------------------------------------

void pool_impl::open_for(const std::shared_ptr<acquirer>& a) {
    auto c = std::make_shared<connection>(strand_);
    c->pg = PQconnectStart(options_.dsn.c_str());
    c->opened_for = a;
    c->connect_deadline = a->deadline;
    a->opening = c;
    if (c->connect_deadline < waiter_timer_at_)
        arm_waiter_timer(c->connect_deadline);
    all_.push_back(c);
    stat_open_.store(all_.size(), std::memory_order_relaxed);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(c, make_error_code(errc::connect_failed), message_of(c->pg));
        return;
    }
    // Startup failures then carry their SQLSTATE in the message.
    PQsetErrorVerbosity(c->pg, PQERRORS_VERBOSE);
    // libpq prints server notices (NOTICE, WARNING) to stderr by default: a
    // library must not write to the service's stderr.
    PQsetNoticeProcessor(
        c->pg, [](void*, const char*) {}, nullptr);
    poll_connect(c);
}

void pool_impl::poll_connect(const std::shared_ptr<connection>& c) {
    // PQconnectPoll may close the socket and open another (the next address,
    // SSL refused): stop watching the old one before libpq touches it.
    if (c->fd)
        c->fd->release();
    c->fd.reset();
    const PostgresPollingStatusType status = PQconnectPoll(c->pg);
    if (status == PGRES_POLLING_FAILED) {
        std::string why = message_of(c->pg);
        std::error_code ec = sqlstate_in_message(why);
        connect_failed(c, ec ? ec : make_error_code(errc::connect_failed), std::move(why));
        return;
    }
    c->fd = keel::detail::library_fd::make(strand_, PQsocket(c->pg));
    if (status == PGRES_POLLING_OK) {
        PQsetErrorVerbosity(c->pg, PQERRORS_DEFAULT);
        if (PQsetnonblocking(c->pg, 1) != 0) {
            connect_failed(c, make_error_code(errc::connect_failed), message_of(c->pg));
            return;
        }
        stat_opened_.fetch_add(1, std::memory_order_relaxed);
        c->opened_for.reset();
        release(c);
        return;
    }
    auto next = [self = shared_from_this(), c](std::error_code ec) {
        if (!ec && c->st == connection::state::connecting)
            self->poll_connect(c);
    };
    if (status == PGRES_POLLING_READING)
        c->fd->wait_readable(std::move(next));
    else
        c->fd->wait_writable(std::move(next));
}

void pool_impl::connect_failed(const std::shared_ptr<connection>& c, std::error_code ec,
                               std::string why) {
    std::shared_ptr<acquirer> a = c->opened_for.lock();
    close(c, false);
    // The failure goes to the call the connection was opened for, or else to
    // the oldest waiter nobody is opening a connection for: a caller learns
    // why it cannot connect instead of waiting out its deadline.
    if (!a || !a->waiting) {
        a.reset();
        for (auto& w : waiters_)
            if (!w->opening.lock()) {
                a = w;
                break;
            }
    }
    if (a && withdraw(*a))
        a->on_acquire_failed(ec, std::move(why));
}

// ---- running a statement ------------------------------------------------------------------

void pool_impl::run(const std::shared_ptr<connection>& c, const std::shared_ptr<exchange>& x) {
    if (c->st == connection::state::closed) {
        // A transaction's connection broke between two of its statements.
        x->on_done(make_error_code(errc::connection_lost),
                   make_result(nullptr, "the connection broke between two statements"), false);
        return;
    }
    c->st = connection::state::busy;
    c->current = x;
    c->sent = false;
    const statement& s = x->stmt();
    // Parameter pointers: on the stack for the usual handful.
    std::array<const char*, 16> small{};
    std::vector<const char*> large;
    const char** values = small.data();
    if (s.params.size() > small.size()) {
        large.resize(s.params.size());
        values = large.data();
    }
    for (std::size_t i = 0; i < s.params.size(); ++i)
        values[i] = s.params[i] ? s.params[i]->c_str() : nullptr;
    if (!PQsendQueryParams(c->pg, s.sql.c_str(), static_cast<int>(s.params.size()), nullptr, values,
                           nullptr, nullptr, 0)) {
        finish(c, make_error_code(errc::connection_lost));
        return;
    }
    c->sent = true;
    flush(c);
    if (c->st == connection::state::busy)
        arm_read(c);
}

void pool_impl::flush(const std::shared_ptr<connection>& c) {
    const int rc = PQflush(c->pg);
    if (rc < 0) {
        finish(c, make_error_code(errc::connection_lost));
        return;
    }
    if (rc == 1 && !c->fd->waiting_write())
        c->fd->wait_writable([self = shared_from_this(), c](std::error_code ec) {
            if (!ec && (c->st == connection::state::busy || c->st == connection::state::draining))
                self->flush(c);
        });
}

void pool_impl::arm_read(const std::shared_ptr<connection>& c) {
    if (c->fd && !c->fd->waiting_read())
        c->fd->wait_readable([self = shared_from_this(), c](std::error_code ec) {
            if (!ec)
                self->on_readable(c);
        });
}

void pool_impl::on_readable(const std::shared_ptr<connection>& c) {
    switch (c->st) {
    case connection::state::closed:
    case connection::state::connecting: // connecting waits are their own
        return;
    case connection::state::idle:
        // Nothing is expected from an idle connection: this is the server
        // closing it (a restart, an admin's pg_terminate_backend) or a
        // notification. A broken one leaves the pool now, not at next use.
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
            close(c, true);
            replace_if_needed();
            return;
        }
        while (PGnotify* n = PQnotifies(c->pg))
            PQfreemem(n);
        arm_read(c);
        return;
    case connection::state::busy:
    case connection::state::draining:
        if (!PQconsumeInput(c->pg)) {
            finish(c, make_error_code(errc::connection_lost));
            return;
        }
        collect(c);
        return;
    }
}

void pool_impl::collect(const std::shared_ptr<connection>& c) {
    while (!PQisBusy(c->pg)) {
        PGresult* r = PQgetResult(c->pg);
        if (!r) {
            finish(c);
            return;
        }
        // Keep the first error, else the last answer.
        const bool kept_error = c->collected && PQresultStatus(c->collected) == PGRES_FATAL_ERROR;
        if (kept_error) {
            PQclear(r);
        } else {
            if (c->collected)
                PQclear(c->collected);
            c->collected = r;
        }
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        finish(c, make_error_code(errc::connection_lost));
        return;
    }
    arm_read(c);
}

void pool_impl::finish(const std::shared_ptr<connection>& c, std::error_code lost) {
    PGresult* res = c->collected;
    c->collected = nullptr;
    std::shared_ptr<exchange> x = std::move(c->current);
    const bool sent = c->sent;
    std::error_code ec = lost;
    std::string why;
    if (!ec)
        ec = error_of(res);
    if (ec == errc::connection_lost)
        why = message_of(c->pg);
    const bool draining = c->st == connection::state::draining;
    if (lost || PQstatus(c->pg) != CONNECTION_OK) {
        close(c, true);
        replace_if_needed();
    } else if (draining) {
        c->drained = true;
        end_drain(c);
    } else if (!c->leased) {
        release(c);
    }
    if (x)
        x->on_done(ec, make_result(res, std::move(why)), sent);
    else if (res)
        PQclear(res);
}

void pool_impl::abandon(const std::shared_ptr<connection>& c) {
    if (c->st != connection::state::busy || !c->current)
        return;
    c->st = connection::state::draining;
    c->current.reset();
    c->drained = false;
    // PQcancel opens a connection of its own and waits for the server: off
    // the loop thread. The answer (57014, or the statement's own if it
    // finished first) is then read and dropped like any other. The
    // connection is reused only once PQcancel has returned too: a cancel
    // request still on its way could otherwise stop the next statement.
    if (PGcancel* cancel = PQgetCancel(c->pg)) {
        c->cancel_pending = true;
        cancel_worker_.post([cancel, self = shared_from_this(), c]() mutable {
            char why[256];
            PQcancel(cancel, why, sizeof why);
            PQfreeCancel(cancel);
            // Moved, not copied: the pool's last reference is dropped on its
            // strand, not on this thread (whose worker it would have to detach).
            const asio::any_io_executor strand = self->strand_;
            asio::post(strand, [self = std::move(self), c = std::move(c)] {
                c->cancel_pending = false;
                self->end_drain(c);
            });
        });
    }
    c->timer.expires_after(options_.cancel_grace);
    c->timer.async_wait([self = shared_from_this(), c](std::error_code ec) {
        if (!ec && c->st == connection::state::draining) {
            self->close(c, false); // the server did not stop it in time
            self->replace_if_needed();
        }
    });
    arm_read(c);
}

void pool_impl::end_drain(const std::shared_ptr<connection>& c) {
    if (c->st != connection::state::draining || !c->drained || c->cancel_pending)
        return;
    c->timer.cancel();
    c->st = connection::state::busy;
    release(c);
}

// ---- giving back, closing -----------------------------------------------------------------

void pool_impl::release(const std::shared_ptr<connection>& c) {
    c->leased = false;
    if (c->st == connection::state::closed)
        return;
    if (closed_ || PQstatus(c->pg) != CONNECTION_OK) {
        close(c, !closed_);
        replace_if_needed();
        return;
    }
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        // Left inside a transaction (a BEGIN of the caller's own, a failed
        // ROLLBACK): closing is the one certain way to roll it back.
        close(c, false);
        replace_if_needed();
        return;
    }
    if (!waiters_.empty()) {
        std::shared_ptr<acquirer> a = pop_oldest_waiter();
        c->st = connection::state::busy;
        a->on_acquired(c);
        return;
    }
    make_idle(c);
}

void pool_impl::make_idle(const std::shared_ptr<connection>& c) {
    c->st = connection::state::idle;
    c->idle_since = clock::now();
    idle_.push_back(c);
    stat_idle_.store(idle_.size(), std::memory_order_relaxed);
    arm_read(c);
}

void pool_impl::forget(const std::shared_ptr<connection>& c) {
    std::erase(all_, c);
    std::erase(idle_, c);
    stat_open_.store(all_.size(), std::memory_order_relaxed);
    stat_idle_.store(idle_.size(), std::memory_order_relaxed);
}

void pool_impl::close(const std::shared_ptr<connection>& c, bool broken, std::error_code ec) {
    if (c->st == connection::state::closed)
        return;
    const bool was_busy = c->st == connection::state::busy;
    c->st = connection::state::closed;
    c->leased = false;
    c->timer.cancel();
    if (c->fd)
        c->fd->release(); // before PQfinish closes the socket
    if (c->collected)
        PQclear(c->collected);
    c->collected = nullptr;
    if (c->pg)
        PQfinish(c->pg);
    c->pg = nullptr;
    if (broken)
        stat_broken_.fetch_add(1, std::memory_order_relaxed);
    forget(c);
    std::shared_ptr<exchange> x = std::move(c->current);
    if (x && was_busy)
        x->on_done(ec, make_result(nullptr, ec.message()), c->sent);
}

void pool_impl::replace_if_needed() {
    // A slot came free: open a connection for a waiter nobody opens one for.
    // open_for may fail at once and withdraw that waiter: not while iterating.
    if (closed_)
        return;
    std::vector<std::shared_ptr<acquirer>> unserved;
    for (auto& w : waiters_)
        if (!w->opening.lock())
            unserved.push_back(w);
    for (auto& w : unserved) {
        if (all_.size() >= options_.size)
            return;
        if (w->waiting && !w->opening.lock())
            open_for(w);
    }
}

void pool_impl::shutdown() {
    closed_ = true;
    waiter_timer_.cancel();
    while (!waiters_.empty()) {
        std::shared_ptr<acquirer> a = pop_oldest_waiter();
        a->on_acquire_failed(make_error_code(errc::pool_closed), {});
    }
    std::vector<std::shared_ptr<connection>> all = all_;
    for (auto& c : all)
        close(c, false, make_error_code(errc::pool_closed));
}

// ---- one query call -----------------------------------------------------------------------

namespace {

class query_call final : public acquirer,
                         public exchange,
                         public keel::detail::call_handle,
                         public std::enable_shared_from_this<query_call> {
public:
    query_call(std::shared_ptr<pool_impl> pool, statement owned, const statement* borrowed,
               const query_options& options, keel::detail::completion_ptr<query_completion> done)
        : pool_(std::move(pool)), owned_(std::move(owned)), stmt_(borrowed ? *borrowed : owned_),
          options_(options), done_(std::move(done)) {
        if (options_.attempt && options_.attempt->connect_deadline() != clock::time_point::max())
            deadline = options_.attempt->connect_deadline();
        else if (options_.connect_timeout)
            deadline = clock::now() + *options_.connect_timeout;
        else if (pool_->options().connect_timeout.count() > 0)
            deadline = clock::now() + pool_->options().connect_timeout;
    }

    void start() override {
        // Dispatched: when this thread may enter the strand, the call starts
        // (and its statement goes out) before the initiating function
        // returns. Its completion cannot run in here: complete() posts
        // until initiation_.end().
        if (keel::detail::running_in(pool_->strand()))
            pool_->acquire(shared_from_this());
        else
            asio::dispatch(pool_->strand(),
                           [self = shared_from_this()] { self->pool_->acquire(self); });
        initiation_.end();
    }

    const statement& stmt() const noexcept override { return stmt_; }

    void on_acquired(std::shared_ptr<connection> c) override {
        if (!done_) { // cancelled meanwhile
            pool_->release(c);
            return;
        }
        conn_ = c;
        pool_->run(c, shared_from_this());
    }

    void on_acquire_failed(std::error_code ec, std::string why) override {
        complete(ec, make_result(nullptr, why.empty() ? ec.message() : std::move(why)));
    }

    void on_done(std::error_code ec, result r, bool sent) override {
        conn_.reset();
        // When the server's verdict is unknown, a statement that may have
        // run must not run again unless it is idempotent.
        if (sent && !stmt_.idempotent && outcome_unknown(ec) && options_.attempt)
            options_.attempt->feedback().outcome_unknown();
        complete(ec, std::move(r));
    }

    // Any cancellation type.
    void cancel(asio::cancellation_type) override {
        asio::dispatch(pool_->strand(), [self = shared_from_this()] { self->on_cancel(); });
    }

private:
    void on_cancel() {
        if (!done_)
            return;
        if (pool_->withdraw(*this)) {
            complete(asio::error::operation_aborted, result());
            return;
        }
        if (std::shared_ptr<connection> c = std::move(conn_)) {
            const bool sent = c->sent;
            pool_->abandon(c);
            if (sent && !stmt_.idempotent && options_.attempt)
                options_.attempt->feedback().outcome_unknown();
            complete(asio::error::operation_aborted, result());
        }
    }

    void complete(std::error_code ec, result r) {
        if (auto done = std::move(done_)) // complete() frees it, before the upcall
            done.release()->complete(initiation_.upcall(), ec, std::move(r));
    }

    initiation initiation_;
    std::shared_ptr<pool_impl> pool_;
    statement owned_;
    const statement& stmt_;
    query_options options_;
    keel::detail::completion_ptr<query_completion> done_;
    std::shared_ptr<connection> conn_;
};

} // namespace

void shut_down(const std::shared_ptr<pool_impl>& impl) {
    asio::dispatch(impl->strand(), [impl] { impl->shutdown(); });
}

std::shared_ptr<keel::detail::call_handle>
make_query(const std::shared_ptr<pool_impl>& pool, statement owned, const statement* borrowed,
           const query_options& options, keel::detail::completion_ptr<query_completion> done) {
    // From the thread's block cache: the last query's memory is usually there.
    return std::allocate_shared<query_call>(keel::detail::cached_allocator<query_call>(), pool,
                                            std::move(owned), borrowed, options, std::move(done));
}

} // namespace detail

// ---- pool ---------------------------------------------------------------------------------

pool::pool(executor_type executor, pool_options options)
    : io_object(executor, std::make_shared<detail::pool_impl>(executor, std::move(options))) {}

const pool_options& pool::options() const noexcept {
    return impl_->options();
}

pool_stats pool::stats() const {
    return impl_->stats();
}

} // namespace keel::pg
