// The C++ blocks of docs/getting-started.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <asio/awaitable.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cassert>
#include <future>
#include <iostream>
#include <keel/as_result.hpp>
#include <keel/classified_category.hpp>
#include <keel/fault.hpp>
#include <keel/http/error.hpp>
#include <keel/keel.hpp>
#include <keel/testing/manual_clock.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace getting_started_docs {

namespace operation_factory {
// [snippet:operation-factory]
#include <keel/keel.hpp>

#include <asio/ip/tcp.hpp>

// One attempt = one connect, on a fresh socket: after a failure or a
// cancellation the previous socket is in no state to be reused.
auto connect_to(asio::ip::tcp::socket& socket, asio::ip::tcp::endpoint peer) {
    return [&socket, peer](const keel::attempt&, auto&& token) {
        socket.close();
        return socket.async_connect(peer, std::forward<decltype(token)>(token));
    };
}
// [end]
} // namespace operation_factory

namespace first_pipeline {
// [snippet:first-pipeline]
#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <iostream>

using namespace std::chrono_literals;

int main() {
    asio::io_context io;

    keel::pipeline_policy policy;
    policy.retry.max_attempts = 4;        // the first call included
    policy.retry.backoff.initial = 100ms; // exponential x2, full jitter, max 5 s (defaults)
    policy.timeout.exchange = 500ms;      // each attempt
    policy.timeout.total = 3s;            // the whole call, sleeps included
    keel::pipeline orders(io, "orders-db", policy);

    asio::ip::tcp::socket socket(io);
    const asio::ip::tcp::endpoint peer(asio::ip::make_address("127.0.0.1"), 5432);
    auto connect = [&](const keel::attempt&, auto&& token) {
        socket.close();
        return socket.async_connect(peer, std::forward<decltype(token)>(token));
    };

    orders.async_run(connect, [](std::error_code ec) {
        std::cout << (ec ? ec.message() : "connected") << '\n';
    });
    io.run();
}
// [end]
} // namespace first_pipeline

namespace use_future {
// [snippet:use-future]
#include <keel/keel.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/use_future.hpp>

#include <future>

// Called from a thread that does not run the pipeline's context (another
// thread does). A failed call makes get() throw std::system_error.
std::future<void> connect_later(keel::pipeline& orders, asio::ip::tcp::socket& socket,
                                asio::ip::tcp::endpoint peer) {
    return orders.async_run(
        [&socket, peer](const keel::attempt&, auto&& token) {
            socket.close();
            return socket.async_connect(peer, std::forward<decltype(token)>(token));
        },
        asio::use_future);
}
// [end]
} // namespace use_future

namespace use_awaitable {
// [snippet:use-awaitable]
#include <keel/keel.hpp>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <string>

// Connects to the price service (with retries) and asks for one quote.
// `prices` is long-lived: one pipeline per dependency, e.g.
//   keel::pipeline prices(io, "prices", policy);
asio::awaitable<std::string> fetch_quote(keel::pipeline& prices, asio::ip::tcp::endpoint peer) {
    asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
    co_await prices.async_run(
        [&](const keel::attempt&, auto&& token) {
            socket.close();
            return socket.async_connect(peer, std::forward<decltype(token)>(token));
        },
        asio::use_awaitable); // throws std::system_error if every attempt failed

    co_await asio::async_write(socket, asio::buffer("QUOTE EURUSD\n", 13), asio::use_awaitable);
    std::string line;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(line), '\n', asio::use_awaitable);
    co_return line;
}
// [end]
} // namespace use_awaitable

namespace awaitable_default_token {
// [snippet:awaitable-default-token]
#include <keel/keel.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

using awaitable_executor = asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>;
using awaitable_pipeline =
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, awaitable_executor>;

asio::awaitable<void> wait_ready(awaitable_pipeline& p, asio::steady_timer& timer) {
    co_await p.async_run([&](const keel::attempt&, auto&& token) {
        timer.expires_after(std::chrono::milliseconds(10));
        return timer.async_wait(std::forward<decltype(token)>(token));
    });
}
// [end]
} // namespace awaitable_default_token

