// cqrs-outbox-relay: the event store's outbox to Kafka, exactly once
// (CONTRACT.md "Outbox relay"; the design is in relay.hpp).
#include "relay.hpp"
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: cqrs-outbox-relay [flags]\n"
                 "  --topic NAME             where the events go (default orders.events)\n"
                 "  --transactional-id ID    Kafka transactional.id; a newer relay with the same "
                 "id fences this one (default cqrs-outbox-relay)\n"
                 "  --batch N                outbox rows per Kafka transaction (default 200)\n"
                 "  --poll-ms N              pause when the outbox is empty (default 20)\n"
                 "%.*s",
                 static_cast<int>(cqrs::usage_common().size()), cqrs::usage_common().data());
}

} // namespace

int main(int argc, char** argv) {
    try {
        const cqrs::flags command_line(argc, argv);
        if (command_line.has("help")) {
            usage();
            return 0;
        }
        command_line.check_known({"topic", "transactional-id", "batch", "poll-ms", "help"});
        cqrs::relay::relay_options options;
        options.topic = command_line.get("topic", options.topic);
        options.transactional_id = command_line.get("transactional-id", options.transactional_id);
        options.batch = static_cast<int>(command_line.get_int("batch", options.batch));
        options.poll = std::chrono::milliseconds(command_line.get_int("poll-ms", 20));
        if (options.topic.empty() || options.transactional_id.empty())
            throw std::invalid_argument("--topic and --transactional-id must not be empty");
        if (options.batch < 1 || options.poll.count() < 0)
            throw std::invalid_argument("--batch must be at least 1 and --poll-ms not negative");

        cqrs::runtime rt("outbox-relay", command_line);
        cqrs::relay::outbox_relay relay(rt, options);
        rt.on_shutdown([&relay] { relay.stop(); });
        int status = 0;
        asio::co_spawn(rt.io(), relay.run(), [&](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    rt.log(std::string("stopped by an error: ") + x.what());
                }
                status = 1;
            }
            // After what the producer's close posted has run; stop() then
            // ends the signal watch, the config watcher and the loop.
            asio::post(rt.io(), [&rt] { rt.stop(); });
        });
        rt.run();
        rt.log("stopped");
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqrs-outbox-relay: %s\n", e.what());
        usage();
        return 2;
    }
}
