#include "stack.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace cqrs::demo {

namespace fs = std::filesystem;

namespace {

const std::string topic = "orders.events";
const std::string dead_letters = "orders.events.dlq";

std::string loopback(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

void set_env(const char* name, const std::string& value) {
    ::setenv(name, value.c_str(), 1);
}

/// The build tree cqrs-demo runs from: it lives in
/// <build>/examples/cqrs/demo/, the other executables beside their sources'
/// paths.
fs::path own_build_tree() {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec)
        return KEEL_CQRS_BINARY_DIR;
    return self.parent_path().parent_path().parent_path().parent_path();
}

/// Creates the topics on an external Kafka (the mock is started with
/// them); one that exists already is left as it is.
void create_topics(const std::string& bootstrap) {
    char why[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), why, sizeof why) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka " + bootstrap + ": " + why);
    }
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> admin(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why), &rd_kafka_destroy);
    if (!admin) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka " + bootstrap + ": " + why);
    }
    const std::pair<const std::string*, int> wanted[] = {{&topic, 4}, {&dead_letters, 1}};
    std::vector<rd_kafka_NewTopic_t*> topics;
    for (const auto& [name, partitions] : wanted)
        topics.push_back(rd_kafka_NewTopic_new(name->c_str(), partitions, -1, why, sizeof why));
    std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(
        rd_kafka_queue_new(admin.get()), &rd_kafka_queue_destroy);
    rd_kafka_CreateTopics(admin.get(), topics.data(), topics.size(), nullptr, queue.get());
    rd_kafka_NewTopic_destroy_array(topics.data(), topics.size());
    std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
        rd_kafka_queue_poll(queue.get(), 15'000), &rd_kafka_event_destroy);
    if (!event)
        throw std::runtime_error("kafka " + bootstrap + ": no answer to CreateTopics in 15 s");
    if (rd_kafka_event_error(event.get()))
        throw std::runtime_error("kafka " + bootstrap +
                                 ": CreateTopics: " + rd_kafka_event_error_string(event.get()));
    std::size_t count = 0;
    const auto* result = rd_kafka_event_CreateTopics_result(event.get());
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto error = rd_kafka_topic_result_error(results[i]);
        if (error && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            throw std::runtime_error("kafka " + bootstrap + ": creating topic " +
                                     rd_kafka_topic_result_name(results[i]) + ": " +
                                     rd_kafka_topic_result_error_string(results[i]));
    }
}

} // namespace

std::string with_database(const std::string& conninfo, const std::string& database) {
    for (const std::string scheme : {"postgresql://", "postgres://"}) {
        if (conninfo.rfind(scheme, 0) != 0)
            continue;
        const auto authority = scheme.size();
        const auto query = conninfo.find('?', authority);
        const auto path = conninfo.find('/', authority);
        const auto end_of_host = std::min(path, query);
        std::string out = conninfo.substr(0, end_of_host) + "/" + database;
        if (query != std::string::npos)
            out += conninfo.substr(query);
        return out;
    }
    // Keyword form: a later keyword wins in libpq.
    return conninfo + " dbname=" + database;
}

stack::stack(const options& opts, std::string work_dir, const std::atomic<bool>& interrupted)
    : opts_(opts), work_dir_(std::move(work_dir)), interrupted_(interrupted) {}

stack::~stack() {
    stop_all();
}

std::string stack::executable(const std::string& part, const std::string& name) const {
    std::vector<fs::path> candidates;
    if (!opts_.bin_dir.empty()) {
        candidates.push_back(fs::path(opts_.bin_dir) / name);
        candidates.push_back(fs::path(opts_.bin_dir) / part / name);
    } else {
        candidates.push_back(own_build_tree() / part / name);
        candidates.push_back(fs::path(KEEL_CQRS_BINARY_DIR) / part / name);
    }
    for (const auto& c : candidates)
        if (fs::exists(c))
            return c.string();
    return candidates.front().string();
}