namespace deferred {
// [snippet:deferred]
#include <keel/keel.hpp>

#include <asio/experimental/deferred.hpp>
#include <asio/ip/tcp.hpp>

#include <iostream>

void connect_deferred(keel::pipeline& orders, asio::ip::tcp::socket& socket,
                      asio::ip::tcp::endpoint peer) {
    auto call = orders.async_run(
        [&socket, peer](const keel::attempt&, auto&& token) {
            socket.close();
            return socket.async_connect(peer, std::forward<decltype(token)>(token));
        },
        asio::experimental::deferred);
    // Nothing has run yet. Starting it takes any completion token:
    std::move(call)([](std::error_code ec) { std::cout << ec.message() << '\n'; });
}
// [end]
} // namespace deferred

namespace as_result {
// [snippet:as-result]
#include <keel/as_result.hpp>
#include <keel/keel.hpp>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>

asio::awaitable<void> try_connect(keel::pipeline& orders, asio::ip::tcp::socket& socket,
                                  asio::ip::tcp::endpoint peer) {
    keel::result<void> r = co_await orders.async_run(
        [&](const keel::attempt&, auto&& token) {
            socket.close();
            return socket.async_connect(peer, std::forward<decltype(token)>(token));
        },
        keel::as_result(asio::use_awaitable));
    if (!r && r.error() == keel::condition::timeout)
        std::cout << "orders-db timed out\n";
    else if (!r)
        std::cout << "orders-db failed: " << r.error().message() << '\n';
}
// [end]
} // namespace as_result

namespace call_report {
// [snippet:call-report]
#include <keel/as_result.hpp>
#include <keel/keel.hpp>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>

asio::awaitable<void> connect_and_report(keel::pipeline& orders, asio::ip::tcp::socket& socket,
                                         asio::ip::tcp::endpoint peer) {
    keel::call_report report;
    auto r = co_await orders.async_run(
        [&](const keel::attempt&, auto&& token) {
            socket.close();
            return socket.async_connect(peer, std::forward<decltype(token)>(token));
        },
        report, keel::as_result(asio::use_awaitable));
    // e.g. "attempts: 3, outcome: success_after_retry, gave up: none"
    std::cout << "attempts: " << report.attempts << ", outcome: " << keel::to_string(report.outcome)
              << ", gave up: " << keel::to_string(report.reason) << '\n';
    if (!r)
        std::cout << "fault class: " << keel::to_string(report.fault) << '\n';
}
// [end]
} // namespace call_report

namespace classified_category {
// [snippet:classified-category]
#include <keel/classified_category.hpp>

#include <string>
#include <system_error>

enum class inventory_errc { out_of_stock = 1, warehouse_offline };

class inventory_category final : public keel::classified_category {
public:
    const char* name() const noexcept override { return "inventory"; }
    std::string message(int value) const override {
        return value == 1 ? "out of stock" : "warehouse offline";
    }
    keel::fault_class fault_of(int value) const noexcept override {
        return value == static_cast<int>(inventory_errc::warehouse_offline)
                   ? keel::fault_class::transient
                   : keel::fault_class::permanent;
    }
};
// [end]
} // namespace classified_category

namespace register_classifier {
// [snippet:register-classifier]
#include <keel/fault.hpp>
#include <keel/http/error.hpp>

#include <system_error>

// This service reads its own writes through an eventually consistent API:
// a 404 right after a write is worth one more try.
bool not_there_yet(const std::error_code& ec, keel::fault_class& out) {
    if (ec.value() == 404) {
        out = keel::fault_class::transient;
        return true;
    }
    return false; // the category's own answer (503 throttled, 400 permanent, ...)
}

void register_classifiers() {
    keel::register_classifier(keel::http::status_category(), &not_there_yet);
}
// [end]
} // namespace register_classifier

