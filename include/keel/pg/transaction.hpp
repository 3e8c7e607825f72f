// keel::pg::async_transaction: a coroutine run inside BEGIN/COMMIT, the whole
// transaction retried on serialization failures and deadlocks.
#pragma once

#include <keel/pg/pool.hpp>

#include <asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <type_traits>

namespace keel::pg {

enum class isolation { read_committed, repeatable_read, serializable };

class transaction;

/// The body of a transaction: runs its statements through `tx` and throws
/// (co_await with asio::use_awaitable does) to roll back. It may run several
/// times, once per attempt, so it must not keep effects outside the database
/// from a failed attempt.
using transaction_function = std::function<asio::awaitable<void>(transaction&)>;

namespace detail {
class transaction_state;

using transaction_completion = keel::detail::completion<std::error_code>;

std::shared_ptr<keel::detail::call_handle>
make_transaction_query(const std::shared_ptr<transaction_state>& tx, statement s,
                       keel::detail::completion_ptr<query_completion> done);

std::shared_ptr<keel::detail::call_handle>
make_transaction(const std::shared_ptr<pool_impl>& pool, const transaction_function* body,
                 isolation level, const keel::attempt* attempt,
                 keel::detail::completion_ptr<transaction_completion> done);
} // namespace detail

/// One attempt's transaction: its statements run on the one connection the
/// attempt holds, between BEGIN and COMMIT.
class transaction {
public:
    using executor_type = asio::any_io_executor;

    transaction(std::shared_ptr<detail::transaction_state> state, executor_type executor)
        : state_(std::move(state)), executor_(std::move(executor)) {}

    executor_type get_executor() const noexcept { return executor_; }

    /// Runs one statement of the transaction, on the attempt's connection.
    ///
    /// Completion signature: `void(std::error_code, result)`.
    ///
    /// Errors: those of pool::async_query; a statement the server refused
    /// aborts the transaction (the attempt rolls back, even if the body
    /// catches the error); operation_aborted once the attempt was cut short
    /// (deadline, cancellation).
    ///
    /// Per-operation cancellation: terminal, partial and total alike cancel
    /// the whole attempt: one statement cannot be stopped alone without
    /// leaving the transaction in an unknown state. Its connection is
    /// closed (the server rolls the transaction back), this statement and
    /// the attempt complete with operation_aborted. Nothing of the attempt
    /// stays committed.
    ///
    /// Lifetimes: only within the body, while this transaction object lives;
    /// the statement is moved in.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_query(statement s,
                     Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, result)>(
            [this](auto handler, statement s) {
                keel::detail::initiate_call<keel::detail::completion, std::error_code, result>(
                    std::move(handler), executor_, [&](auto done) {
                        return detail::make_transaction_query(state_, std::move(s),
                                                              std::move(done));
                    });
            },
            token, std::move(s));
    }

private:
    std::shared_ptr<detail::transaction_state> state_;
    executor_type executor_;
};

/// Runs `body` inside BEGIN [ISOLATION LEVEL ...] / COMMIT on one pooled
/// connection, through `pipeline`: an attempt whose body or COMMIT fails
/// with a transient error -- above all 40001 serialization_failure and
/// 40P01 deadlock_detected -- is rolled back and the whole transaction runs
/// again under the pipeline's retry policy.
///
/// Completion signature: `void(std::error_code)`.
///
/// Errors: none once COMMIT succeeded; the body's error (a system_error's
/// code, errc::transaction_function_threw for anything else); a statement's
/// SQLSTATE; the errors of acquiring a connection (as pool::async_query);
/// errc::commit_outcome_unknown when the connection broke while COMMIT was
/// on its way -- that one is never retried; the pipeline's deadlines and
/// local refusals; operation_aborted when cancelled.
///
/// Per-operation cancellation: terminal, partial and total alike (an
/// expired deadline is a terminal one). A call waiting for a connection
/// leaves the queue; a running attempt's connection is closed, which makes
/// the server roll the transaction back, and the body's pending statement
/// completes with operation_aborted. What it leaves behind: nothing
/// committed, unless COMMIT was already on its way -- then the outcome is
/// unknown and the pipeline does not retry. The body's coroutine may still
/// be running when the call completes: its later statements fail with
/// operation_aborted.
///
/// Lifetimes: the pool and the pipeline must outlive the call; the body is
/// copied for each attempt's coroutine, so what it captures by reference
/// must outlive the coroutine, not only the call.
template <class Pipeline, class Token = asio::default_completion_token_t<pool::executor_type>>
auto async_transaction(pool& p, Pipeline&& pipeline, transaction_function body,
                       isolation level = isolation::read_committed,
                       Token&& token = asio::default_completion_token_t<pool::executor_type>()) {
    static_assert(
        std::is_same_v<typename std::remove_cvref_t<Pipeline>::attempt_type, keel::attempt>,
        "keel::pg runs on the steady clock: use a pipeline with a steady_timer");
    return pipeline.template async_run<void(std::error_code)>(
        [&p, body = std::move(body), level](const keel::attempt& a, auto&& attempt_token) {
            return asio::async_initiate<decltype(attempt_token), void(std::error_code)>(
                [&p, &body, level, &a](auto handler) {
                    keel::detail::initiate_call<keel::detail::completion, std::error_code>(
                        std::move(handler), p.get_executor(), [&](auto done) {
                            return detail::make_transaction(p.impl(), &body, level, &a,
                                                            std::move(done));
                        });
                },
                attempt_token);
        },
        std::forward<Token>(token));
}

} // namespace keel::pg
