// One query call of keel::pg's pool (pool::async_query): it waits for a
// connection, runs its statement on it, and tells the retry decision when
// the statement may have been applied (keel::must_not_repeat).
#include <keel/detail/block_cache.hpp>

#include "outcome.hpp"
#include "pool_impl.hpp"
#include <asio/dispatch.hpp>

namespace keel::pg::detail {

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

    /// Whether the statement may run again after it may have run: one
    /// marked idempotent, or read-only.
    bool idempotent() const noexcept { return stmt_.idempotent || stmt_.read_only; }

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
        if (ec && options_.attempt)
            options_.attempt->feedback().outcome_unknown_if({.may_have_reached = sent,
                                                             .verdict_unknown = outcome_unknown(ec),
                                                             .idempotent = idempotent()});
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
            // Abandoned: nobody will hear the server's verdict.
            if (options_.attempt)
                options_.attempt->feedback().outcome_unknown_if({.may_have_reached = sent,
                                                                 .verdict_unknown = true,
                                                                 .idempotent = idempotent()});
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

std::shared_ptr<keel::detail::call_handle>
make_query(const std::shared_ptr<pool_impl>& pool, statement owned, const statement* borrowed,
           const query_options& options, keel::detail::completion_ptr<query_completion> done) {
    // From the thread's block cache: the last query's memory is usually there.
    return std::allocate_shared<query_call>(keel::detail::cached_allocator<query_call>(), pool,
                                            std::move(owned), borrowed, options, std::move(done));
}

} // namespace keel::pg::detail
