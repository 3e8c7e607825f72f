// The machinery behind keel::pg::pool: libpq connections driven on one
// strand. Private to src/pg (pool.cpp, transaction.cpp).
//
// Every libpq call on a connection happens on the pool's strand, except
// PQcancel, which blocks (it opens its own connection to the server) and so
// runs on the pool's worker thread (keel::detail::blocking_worker, as
// keel::kafka's blocking calls). Socket readiness comes through
// keel::detail::library_fd; the descriptor is libpq's, released before each
// PQconnectPoll (which may replace the socket) and before PQfinish.
#pragma once

#include <keel/internal/blocking_worker.hpp>
#include <keel/internal/library_fd.hpp>
#include <keel/internal/serial_executor.hpp>
#include <keel/pg/pool.hpp>

#include "outcome.hpp"
#include "result_data.hpp"
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace keel::pg::detail {

using clock = std::chrono::steady_clock;

/// How a call's completion reaches its handler: posted while the initiating
/// function runs (start() may complete the call before it returns), then
/// dispatched, since every completion after that comes from the strand.
class initiation {
public:
    keel::detail::upcall upcall() const noexcept {
        return initiating_.load(std::memory_order_acquire) ? keel::detail::upcall::post
                                                           : keel::detail::upcall::dispatch;
    }
    /// The initiating function is returning.
    void end() noexcept { initiating_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> initiating_{true};
};

/// One statement a connection runs for someone (a query call, a step of a
/// transaction). Its callbacks run on the strand.
class exchange {
public:
    virtual ~exchange() = default;
    virtual const statement& stmt() const noexcept = 0;
    /// The statement ended. `sent`: it may have reached the server.
    virtual void on_done(std::error_code ec, result r, bool sent) = 0;
};

/// Someone waiting for a connection. Callbacks run on the strand, once.
class acquirer {
public:
    virtual ~acquirer() = default;
    virtual void on_acquired(std::shared_ptr<struct connection> c) = 0;
    virtual void on_acquire_failed(std::error_code ec, std::string why) = 0;

    clock::time_point deadline = clock::time_point::max();
    bool waiting = false;
    std::weak_ptr<struct connection> opening; ///< a connection opened for this one
};

struct connection {
    enum class state { connecting, idle, busy, draining, closed };

    explicit connection(const asio::any_io_executor& strand) : timer(strand) {}

    PGconn* pg = nullptr;
    std::shared_ptr<keel::detail::library_fd> fd;
    state st = state::connecting;
    bool leased = false; ///< held by a transaction between its statements
    std::shared_ptr<exchange> current;
    PGresult* collected = nullptr; ///< the answer so far (owned)
    bool sent = false;
    bool drained = false;        ///< draining: the abandoned statement's answer is in
    bool cancel_pending = false; ///< draining: PQcancel has not returned yet
    asio::steady_timer timer;    ///< the grace after a cancel
    clock::time_point idle_since{};
    std::weak_ptr<acquirer> opened_for;
    /// Connecting: when to give up (the deadline of the call it was opened
    /// for, kept even when another connection served that call meanwhile).
    clock::time_point connect_deadline = clock::time_point::max();
};

class pool_impl : public std::enable_shared_from_this<pool_impl> {
public:
    pool_impl(asio::any_io_executor executor, pool_options options);
    ~pool_impl();

    /// Where every libpq call runs, one at a time: the caller's executor
    /// when it is serial already, else a strand on it.
    const asio::any_io_executor& strand() const noexcept { return strand_; }
    const asio::any_io_executor& executor() const noexcept { return executor_; }
    const pool_options& options() const noexcept { return options_; }
    /// endpoint_of(options().dsn), worked out once.
    const std::string& endpoint() const noexcept { return endpoint_; }
    pool_stats stats() const;

    // All of the following run on the strand.

    /// Hands `a` a free connection now, or queues it (its deadline armed).
    void acquire(const std::shared_ptr<acquirer>& a);
    /// `a` gives up waiting (cancelled): false when it was not waiting.
    bool withdraw(acquirer& a);
    /// Runs `x` on `c` (which the caller holds).
    void run(const std::shared_ptr<connection>& c, const std::shared_ptr<exchange>& x);
    /// `c`'s holder is done with it: it serves the next waiter or goes idle
    /// (or is closed when it broke or was left inside a transaction).
    void release(const std::shared_ptr<connection>& c);
    /// The statement running on `c` was abandoned by its caller: cancel it on
    /// the server and reuse `c` once it is idle again (or close it after the
    /// grace period).
    void abandon(const std::shared_ptr<connection>& c);
    /// Closes `c` at once; a statement running on it ends with `ec`.
    void close(const std::shared_ptr<connection>& c, bool broken,
               std::error_code ec = make_error_code(errc::connection_lost));
    /// Ends everything (the pool object is going away).
    void shutdown();

private:
    /// Takes the oldest waiter off the queue (it is waiting no more).
    std::shared_ptr<acquirer> pop_oldest_waiter();
    void open_for(const std::shared_ptr<acquirer>& a);
    void poll_connect(const std::shared_ptr<connection>& c);
    void connect_failed(const std::shared_ptr<connection>& c, std::error_code ec, std::string why);
    void on_expired(const std::shared_ptr<acquirer>& a);
    void arm_waiter_timer(clock::time_point deadline);
    void on_waiter_timer();
    void arm_read(const std::shared_ptr<connection>& c);
    void on_readable(const std::shared_ptr<connection>& c);
    void flush(const std::shared_ptr<connection>& c);
    void collect(const std::shared_ptr<connection>& c);
    void finish(const std::shared_ptr<connection>& c, std::error_code lost = {});
    void make_idle(const std::shared_ptr<connection>& c);
    void end_drain(const std::shared_ptr<connection>& c);
    void replace_if_needed();
    void forget(const std::shared_ptr<connection>& c);

    asio::any_io_executor executor_;
    asio::any_io_executor strand_;
    pool_options options_;
    std::string endpoint_;
    keel::detail::blocking_worker cancel_worker_;   ///< PQcancel, which blocks
    std::vector<std::shared_ptr<connection>> all_;  ///< open or opening
    std::vector<std::shared_ptr<connection>> idle_; ///< the last one freed is used first
    std::deque<std::shared_ptr<acquirer>> waiters_;
    /// One timer for all waiters, at the earliest deadline (armed again only
    /// when a sooner one arrives): no kernel timer per waiting call.
    asio::steady_timer waiter_timer_;
    clock::time_point waiter_timer_at_ = clock::time_point::max();
    bool closed_ = false;

    std::atomic<std::size_t> stat_open_{0};
    std::atomic<std::size_t> stat_idle_{0};
    std::atomic<std::size_t> stat_waiting_{0};
    std::atomic<std::size_t> stat_opened_{0};
    std::atomic<std::size_t> stat_broken_{0};
};

/// The error of a finished statement: none, its SQLSTATE, or connection_lost.
std::error_code error_of(const PGresult* res);

} // namespace keel::pg::detail
