// cqrs-payment-stub: the payment service of the CQRS example (CONTRACT.md,
// "Payment stub"), served by keel's misbehaving test server so its injected
// faults happen at the socket level: a real 503, a real stall, a real reset.
#include "payment_stub.hpp"
#include <pthread.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

using keel::test::http::test_server;

void usage(std::ostream& out) {
    out << "usage: cqrs-payment-stub [--listen 127.0.0.1:PORT] [--seed N]\n"
           "                         [--metrics-listen 127.0.0.1:PORT] [--name NAME]\n"
           "\n"
           "The CQRS example's payment service: prints `listening on 127.0.0.1:PORT` as the\n"
           "first line of stdout, serves until SIGINT/SIGTERM, exits 0.\n"
           "\n"
           "  --listen A:P         address (loopback only; port 0, the default, picks one)\n"
           "  --seed N             seeds the fault draws (default 1): same seed, same\n"
           "                       sequence of faults over the /payments requests\n"
           "  --metrics-listen A:P also serve /metrics and /healthz there (they are on\n"
           "                       --listen anyway)\n"
           "  --name NAME          the name in log lines (default payment-stub)\n"
           "  --config FILE        accepted and ignored: the stub has no policies\n"
           "\n"
           "Routes:\n"
           "  POST /payments {\"order_id\",\"amount_cents\"} + Idempotency-Key\n"
           "       200 {\"payment_id\":\"pay-N\"}, the same id for the same key; 400 naming\n"
           "       the field when the key or the body is bad\n"
           "  POST /admin/faults {\"unavailable\":0.2,\"retry_after\":\"1\",\"stall\":0.05,\n"
           "       \"stall_ms\":1500,\"reset\":0.03}  fractions of /payments requests (one\n"
           "       draw each; sum <= 1); absent fields are 0 (retry_after \"1\", stall_ms\n"
           "       1000), so {} heals; 400 naming a bad field. GET shows the mix.\n"
           "  GET  /admin/stats   {\"requests\",\"charges\",\"duplicates\",\"rejected\",\n"
           "       \"unavailable\",\"stalled\",\"reset\"}\n"
           "  GET  /healthz, GET /metrics (Prometheus text)\n"
           "Faults (only /payments gets them):\n"
           "  unavailable  503 + Retry-After, nothing charged\n"
           "  stall        charged, nothing sent for stall_ms, then closed without a reply\n"
           "               (curl: 52 empty reply, unless its timeout is shorter);\n"
           "               stall_ms 0 holds the connection until the client gives up\n"
           "  reset        charged, then reset (SO_LINGER 0; curl: 56). libcurl resends\n"
           "               once by itself when a reused connection dies before any\n"
           "               reply byte: that resend is a new request and a new draw.\n";
}

struct options {
    std::uint16_t port = 0;
    std::optional<std::uint16_t> metrics_port;
    std::uint64_t seed = 1;
    std::string name = "payment-stub";
};

// "127.0.0.1:PORT" (or localhost:PORT): test_server binds loopback only.
std::uint16_t parse_listen(const std::string& flag, const std::string& value) {
    const auto colon = value.rfind(':');
    const std::string host = colon == std::string::npos ? "" : value.substr(0, colon);
    const std::string port = colon == std::string::npos ? "" : value.substr(colon + 1);
    char* end = nullptr;
    const long n = std::strtol(port.c_str(), &end, 10);
    if ((host != "127.0.0.1" && host != "localhost") || port.empty() || *end != '\0' || n < 0 ||
        n > 65535)
        throw std::invalid_argument(flag + ": expected 127.0.0.1:PORT, got '" + value + "'");
    return static_cast<std::uint16_t>(n);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        std::string value;
        if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag.resize(eq);
        } else if (flag != "--help" && flag != "-h") {
            if (i + 1 >= argc)
                throw std::invalid_argument("missing value after " + flag);
            value = argv[++i];
        }
        if (flag == "--help" || flag == "-h") {
            usage(std::cout);
            std::exit(0);
        } else if (flag == "--listen") {
            o.port = parse_listen(flag, value);
        } else if (flag == "--metrics-listen") {
            o.metrics_port = parse_listen(flag, value);
        } else if (flag == "--seed") {
            char* end = nullptr;
            o.seed = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || value.front() == '-')
                throw std::invalid_argument("--seed: expected an unsigned integer, got '" + value +
                                            "'");
        } else if (flag == "--name") {
            o.name = value;
        } else if (flag != "--config") {
            throw std::invalid_argument("unknown option " + flag);
        }
    }
    return o;
}

void log(const std::string& name, const std::string& message) {
    char when[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    std::cerr << when << " " << name << ": " << message << std::endl;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "cqrs-payment-stub: " << e.what() << "\n";
        usage(std::cerr);
        return 2;
    }

    // Blocked before any thread starts, so the servers' threads inherit the
    // mask and only sigwait below sees the signal.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    cqrs::payment_stub stub(o.seed);
    auto answer = [&stub](const keel::test::http::received_request& req) {
        return stub.answer(req);
    };
    std::unique_ptr<test_server> server, metrics;
    try {
        server = std::make_unique<test_server>(o.port);
        server->respond_with(answer);
        if (o.metrics_port) {
            metrics = std::make_unique<test_server>(*o.metrics_port);
            metrics->respond_with([answer](const keel::test::http::received_request& req) {
                if (req.target == "/metrics" || req.target == "/healthz")
                    return answer(req);
                return keel::test::http::response{.status = 404, .body = "not found"};
            });
        }
    } catch (const std::system_error& e) {
        std::cerr << "cqrs-payment-stub: cannot listen: " << e.what() << "\n";
        return 1;
    }
    std::cout << "listening on 127.0.0.1:" << server->port() << std::endl;
    log(o.name, "listening on 127.0.0.1:" + std::to_string(server->port()) +
                    (metrics ? ", /metrics also on 127.0.0.1:" + std::to_string(metrics->port())
                             : std::string()) +
                    ", seed " + std::to_string(o.seed));

    int signal = 0;
    sigwait(&stop_signals, &signal);

    // Destroying the servers closes every connection, stalled ones included.
    metrics.reset();
    server.reset();
    const cqrs::payment_stats s = stub.stats();
    log(o.name, std::string(signal == SIGTERM ? "SIGTERM" : "SIGINT") + ": stopped after " +
                    std::to_string(s.requests) + " requests, " + std::to_string(s.charges) +
                    " charges, " + std::to_string(s.unavailable) + " unavailable, " +
                    std::to_string(s.stalled) + " stalled, " + std::to_string(s.reset) + " reset");
    return 0;
}
