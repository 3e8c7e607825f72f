// The C++ blocks of docs/http.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file. A region that is an
// excerpt sits in a function whose parameters are what the page assumes.

#include <keel/config/registry.hpp>
#include <keel/fault.hpp>
#include <keel/http/client.hpp>
#include <keel/http/error.hpp>
#include <keel/http/service.hpp>
#include <keel/pipeline.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <concepts>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace http_docs {

// [snippet:service]
#include <keel/config/registry.hpp>
#include <keel/http/service.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>

asio::awaitable<void> charge(keel::http::service& payments, std::string order) {
    keel::http::request r;
    r.method = "POST";
    r.url = "/charges";                          // appended to base_url
    r.body = R"({"order":")" + order + R"("})";
    r.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", order}};
    auto [ec, response] = co_await payments.async_send(
        std::move(r), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec)
        std::cerr << "charge failed: " << ec.message() << " (HTTP " << response.status << ")\n";
}

int main() {
    asio::io_context io;
    auto doc = keel::config::load_file("service.yaml");
    keel::config::registry policies(io.get_executor(), doc);
    keel::http::service payments(io.get_executor(), policies, "payments-http");
    asio::co_spawn(io, charge(payments, "order-42"), asio::detached);
    io.run();
}
// [end]

[[maybe_unused]] void client(const keel::pipeline_policy& policy) {
    // [snippet:client]
    #include <keel/http/client.hpp>
    #include <keel/pipeline.hpp>

    asio::io_context io;
    keel::http::client http(io.get_executor(), {.base_url = "http://127.0.0.1:8080"});

    // One request, no retries, deadlines of its own:
    keel::http::request r;
    r.url = "/health";
    http.async_send(r, {.connect_timeout = std::chrono::milliseconds(200),
                        .timeout = std::chrono::seconds(1)},
                    [](std::error_code ec, keel::http::response res) {
                        std::cout << (ec ? ec.message() : res.body) << '\n';
                    });

    // Through a pipeline: retries, per-attempt deadlines, Retry-After.
    keel::pipeline orders(io, "orders-http", policy);
    http.async_call(orders, r, [](std::error_code ec, keel::http::response res) { /* ... */ });
    io.run();
    // [end]
}

// The page shows the two structs' shape; the checks below keep it true.
namespace shape {
using keel::http::header_list;
using keel::http::response_headers;

// [snippet:request-response]
struct request {
    std::string method = "GET";   // any; HEAD asks for headers only
    std::string url;              // absolute, or "/path" appended to base_url
    header_list headers;          // std::vector<std::pair<std::string, std::string>>
    std::string body;
    bool idempotent = false;      // see below
};
struct response {
    int status = 0;               // 0 when no response arrived
    response_headers headers;     // as received: find(name), list(), size()
    std::string body;
    std::string_view header(std::string_view name) const; // case-insensitive
};
// [end]
} // namespace shape

template <class Doc, class Real>
constexpr bool same_members =
    std::is_same_v<decltype(Doc::headers), decltype(Real::headers)> &&
    std::is_same_v<decltype(Doc::body), decltype(Real::body)>;
static_assert(same_members<shape::request, keel::http::request>);
static_assert(same_members<shape::response, keel::http::response>);
static_assert(std::is_same_v<decltype(shape::request::method), decltype(keel::http::request::method)>);
static_assert(std::is_same_v<decltype(shape::request::url), decltype(keel::http::request::url)>);
static_assert(std::is_same_v<decltype(shape::request::idempotent),
                             decltype(keel::http::request::idempotent)>);
static_assert(std::is_same_v<decltype(shape::response::status), decltype(keel::http::response::status)>);
static_assert(requires(const keel::http::response r) {
    { r.header(std::string_view()) } -> std::same_as<std::string_view>;
    r.headers.find(std::string_view());
    r.headers.list();
    r.headers.size();
});
static_assert(std::is_same_v<keel::http::header_list,
                             std::vector<std::pair<std::string, std::string>>>);

[[maybe_unused]] void classifier() {
    // [snippet:classifier]
    // A 409 from this peer means "another request holds the row": try again.
    keel::register_classifier(keel::http::status_category(),
                              [](const std::error_code& ec, keel::fault_class& out) {
                                  if (ec.value() != 409)
                                      return false;
                                  out = keel::fault_class::transient;
                                  return true;
                              });
    // [end]
}

} // namespace http_docs
