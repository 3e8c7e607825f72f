#include "http_api.hpp"

#include "common/runtime.hpp"
#include "order_service.hpp"
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace cqrs::orders {

namespace {

/// Handlers block while the loop works on their command, so this bounds the
/// commands (and keep-alive connections) in flight, not the CPU used.
constexpr std::size_t handler_threads = 64;

} // namespace

struct http_api::impl {
    asio::io_context& io;
    order_service& service;
    const runtime& rt;
    httplib::Server server;
    std::thread serving;
    std::atomic<bool> stopping{false};
    std::atomic<bool> finished{false};

    // A database restart fails every command for a few seconds: one log line
    // per dependency and second says so without flooding the log.
    struct failure_log {
        std::chrono::steady_clock::time_point last{};
        int suppressed = 0;
    };
    std::mutex failures_mutex;
    std::map<std::string, failure_log, std::less<>> failures;

    impl(asio::io_context& io, order_service& service, const runtime& rt)
        : io(io), service(service), rt(rt) {}

    void log_failure(const dependency_failure& e) {
        const auto now = std::chrono::steady_clock::now();
        std::string line;
        {
            std::lock_guard lock(failures_mutex);
            failure_log& f = failures[e.dependency()];
            if (f.last != std::chrono::steady_clock::time_point{} &&
                now - f.last < std::chrono::seconds(1)) {
                ++f.suppressed;
                return;
            }
            line = e.dependency() + " failed: " + e.what();
            if (f.suppressed > 0)
                line += " (" + std::to_string(f.suppressed) + " more failures since the last line)";
            f.last = now;
            f.suppressed = 0;
        }
        rt.log(line);
    }

    /// Runs the command `work` makes (parsing on this thread, the rest on the
    /// loop) and writes its answer.
    template <class Work>
    void answer(httplib::Response& res, Work&& work) {
        try {
            reply r = run_on_loop(io, work());
            res.status = r.status;
            res.set_content(r.body, "application/json");
        } catch (const bad_request& e) {
            res.status = 400;
            res.set_content(bad_request_body(e.what()), "application/json");
        } catch (const dependency_failure& e) {
            log_failure(e);
            res.status = 503;
            res.set_header("Retry-After", "1");
            res.set_content(dependency_body(e.dependency(), e.what()), "application/json");
        } catch (const std::exception& e) {
            // A bug or a corrupt store (e.g. an event that does not apply):
            // say so rather than drop the connection.
            rt.log(std::string("internal error: ") + e.what());
            res.status = 500;
            res.set_content(nlohmann::json{{"error", "internal"}, {"message", e.what()}}.dump(
                                -1, ' ', false, nlohmann::json::error_handler_t::replace),
                            "application/json");
        }
    }

    void routes() {
        server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("ok", "text/plain");
        });
        server.Post("/orders", [this](const httplib::Request& req, httplib::Response& res) {
            answer(res, [&] { return service.execute(parse_create(req.body)); });
        });
        server.Post(R"(/orders/([^/]+)/items)", [this](const httplib::Request& req,
                                                       httplib::Response& res) {
            answer(res, [&] { return service.execute(parse_add_item(req.matches[1], req.body)); });
        });
        server.Post(
            R"(/orders/([^/]+)/pay)", [this](const httplib::Request& req, httplib::Response& res) {
                answer(res, [&] { return service.pay(parse_pay(req.matches[1], req.body)); });
            });
        server.Post(R"(/orders/([^/]+)/cancel)", [this](const httplib::Request& req,
                                                        httplib::Response& res) {
            answer(res, [&] { return service.execute(parse_cancel(req.matches[1], req.body)); });
        });
        server.Get(R"(/orders/([^/]+))",
                   [this](const httplib::Request& req, httplib::Response& res) {
                       answer(res, [&] { return service.get(req.matches[1]); });
                   });
    }
};

http_api::http_api(asio::io_context& io, order_service& service, const runtime& rt)
    : impl_(std::make_unique<impl>(io, service, rt)) {
    impl_->server.new_task_queue = [] { return new httplib::ThreadPool(handler_threads); };
    impl_->routes();
}

http_api::~http_api() {
    stop();
    join();
}

std::uint16_t http_api::bind(const std::string& host, int port) {
    int bound = port;
    if (port == 0)
        bound = impl_->server.bind_to_any_port(host);
    else if (!impl_->server.bind_to_port(host, port))
        bound = -1;
    if (bound <= 0)
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
    return static_cast<std::uint16_t>(bound);
}

void http_api::start(std::function<void()> finished) {
    impl_->serving = std::thread([this, finished = std::move(finished)] {
        if (!impl_->stopping)
            impl_->server.listen_after_bind(); // returns once its handlers returned
        impl_->finished = true;
        if (finished)
            finished();
    });
}

void http_api::stop() {
    impl_->stopping = true;
    // httplib's stop() does nothing until listen_after_bind() has marked the
    // server running: a stop right after start() must wait for that moment.
    if (impl_->serving.joinable())
        while (!impl_->finished && !impl_->server.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl_->server.stop();
}

void http_api::join() {
    if (impl_->serving.joinable())
        impl_->serving.join();
}

} // namespace cqrs::orders
