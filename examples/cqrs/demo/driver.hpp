// The load: order flows through the write model (the order service, via the
// `orders-api` dependency), each a coroutine on the demo's loop. A command
// carries the version it expects, so the driver can tell a command that was
// applied but whose reply was lost (409 at the next version) from a refused
// one, and can send it again safely.
#pragma once

#include <keel/http/service.hpp>

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cqrs::demo {

/// Read from the main thread while the loop writes them.
struct driver_stats {
    std::atomic<std::size_t> orders_done{0}; ///< flows finished, whatever their end
    std::atomic<std::size_t> paid{0};
    std::atomic<std::size_t> cancelled{0};
    std::atomic<std::size_t> abandoned{0}; ///< a command failed or was refused
    std::atomic<std::size_t> commands{0};  ///< distinct commands
    std::atomic<std::size_t> applied{0};
    std::atomic<std::size_t> recognised{0}; ///< of applied: a 409 at the next version
    std::atomic<std::size_t> rejected{0};   ///< 4xx other than that
    std::atomic<std::size_t> failed{0};     ///< no answer after every re-send
    std::atomic<std::size_t> resent{0};     ///< re-sends by the driver (after keel's retries)
};

/// What a command's answers came to.
enum class verdict { applied, rejected, failed };
/// Pure: how an answer (status, JSON body) to a command that expected
/// `expected` and adds one event is counted; `recognised` set for a 409 that
/// shows the command was applied before. Status 0: no answer.
verdict judge(int status, const std::string& body, int expected, bool& recognised);

class driver {
public:
    struct settings {
        int orders = 2000;
        int concurrency = 16;
        std::uint64_t seed = 1;
        std::string run; ///< prefix of the order ids, unique per run
    };
    driver(keel::http::service& orders, settings s);

    /// Runs every flow; returns when all have ended (or stop() was called
    /// and the ones in flight ended).
    asio::awaitable<void> run();
    void stop() { stopping_ = true; }

    const driver_stats& stats() const { return stats_; }
    /// The orders created (read after run() completed).
    const std::vector<std::string>& created() const { return created_; }
    /// The first few refusals' bodies, to show what went wrong.
    const std::vector<std::string>& samples() const { return samples_; }

private:
    asio::awaitable<void> worker();
    asio::awaitable<void> flow(int index);
    /// Sends one command until it is applied, refused, or given up; `version`
    /// is the order's version before it, and after it on success.
    asio::awaitable<verdict> command(const std::string& path, nlohmann::json body, int& version);

    keel::http::service& orders_;
    settings settings_;
    driver_stats stats_;
    int next_ = 0;
    std::atomic<bool> stopping_{false};
    std::vector<std::string> created_;
    std::vector<std::string> samples_;
};

} // namespace cqrs::demo
