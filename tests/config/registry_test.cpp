// The registry and its reloads: good -> bad -> good with calls in flight
// (run under TSan), and what a caller sees of a refused reload.
#include <keel/config/registry.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

const char* const two_dependencies = R"(version: 1
defaults:
  retry: { max_attempts: 2 }
dependencies:
  orders-db:
    kind: postgres
    retry: { max_attempts: 4 }
    timeout: { exchange: 2s, total: 10s }
  payments:
    kind: http
)";

class temp_file {
public:
    explicit temp_file(const std::string& content) {
        path_ = std::filesystem::temp_directory_path() /
                ("keel-registry-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) +
                 ".yaml");
        write(content);
    }
    ~temp_file() { std::filesystem::remove(path_); }
    void write(const std::string& content) {
        // Write then rename, as editors and config managers do: a reader never
        // sees half a file.
        auto tmp = path_;
        tmp += ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << content;
        }
        std::filesystem::rename(tmp, path_);
    }
    std::string path() const { return path_.string(); }

private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

TEST(config_registry, hands_out_configured_pipelines) {
    asio::io_context context;
    registry reg(context.get_executor(), load_string(two_dependencies, "deps.yaml"));
    auto& orders = reg.pipeline("orders-db");
    EXPECT_EQ(orders.name(), "orders-db");
    EXPECT_EQ(orders.policy().retry.max_attempts, 4);
    EXPECT_EQ(orders.policy().timeout.exchange, 2s);
    EXPECT_EQ(reg.pipeline("payments").policy().retry.max_attempts, 2) << "defaults apply";
    EXPECT_EQ(&reg.pipeline("orders-db"), &orders) << "one pipeline per dependency";
}

TEST(config_registry, unknown_dependency_is_a_clear_error_unless_defaults_are_asked_for) {
    asio::io_context context;
    registry reg(context.get_executor(), load_string(two_dependencies, "deps.yaml"));
    try {
        reg.pipeline("orders");
        ADD_FAILURE() << "an unknown dependency was accepted";
    } catch (const std::out_of_range& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("unknown dependency 'orders' in deps.yaml"), std::string::npos) << what;
        EXPECT_NE(what.find("orders-db, payments"), std::string::npos) << what;
    }
    auto& fallback = reg.pipeline_or_defaults("audit-log");
    EXPECT_EQ(fallback.name(), "audit-log");
    EXPECT_EQ(fallback.policy().retry.max_attempts, 2);
}

TEST(config_registry, good_bad_good_reloads_with_calls_in_flight) {
    temp_file file(two_dependencies);
    asio::io_context context;
    registry reg(context.get_executor(), load_file(file.path()));
    std::vector<reload_event> events;
    std::mutex events_mutex;
    reg.on_reload([&](const reload_event& e) {
        std::lock_guard lock(events_mutex);
        events.push_back(e);
    });
    file_watcher watcher(context.get_executor(), reg, file.path());

    // Calls run continuously on another thread while the file changes.
    auto& orders = reg.pipeline("orders-db");
    auto guard = asio::make_work_guard(context);
    std::thread runner([&] { context.run(); });
    std::atomic<int> completed{0};
    std::atomic<bool> stop{false};
    std::function<void()> next = [&] {
        if (stop)
            return;
        orders.async_run<void(std::error_code, int)>(
            [&](const keel::attempt& a, auto handler) {
                std::error_code ec;
                if (a.number() == 1 && completed % 5 == 0)
                    ec = std::make_error_code(std::errc::connection_refused);
                asio::post(context, [h = std::move(handler), ec]() mutable { h(ec, 1); });
            },
            [&](std::error_code ec, int) {
                EXPECT_FALSE(ec) << ec.message();
                ++completed;
                next();
            });
    };
    asio::post(context, next);
    auto wait_for_calls = [&](int more) {
        const int target = completed + more;
        for (int i = 0; i < 2'000'000 && completed < target; ++i)
            std::this_thread::yield();
        EXPECT_GE(completed, target);
    };
    wait_for_calls(50);

    // good -> bad: refused, the running policy stays.
    file.write(std::string(two_dependencies) + "    retry: { max_attempts: 0 }\n");
    EXPECT_TRUE(watcher.check_now());
    wait_for_calls(50);
    EXPECT_EQ(orders.policy().retry.max_attempts, 4);
    EXPECT_EQ(orders.policy().timeout.exchange, 2s);

    // bad -> good: applied.
    std::string good = two_dependencies;
    good.replace(good.find("max_attempts: 4"), 15, "max_attempts: 6");
    file.write(good);
    EXPECT_TRUE(watcher.check_now());
    wait_for_calls(50);
    EXPECT_EQ(orders.policy().retry.max_attempts, 6);
    EXPECT_FALSE(watcher.check_now()) << "nothing changed since the last look";

    stop = true;
    guard.reset();
    runner.join();
    std::lock_guard lock(events_mutex);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_FALSE(events[0].success);
    ASSERT_FALSE(events[0].errors.empty());
    EXPECT_EQ(events[0].errors[0].where.file, file.path());
    EXPECT_GT(events[0].errors[0].where.line, 0);
    EXPECT_EQ(events[0].dependencies, 2u) << "the running configuration stays in force";
    EXPECT_TRUE(events[1].success);
    EXPECT_TRUE(events[1].errors.empty());
}

TEST(config_registry, new_dependencies_appear_and_removed_ones_keep_their_pipeline) {
    asio::io_context context;
    registry reg(context.get_executor(), load_string(two_dependencies, "deps.yaml"));
    auto& payments = reg.pipeline("payments");
    reg.apply(load_string(R"(version: 1
dependencies:
  search:
    retry: { max_attempts: 5 }
)",
                          "deps.yaml"));
    EXPECT_EQ(reg.pipeline("search").policy().retry.max_attempts, 5);
    EXPECT_THROW(reg.pipeline("payments"), std::out_of_range) << "no longer declared";
    EXPECT_EQ(payments.policy().retry.max_attempts, 2) << "but a held reference keeps working";
}

} // namespace
} // namespace keel::config
