// Smoke test of the installed keel::kafka: a produce to a cluster where
// nothing listens fails with _MSG_TIMED_OUT once message.timeout.ms passed,
// classified as a timeout.
#include <keel/fault.hpp>
#include <keel/kafka/producer.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <iostream>
#include <string>
#include <system_error>

int main() {
    asio::io_context context;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(context, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    keel::kafka::producer_options options;
    options.bootstrap_servers = "127.0.0.1:" + std::to_string(port);
    options.properties = {{"message.timeout.ms", "200"}, {"log_level", "0"}};
    std::error_code result;
    {
        keel::kafka::producer producer(context.get_executor(), options);
        producer.async_produce("events", "k", "v",
                               [&](std::error_code ec, keel::kafka::delivery) { result = ec; });
        while (!result)
            context.run_one();
    }
    const bool ok = result.category() == keel::kafka::kafka_category() &&
                    keel::classify(result) == keel::fault_class::timeout;
    std::cout << (ok ? "consumer kafka ok" : "consumer kafka FAILED: " + result.message()) << '\n';
    return ok ? 0 : 1;
}
