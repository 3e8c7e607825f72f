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

std::string client::endpoint_for(const request& r) const {
    return std::string(std::string_view(call_endpoint_of(r)));
}

client::call_endpoint client::call_endpoint_of(const request& r) const {
    // As the transfer resolves it (transfer.cpp): a path goes to base_url.
    if (!r.url.empty() && r.url.front() == '/' && !impl_->options().base_url.empty())
        return {impl_->base_endpoint(), {}};
    return {{}, endpoint_of(r.url)};
}

} // namespace keel::http
