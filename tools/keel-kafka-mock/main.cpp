// keel-kafka-mock: hosts librdkafka's mock Kafka cluster on loopback for
// tests, demos and benchmarks, prints its bootstrap address, takes fault
// commands on stdin while it runs, and serves until stdin closes or it is
// signalled.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) {
    stop_requested = 1;
}

void usage(std::ostream& out) {
    out << "usage: keel-kafka-mock [--brokers N] [--topic NAME[:PARTITIONS[:REPLICATION]]]...\n"
           "                       [--error API_KEY:CODE[,CODE...]]...\n"
           "                       [--broker-error BROKER:API_KEY:CODE:RTT_MS]...\n"
           "\n"
           "Hosts librdkafka's mock Kafka cluster on 127.0.0.1, prints its bootstrap\n"
           "address (host:port,...) on the first line of stdout, and serves until stdin\n"
           "is closed or SIGINT/SIGTERM arrives. Brokers are numbered 1..N.\n"
           "\n"
           "  --brokers N      brokers in the cluster (default 1)\n"
           "  --topic T[:P[:R]]  creates topic T with P partitions (default 1) and\n"
           "                   replication R (default 1); other topics are created\n"
           "                   on first use\n"
           "  --error A:C,...  the next requests of API key A (0 Produce, 1 Fetch,\n"
           "                   8 OffsetCommit ...) fail with Kafka error codes C, in order\n"
           "                   (e.g. --error 0:7 = one Produce answered REQUEST_TIMED_OUT;\n"
           "                   -195 (_TRANSPORT) drops the connection)\n"
           "  --broker-error B:A:C:MS  broker B answers its next request of API key A\n"
           "                   with code C after MS milliseconds (C=0: a delayed success)\n"
           "\n"
           "Commands on stdin while it runs, one per line; each is answered on stdout\n"
           "with one line, `ok` or `error: <why>`:\n"
           "  error API_KEY CODE[,CODE...]  as --error: the next requests of API_KEY fail\n"
           "                   with the codes, in order (e.g. `error 0 7,7,7`)\n"
           "  broker-down ID   broker ID (-1: all) drops its connections and refuses new\n"
           "                   ones; its partitions keep their leader (no failover)\n"
           "  broker-up ID     broker ID (-1: all) accepts connections again\n"
           "  rtt ID MS        broker ID (-1: all) answers MS milliseconds late (0: no delay)\n";
}

bool to_int(const std::string& text, long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtol(text.c_str(), &end, 10);
    return !text.empty() && errno == 0 && end && *end == '\0';
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string::size_type start = 0;
    for (;;) {
        auto at = text.find(sep, start);
        parts.push_back(text.substr(start, at - start));
        if (at == std::string::npos)
            return parts;
        start = at + 1;
    }
}

bool known_error_code(long code) {
    const rd_kafka_err_desc* descs = nullptr;
    std::size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    for (std::size_t i = 0; i < count; ++i)
        if (descs[i].name && descs[i].code == code)
            return true;
    return false;
}

// Runs one stdin command against the cluster; returns its answer line.
std::string run_command(rd_kafka_mock_cluster_t* cluster, std::string line) {
    std::replace(line.begin(), line.end(), '\t', ' ');
    std::vector<std::string> words;
    for (const auto& w : split(line, ' '))
        if (!w.empty())
            words.push_back(w);
    const std::string& verb = words[0];
    auto broker_id = [&](const std::string& text, long& id) {
        return to_int(text, id) && id >= -1 && id <= INT32_MAX;
    };
    // The mock answers an unknown broker id with an error code, not a crash.
    auto answer = [](rd_kafka_resp_err_t err) {
        return err ? "error: " + std::string(rd_kafka_err2str(err)) : std::string("ok");
    };

    if (verb == "error") {
        long api = 0;
        if (words.size() != 3 || !to_int(words[1], api) || api < 0 || api > INT16_MAX)
            return "error: expected `error API_KEY CODE[,CODE...]`";
        std::vector<rd_kafka_resp_err_t> codes;
        for (const auto& c : split(words[2], ',')) {
            long code = 0;
            if (!to_int(c, code) || !known_error_code(code))
                return "error: '" + c + "' is not a Kafka error code";
            codes.push_back(static_cast<rd_kafka_resp_err_t>(code));
        }
        rd_kafka_mock_push_request_errors_array(cluster, static_cast<std::int16_t>(api),
                                                codes.size(), codes.data());
        return "ok";
    }
    if (verb == "broker-down" || verb == "broker-up") {
        long id = 0;
        if (words.size() != 2 || !broker_id(words[1], id))
            return "error: expected `" + verb + " ID` (a broker id, or -1 for all)";
        const auto b = static_cast<std::int32_t>(id);
        return answer(verb == "broker-down" ? rd_kafka_mock_broker_set_down(cluster, b)
                                            : rd_kafka_mock_broker_set_up(cluster, b));
    }
    if (verb == "rtt") {
        long id = 0, ms = 0;
        if (words.size() != 3 || !broker_id(words[1], id) || !to_int(words[2], ms) || ms < 0 ||
            ms > INT32_MAX)
            return "error: expected `rtt ID MS` (a broker id or -1, milliseconds >= 0)";
        return answer(rd_kafka_mock_broker_set_rtt(cluster, static_cast<std::int32_t>(id),
                                                   static_cast<int>(ms)));
    }
    return "error: unknown command '" + verb + "' (error, broker-down, broker-up, rtt)";
}

