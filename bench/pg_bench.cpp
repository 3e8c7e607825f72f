// keel::pg benchmarks: SELECT 1 round trips per second against a local
// PostgreSQL 15 (the tests' fixture, tools/harness/pg/cluster.hpp).
//
//   BM_pg_raw_one_connection   the baseline: one libpq connection driven
//                              on the same Asio loop by hand (PQsendQueryParams,
//                              a stream_descriptor wait on PQsocket,
//                              PQconsumeInput/PQgetResult), one query at a time
//   BM_pg_keel_one_connection  the same through keel::pg::pool (size 1)
//                              ::async_call and a keel::pipeline
//   BM_pg_raw_pool4_c16        the baseline with 4 connections and 16
//                              queries in flight (a query waits for a free
//                              connection, FIFO)
//   BM_pg_keel_pool4_c16       the same through a keel pool of 4 and a pipeline
//
// The pipeline is a realistic one (3 attempts, exponential backoff, connect
// 1 s, exchange 2 s, total 10 s). One benchmark iteration = one completed
// query after `warmup_queries` untimed ones (connections open, caches warm);
// `queries_per_second` is completed queries / wall seconds of the timed
// window, `allocs_per_query` the heap allocations in that window per query
// (libpq's included: bench/alloc_counter.hpp). Real time: the client mostly
// waits on the server. Everything runs inside one io_context::run(), each
// completion starting the next query. The server runs on the same 2 cores,
// so these are round trips through a loaded machine: compare only within
// one run (repetitions are randomly interleaved).
//
// Summarise a run with: python3 bench/compare.py --pg build/release/bench/pg.json

#include <keel/pg/pool.hpp>
#include <keel/pipeline.hpp>

#include "harness/pg/cluster.hpp"
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <benchmark/benchmark.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

// Replaces malloc and operator new for the whole executable: included by this
// translation unit only.
#include "bench_main.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int warmup_queries = 200;

std::string g_dsn;

keel::pipeline_policy realistic_policy() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = keel::backoff_kind::exponential;
    p.timeout.connect = 1s;
    p.timeout.exchange = 2s;
    p.timeout.total = 10s;
    return p;
}

/// Turns completions into benchmark iterations (as http_bench.cpp does).
class query_meter {
public:
    explicit query_meter(benchmark::State& state) : state_(state) {}

    /// A query completed: true if another should start in its place.
    bool completed() {
        if (done_)
            return false;
        if (warmup_left_ > 0) {
            if (--warmup_left_ == 0)
                start_timing();
            return true;
        }
        ++*it_;
        if (*it_ != *end_)
            return true;
        const auto now = std::chrono::steady_clock::now();
        allocs_after_ = allocation_count();
        seconds_ = std::chrono::duration<double>(now - start_).count();
        done_ = true;
        return false;
    }

    void fail(const std::string& message) {
        if (failed_)
            return;
        failed_ = true;
        done_ = true;
        state_.SkipWithError(message.c_str());
    }

    void report() {
        if (failed_ || !timing_)
            return;
        const auto queries = static_cast<double>(state_.iterations());
        if (queries <= 0 || seconds_ <= 0)
            return;
        state_.counters["queries_per_second"] = queries / seconds_;
        if (KEEL_BENCH_COUNT_ALLOCATIONS)
            state_.counters["allocs_per_query"] =
                static_cast<double>(allocs_after_ - allocs_before_) / queries;
    }

private:
    void start_timing() {
        timing_ = true;
        it_.emplace(state_.begin());
        end_.emplace(state_.end());
        allocs_before_ = allocation_count();
        start_ = std::chrono::steady_clock::now();
    }

    benchmark::State& state_;
    int warmup_left_ = warmup_queries;
    bool timing_ = false;
    bool done_ = false;
    bool failed_ = false;
    std::optional<benchmark::State::StateIterator> it_;
    std::optional<benchmark::State::StateIterator> end_;
    std::chrono::steady_clock::time_point start_;
    double seconds_ = 0;
    std::uint64_t allocs_before_ = 0;
    std::uint64_t allocs_after_ = 0;
};

// ============================================================================
// The baseline: libpq's non-blocking interface on the Asio loop, by hand
// ============================================================================

class raw_pool {
public:
    raw_pool(asio::io_context& io, int size, query_meter& meter) : meter_(meter) {
        for (int i = 0; i < size; ++i) {
            auto c = std::make_unique<conn>();
            c->pg = PQconnectdb(g_dsn.c_str()); // set-up, untimed: blocking is fine
            if (PQstatus(c->pg) != CONNECTION_OK || PQsetnonblocking(c->pg, 1) != 0)
                throw std::runtime_error(PQerrorMessage(c->pg));
            c->socket.emplace(io, PQsocket(c->pg));
            free_.push_back(c.get());
            conns_.push_back(std::move(c));
        }
    }
    ~raw_pool() {
        for (auto& c : conns_) {
            (void)c->socket->release(); // libpq's descriptor
            PQfinish(c->pg);
        }
    }

    int in_flight() const { return in_flight_; }

    void start() {
        ++in_flight_;
        if (free_.empty()) {
            ++queued_;
            return;
        }
        conn* c = free_.back();
        free_.pop_back();
        send(*c);
    }

private:
    struct conn {
        PGconn* pg = nullptr;
        std::optional<asio::posix::stream_descriptor> socket;
        bool ok = true;
    };

    void send(conn& c) {
        c.ok = true;
        if (!PQsendQueryParams(c.pg, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0) ||
            PQflush(c.pg) != 0) {
            meter_.fail(PQerrorMessage(c.pg));
            return;
        }
        wait(c);
    }

