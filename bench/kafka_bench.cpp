// keel::kafka benchmarks: producing 100-byte messages to librdkafka's mock
// cluster (hosted by this process, on loopback).
//
//   BM_kafka_raw_librdkafka  the baseline: plain librdkafka, delivery reports
//                            through a dr_msg_cb served by rd_kafka_poll, no
//                            Asio, no keel
//   BM_kafka_keel_producer   the same load through keel::kafka::producer::
//                            async_produce: delivery reports through the
//                            event queue, the eventfd and the Asio loop, one
//                            completion handler per message
//
// Not a paired benchmark (alternating batches of the two in one run), as
// tried: A/A controls showed the partner matters -- plain librdkafka made
// 1.43M msg/s in batches alternating with another plain producer, 0.91M
// alternating with keel's -- so the pairs' ratio flattered keel (0.94,
// while the same run's A/A rates, ~0.93M keel and ~1.45M plain, say ~0.64).
//
// Both: one producer per benchmark run (made before timing), idempotence on
// (keel's default), librdkafka's default batching, RD_KAFKA_MSG_F_COPY, no
// key, topic "bench" with 4 partitions. One iteration = `batch` messages
// produced and all of them reported delivered; `messages_per_second` is the
// rate over the timed window, `allocs_per_message` the heap allocations
// (operator new and malloc, librdkafka's included) per message.
//
// Summarise a run with: python3 bench/compare.py --kafka build/release/bench/kafka.json

#include <keel/kafka/producer.hpp>

#include "bench_main.hpp"
#include <asio/io_context.hpp>
#include <benchmark/benchmark.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

namespace {

constexpr int batch = 20000;
const std::string payload(100, 'x');
std::string g_bootstrap;

void set(rd_kafka_conf_t* conf, const char* name, const char* value) {
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        std::fprintf(stderr, "%s: %s\n", name, why);
        std::abort();
    }
}

void report(benchmark::State& state, std::uint64_t allocations) {
    const double messages = static_cast<double>(state.iterations()) * batch;
    state.counters["messages_per_second"] =
        benchmark::Counter(messages, benchmark::Counter::kIsRate);
    state.counters["allocs_per_message"] = static_cast<double>(allocations) / messages;
}

/// Plain librdkafka: delivery reports through a dr_msg_cb served by
/// rd_kafka_poll.
class raw_producer {
public:
    raw_producer() {
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", g_bootstrap.c_str());
        set(conf, "enable.idempotence", "true");
        rd_kafka_conf_set_opaque(conf, this);
        rd_kafka_conf_set_dr_msg_cb(conf,
                                    [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
                                        auto* self = static_cast<raw_producer*>(opaque);
                                        ++(m->err ? self->failed : self->delivered);
                                    });
        char why[512];
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
        if (!rk_) {
            std::fprintf(stderr, "rd_kafka_new: %s\n", why);
            std::abort();
        }
        produce(1); // connected, producer id assigned: not timed
    }
    ~raw_producer() { rd_kafka_destroy(rk_); }
    raw_producer(const raw_producer&) = delete;
    raw_producer& operator=(const raw_producer&) = delete;

    void produce_batch() { produce(batch); }

    long delivered = 0, failed = 0;

private:
    /// Produces `count` messages and waits until all are reported.
    void produce(int count) {
        for (int i = 0; i < count; ++i) {
            while (rd_kafka_producev(
                       rk_, RD_KAFKA_V_TOPIC("bench"),
                       RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                       RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk_, 1);
            ++sent_;
        }
        while (delivered + failed < sent_)
            rd_kafka_poll(rk_, 10);
    }

    rd_kafka_t* rk_ = nullptr;
    long sent_ = 0;
};

/// keel::kafka::producer::async_produce on an io_context run by this thread.
class keel_producer {
public:
    keel_producer() : producer_(context_.get_executor(), options()) {
        produce(1); // connected, producer id assigned: not timed
    }

    void produce_batch() { produce(batch); }

    long delivered = 0, failed = 0;

private:
    void produce(int count) {
        for (int i = 0; i < count; ++i) {
            producer_.async_produce("bench", {}, payload,
                                    [this](std::error_code ec, keel::kafka::delivery) {
                                        ++(ec ? failed : delivered);
                                        if (delivered + failed == sent_)
                                            context_.stop();
                                    });
            ++sent_;
        }
        // One run() until the last report (the producer's wait on its
        // eventfd keeps the loop alive): not a run_one() per handler, which
        // drops Asio's recycled handler memory at every call.
        context_.run();
        context_.restart();
    }

    static keel::kafka::producer_options options() {
        keel::kafka::producer_options options;
        options.bootstrap_servers = g_bootstrap;
        return options;
    }

    asio::io_context context_{1};
    keel::kafka::producer producer_;
    long sent_ = 0;
};

/// One producer for the run, made (and warmed up) before timing.
template <class Producer>
void run(benchmark::State& state) {
    Producer producer;
    std::uint64_t allocations = 0;
    for (auto _ : state) {
        const std::uint64_t before = allocation_count();
        producer.produce_batch();
        allocations += allocation_count() - before;
    }
    if (producer.failed)
        state.SkipWithError("deliveries failed");
    report(state, allocations);
}

void BM_kafka_raw_librdkafka(benchmark::State& state) {
    run<raw_producer>(state);
}
void BM_kafka_keel_producer(benchmark::State& state) {
    run<keel_producer>(state);
}

BENCHMARK(BM_kafka_raw_librdkafka)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_kafka_keel_producer)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char** argv) {
    std::vector<char*> args;
    bool interleaving_given = false;
    if (!keel_bench::start(argc, argv, args, interleaving_given))
        return 1;
    char why[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "log_level", "3");
    rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, 1);
    rd_kafka_mock_topic_create(cluster, "bench", 4, 1);
    g_bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    benchmark::AddCustomContext("librdkafka", rd_kafka_version_str());
    benchmark::AddCustomContext("load", "100-byte messages, no key, to librdkafka's mock cluster "
                                        "(1 broker, 4 partitions, in-process, loopback), " +
                                            std::to_string(batch) + " per iteration");
    benchmark::AddCustomContext("random_interleaving",
                                interleaving_given ? "as given on the command line" : "on");
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(host);
    return 0;
}
