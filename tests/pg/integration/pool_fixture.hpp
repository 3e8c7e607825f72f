// The fixture the pg integration tests share: pools on one io_context
// against the cluster all of them use, and a helper that kills a backend
// mid-statement.
#pragma once

#include <keel/pg/pool.hpp>
#include <keel/pipeline.hpp>

#include "harness/pg/cluster.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keel::test::pg {
/// One cluster for every test that does not stop it (started on first use;
/// defined in pool_test.cpp).
cluster& shared_cluster();
} // namespace keel::test::pg

namespace keel::test::pg_integration {

using namespace std::chrono_literals;
namespace pg = keel::pg;
using keel::test::pg::cluster;
using keel::test::pg::session;
using keel::test::pg::shared_cluster;

struct query_outcome {
    bool done = false;
    std::error_code ec;
    pg::result r;
};

class pg_pool : public ::testing::Test {
protected:
    void TearDown() override {
        pools_.clear();
        context_.restart();
        context_.run(); // the pools' shutdown and the waits it ends
    }

    pg::pool& make_pool(std::size_t size = 2, const std::string& dsn = {},
                        std::chrono::milliseconds connect_timeout = 0ms) {
        pg::pool_options o;
        o.dsn = dsn.empty() ? shared_cluster().dsn() : dsn;
        o.size = size;
        o.connect_timeout = connect_timeout;
        pools_.push_back(std::make_unique<pg::pool>(context_.get_executor(), o));
        return *pools_.back();
    }

    /// Runs the loop until `done()`; fails after 20 s without progress.
    void run_until(const std::function<bool()>& done) {
        context_.restart();
        while (!done())
            ASSERT_NE(context_.run_one_for(20s), 0u) << "the loop ran dry or stalled";
    }

    query_outcome query(pg::pool& p, pg::statement s, pg::query_options o = {}) {
        query_outcome out;
        p.async_query(std::move(s), o, [&](std::error_code ec, pg::result r) {
            out.done = true;
            out.ec = ec;
            out.r = std::move(r);
        });
        run_until([&] { return out.done; });
        return out;
    }

    keel::pipeline_policy fast_retries(int attempts) {
        keel::pipeline_policy p;
        p.retry.max_attempts = attempts;
        p.retry.backoff.kind = keel::backoff_kind::constant;
        p.retry.backoff.initial = 10ms;
        p.retry.backoff.jitter = keel::jitter_kind::none;
        return p;
    }

    asio::io_context context_{1};
    std::vector<std::unique_ptr<pg::pool>> pools_;
};

/// Terminates the backend of application `marker` once it runs a query
/// LIKE `query_like` (as pg_stat_activity shows), then calls `after`.
inline std::thread terminate_when_running(const std::string& marker, const std::string& query_like,
                                          std::function<void()> after = {}) {
    return std::thread([marker, query_like, after] {
        session s(shared_cluster().dsn());
        const std::string find = "SELECT pid FROM pg_stat_activity WHERE query LIKE '" +
                                 query_like +
                                 "' AND state = 'active' AND pid <> "
                                 "pg_backend_pid() AND application_name = '" +
                                 marker + "'";
        std::string pid;
        while ((pid = s.exec(find)).empty())
            std::this_thread::sleep_for(5ms);
        s.exec("SELECT pg_terminate_backend(" + pid + ")");
        if (after)
            after();
    });
}

} // namespace keel::test::pg_integration
