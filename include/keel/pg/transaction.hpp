// keel::pg::transaction: the statements of one attempt of
// pool::async_transaction, on the connection that attempt holds.
#pragma once

#include <keel/pg/pool.hpp>

#include <memory>
#include <type_traits>

namespace keel::pg {

namespace detail {
class transaction_state;

std::shared_ptr<keel::detail::call_handle>
make_transaction_query(const std::shared_ptr<transaction_state>& tx, statement s,
                       keel::detail::completion_ptr<query_completion> done);
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

/// Deprecated (one release): `p.async_transaction(pipeline, body, level,
/// token)`, which says what it does.
template <class Pipeline, class Token = asio::default_completion_token_t<pool::executor_type>>
[[deprecated("use pool::async_transaction")]] auto
async_transaction(pool& p, Pipeline&& pipeline, transaction_function body,
                  isolation level = isolation::read_committed,
                  Token&& token = asio::default_completion_token_t<pool::executor_type>()) {
    return p.async_transaction(std::forward<Pipeline>(pipeline), std::move(body), level,
                               std::forward<Token>(token));
}

} // namespace keel::pg