void stack::start_infrastructure() {
    if (opts_.external_kafka()) {
        bootstrap_ = opts_.kafka;
        create_topics(bootstrap_);
    } else {
        spawn_options o;
        o.argv = {executable("tools/keel-kafka-mock", "keel-kafka-mock"),
                  "--brokers",
                  "3",
                  "--topic",
                  topic + ":4",
                  "--topic",
                  dead_letters + ":1"};
        o.log = work_dir_ + "/keel-kafka-mock.log";
        o.pipe_stdin = true; // control commands; closing it stops the mock
        o.pipe_stdout = true;
        mock_.emplace(std::move(o));
        auto line = mock_->read_line(std::chrono::seconds(15));
        if (!line || line->empty())
            throw std::runtime_error("keel-kafka-mock printed no bootstrap address (" +
                                     mock_->stop() + "); see " + mock_->log());
        bootstrap_ = *line;
    }

    if (!opts_.event_store_dsn.empty()) {
        event_store_dsn_ = opts_.event_store_dsn;
        read_model_dsn_ = opts_.read_model_dsn;
    } else {
        std::string server;
        if (opts_.external_pg()) {
            server = opts_.pg;
        } else {
            // Room for every pool of every service, replicas restarted while
            // their old connections are still being closed, and the check.
            cluster_ = std::make_unique<keel::test::pg::cluster>(
                std::vector<std::string>{"max_connections=150"});
            server = cluster_->dsn();
        }
        keel::test::pg::session admin(server);
        for (const std::string db : {"cqrs_events", "cqrs_read"})
            if (admin.exec("SELECT count(*) FROM pg_database WHERE datname = '" + db + "'") == "0")
                admin.exec("CREATE DATABASE " + db);
        event_store_dsn_ = with_database(server, "cqrs_events");
        read_model_dsn_ = with_database(server, "cqrs_read");
    }

    auto add = [&](std::string name, std::string part, std::string exe,
                   std::vector<std::string> args, bool http, bool metrics) {
        auto s = std::make_unique<service>();
        s->name = std::move(name);
        s->executable = executable("examples/cqrs/" + part, exe);
        s->extra_args = std::move(args);
        s->has_http = http;
        s->has_metrics = metrics;
        s->http_port = http ? free_port() : 0;
        s->metrics_port = metrics ? free_port() : 0;
        services_.push_back(std::move(s));
    };
    // In start order: each one's dependencies first.
    add("payment-stub", "payment-stub", "cqrs-payment-stub", {}, true, false);
    add("order-service", "order-service", "cqrs-order-service", {}, true, true);
    add("outbox-relay", "outbox-relay", "cqrs-outbox-relay", {"--topic", topic}, false, true);
    for (const std::string name : {"projector-1", "projector-2"})
        add(name, "projector", "cqrs-projector",
            {"--topic", topic, "--group", "cqrs-projector", "--dead-letter-topic", dead_letters},
            false, true);
    add("query-service", "query-service", "cqrs-query-service", {}, true, true);

    // Read by config-examples/cqrs.yaml in every service and in the demo.
    set_env("CQRS_EVENT_STORE_DSN", event_store_dsn_);
    set_env("CQRS_READ_MODEL_DSN", read_model_dsn_);
    set_env("CQRS_KAFKA_BOOTSTRAP", bootstrap_);
    export_service_urls();
    set_env("CQRS_CONFIG", opts_.config);
}

std::string stack::url(const std::string& service_name) const {
    for (const auto& s : services_)
        if (s->name == service_name)
            return "http://" + loopback(s->http_port);
    throw std::out_of_range("no service " + service_name);
}

std::vector<service*> stack::services() {
    std::vector<service*> out;
    for (auto& s : services_)
        out.push_back(s.get());
    return out;
}

service& stack::get(const std::string& name) {
    for (auto& s : services_)
        if (s->name == name)
            return *s;
    throw std::out_of_range("no service " + name);
}

void stack::spawn(service& s) {
    spawn_options o;
    o.argv = {s.executable};
    if (s.has_http) {
        o.argv.push_back("--listen");
        o.argv.push_back(loopback(s.http_port));
    }
    if (s.has_metrics) {
        // The payment stub needs no policies; everything else reads them.
        o.argv.insert(o.argv.end(), {"--config", opts_.config, "--metrics-listen",
                                     loopback(s.metrics_port), "--name", s.name});
    }
    o.argv.insert(o.argv.end(), s.extra_args.begin(), s.extra_args.end());
    o.log = work_dir_ + "/" + s.name + ".log";
    s.process = child(std::move(o));
    ++s.starts;
}

void stack::wait_ready(service& s, http_probe& probe) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        if (interrupted_)
            throw std::runtime_error("interrupted");
        if (!s.process.running())
            throw std::runtime_error(s.name + " " + s.process.status() +
                                     " before it was ready; see " + s.process.log() + "\n" +
                                     tail(s.process.log(), 15));
        const bool metrics_ok =
            !s.has_metrics ||
            probe.get("http://" + loopback(s.metrics_port) + "/metrics", std::chrono::seconds(1))
                .ok();
        const bool http_ok =
            !s.has_http ||
            probe.get("http://" + loopback(s.http_port) + "/healthz", std::chrono::seconds(1)).ok();
        if (metrics_ok && http_ok)
            return;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error(s.name + " was not ready within 30 s (/metrics " +
                                     (metrics_ok ? "ok" : "not answering") + ", /healthz " +
                                     (http_ok ? "ok" : "not answering") + "); see " +
                                     s.process.log() + "\n" + tail(s.process.log(), 15));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void stack::export_service_urls() {
    set_env("CQRS_PAYMENTS_URL", url("payment-stub"));
    set_env("CQRS_ORDERS_URL", url("order-service"));
    set_env("CQRS_QUERIES_URL", url("query-service"));
}

