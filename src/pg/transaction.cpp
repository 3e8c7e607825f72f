// async_transaction: BEGIN, the user's coroutine, COMMIT (or ROLLBACK) on
// one leased connection; the pipeline around it retries the whole attempt.
#include <keel/pg/transaction.hpp>

#include "pool_impl.hpp"
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <atomic>
#include <exception>

namespace keel::pg::detail {

class transaction_state final : public acquirer,
                                public keel::detail::call_handle,
                                public std::enable_shared_from_this<transaction_state> {
public:
    transaction_state(std::shared_ptr<pool_impl> pool, transaction_function body, isolation level,
                      const keel::attempt* attempt,
                      keel::detail::completion_ptr<transaction_completion> done)
        : pool_(std::move(pool)), body_(std::move(body)), level_(level), attempt_(attempt),
          done_(std::move(done)) {
        if (attempt_ && attempt_->connect_deadline() != clock::time_point::max())
            deadline = attempt_->connect_deadline();
        else if (pool_->options().connect_timeout.count() > 0)
            deadline = clock::now() + pool_->options().connect_timeout;
    }

    const std::shared_ptr<pool_impl>& pool() const noexcept { return pool_; }

    void start() override {
        // As a query call starts (pool.cpp): dispatched, completions posted
        // until initiation_.end().
        asio::dispatch(pool_->strand(),
                       [self = shared_from_this()] { self->pool_->acquire(self); });
        initiation_.end();
    }

    void on_acquired(std::shared_ptr<connection> c) override {
        if (!done_) {
            pool_->release(c);
            return;
        }
        conn_ = std::move(c);
        conn_->leased = true;
        const char* begin = level_ == isolation::serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                            : level_ == isolation::repeatable_read
                                ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                                : "BEGIN";
        step(step_kind::begin, begin);
    }

    void on_acquire_failed(std::error_code ec, std::string) override { complete(ec); }

    // Any cancellation type.
    void cancel(asio::cancellation_type) override {
        asio::dispatch(pool_->strand(), [self = shared_from_this()] { self->on_cancel(); });
    }

    /// On the strand: one statement of the body.
    void query(const std::shared_ptr<exchange>& q) {
        if (!done_ || !conn_ || phase_ != step_kind::body) {
            q->on_done(asio::error::operation_aborted, result(), false);
            return;
        }
        pool_->run(conn_, q);
    }

    /// A statement of the body failed with a SQLSTATE: the transaction is
    /// aborted on the server even if the body catches the error.
    void note_failure(std::error_code ec) {
        if (!first_failure_)
            first_failure_ = ec;
    }

    enum class step_kind { begin, body, commit, rollback };

    void on_step(step_kind kind, std::error_code ec, bool sent) {
        if (!done_)
            return; // cancelled: the connection is gone, the caller answered
        switch (kind) {
        case step_kind::begin:
            if (ec) {
                finish_with(ec);
                return;
            }
            phase_ = step_kind::body;
            spawn_body();
            return;
        case step_kind::commit:
            if (!outcome_unknown(ec)) {
                // Committed, or refused by the server (e.g. 40001 under
                // SERIALIZABLE): a definite answer either way.
                release_connection();
                complete(ec);
                return;
            }
            // Lost on the way: committed or not, nobody can say. A
            // transaction is never known to be safe twice.
            if (attempt_)
                attempt_->feedback().outcome_unknown_if(
                    {.may_have_reached = sent, .verdict_unknown = true, .idempotent = false});
            release_connection();
            complete(make_error_code(errc::commit_outcome_unknown));
            return;
        case step_kind::rollback:
            release_connection();
            complete(failure_);
            return;
        case step_kind::body:
            return;
        }
    }

    void body_done(std::exception_ptr e) {
        if (!done_)
            return;
        std::error_code ec;
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::system_error& error) {
                ec = error.code();
            } catch (...) {
                ec = make_error_code(errc::transaction_function_threw);
            }
        }
        if (!ec)
            ec = first_failure_;
        if (!ec && (!conn_ || conn_->st == connection::state::closed))
            ec = make_error_code(errc::connection_lost);
        if (ec) {
            finish_with(ec);
            return;
        }
        step(step_kind::commit, "COMMIT");
    }

