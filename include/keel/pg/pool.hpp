// keel::pg::pool: a bounded set of PostgreSQL connections on the Asio loop
// (libpq's non-blocking interface), alone or through a keel pipeline.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/call_with_attempts.hpp>
#include <keel/detail/initiate_call.hpp>
#include <keel/detail/io_object.hpp>
#include <keel/endpoint.hpp>
#include <keel/pg/error.hpp>
#include <keel/pg/result.hpp>
#include <keel/pg/statement.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::pg {

struct pool_options {
    /// libpq connection string or URI ("host=127.0.0.1 port=5432 dbname=app",
    /// "postgresql://app@db/app").
    std::string dsn;
    /// Connections open at most; calls beyond it wait for one to come free.
    std::size_t size = 4;
    /// Bounds acquiring a connection (waiting for a free one, then opening
    /// one) for calls that bring no deadline of their own (no attempt, no
    /// query_options::connect_timeout); zero: no bound.
    std::chrono::milliseconds connect_timeout{0};
    /// After keel cancels a query (deadline, caller), how long the server may
    /// take to acknowledge before the connection is closed instead of reused.
    std::chrono::milliseconds cancel_grace{2000};
};

/// The endpoint a connection string names, as keel keys per-endpoint state
/// (a circuit breaker with `scope: endpoint`): `host:port`, the host
/// lower-cased (`hostaddr` when there is no `host`), "localhost" and 5432
/// where the string names none (PGHOST and PGPORT are not read); empty for
/// a string libpq cannot parse. "postgresql://app@DB1/app" -> "db1:5432".
std::string endpoint_of(std::string_view dsn);

/// Options of one call. Through a pipeline they come from the attempt.
struct query_options {
    /// Bounds acquiring a connection (as pool_options::connect_timeout).
    std::optional<std::chrono::milliseconds> connect_timeout;
    /// The keel attempt this call is (set by async_call): its connect
    /// deadline bounds acquisition, and feedback().outcome_unknown() is called for a
    /// non-idempotent statement whose outcome is unknown. Must outlive the call.
    const keel::attempt* attempt = nullptr;
};

/// A snapshot for tests and dashboards.
struct pool_stats {
    std::size_t open = 0;          ///< connections open or opening
    std::size_t idle = 0;          ///< open and free
    std::size_t waiting = 0;       ///< calls waiting for a connection
    std::size_t opened = 0;        ///< connections opened successfully since the start
    std::size_t closed_broken = 0; ///< connections dropped because they broke
};

enum class isolation { read_committed, repeatable_read, serializable };

/// One attempt's transaction (keel/pg/transaction.hpp).
class transaction;

/// The body of a transaction: runs its statements through `tx` and throws
/// (co_await with asio::use_awaitable does) to roll back. It may run several
/// times, once per attempt, so it must not keep effects outside the database
/// from a failed attempt.
using transaction_function = std::function<asio::awaitable<void>(transaction&)>;

namespace detail {
class pool_impl;

/// Ends the calls waiting or running (errc::pool_closed) and closes the
/// connections, on the pool's strand.
void shut_down(const std::shared_ptr<pool_impl>& impl);

using query_completion = keel::detail::completion<std::error_code, result>;

/// The call running one statement; start() starts it.
std::shared_ptr<keel::detail::call_handle>
make_query(const std::shared_ptr<pool_impl>& pool, statement owned, const statement* borrowed,
           const query_options& options, keel::detail::completion_ptr<query_completion> done);

using transaction_completion = keel::detail::completion<std::error_code>;

/// The call running one attempt of a transaction; start() starts it.
std::shared_ptr<keel::detail::call_handle>
make_transaction(const std::shared_ptr<pool_impl>& pool, const transaction_function* body,
                 isolation level, const keel::attempt* attempt,
                 keel::detail::completion_ptr<transaction_completion> done);
} // namespace detail

