// The C++ block of README.md, copied into the page by scripts/docs-sync: a
// whole program, built and linked alone (keel_docs_readme_quickstart), so a
// header the page forgets to include fails the build.

// [snippet:quickstart]
#include <keel/as_result.hpp>
#include <keel/keel.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>

using namespace std::chrono_literals;

asio::awaitable<void> connect(keel::pipeline& db, asio::ip::tcp::endpoint peer) {
    asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
    auto attempt = [&](const keel::attempt&, auto&& token) { // called once per attempt
        socket.close();                                      // a fresh socket each time
        return socket.async_connect(peer, std::forward<decltype(token)>(token));
    };
    auto r = co_await db.async_run(attempt, keel::as_result(asio::use_awaitable));
    std::cout << (r ? "connected" : r.error().message()) << '\n';
}

int main() {
    asio::io_context io;
    keel::pipeline_policy policy;    // by default: exponential backoff with full jitter
    policy.retry.max_attempts = 4;   // the first call included
    policy.timeout.exchange = 500ms; // each attempt
    policy.timeout.total = 3s;       // the whole call, sleeps included
    keel::pipeline db(io, "orders-db", policy);
    asio::co_spawn(io, connect(db, {asio::ip::make_address("127.0.0.1"), 5432}), asio::detached);
    io.run();
}
// [end]
