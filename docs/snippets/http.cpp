// The C++ blocks of docs/http.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <keel/config/registry.hpp>
#include <keel/http/client.hpp>
#include <keel/http/service.hpp>
#include <keel/pipeline.hpp>

namespace a_dependency_from_the_2 {
// [snippet:a-dependency-from-the-2]
#include <keel/config/registry.hpp>
#include <keel/http/service.hpp>

#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>

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
} // namespace a_dependency_from_the_2

namespace the_client_by_hand {
// [snippet:the-client-by-hand]
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
} // namespace the_client_by_hand

[[maybe_unused]] void requests_and_responses() {
    // [snippet:requests-and-responses]
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
}

[[maybe_unused]] void errors_and_fault_classes() {
    // [snippet:errors-and-fault-classes]
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