/// Up to `size` connections to one database. Each call takes a free
/// connection (or opens one, or waits for one), runs one statement and gives
/// the connection back. Thread-safe; like an Asio I/O object it must outlive
/// its calls, and destroying it ends the calls still waiting or running
/// (their handlers get errc::pool_closed) and closes the connections.
class pool : public keel::detail::io_object<detail::pool_impl> {
public:
    explicit pool(executor_type executor, pool_options options);

    const pool_options& options() const noexcept;
    pool_stats stats() const;
    /// The pool's one endpoint, endpoint_of(options().dsn): what its calls
    /// through a pipeline report to strategies kept per endpoint.
    std::string_view endpoint() const noexcept;

    /// Runs one statement, with no retries.
    ///
    /// Completion signature: `void(std::error_code, result)`.
    ///
    /// Errors: a sqlstate() error for a statement the server refused (the
    /// result carries its message); errc::connection_lost;
    /// errc::connect_failed; keel::errc::connect_timeout (opening a
    /// connection took too long); errc::pool_exhausted (no connection came
    /// free in time); errc::pool_closed when the pool is destroyed first;
    /// operation_aborted when cancelled.
    ///
    /// Per-operation cancellation: terminal, partial and total alike. A call
    /// still waiting for a connection leaves the queue; a running statement
    /// is cancelled on the server (PQcancel, on the pool's worker thread)
    /// and the call completes at once with operation_aborted and an empty
    /// result. What it leaves behind: the server may have run the statement
    /// (and, outside a transaction, committed it) before the cancel reached
    /// it; its connection is reused once the server has stopped the
    /// statement, or closed after pool_options::cancel_grace.
    ///
    /// Lifetimes: the pool must outlive the call; the statement is moved in;
    /// `options.attempt`, when set, must outlive the call.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_query(statement s, query_options options = {},
                     Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, result)>(
            initiate_query{{this}}, token, std::move(s), options);
    }

    /// Runs `s` through `pipeline`: each attempt acquires a connection within
    /// its connect deadline and runs `s` within its exchange deadline (keel
    /// cancels it on the server when it expires). Errors are retried by
    /// their fault class, but a statement not marked idempotent is not run
    /// again once it may have reached the server without a definite answer.
    ///
    /// Completion signature, errors and per-operation cancellation: those of
    /// async_query for each attempt, with what pipeline::async_run adds
    /// (deadlines, local refusals with no statement sent, cancellation
    /// between attempts); the last attempt's result. What a cancellation
    /// leaves behind: the statement in flight may have run on the server.
    ///
    /// With hedging in the pipeline (keel/hedging.hpp), a statement marked
    /// read-only (pg::read_only) runs parallel attempts, each on its own
    /// connection; a losing one is cancelled on the server as any cancelled
    /// call is (its PQcancel is under way when the call completes, and the
    /// server stops the statement moments later). Any other statement runs
    /// one attempt at a time.
    ///
    /// Lifetimes: the pool and the pipeline must outlive the call; the
    /// statement is moved in and kept until the call completes.
    template <class Pipeline, class Token = asio::default_completion_token_t<executor_type>>
    auto async_call(Pipeline&& pipeline, statement s,
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        const bool hedged = may_hedge(s);
        return keel::detail::call_with_attempts<void(std::error_code, result), query_options>(
            pipeline, initiate_query{{this}}, std::move(s), hedged, std::forward<Token>(token),
            endpoint());
    }

    /// Runs `body` inside BEGIN [ISOLATION LEVEL ...] / COMMIT on one pooled
    /// connection, through `pipeline`: an attempt whose body or COMMIT fails
    /// with a transient error -- above all 40001 serialization_failure and
    /// 40P01 deadlock_detected -- is rolled back and the whole transaction
    /// runs again under the pipeline's retry policy. The body's statements
    /// run through a pg::transaction (keel/pg/transaction.hpp).
    ///
    /// Completion signature: `void(std::error_code)`.
    ///
    /// Errors: none once COMMIT succeeded; the body's error (a
    /// system_error's code, errc::transaction_function_threw for anything
    /// else); a statement's SQLSTATE; the errors of acquiring a connection
    /// (as async_query); errc::commit_outcome_unknown when the connection
    /// broke while COMMIT was on its way -- that one is never retried; the
    /// pipeline's deadlines and local refusals; operation_aborted when
    /// cancelled.
    ///
    /// Per-operation cancellation: terminal, partial and total alike (an
    /// expired deadline is a terminal one). A call waiting for a connection
    /// leaves the queue; a running attempt's connection is closed, which
    /// makes the server roll the transaction back, and the body's pending
    /// statement completes with operation_aborted. What it leaves behind:
    /// nothing committed, unless COMMIT was already on its way -- then the
    /// outcome is unknown and the pipeline does not retry. The body's
    /// coroutine may still be running when the call completes: its later
    /// statements fail with operation_aborted.
    ///
    /// Lifetimes: the pool and the pipeline must outlive the call; the body
    /// is copied for each attempt's coroutine, so what it captures by
    /// reference must outlive the coroutine, not only the call.
    template <class Pipeline, class Token = asio::default_completion_token_t<executor_type>>
    auto async_transaction(Pipeline&& pipeline, transaction_function body,
                           isolation level = isolation::read_committed,
                           Token&& token = asio::default_completion_token_t<executor_type>()) {
        static_assert(
            std::is_same_v<typename std::remove_cvref_t<Pipeline>::attempt_type, keel::attempt>,
            "keel::pg runs on the steady clock: use a pipeline with a steady_timer");
        // Reports the pool's endpoint, as async_call does. Says nothing of
        // idempotence: a transaction is never hedged (two at once could both
        // commit), whatever its statements.
        return pipeline.template async_run<void(std::error_code)>(
            keel::with_endpoint_t<transaction_attempts, std::string_view>{
                transaction_attempts{this, std::move(body), level}, endpoint()},
            std::forward<Token>(token));
    }

