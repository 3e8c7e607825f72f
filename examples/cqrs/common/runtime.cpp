#include "runtime.hpp"

#include <keel/config/document.hpp>
#include <keel/pg/service.hpp>
#include <keel/prometheus/configure.hpp>

#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <vector>

namespace cqrs {

flags::flags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0 || arg.size() == 2)
            throw std::invalid_argument("unexpected argument '" + arg +
                                        "' (flags are --name value)");
        std::string name = arg.substr(2);
        if (const auto eq = name.find('='); eq != std::string::npos) {
            values_[name.substr(0, eq)] = name.substr(eq + 1);
        } else if (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) {
            values_[name] = argv[++i];
        } else {
            values_[name] = "";
        }
    }
}

bool flags::has(std::string_view name) const {
    return values_.find(name) != values_.end();
}

std::string flags::get(std::string_view name, std::string fallback) const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

long flags::get_int(std::string_view name, long fallback) const {
    const auto it = values_.find(name);
    if (it == values_.end())
        return fallback;
    char* end = nullptr;
    const long value = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0')
        throw std::invalid_argument("--" + std::string(name) + ": expected an integer, got '" +
                                    it->second + "'");
    return value;
}

void flags::check_known(std::initializer_list<std::string_view> known) const {
    std::string unknown;
    for (const auto& [name, value] : values_) {
        bool found = name == "config" || name == "metrics-listen" || name == "name";
        for (auto k : known)
            found = found || k == name;
        if (!found)
            unknown += (unknown.empty() ? "--" : ", --") + name;
    }
    if (!unknown.empty())
        throw std::invalid_argument("unknown flag(s): " + unknown);
}

std::string_view usage_common() {
    return "  --config FILE         keel policies (default $CQRS_CONFIG, else "
           "config-examples/cqrs.yaml); edits reload\n"
           "  --metrics-listen H:P  where /metrics is served (default: the file's metrics.listen)\n"
           "  --name NAME           this instance's name in logs and metrics\n";
}

struct runtime::watch {
    std::unique_ptr<keel::config::file_watcher> watcher;
    asio::signal_set signals;
    std::vector<std::function<void()>> on_shutdown;
    explicit watch(asio::io_context& io) : signals(io, SIGINT, SIGTERM) {}
};

namespace {
std::string config_path(const flags& command_line) {
    if (command_line.has("config"))
        return command_line.get("config");
    if (const char* env = std::getenv("CQRS_CONFIG"); env && *env)
        return env;
    return "config-examples/cqrs.yaml";
}
} // namespace

runtime::runtime(std::string service, const flags& command_line)
    : name_(command_line.get("name", std::move(service))), watch_(std::make_unique<watch>(io_)) {
    const std::string path = config_path(command_line);
    keel::config::document doc = keel::config::load_file(path);
    keel::config::metrics_settings settings = doc.metrics;
    if (command_line.has("metrics-listen"))
        settings.listen = command_line.get("metrics-listen");
    metrics_ =
        std::make_unique<keel::prometheus::metrics>(keel::prometheus::options_from(settings));
    policies_ = std::make_unique<keel::config::registry>(
        io_.get_executor(), std::move(doc), keel::prometheus::observers_for(*metrics_, settings));
    keel::prometheus::count_reloads(*metrics_, *policies_);
    policies_->on_reload([this](const keel::config::reload_event& event) {
        if (event.success) {
            log("reloaded " + event.source);
            return;
        }
        for (const auto& error : event.errors)
            log("reload refused, running policies kept: " + error.to_string());
    });
    exposer_ = keel::prometheus::serve(*metrics_, settings);
    watch_->watcher = keel::config::watch(io_.get_executor(), *policies_, path);
    watch_->signals.async_wait([this](std::error_code ec, int) {
        if (ec)
            return;
        log("shutting down");
        for (auto& handler : watch_->on_shutdown)
            handler();
        watch_->watcher->stop();
    });
}

runtime::~runtime() {
    if (watch_ && watch_->watcher)
        watch_->watcher->stop();
}

std::uint16_t runtime::metrics_port() const {
    return exposer_ ? exposer_->port() : 0;
}

void runtime::on_shutdown(std::function<void()> handler) {
    watch_->on_shutdown.push_back(std::move(handler));
}

void runtime::run() {
    io_.run();
}

void runtime::stop() {
    std::error_code ignored;
    watch_->signals.cancel(ignored);
    if (watch_->watcher)
        watch_->watcher->stop();
    io_.stop();
}

void runtime::log(std::string_view message) const {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &utc);
    std::fprintf(stderr, "%s.%03lld %s: %.*s\n", stamp, static_cast<long long>(millis),
                 name_.c_str(), static_cast<int>(message.size()), message.data());
}

asio::awaitable<void> apply_schema(keel::pg::service& db,
                                   std::span<const std::string_view> statements) {
    // Named, not a temporary in the co_await expression: g++ 12 destroys
    // such temporaries twice (the relay and the order service met it).
    keel::pg::transaction_function body =
        [statements](keel::pg::transaction& tx) -> asio::awaitable<void> {
        for (std::string_view sql : statements)
            co_await tx.async_query(keel::pg::statement(std::string(sql)), asio::use_awaitable);
    };
    co_await db.async_transaction(std::move(body), keel::pg::isolation::read_committed,
                                  asio::use_awaitable);
}

} // namespace cqrs