private:
    class step_exchange final : public exchange {
    public:
        step_exchange(std::shared_ptr<transaction_state> owner, step_kind kind, const char* sql)
            : owner_(std::move(owner)), kind_(kind), stmt_(sql) {}
        const statement& stmt() const noexcept override { return stmt_; }
        void on_done(std::error_code ec, result, bool sent) override {
            owner_->on_step(kind_, ec, sent);
        }

    private:
        std::shared_ptr<transaction_state> owner_;
        step_kind kind_;
        statement stmt_;
    };

    void step(step_kind kind, const char* sql) {
        phase_ = kind;
        pool_->run(conn_, std::make_shared<step_exchange>(shared_from_this(), kind, sql));
    }

    void spawn_body() {
        auto tx = std::make_shared<transaction>(shared_from_this(), pool_->executor());
        auto self = shared_from_this();
        // The body is copied into the coroutine: it runs on even when this
        // attempt was cut short and the pipeline has dropped its own copy.
        asio::co_spawn(
            pool_->executor(),
            [tx, body = body_]() -> asio::awaitable<void> { co_await body(*tx); },
            [self](std::exception_ptr e) {
                asio::dispatch(self->pool_->strand(), [self, e] { self->body_done(e); });
            });
    }

    /// Rolls back (when the connection still works), then completes with `ec`.
    void finish_with(std::error_code ec) {
        failure_ = ec;
        if (conn_ && conn_->st != connection::state::closed && conn_->pg &&
            PQstatus(conn_->pg) == CONNECTION_OK) {
            step(step_kind::rollback, "ROLLBACK");
            return;
        }
        release_connection();
        complete(ec);
    }

    void release_connection() {
        if (std::shared_ptr<connection> c = std::move(conn_))
            pool_->release(c); // closes it when broken or still in a transaction
    }

    void on_cancel() {
        if (!done_)
            return;
        if (pool_->withdraw(*this)) {
            complete(asio::error::operation_aborted);
            return;
        }
        // Cancelled during COMMIT: it may have been applied, and nobody will
        // hear the verdict. Before COMMIT, closing rolls the work back.
        if (attempt_)
            attempt_->feedback().outcome_unknown_if(
                {.may_have_reached = phase_ == step_kind::commit,
                 .verdict_unknown = true,
                 .idempotent = false});
        auto done = std::move(done_);
        // Closing the connection makes the server roll the transaction back;
        // the statement in flight (if any) ends with operation_aborted.
        if (std::shared_ptr<connection> c = std::move(conn_))
            pool_->close(c, false, asio::error::operation_aborted);
        if (done) // complete() frees it, before the upcall
            done.release()->complete(initiation_.upcall(), asio::error::operation_aborted);
    }

    void complete(std::error_code ec) {
        if (auto done = std::move(done_)) // complete() frees it, before the upcall
            done.release()->complete(initiation_.upcall(), ec);
    }

    initiation initiation_;
    std::shared_ptr<pool_impl> pool_;
    transaction_function body_;
    isolation level_;
    const keel::attempt* attempt_;
    keel::detail::completion_ptr<transaction_completion> done_;
    std::shared_ptr<connection> conn_;
    step_kind phase_ = step_kind::begin;
    std::error_code first_failure_;
    std::error_code failure_;
};

namespace {

class transaction_query final : public exchange,
                                public keel::detail::call_handle,
                                public std::enable_shared_from_this<transaction_query> {
public:
    transaction_query(std::shared_ptr<transaction_state> tx, statement s,
                      keel::detail::completion_ptr<query_completion> done)
        : tx_(std::move(tx)), stmt_(std::move(s)), done_(std::move(done)) {}

    const statement& stmt() const noexcept override { return stmt_; }

    void on_done(std::error_code ec, result r, bool) override {
        if (ec && ec.category() == sqlstate_category())
            tx_->note_failure(ec);
        if (auto done = std::move(done_)) // complete() frees it, before the upcall
            done.release()->complete(initiation_.upcall(), ec, std::move(r));
    }

    // One statement cannot be stopped alone without leaving the transaction
    // in an unknown state: cancelling it cancels the attempt.
    void cancel(asio::cancellation_type type) override { tx_->cancel(type); }

    void start() override {
        asio::dispatch(tx_->pool()->strand(),
                       [tx = tx_, self = shared_from_this()] { tx->query(self); });
        initiation_.end();
    }

private:
    initiation initiation_;
    std::shared_ptr<transaction_state> tx_;
    statement stmt_;
    keel::detail::completion_ptr<query_completion> done_;
};

} // namespace

std::shared_ptr<keel::detail::call_handle>
make_transaction_query(const std::shared_ptr<transaction_state>& tx, statement s,
                       keel::detail::completion_ptr<query_completion> done) {
    return std::make_shared<transaction_query>(tx, std::move(s), std::move(done));
}

std::shared_ptr<keel::detail::call_handle>
make_transaction(const std::shared_ptr<pool_impl>& pool, const transaction_function* body,
                 isolation level, const keel::attempt* attempt,
                 keel::detail::completion_ptr<transaction_completion> done) {
    return std::make_shared<transaction_state>(pool, *body, level, attempt, std::move(done));
}

} // namespace keel::pg::detail