namespace connect_deadline {
// [snippet:connect-deadline]
#include <keel/keel.hpp>

#include <asio/ip/tcp.hpp>

// An attempt whose connect phase has its own deadline: a connect that takes
// too long ends the attempt with keel::errc::connect_timeout (a timeout
// fault, so it is retried like any other timeout).
auto connect_with_deadline(asio::ip::tcp::socket& socket, asio::ip::tcp::endpoint peer) {
    return [&socket, peer](const keel::attempt& attempt, auto&& token) {
        socket.close();
        return keel::async_with_deadline(
            socket.get_executor(), attempt.connect_deadline(), keel::errc::connect_timeout,
            [&socket, peer](auto&& inner) {
                return socket.async_connect(peer, std::forward<decltype(inner)>(inner));
            },
            std::forward<decltype(token)>(token));
    };
}
// [end]
} // namespace connect_deadline

namespace static_observer {
// [snippet:static-observer]
#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>

// Counts retries. The pipeline holds a copy and calls it through a const
// reference: keep state behind a pointer.
struct retry_counter {
    std::atomic<long>* retries;
    void on(const keel::events::retry_scheduled&) const { ++*retries; }
    template <class Event>
    void on(const Event&) const {}
};

using counted_pipeline = keel::basic_pipeline<asio::steady_timer, retry_counter>;

struct orders_client {
    explicit orders_client(asio::io_context& io)
        : db(io, "orders-db", keel::pipeline_policy{}, retry_counter{&retries}) {}
    std::atomic<long> retries{0};
    counted_pipeline db;
};
// [end]
} // namespace static_observer

namespace shared_observer {
// [snippet:shared-observer]
#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <iostream>
#include <memory>

class log_retries final : public keel::observer {
public:
    void on(const keel::events::retry_scheduled& e) override {
        std::clog << e.dependency << ": retry " << e.next_attempt << " in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count()
                  << " ms\n";
    }
};

using traced_pipeline = keel::basic_pipeline<asio::steady_timer, keel::shared_observer>;

struct orders_client {
    explicit orders_client(asio::io_context& io)
        : db(io, "orders-db", keel::pipeline_policy{},
             keel::shared_observer(std::make_shared<log_retries>())) {}
    traced_pipeline db;
};
// [end]
} // namespace shared_observer

namespace manual_clock {
// [snippet:manual-clock]
#include <keel/keel.hpp>
#include <keel/testing/manual_clock.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <cassert>
#include <vector>

using namespace std::chrono_literals;
using keel::testing::manual_clock;
using test_pipeline = keel::basic_pipeline<keel::testing::manual_timer>;

int main() {
    manual_clock::reset();
    asio::io_context io;
    keel::pipeline_policy policy;
    policy.retry.max_attempts = 5;
    policy.retry.backoff = {.kind = keel::backoff_kind::constant,
                            .initial = 30s,
                            .max = 30s, // the cap (5 s by default) applies to every kind
                            .jitter = keel::jitter_kind::none};
    test_pipeline p(io, "dep", policy);

    // Refused twice, then 42. The factory takes the pipeline's attempt type.
    std::vector<manual_clock::time_point> starts;
    auto op = [&](const test_pipeline::attempt_type& attempt, auto&& handler) {
        starts.push_back(manual_clock::now());
        std::error_code ec;
        if (attempt.number() < 3)
            ec = asio::error::connection_refused;
        asio::post(io, [ec, h = std::move(handler)]() mutable { std::move(h)(ec, 42); });
    };

    int value = 0;
    bool done = false;
    p.async_run<void(std::error_code, int)>(op, [&](std::error_code ec, int v) {
        assert(!ec);
        value = v;
        done = true;
    });

    // Move time in steps; poll() runs whatever became due.
    for (int ms = 0; !done && ms < 120'000; ++ms) {
        io.restart();
        io.poll();
        manual_clock::advance(1ms);
    }
    assert(done && value == 42);
    assert(starts.size() == 3 && starts[2] - starts[0] == 60s);
}
// [end]
} // namespace manual_clock

} // namespace getting_started_docs
