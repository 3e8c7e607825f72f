// cqrs-order-service: the write model of the CQRS example. Commands on
// orders arrive over HTTP, are decided against the order's events and
// appended to the event store with their outbox rows, in one transaction
// (examples/cqrs/CONTRACT.md, "Order service").
#include <keel/config/document.hpp>
#include <keel/http/service.hpp>
#include <keel/pg/service.hpp>

#include "common/runtime.hpp"
#include "common/schema.hpp"
#include "event_store.hpp"
#include "http_api.hpp"
#include "order_service.hpp"
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

constexpr const char* usage = "usage: cqrs-order-service [flags]\n"
                              "  --listen H:P          the HTTP API (default 127.0.0.1:8080; "
                              "port 0: any free one)\n"
                              "  --snapshot-every N    snapshot an order every N versions "
                              "(default 5; 0: never)\n";

struct address {
    std::string host;
    int port = 0;
};

address parse_listen(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        throw std::invalid_argument("--listen: expected HOST:PORT, got '" + text + "'");
    const std::string port = text.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || value < 0 || value > 65535)
        throw std::invalid_argument("--listen: bad port '" + port + "'");
    return {text.substr(0, colon), static_cast<int>(value)};
}

int run(int argc, char** argv) {
    const cqrs::flags flags(argc, argv);
    if (flags.has("help")) {
        std::cout << usage << cqrs::usage_common();
        return 0;
    }
    flags.check_known({"listen", "snapshot-every", "help"});
    const address listen = parse_listen(flags.get("listen", "127.0.0.1:8080"));
    const long snapshot_every = flags.get_int("snapshot-every", 5);
    if (snapshot_every < 0 || snapshot_every > 1'000'000)
        throw std::invalid_argument("--snapshot-every: expected 0 to 1000000");

    cqrs::runtime rt("order-service", flags);
    keel::pg::service db(rt.io().get_executor(), rt.policies(), "event-store");
    keel::http::service payments(rt.io().get_executor(), rt.policies(), "payments");
    cqrs::orders::event_store store(db, static_cast<int>(snapshot_every),
                                    [&rt](const std::string& line) { rt.log(line); });
    cqrs::orders::order_service service(store, payments);
    cqrs::orders::http_api api(rt.io(), service, rt);
    rt.log("starting (metrics on port " + std::to_string(rt.metrics_port()) + ", snapshot every " +
           std::to_string(snapshot_every) + ")");

    int status = 0;
    bool serving = false;
    rt.on_shutdown([&] {
        if (!serving) {
            rt.stop(); // still applying the schema: nothing to drain
            return;
        }
        api.stop(); // the serving thread ends the loop once its handlers are done
    });

    // The schema first: no command may arrive before the tables exist.
    asio::co_spawn(
        rt.io(), cqrs::apply_schema(db, cqrs::schema::event_store), [&](std::exception_ptr e) {
            try {
                if (e)
                    std::rethrow_exception(e);
                const std::uint16_t port = api.bind(listen.host, listen.port);
                serving = true;
                api.start([&rt] { asio::post(rt.io(), [&rt] { rt.stop(); }); });
                rt.log("listening on http://" + listen.host + ":" + std::to_string(port));
            } catch (const std::system_error& error) {
                rt.log(std::string("cannot apply the event store's schema: ") + error.what());
                status = 1;
                rt.stop();
            } catch (const std::exception& error) {
                rt.log(error.what());
                status = 1;
                rt.stop();
            }
        });

    rt.run();
    api.stop();
    api.join();
    rt.log(status == 0 ? "stopped" : "failed");
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const keel::config::config_error& e) {
        std::fprintf(stderr, "cqrs-order-service: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqrs-order-service: %s\n%s%.*s", e.what(), usage,
                     static_cast<int>(cqrs::usage_common().size()), cqrs::usage_common().data());
    }
    return 2;
}
