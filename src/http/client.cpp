// keel::http::client: the public object over client_impl. The machinery is
// filed by concern: multi_driver.cpp (curl's multi handle on the Asio loop),
// transfer.cpp (easy-handle setup, reading back a finished transfer),
// outcome.cpp (what a finished transfer means: pure), message.cpp (headers,
// idempotency).
#include <keel/http/client.hpp>

#include "client_impl.hpp"

namespace keel::http {

client::client(executor_type executor, client_options options)
    : io_object(executor, std::move(options)) {}

const client_options& client::options() const noexcept {
    return impl_->options();
}

} // namespace keel::http
