// The connection's I/O in keel::pg's pool: libpq's non-blocking connect
// driven by socket readiness, a statement sent, flushed, read and finished,
// a statement abandoned (PQcancel, then its answer drained), and closing.
// Every function runs on the pool's strand (pool_impl.hpp).
#include <keel/error.hpp>

#include "outcome.hpp"
#include "pool_impl.hpp"
#include <asio/post.hpp>

#include <array>
#include <string>
#include <vector>

namespace keel::pg::detail {

namespace {

std::string message_of(PGconn* pg) {
    std::string m = pg ? PQerrorMessage(pg) : "out of memory";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
        m.pop_back();
    return m;
}

} // namespace

std::error_code error_of(const PGresult* res) {
    if (!res)
        return statement_error(false, nullptr);
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_SINGLE_TUPLE:
        return statement_error(true, nullptr);
    default:
        return statement_error(false, PQresultErrorField(res, PG_DIAG_SQLSTATE));
    }
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

// ---- closing ------------------------------------------------------------------------------

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

} // namespace keel::pg::detail
