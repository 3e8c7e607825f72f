#include "driver.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <random>

namespace cqrs::demo {

namespace {

constexpr int resends = 4; ///< after keel gave up: the order service may be recovering
constexpr std::size_t max_samples = 5;

const char* const skus[] = {"sku-apple", "sku-bread", "sku-cheese", "sku-dates",
                            "sku-eggs",  "sku-flour", "sku-grapes"};
const char* const reasons[] = {"changed my mind", "found it cheaper", "ordered twice"};

// Not in the coroutine: GCC 12 cannot keep a local array in a coroutine frame.
std::string order_name(const std::string& run, int index) {
    char id[64];
    std::snprintf(id, sizeof id, "%s-%06d", run.c_str(), index + 1);
    return id;
}

} // namespace

verdict judge(int status, const std::string& body, int expected, bool& recognised) {
    recognised = false;
    if (status >= 200 && status < 300)
        return verdict::applied;
    if (status == 409) {
        // The order is already at the version this command leads to: our
        // earlier send was applied and its reply lost (one driver per order).
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (j.is_object() && j.contains("version") && j["version"].is_number_integer() &&
            j["version"].get<int>() == expected + 1) {
            recognised = true;
            return verdict::applied;
        }
        return verdict::rejected;
    }
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return verdict::rejected;
    return verdict::failed; // no answer, 5xx, 408, 429: worth sending again
}

driver::driver(keel::http::service& orders, settings s)
    : orders_(orders), settings_(std::move(s)) {}

asio::awaitable<void> driver::run() {
    auto executor = co_await asio::this_coro::executor;
    // C workers, each taking the next order when its last one ended.
    int running = settings_.concurrency;
    asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
    for (int i = 0; i < settings_.concurrency; ++i)
        asio::co_spawn(executor, worker(), [&running, &all_done](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "cqrs-demo: an order flow failed: %s\n", x.what());
                }
            }
            if (--running == 0)
                all_done.cancel();
        });
    auto [ec] = co_await all_done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    (void)ec;
}

asio::awaitable<void> driver::worker() {
    while (!stopping_ && next_ < settings_.orders) {
        const int index = next_++;
        // One order's surprise (an unreadable answer) ends that order, not
        // the worker: the others still run.
        std::string error;
        try {
            co_await flow(index);
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) {
            ++stats_.abandoned;
            if (samples_.size() < max_samples)
                samples_.push_back("order " + std::to_string(index + 1) + ": " + error);
        }
        ++stats_.orders_done;
    }
}

asio::awaitable<void> driver::flow(int index) {
    // Each order's choices from the seed and its index alone, so a run is
    // the same commands whatever the interleaving.
    std::mt19937_64 random(settings_.seed * 1'000'003u + static_cast<std::uint64_t>(index));
    auto pick = [&](int n) { return static_cast<int>(random() % static_cast<std::uint64_t>(n)); };
    const std::string order_id = order_name(settings_.run, index);
    const std::string path = "/orders/" + order_id;

    int version = 0;
    // JSON built by named steps: GCC 12 cannot put an initializer_list's
    // array in a coroutine frame.
    nlohmann::json create = nlohmann::json::object();
    create["order_id"] = order_id;
    create["customer"] = "c-" + std::to_string(pick(50));
    if (co_await command("/orders", std::move(create), version) != verdict::applied) {
        ++stats_.abandoned;
        co_return;
    }
    created_.push_back(order_id);
    const int items = 1 + pick(3);
    for (int i = 0; i < items; ++i) {
        nlohmann::json item = nlohmann::json::object();
        item["sku"] = skus[pick(std::size(skus))];
        item["quantity"] = 1 + pick(4);
        item["price_cents"] = 100 + 25 * pick(200);
        if (co_await command(path + "/items", std::move(item), version) != verdict::applied) {
            ++stats_.abandoned;
            co_return;
        }
    }
    const bool pay = pick(100) < 80;
    nlohmann::json last_body = nlohmann::json::object();
    if (!pay)
        last_body["reason"] = reasons[pick(std::size(reasons))];
    const verdict last =
        co_await command(path + (pay ? "/pay" : "/cancel"), std::move(last_body), version);
    if (last != verdict::applied)
        ++stats_.abandoned;
    else if (pay)
        ++stats_.paid;
    else
        ++stats_.cancelled;
}

asio::awaitable<verdict> driver::command(const std::string& path, nlohmann::json body,
                                         int& version) {
    ++stats_.commands;
    body["expected_version"] = version;
    keel::http::request r;
    r.method = "POST";
    r.url = path;
    r.body = body.dump();
    r.headers.emplace_back("Content-Type", "application/json");
    // Safe to send again: the expected version makes a repeat a 409.
    r.idempotent = true;
    auto executor = co_await asio::this_coro::executor;
    for (int send = 0;; ++send) {
        auto [ec, response] =
            co_await orders_.async_send(r, asio::experimental::as_tuple(asio::use_awaitable));
        const int status = ec && response.status == 0 ? 0 : response.status;
        bool recognised = false;
        const verdict v = judge(status, response.body, version, recognised);
        if (v == verdict::applied) {
            ++stats_.applied;
            if (recognised)
                ++stats_.recognised;
            ++version;
            co_return v;
        }
        if (v == verdict::rejected || send == resends || stopping_) {
            ++(v == verdict::rejected ? stats_.rejected : stats_.failed);
            if (samples_.size() < max_samples)
                samples_.push_back(
                    "POST " + path + " " + r.body + " -> " +
                    (status ? std::to_string(status) + " " + response.body : ec.message()));
            co_return v;
        }
        ++stats_.resent;
        asio::steady_timer pause(executor, std::chrono::seconds(1 + send));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

} // namespace cqrs::demo
