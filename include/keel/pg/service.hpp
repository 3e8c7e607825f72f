// keel::pg::service: one PostgreSQL dependency of the configuration, with
// its pipeline and a pool made from its `connection:` section.
#pragma once

#include <keel/config/dependency_service.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pg/transaction.hpp>
#include <keel/reporting_pipeline.hpp>

#include <string_view>
#include <tuple>

namespace keel::pg {

/// pool_options from a `kind: postgres` dependency's `connection:` section
/// (docs/pg.md):
///
///   connection:
///     dsn: "${ORDERS_DB_DSN}"   # required: a libpq connection string or URI
///     pool_size: 8              # connections at most (default 4)
///     cancel_grace: 2s          # after a cancel, before the connection is dropped
///
/// Throws config::config_error naming the file, line, column and key of
/// every problem (and of the dependency, when its kind is not postgres).
pool_options options_from(const config::dependency& dependency);

/// `orders.async_query(pg::idempotent("SELECT ..."), token)`: retries,
/// timeouts and metrics from the dependency's entry in the file. Policy
/// reloads apply to the calls that start afterwards; the connection section
/// is read once, here.
class service : public config::dependency_service<pool> {
public:
    /// Throws std::out_of_range for an unknown dependency, config::config_error
    /// for a bad connection section.
    service(executor_type executor, config::registry& policies, std::string_view dependency)
        : dependency_service(std::move(executor), policies, dependency, options_from) {}

    /// Deprecated (one release): client().
    [[deprecated("use client()")]] pool& connections() noexcept { return client(); }

    /// pool::async_call through the dependency's pipeline: the same
    /// completion signature (`void(std::error_code, result)`), errors,
    /// cancellation (terminal, partial and total, into the attempt in
    /// flight) and leftovers (a statement the server may have run). The
    /// service must outlive the call; the statement is moved in.
    ///
    /// `tail`: `[call_report& report,] [token]`. A report (which must outlive
    /// the call) says how it went: the attempts, and in last_operation_error
    /// the last error the server or the connection gave, which a deadline
    /// that ended the call would otherwise hide.
    template <class... Tail>
    auto async_query(statement s, Tail&&... tail) {
        return call(std::forward_as_tuple(std::move(s)), std::forward<Tail>(tail)...);
    }

    /// pool::async_transaction through the dependency's pipeline: the same
    /// completion signature (`void(std::error_code)`), errors, cancellation
    /// (terminal, partial and total: the attempt's connection is closed and
    /// the server rolls back) and lifetimes (the service outlives the call).
    /// `tail` as async_query's.
    template <class... Tail>
    auto async_transaction(transaction_function body, isolation level = isolation::read_committed,
                           Tail&&... tail) {
        return route(
            [&](auto&& pipeline, auto&& token) {
                return client_.async_transaction(pipeline, std::move(body), level,
                                                 std::forward<decltype(token)>(token));
            },
            std::forward<Tail>(tail)...);
    }
};

} // namespace keel::pg
