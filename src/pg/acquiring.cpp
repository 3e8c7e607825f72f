// Acquiring in keel::pg's pool: its slots (connections open or opening, the
// idle ones) and its waiters (calls waiting for a connection, each with a
// deadline, served oldest first), a connection given back, and the pool
// shut down. Every function runs on the pool's strand (pool_impl.hpp).
#include <keel/error.hpp>

#include "pool_impl.hpp"

#include <algorithm>
#include <vector>

namespace keel::pg::detail {

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

// ---- giving back ---------------------------------------------------------------------------

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

} // namespace keel::pg::detail