private:
    /// async_transaction's attempts: each runs the body in a transaction of
    /// its own.
    struct transaction_attempts {
        pool* self;
        transaction_function body;
        isolation level;

        /// A generic injected error as keel::pg reports that failure.
        std::error_code fault_error(std::error_code generic) const {
            return pg::fault_error(generic);
        }
        template <class Token>
        auto operator()(const keel::attempt& a, Token&& token) const {
            return asio::async_initiate<Token, void(std::error_code)>(
                [this, &a](auto handler) {
                    keel::detail::initiate_call<keel::detail::completion, std::error_code>(
                        std::move(handler), self->executor_, [&](auto done) {
                            return detail::make_transaction(self->impl_, &body, level, &a,
                                                            std::move(done));
                        });
                },
                token);
        }
    };

    struct initiate_query : initiation<pool> {
        /// A generic injected error as keel::pg reports that failure.
        std::error_code fault_error(std::error_code generic) const {
            return pg::fault_error(generic);
        }
        /// async_query's: a statement of its own.
        template <class Handler>
        void operator()(Handler&& handler, statement s, const query_options& options) const {
            self->query(std::forward<Handler>(handler), std::move(s), nullptr, options);
        }
        /// An async_call attempt's: the call's statement, uncopied.
        template <class Handler>
        void operator()(Handler&& handler, const query_options& options,
                        const statement* borrowed) const {
            self->query(std::forward<Handler>(handler), statement(), borrowed, options);
        }
    };

    template <class Handler>
    void query(Handler&& handler, statement owned, const statement* borrowed,
               const query_options& options) {
        keel::detail::initiate_call<keel::detail::completion, std::error_code, result>(
            std::forward<Handler>(handler), executor_, [&](auto done) {
                return detail::make_query(impl_, std::move(owned), borrowed, options,
                                          std::move(done));
            });
    }
};

} // namespace keel::pg
