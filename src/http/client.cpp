// keel::http::client: the public object over client_impl. The machinery is
// filed by concern: multi_driver.cpp (curl's multi handle on the Asio loop),
// transfer.cpp (easy-handle setup, reading back a finished transfer),
// outcome.cpp (what a finished transfer means: pure), message.cpp (headers,
// idempotency).
#include <keel/http/client.hpp>

#include "client_impl.hpp"
#include <asio/dispatch.hpp>

namespace keel::http {

namespace detail {

void shut_down(const std::shared_ptr<client_impl>& impl) {
    asio::dispatch(impl->loop(), [impl] { impl->shutdown(); });
}

} // namespace detail

client::client(executor_type executor, client_options options)
    : io_object(executor, std::move(options)) {}

const client_options& client::options() const noexcept {
    return impl_->options();
}

} // namespace keel::http