    void wait(conn& c) {
        c.socket->async_wait(asio::posix::stream_descriptor::wait_read,
                             [this, &c](std::error_code ec) {
                                 if (ec || !PQconsumeInput(c.pg)) {
                                     meter_.fail("connection lost");
                                     return;
                                 }
                                 while (!PQisBusy(c.pg)) {
                                     PGresult* r = PQgetResult(c.pg);
                                     if (!r) {
                                         finished(c);
                                         return;
                                     }
                                     c.ok = c.ok && PQresultStatus(r) == PGRES_TUPLES_OK;
                                     benchmark::DoNotOptimize(PQgetvalue(r, 0, 0));
                                     PQclear(r);
                                 }
                                 wait(c);
                             });
    }

    void finished(conn& c) {
        --in_flight_;
        if (!c.ok) {
            meter_.fail("SELECT 1 failed");
            return;
        }
        // The connection goes to the next query waiting, as a pool's would.
        if (queued_ > 0) {
            --queued_;
            send(c);
        } else {
            free_.push_back(&c);
        }
        if (meter_.completed())
            start();
    }

    query_meter& meter_;
    std::vector<std::unique_ptr<conn>> conns_;
    std::vector<conn*> free_;
    int queued_ = 0;
    int in_flight_ = 0;
};

void run_raw(benchmark::State& state, int connections, int concurrency) {
    asio::io_context io(1);
    query_meter meter(state);
    try {
        raw_pool pool(io, connections, meter);
        for (int i = 0; i < concurrency; ++i)
            pool.start();
        io.run();
    } catch (const std::exception& e) {
        meter.fail(e.what());
    }
    meter.report();
}

// ============================================================================
// keel::pg through a pipeline
// ============================================================================

struct keel_loop {
    keel::pg::pool& pool;
    keel::pipeline& pipeline;
    query_meter& meter;
    /// Stopped once nothing is in flight and nothing more will start: the
    /// pool's idle connections keep their waits (and the loop) alive.
    asio::io_context& io;
    int in_flight = 0;

    void start() {
        ++in_flight;
        pool.async_call(pipeline, keel::pg::idempotent("SELECT 1"),
                        [this](std::error_code ec, keel::pg::result r) {
                            --in_flight;
                            const bool ok = !ec && r.rows() == 1;
                            if (ok)
                                benchmark::DoNotOptimize(r.text(0, 0).data());
                            else
                                meter.fail("keel: " + ec.message());
                            if (ok && meter.completed())
                                start();
                            else if (in_flight == 0)
                                io.stop();
                        });
    }
};

void run_keel(benchmark::State& state, std::size_t connections, int concurrency) {
    asio::io_context io(1);
    query_meter meter(state);
    {
        keel::pg::pool_options o;
        o.dsn = g_dsn;
        o.size = connections;
        keel::pg::pool pool(io.get_executor(), o);
        keel::pipeline pipeline(io, "bench-db", realistic_policy());
        keel_loop loop{pool, pipeline, meter, io};
        for (int i = 0; i < concurrency; ++i)
            loop.start();
        // One run() for the whole window, as the raw loop has (a run_one()
        // per handler would also drop Asio's recycled memory each time).
        io.run();
        io.restart();
    }
    io.run(); // the pool's shutdown
    meter.report();
}

void BM_pg_raw_one_connection(benchmark::State& state) {
    run_raw(state, 1, 1);
}
void BM_pg_keel_one_connection(benchmark::State& state) {
    run_keel(state, 1, 1);
}
void BM_pg_raw_pool4_c16(benchmark::State& state) {
    run_raw(state, 4, 16);
}
void BM_pg_keel_pool4_c16(benchmark::State& state) {
    run_keel(state, 4, 16);
}

/// Real time (see the top of the file); KEEL_BENCH_ITERATIONS=N fixes the
/// number of timed queries per run, so that profiles of the two loops
/// (callgrind instruction counts per query) compare the same work.
void configure(benchmark::internal::Benchmark* b) {
    b->UseRealTime();
    if (const char* n = std::getenv("KEEL_BENCH_ITERATIONS"))
        b->Iterations(std::atoll(n));
}

} // namespace

BENCHMARK(BM_pg_raw_one_connection)->Apply(configure);
BENCHMARK(BM_pg_keel_one_connection)->Apply(configure);
BENCHMARK(BM_pg_raw_pool4_c16)->Apply(configure);
BENCHMARK(BM_pg_keel_pool4_c16)->Apply(configure);

int main(int argc, char** argv) {
    std::vector<char*> args;
    bool interleaving_given = false;
    if (!keel_bench::start(argc, argv, args, interleaving_given))
        return 1;
    std::optional<keel::test::pg::cluster> server;
    try {
        server.emplace();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cannot start PostgreSQL: %s\n", e.what());
        return 1;
    }
    g_dsn = server->dsn();
    benchmark::AddCustomContext("postgresql", "15, local (127.0.0.1 TCP), fsync=off");
    benchmark::AddCustomContext("libpq", std::to_string(PQlibVersion()));
    benchmark::AddCustomContext("random_interleaving",
                                interleaving_given ? "as given on the command line" : "on");
    benchmark::AddCustomContext("iteration", "one completed SELECT 1, after " +
                                                 std::to_string(warmup_queries) +
                                                 " warm-up queries; real time");
    benchmark::AddCustomContext(
        "allocs_per_query",
        KEEL_BENCH_COUNT_ALLOCATIONS
            ? "operator new (all forms) + malloc/calloc/realloc/memalign/valloc, libpq's "
              "included, timed window only"
            : std::string("not counted (sanitizer build)"));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    server.reset();
    return 0;
}
