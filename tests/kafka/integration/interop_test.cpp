// Interoperability: kcat (Debian package kcat) reads what keel produced, from
// a mock cluster hosted by keel-kafka-mock; and a `kind: kafka` dependency
// configures the producer.
#include <keel/config/registry.hpp>
#include <keel/kafka/service.hpp>

#include "support/run.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

namespace {

namespace kk = keel::kafka;
using kk::testing::run_until;

/// keel-kafka-mock as a child process; it exits when its stdin closes.
class mock_process {
public:
    explicit mock_process(const std::string& args) {
        int to_child[2], from_child[2];
        if (::pipe(to_child) || ::pipe(from_child))
            throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(to_child[0], 0);
            ::dup2(from_child[1], 1);
            ::close(to_child[1]);
            ::close(from_child[0]);
            ::execl("/bin/sh", "sh", "-c", (std::string(KEEL_KAFKA_MOCK_PATH) + " " + args).c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(to_child[0]);
        ::close(from_child[1]);
        stdin_ = to_child[1];
        FILE* out = ::fdopen(from_child[0], "r");
        char line[512] = "";
        if (out && std::fgets(line, sizeof line, out))
            bootstrap_ = line;
        while (!bootstrap_.empty() && (bootstrap_.back() == '\n' || bootstrap_.back() == '\r'))
            bootstrap_.pop_back();
        if (out)
            std::fclose(out);
    }
    ~mock_process() {
        ::close(stdin_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    const std::string& bootstrap() const { return bootstrap_; }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    std::string bootstrap_;
};

std::string run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p)
        return out;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0)
        out.append(buffer, n);
    ::pclose(p);
    return out;
}

std::string write_config(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path) << text;
    return path;
}

TEST(kafka_interop, kcat_reads_what_keel_produced_through_a_configured_dependency) {
    mock_process mock("--topic events:1");
    ASSERT_FALSE(mock.bootstrap().empty());
    const std::string path = write_config("kafka-interop.yaml", R"(version: 1
defaults:
  retry: { max_attempts: 3, backoff: { kind: constant, initial: 10ms } }
dependencies:
  events:
    kind: kafka
    connection:
      bootstrap_servers: ")" + mock.bootstrap() + R"("
      properties:
        linger.ms: 1
        log_level: 2
)");
    asio::io_context context;
    keel::config::registry policies(context.get_executor(), keel::config::load_file(path));
    kk::service events(context.get_executor(), policies, "events");
    int done = 0;
    for (int i = 0; i < 3; ++i)
        events.async_produce(
            "events", "order-" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}",
            {{"event-id", "e" + std::to_string(i)}}, [&](std::error_code ec, kk::delivery) {
                EXPECT_FALSE(ec) << ec.message();
                ++done;
            });
    ASSERT_TRUE(run_until(context, [&] { return done == 3; }));
    const std::string out = run("kcat -C -b '" + mock.bootstrap() +
                                "' -t events -o beginning -e -q -f '%k|%s|%h\\n' 2>&1");
    EXPECT_EQ(out, "order-0|{\"n\":0}|event-id=e0\n"
                   "order-1|{\"n\":1}|event-id=e1\n"
                   "order-2|{\"n\":2}|event-id=e2\n");
}

// async_produce takes a report before the token, as every service verb
// does; the old names stay one release, deprecated, and do the same.
TEST(kafka_interop, async_produce_takes_a_report_and_the_old_names_stay) {
    mock_process mock("--topic events:1");
    ASSERT_FALSE(mock.bootstrap().empty());
    const auto doc = keel::config::load_string(R"(version: 1
dependencies:
  events:
    kind: kafka
    connection:
      bootstrap_servers: ")" + mock.bootstrap() +
                                               R"("
      properties: { linger.ms: 1, log_level: 2 }
)");
    asio::io_context context;
    keel::config::registry policies(context.get_executor(), doc);
    kk::service events(context.get_executor(), policies, "events");
    keel::call_report report;
    std::optional<std::error_code> produced;
    events.async_produce("events", "k", "v", {}, report,
                         [&](std::error_code ec, kk::delivery) { produced = ec; });
    ASSERT_TRUE(run_until(context, [&] { return produced.has_value(); }));
    EXPECT_FALSE(*produced) << produced->message();
    EXPECT_EQ(report.attempts, 1);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    EXPECT_EQ(&events.kafka_producer(), &events.client());
    EXPECT_EQ(kk::producer_options_from(*doc.find("events")).bootstrap_servers, mock.bootstrap());
    EXPECT_EQ(kk::connection_from(*doc.find("events")).bootstrap_servers, mock.bootstrap());
    std::optional<std::error_code> published;
    events.async_publish("events", "k", "v", {},
                         [&](std::error_code ec, kk::delivery) { published = ec; });
#pragma GCC diagnostic pop
    ASSERT_TRUE(run_until(context, [&] { return published.has_value(); }));
    EXPECT_FALSE(*published) << published->message();
}

TEST(kafka_config, a_typo_in_the_connection_section_gets_a_suggestion) {
    const auto doc = keel::config::load_string(R"(version: 1
dependencies:
  events: {kind: kafka, connection: {bootstrap_server: "127.0.0.1:9092"}}
)",
                                               "svc.yaml");
    std::string what = "accepted";
    try {
        kk::options_from(doc.dependencies[0]);
    } catch (const keel::config::config_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "svc.yaml:3:38: error: dependencies.events.connection.bootstrap_server: "
                    "unknown key 'bootstrap_server' (did you mean 'bootstrap_servers'?); "
                    "expected one of: bootstrap_servers, properties");
}

TEST(kafka_config, bad_connection_section_names_file_line_column_and_property) {
    const std::string path = write_config("kafka-bad.yaml", R"(version: 1
dependencies:
  events:
    kind: kafka
    connection:
      bootstrap_servers: 127.0.0.1:9092
      properties:
        linger.msec: 5
      topic: orders
  db:
    kind: postgres
)");
    const auto doc = keel::config::load_file(path);
    try {
        kk::options_from(*doc.find("events"));
        FAIL() << "no error";
    } catch (const keel::config::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(path + ":8:"), std::string::npos) << what;
        EXPECT_NE(what.find("dependencies.events.connection.properties.linger.msec"),
                  std::string::npos)
            << what;
        EXPECT_NE(what.find("No such configuration property: \"linger.msec\""), std::string::npos)
            << what;
        EXPECT_NE(what.find(path + ":9:"), std::string::npos) << what;
        EXPECT_NE(what.find("unknown key 'topic'"), std::string::npos) << what;
    }
    EXPECT_THROW(kk::options_from(*doc.find("db")), keel::config::config_error);
}

} // namespace