bool stack::start_services(http_probe& probe) {
    bool moved = false;
    for (auto& s : services_) {
        const auto started = std::chrono::steady_clock::now();
        std::optional<port_holder> taken;
        if (s->name == opts_.occupy_port_of && s->has_http)
            taken.emplace(s->http_port);
        for (int attempt = 1;; ++attempt) {
            spawn(*s);
            try {
                wait_ready(*s, probe);
                break;
            } catch (const std::runtime_error&) {
                // free_port() finds a port free, and the service binds it
                // later: with tests running in parallel, another process
                // may take it in between. Then fresh ports, and again.
                const bool port_taken =
                    !s->process.running() &&
                    tail(s->process.log(), 5).find("cannot listen") != std::string::npos;
                if (!port_taken || attempt == 3)
                    throw;
                std::fprintf(stderr, "cqrs-demo:   %s could not listen; new ports\n",
                             s->name.c_str());
                taken.reset();
                if (s->has_http)
                    s->http_port = free_port();
                if (s->has_metrics)
                    s->metrics_port = free_port();
                export_service_urls(); // the services started after it read them
                moved = true;
            }
        }
        std::fprintf(
            stderr, "cqrs-demo:   %-14s ready in %.1f s\n", s->name.c_str(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    return moved;
}

std::string stack::mock_control(const std::string& command) {
    if (!mock_)
        return "error: no keel-kafka-mock (external Kafka)";
    if (mock_silent_)
        return "skipped: keel-kafka-mock did not answer an earlier command";
    if (!mock_->write_line(command))
        return "error: keel-kafka-mock's stdin is closed";
    auto answer = mock_->read_line(std::chrono::seconds(3));
    if (answer)
        return *answer;
    // A mock without runtime control: do not stall the drive 3 s a command.
    mock_silent_ = true;
    return "no answer";
}

void stack::restart_pg() {
    if (!cluster_)
        return;
    cluster_->stop_immediately();
    cluster_->start();
}

void stack::crash(const std::string& name, http_probe& probe) {
    service& s = get(name);
    if (s.has_metrics) {
        auto page = probe.get("http://" + loopback(s.metrics_port) + "/metrics");
        if (page.ok())
            add(banked_, counters_only(parse_keel_counters(page.response.body)));
    }
    s.process.kill_now();
    s.crashed = true;
}

void stack::restart(const std::string& name, http_probe& probe) {
    service& s = get(name);
    if (s.process.running())
        return;
    // A new port: the crashed one's may linger in TIME_WAIT.
    if (s.has_metrics)
        s.metrics_port = free_port();
    spawn(s);
    s.crashed = false;
    wait_ready(s, probe);
}

counts_by_dependency stack::scrape_all(http_probe& probe) {
    counts_by_dependency out = banked_;
    for (auto& s : services_) {
        if (!s->has_metrics || !s->process.running())
            continue;
        auto page = probe.get("http://" + loopback(s->metrics_port) + "/metrics");
        if (page.ok())
            add(out, parse_keel_counters(page.response.body));
    }
    return out;
}

std::vector<std::string> stack::stop_all() {
    std::vector<std::string> unclean;
    // All at once: a consumer leaving its group takes seconds, and nothing
    // is driven any more, so the order does not matter.
    for (auto& s : services_)
        if (s->starts > 0)
            s->process.terminate();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
        service& s = **it;
        if (s.starts == 0)
            continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const std::string how = s.process.stop(std::max(left, std::chrono::milliseconds(100)));
        if (how != "exited with status 0" && how != "not started")
            unclean.push_back(s.name + ": " + how + " (log: " + s.process.log() + ")");
        s.starts = 0;
    }
    if (mock_) {
        mock_->close_stdin(); // the mock's own way to stop
        const std::string how = mock_->stop(std::chrono::seconds(5));
        if (how != "exited with status 0")
            unclean.push_back("keel-kafka-mock: " + how + " (log: " + mock_->log() + ")");
        mock_.reset();
    }
    cluster_.reset(); // a fast shutdown, and its temp dir removed
    return unclean;
}

std::string stack::pg_log() const {
    if (!cluster_)
        return {};
    std::error_code ec;
    // The cluster keeps its log beside its data dir: <root>/data, <root>/postgres.log.
    const auto data = fs::read_symlink("/proc/" + std::to_string(cluster_->pid()) + "/cwd", ec);
    return ec ? std::string() : (data.parent_path() / "postgres.log").string();
}

} // namespace cqrs::demo