int fail(const std::string& message) {
    std::cerr << "keel-kafka-mock: " << message << "\n";
    usage(std::cerr);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    long brokers = 1;
    struct topic_spec {
        std::string name;
        long partitions = 1;
        long replication = 1;
    };
    std::vector<topic_spec> topics;
    std::vector<std::pair<long, std::vector<rd_kafka_resp_err_t>>> errors;
    struct broker_error {
        long broker, api, code, rtt;
    };
    std::vector<broker_error> broker_errors;

    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(std::cout);
            return 0;
        }
        if (i + 1 >= argc)
            return fail("missing value after " + arg);
        const std::string value = argv[++i];
        if (arg == "--brokers") {
            if (!to_int(value, brokers) || brokers < 1 || brokers > 32)
                return fail("--brokers: expected 1..32, got '" + value + "'");
        } else if (arg == "--topic") {
            auto parts = split(value, ':');
            topic_spec t;
            t.name = parts[0];
            if (t.name.empty() || parts.size() > 3 ||
                (parts.size() > 1 && (!to_int(parts[1], t.partitions) || t.partitions < 1)) ||
                (parts.size() > 2 && (!to_int(parts[2], t.replication) || t.replication < 1)))
                return fail("--topic: expected NAME[:PARTITIONS[:REPLICATION]], got '" + value +
                            "'");
            topics.push_back(t);
        } else if (arg == "--error") {
            auto parts = split(value, ':');
            long api = 0;
            if (parts.size() != 2 || !to_int(parts[0], api) || api < 0)
                return fail("--error: expected API_KEY:CODE[,CODE...], got '" + value + "'");
            std::vector<rd_kafka_resp_err_t> codes;
            for (const auto& c : split(parts[1], ',')) {
                long code = 0;
                if (!to_int(c, code))
                    return fail("--error: '" + c + "' is not an error code");
                codes.push_back(static_cast<rd_kafka_resp_err_t>(code));
            }
            errors.emplace_back(api, std::move(codes));
        } else if (arg == "--broker-error") {
            auto parts = split(value, ':');
            broker_error e{};
            if (parts.size() != 4 || !to_int(parts[0], e.broker) || !to_int(parts[1], e.api) ||
                !to_int(parts[2], e.code) || !to_int(parts[3], e.rtt) || e.rtt < 0)
                return fail("--broker-error: expected BROKER:API_KEY:CODE:RTT_MS, got '" + value +
                            "'");
            broker_errors.push_back(e);
        } else {
            return fail("unknown option " + arg);
        }
    }

    // The cluster lives in a client instance that never connects itself.
    char why[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why);
    rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!host) {
        std::cerr << "keel-kafka-mock: " << why << "\n";
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, static_cast<int>(brokers));
    if (!cluster) {
        std::cerr << "keel-kafka-mock: cannot start the mock cluster\n";
        rd_kafka_destroy(host);
        return 1;
    }
    int status = 0;
    for (const auto& t : topics)
        if (rd_kafka_mock_topic_create(cluster, t.name.c_str(), static_cast<int>(t.partitions),
                                       static_cast<int>(t.replication))) {
            std::cerr << "keel-kafka-mock: cannot create topic " << t.name
                      << " (replication above --brokers?)\n";
            status = 1;
        }
    for (auto& [api, codes] : errors)
        rd_kafka_mock_push_request_errors_array(cluster, static_cast<std::int16_t>(api),
                                                codes.size(), codes.data());
    for (const auto& e : broker_errors)
        if (rd_kafka_mock_broker_push_request_error_rtts(
                cluster, static_cast<std::int32_t>(e.broker), static_cast<std::int16_t>(e.api), 1,
                static_cast<rd_kafka_resp_err_t>(e.code), static_cast<int>(e.rtt))) {
            std::cerr << "keel-kafka-mock: no broker " << e.broker << "\n";
            status = 1;
        }

    if (status == 0) {
        std::cout << rd_kafka_mock_cluster_bootstraps(cluster) << std::endl;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        // Serve until stdin closes (the parent went away) or a signal; the
        // poll timeout is how a signal gets noticed.
        std::string pending;
        auto run_line = [&](std::string line) {
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos)
                return; // a blank line is not a command: no answer
            // Flushed per answer: the caller waits for it before the next
            // step of its scenario.
            std::cout << run_command(cluster, std::move(line)) << std::endl;
        };
        while (!stop_requested) {
            pollfd in{STDIN_FILENO, POLLIN, 0};
            const int ready = ::poll(&in, 1, 200);
            if (ready <= 0)
                continue;
            char buffer[512];
            const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
            if (n <= 0) {
                run_line(std::exchange(pending, {})); // a last line without its newline
                break;
            }
            pending.append(buffer, static_cast<std::size_t>(n));
            for (auto eol = pending.find('\n'); eol != std::string::npos;
                 eol = pending.find('\n')) {
                std::string line = pending.substr(0, eol);
                pending.erase(0, eol + 1);
                run_line(std::move(line));
            }
        }
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(host);
    return status;
}
