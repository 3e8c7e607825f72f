// keel::pg::pool: the public object over pool_impl, and pool_impl's
// lifetime. The machinery is filed by concern: acquiring.cpp (slots and
// waiters), connection_io.cpp (libpq's socket driven on the loop), query.cpp
// (one query call), outcome.cpp (what a statement's end means: pure);
// transaction.cpp runs transactions on the same machinery.
#include "pool_impl.hpp"
#include <asio/dispatch.hpp>

#include <stdexcept>

namespace keel::pg {

namespace detail {

pool_impl::pool_impl(asio::any_io_executor executor, pool_options options)
    : executor_(executor), strand_(keel::detail::serial_executor(executor)),
      options_(std::move(options)), endpoint_(endpoint_of(options_.dsn)), waiter_timer_(strand_) {
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

void shut_down(const std::shared_ptr<pool_impl>& impl) {
    asio::dispatch(impl->strand(), [impl] { impl->shutdown(); });
}

} // namespace detail

std::string endpoint_of(std::string_view dsn) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(std::string(dsn).c_str(), &error);
    if (!parsed) {
        PQfreemem(error); // the connection attempts will report it
        return {};
    }
    std::string host;
    std::string hostaddr;
    std::string port;
    for (const PQconninfoOption* o = parsed; o->keyword; ++o) {
        if (!o->val)
            continue;
        const std::string_view key = o->keyword;
        if (key == "host")
            host = o->val;
        else if (key == "hostaddr")
            hostaddr = o->val;
        else if (key == "port")
            port = o->val;
    }
    PQconninfoFree(parsed);
    if (host.empty())
        host = hostaddr.empty() ? "localhost" : hostaddr;
    for (char& c : host)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return host + ":" + (port.empty() ? "5432" : port);
}

// ---- pool ---------------------------------------------------------------------------------

pool::pool(executor_type executor, pool_options options)
    : io_object(executor, std::move(options)) {}

const pool_options& pool::options() const noexcept {
    return impl_->options();
}

std::string_view pool::endpoint() const noexcept {
    return impl_->endpoint();
}

pool_stats pool::stats() const {
    return impl_->stats();
}

} // namespace keel::pg
