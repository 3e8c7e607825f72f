// keel::http benchmarks: requests per second against nginx on loopback.
//
//   BM_http_raw_curl_multi  the baseline: a plain libcurl multi loop, no Asio,
//                           no keel (curl_multi_perform + curl_multi_poll)
//   BM_http_keel_pipeline   the same load through keel::http::client::async_call
//                           and a keel::pipeline (retry 3x exponential, connect
//                           1 s, exchange 2 s, total 10 s)
//
// Diagnostics (no target; they show where keel's cost comes from):
//   BM_http_keel_client     keel::http::client::async_send, no pipeline (the
//                           same connect/exchange timeouts, set on the send)
//   BM_http_raw_curl_multi_keel_setup  the baseline loop doing, per request,
//                           the libcurl work keel's transfer does for this
//                           GET (its options set again, connect and total
//                           timeouts, the header lines kept as keel keeps
//                           them, no proxy lookup, the URL given parsed):
//                           the baseline for keel's own machinery
//   BM_http_raw_curl_multi_socket  libcurl's multi-socket interface (the one
//                           keel drives) on a plain level-triggered epoll
//                           loop: what that style costs without Asio and keel
//
// The load, the same for all: GET http://127.0.0.1:PORT/small.txt (512 bytes)
// from one nginx (keel::test::http::nginx: one worker, keep-alive, 100,000
// requests per connection), started once per process. 16 requests are always
// in flight: each completion checks the status (200) and the body size (512),
// then starts the next request in its place, over keep-alive connections.
//
// How an iteration is timed: one benchmark iteration = one completed request.
// Each run first completes `warmup_requests` untimed requests (connections
// open, caches warm, 16 requests in flight); from then on each completion
// advances the benchmark's state iterator, and the run ends when it reaches
// state.iterations() (the timer starts at the completion that ends the
// warm-up and stops at the N-th completion after it). So the time per
// iteration is the steady-state interval between completions at concurrency
// 16, i.e. 1 / throughput; its inverse over the window is reported as
// `requests_per_second` (completed requests / wall seconds of the timed
// window). The requests still in flight when the window closes are drained,
// untimed, so that no transfer is aborted. The benchmarks use real time: the
// client mostly waits on nginx, and cpu_time (this thread's CPU per request)
// is the client's own cost.
//
// `user_us_per_request`, `kernel_us_per_request`, `sleeps_per_request`: the
// client thread's CPU time (getrusage RUSAGE_THREAD) in user space and in the
// kernel, and its voluntary context switches, per request in the timed
// window. With nginx on the other core the client is CPU-bound, so these say
// where a throughput difference comes from.
//
// `server_sleeps_per_request`: nginx's voluntary context switches (from
// /proc/PID/status) in the timed window, per request: how often the server
// ran out of requests and slept until the client's next one woke it. A
// client that sends the requests started by a batch of responses together
// keeps this near 0; one that answers each response with one request at once
// makes the server sleep, and be woken, about once per request (a wake-up
// across CPUs is the dearest part of a send on a VM).
//
// `allocs_per_request`: heap allocations (operator new in all its forms, and
// malloc/calloc/realloc/memalign/valloc; libcurl's included) in the timed
// window, per completed request (bench/alloc_counter.hpp).
//
// The keel benchmarks run everything inside ONE io_context::run() call (the
// context's concurrency hint is 1), each completion starting the next call
// (continuation passing; see core_bench.cpp on why not nested poll_one()).
// Repetitions are randomly interleaved unless the command line says otherwise
// (the target is a ratio and the load on a shared VM drifts).
//
// Summarise a run with: python3 bench/compare.py --http build/release/bench/http.json

#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>

#include "harness/http/nginx.hpp"
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/version.hpp>
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

// Replaces malloc and operator new for the whole executable: included by this
// translation unit only.
#include "bench_main.hpp"

namespace {

using namespace std::chrono_literals;

/// Requests in flight at all times.
constexpr int concurrency = 16;

/// Untimed requests completed first in every run (in the same loop), so the
/// 16 connections exist and every cache is warm when timing starts.
constexpr int warmup_requests = 200;

/// Where the requests go (set in main, once nginx is up).
std::string g_url;
std::size_t g_body_size = 0;

keel::pipeline_policy realistic_policy() {
    keel::pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = keel::backoff_kind::exponential;
    p.timeout.connect = 1s;
    p.timeout.exchange = 2s;
    p.timeout.total = 10s;
    return p;
}

// ============================================================================
// Counting completed requests
// ============================================================================

/// This thread's resource use so far: how often it blocked (voluntary
/// context switches: a sleep in poll/epoll_wait and a wake-up later), and its
/// CPU time in user space and in the kernel.
struct thread_usage {
    std::uint64_t sleeps = 0;
    double user_seconds = 0;
    double system_seconds = 0;

    static thread_usage now() {
        rusage usage{};
        getrusage(RUSAGE_THREAD, &usage);
        const auto seconds = [](const timeval& t) {
            return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
        };
        return {static_cast<std::uint64_t>(usage.ru_nvcsw), seconds(usage.ru_utime),
                seconds(usage.ru_stime)};
    }
};

/// nginx's PID (set in main): its sleeps are counted in the timed window.
pid_t g_server_pid = -1;

/// How often `pid` has blocked so far (voluntary context switches), or -1.
long long voluntary_switches(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f)
        return -1;
    long long n = -1;
    char line[256];
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "voluntary_ctxt_switches: %lld", &n) == 1)
            break;
    std::fclose(f);
    return n;
}

/// Turns completions into benchmark iterations (see the top of the file).
class request_meter {
public:
    explicit request_meter(benchmark::State& state) : state_(state) {}

    /// A request completed successfully: true if the caller should start
    /// another one in its place, false once the timed window is over.
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
        // The N-th timed completion: the iterator stopped the timer.
        const auto now = std::chrono::steady_clock::now();
        allocs_after_ = allocation_count();
        usage_after_ = thread_usage::now();
        server_sleeps_after_ = voluntary_switches(g_server_pid);
        seconds_ = std::chrono::duration<double>(now - start_).count();
        done_ = true;
        return false;
    }

    /// A request failed: the run is reported as an error, nothing new starts.
    void fail(const char* message) {
        if (failed_)
            return;
        failed_ = true;
        done_ = true;
        state_.SkipWithError(message);
    }

    void report() {
        if (failed_ || !timing_)
            return;
        const auto requests = static_cast<double>(state_.iterations());
        if (requests <= 0 || seconds_ <= 0)
            return;
        state_.counters["requests_per_second"] = requests / seconds_;
        if (KEEL_BENCH_COUNT_ALLOCATIONS)
            state_.counters["allocs_per_request"] =
                static_cast<double>(allocs_after_ - allocs_before_) / requests;
        // Where the client thread's time goes (it is CPU-bound when nginx
        // keeps up): user-space and kernel microseconds per request.
        state_.counters["sleeps_per_request"] =
            static_cast<double>(usage_after_.sleeps - usage_before_.sleeps) / requests;
        if (server_sleeps_before_ >= 0 && server_sleeps_after_ >= 0)
            state_.counters["server_sleeps_per_request"] =
                static_cast<double>(server_sleeps_after_ - server_sleeps_before_) / requests;
        state_.counters["user_us_per_request"] =
            (usage_after_.user_seconds - usage_before_.user_seconds) * 1e6 / requests;
        state_.counters["kernel_us_per_request"] =
            (usage_after_.system_seconds - usage_before_.system_seconds) * 1e6 / requests;
    }

private:
    void start_timing() {
        timing_ = true;
        // As a range-for does: begin(), then end() (end() starts the timer).
        it_.emplace(state_.begin());
        end_.emplace(state_.end());
        allocs_before_ = allocation_count();
        usage_before_ = thread_usage::now();
        server_sleeps_before_ = voluntary_switches(g_server_pid);
        start_ = std::chrono::steady_clock::now();
    }

    benchmark::State& state_;
    int warmup_left_ = warmup_requests;
    bool timing_ = false;
    bool done_ = false;
    bool failed_ = false;
    std::optional<benchmark::State::StateIterator> it_;
    std::optional<benchmark::State::StateIterator> end_;
    std::chrono::steady_clock::time_point start_;
    double seconds_ = 0;
    std::uint64_t allocs_before_ = 0;
    std::uint64_t allocs_after_ = 0;
    thread_usage usage_before_;
    thread_usage usage_after_;
    long long server_sleeps_before_ = -1;
    long long server_sleeps_after_ = -1;
};

// ============================================================================
// The baseline: a libcurl multi loop, no Asio, no keel
// ============================================================================

/// One of the 16 reused easy handles and the body it receives.
struct raw_transfer {
    CURL* easy = nullptr;
    std::string body; // cleared (capacity kept) after each response

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
        static_cast<raw_transfer*>(user)->body.append(data, size * count);
        return size * count;
    }

    // Diagnostic only (BM_http_raw_curl_multi_keel_setup): the header
    // lines, kept as keel::http::response_headers keeps them (one copy per
    // field line; cleared, capacity kept, per request).
    std::string header_block;
    CURLU* parsed_url = nullptr;

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
        auto& t = *static_cast<raw_transfer*>(user);
        const std::string_view line(data, size * count);
        if (!line.starts_with("HTTP/") && line.find(':') != std::string_view::npos)
            t.header_block.append(line);
        return size * count;
    }
};

/// Sets `t` up for its first request.
void setup_raw(raw_transfer& t) {
    curl_easy_setopt(t.easy, CURLOPT_URL, g_url.c_str());
    curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, &raw_transfer::on_body);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
}

/// What keel's transfer does before each GET of this load, on a reused
/// handle whose URL is already set: its own pointers again, the header
/// callback, the attempt's connect and total timeouts.
void setup_like_keel(raw_transfer& t) {
    t.header_block.clear();
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_HEADERFUNCTION, &raw_transfer::on_header);
    curl_easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, 2000L);
}

/// What an application without keel writes: 16 easy handles created once,
/// each re-added to the multi handle as soon as its transfer is done (its
/// connection goes back to the multi's cache and is picked up again), and the
/// classic curl_multi_perform / curl_multi_info_read / curl_multi_poll loop.
void run_raw(benchmark::State& state, bool keel_setup) {
    request_meter meter(state);
    CURLM* multi = curl_multi_init();
    if (!multi) {
        state.SkipWithError("curl_multi_init failed");
        return;
    }
    std::array<raw_transfer, concurrency> transfers;
    for (raw_transfer& t : transfers) {
        t.easy = curl_easy_init();
        t.body.reserve(2 * g_body_size);
        setup_raw(t);
        if (keel_setup) {
            // Once per handle, as keel's client does when no proxy
            // variable is set (it spares libcurl's getenv per transfer).
            curl_easy_setopt(t.easy, CURLOPT_PROXY, "");
            curl_easy_setopt(t.easy, CURLOPT_NOPROXY, "");
            // The URL parsed once, as keel's handles keep it.
            t.parsed_url = curl_url();
            curl_url_set(t.parsed_url, CURLUPART_URL, g_url.c_str(),
                         CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
            curl_easy_setopt(t.easy, CURLOPT_CURLU, t.parsed_url);
            setup_like_keel(t);
        }
        curl_multi_add_handle(multi, t.easy);
    }

    int in_flight = concurrency;
    while (in_flight > 0) {
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            meter.fail("curl_multi_perform failed");
            break;
        }
        bool restarted = false;
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
            if (message->msg != CURLMSG_DONE)
                continue;
            CURL* easy = message->easy_handle;
            const CURLcode rc = message->data.result;
            void* pointer = nullptr;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &pointer);
            auto* t = static_cast<raw_transfer*>(pointer);
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            const bool ok = rc == CURLE_OK && status == 200 && t->body.size() == g_body_size;
            benchmark::DoNotOptimize(t->body.data());
            t->body.clear();
            curl_multi_remove_handle(multi, easy);
            if (!ok) {
                std::fprintf(stderr, "request failed: %s, status %ld\n", curl_easy_strerror(rc),
                             status);
                meter.fail("a request failed");
            }
            if (ok && meter.completed()) {
                if (keel_setup)
                    setup_like_keel(*t);
                curl_multi_add_handle(multi, easy);
                restarted = true;
            } else {
                --in_flight;
            }
        }
        if (in_flight == 0)
            break;
        // A re-added handle has work to do now: perform again at once rather
        // than pay a poll() that would return immediately.
        if (!restarted && curl_multi_poll(multi, nullptr, 0, 1000, nullptr) != CURLM_OK) {
            meter.fail("curl_multi_poll failed");
            break;
        }
    }

    for (raw_transfer& t : transfers) {
        curl_multi_remove_handle(multi, t.easy); // a no-op for a removed handle
        curl_easy_cleanup(t.easy);
        curl_url_cleanup(t.parsed_url);
    }
    curl_multi_cleanup(multi);
    meter.report();
}

void BM_http_raw_curl_multi(benchmark::State& state) {
    run_raw(state, false);
}

/// Diagnostic: the baseline loop doing keel's per-request libcurl work
/// (setup_like_keel): what keel's machinery costs beyond that work.
void BM_http_raw_curl_multi_keel_setup(benchmark::State& state) {
    run_raw(state, true);
}

/// Diagnostic: libcurl's multi-socket interface (the one keel drives) on a
/// plain epoll loop, no Asio, no keel: what the multi-socket style costs by
/// itself next to curl_multi_perform.
class raw_socket_loop {
public:
    explicit raw_socket_loop(benchmark::State& state) : meter_(state) {}

    void run() {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        multi_ = curl_multi_init();
        if (epoll_ < 0 || !multi_) {
            meter_.fail("epoll_create1 or curl_multi_init failed");
            return;
        }
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &raw_socket_loop::on_socket);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &raw_socket_loop::on_timer);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
        std::array<raw_transfer, concurrency> transfers;
        for (raw_transfer& t : transfers) {
            t.easy = curl_easy_init();
            t.body.reserve(2 * g_body_size);
            setup_raw(t);
            curl_multi_add_handle(multi_, t.easy);
        }
        in_flight_ = concurrency;
        std::array<epoll_event, 64> events{};
        int running = 0;
        while (in_flight_ > 0) {
            if (timeout_ms_ == 0) {
                timeout_ms_ = -1;
                curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
                finish_done();
                continue;
            }
            const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                                     timeout_ms_ < 0 ? 1000 : static_cast<int>(timeout_ms_));
            if (n == 0) {
                timeout_ms_ = -1;
                curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
            }
            for (int i = 0; i < n; ++i) {
                int flags = 0;
                if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    flags |= CURL_CSELECT_IN;
                if (events[i].events & EPOLLOUT)
                    flags |= CURL_CSELECT_OUT;
                curl_multi_socket_action(multi_, events[i].data.fd, flags, &running);
            }
            finish_done();
        }
        for (raw_transfer& t : transfers) {
            curl_multi_remove_handle(multi_, t.easy);
            curl_easy_cleanup(t.easy);
        }
        curl_multi_cleanup(multi_);
        ::close(epoll_);
        meter_.report();
    }

private:
    static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
        auto& loop = *static_cast<raw_socket_loop*>(self);
        epoll_event event{};
        event.data.fd = fd;
        if (what == CURL_POLL_REMOVE) {
            epoll_ctl(loop.epoll_, EPOLL_CTL_DEL, fd, &event);
            return 0;
        }
        event.events =
            ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
        if (epoll_ctl(loop.epoll_, EPOLL_CTL_MOD, fd, &event) != 0)
            epoll_ctl(loop.epoll_, EPOLL_CTL_ADD, fd, &event);
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* self) {
        static_cast<raw_socket_loop*>(self)->timeout_ms_ = timeout_ms;
        return 0;
    }

    void finish_done() {
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
            if (message->msg != CURLMSG_DONE)
                continue;
            CURL* easy = message->easy_handle;
            void* pointer = nullptr;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &pointer);
            auto* t = static_cast<raw_transfer*>(pointer);
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            const bool ok =
                message->data.result == CURLE_OK && status == 200 && t->body.size() == g_body_size;
            t->body.clear();
            curl_multi_remove_handle(multi_, easy);
            if (!ok)
                meter_.fail("a request failed");
            if (ok && meter_.completed())
                curl_multi_add_handle(multi_, easy); // curl's timer says when to start it
            else
                --in_flight_;
        }
    }

    request_meter meter_;
    int epoll_ = -1;
    CURLM* multi_ = nullptr;
    long timeout_ms_ = -1;
    int in_flight_ = 0;
};

void BM_http_raw_curl_multi_socket(benchmark::State& state) {
    raw_socket_loop(state).run();
}

// ============================================================================
// Through keel::http, on one io_context
// ============================================================================

/// Keeps 16 calls in flight inside one io_context::run(): `start(handler)`
/// starts one call; each completion checks the response and starts the next.
template <class Start>
class asio_loop {
public:
    asio_loop(benchmark::State& state, asio::io_context& context, Start start)
        : meter_(state), context_(context), start_(std::move(start)) {}

    void run() {
        asio::post(context_, [this] {
            for (int i = 0; i < concurrency; ++i)
                launch();
        });
        context_.run();
        meter_.report();
    }

private:
    struct on_response {
        asio_loop* self;
        void operator()(std::error_code ec, keel::http::response r) const {
            self->completed(ec, r);
        }
    };

    void launch() {
        ++in_flight_;
        start_(on_response{this});
    }

    void completed(std::error_code ec, const keel::http::response& r) {
        --in_flight_;
        const bool ok = !ec && r.status == 200 && r.body.size() == g_body_size;
        benchmark::DoNotOptimize(r.body.data());
        if (!ok) {
            std::fprintf(stderr, "request failed: %s, status %d\n", ec.message().c_str(), r.status);
            meter_.fail("a request failed");
        }
        if (ok && meter_.completed()) {
            launch();
            return;
        }
        if (in_flight_ == 0)
            context_.stop(); // the pipeline's deadline timer may still hold work
    }

    request_meter meter_;
    asio::io_context& context_;
    Start start_;
    int in_flight_ = 0;
};

/// A client on a fresh io_context{1}; `start(client, request, handler)`
/// starts one call. The client is destroyed and its shutdown run before the
/// context goes, so cached connections close normally.
template <class Setup>
void run_keel(benchmark::State& state, Setup setup) {
    asio::io_context context{1};
    {
        std::optional<keel::http::client> client;
        client.emplace(context.get_executor());
        keel::http::request request;
        request.url = g_url;
        auto start = setup(context, *client, request);
        asio_loop<decltype(start)> loop(state, context, std::move(start));
        loop.run();
        client.reset();
    }
    // Run what the client's shutdown queued (cancelled socket waits, its
    // timer): poll() returns when nothing is ready, whatever holds work.
    context.restart();
    while (context.poll() > 0) {
    }
}

void BM_http_keel_pipeline(benchmark::State& state) {
    run_keel(state, [](asio::io_context& context, keel::http::client& client,
                       const keel::http::request& request) {
        // Owned by the loop: destroyed with it, before the context.
        auto pipeline = std::make_unique<keel::pipeline>(context, "nginx", realistic_policy());
        return [&client, &request, pipeline = std::move(pipeline)](auto handler) {
            client.async_call(*pipeline, request, std::move(handler));
        };
    });
}

/// Diagnostic: the client alone, with the deadlines a pipeline attempt would
/// set (connect 1 s, exchange 2 s).
void BM_http_keel_client(benchmark::State& state) {
    run_keel(state,
             [](asio::io_context&, keel::http::client& client, const keel::http::request& request) {
                 keel::http::send_options options;
                 options.connect_timeout = 1s;
                 options.timeout = 2s;
                 return [&client, &request, options](auto handler) {
                     client.async_send(request, options, std::move(handler));
                 };
             });
}

} // namespace

/// Real time (see the top of the file); KEEL_BENCH_ITERATIONS=N fixes the
/// number of timed requests per run, so that profiles of two builds (callgrind
/// instruction counts per request) compare the same work.
void configure(benchmark::internal::Benchmark* b) {
    b->UseRealTime();
    if (const char* n = std::getenv("KEEL_BENCH_ITERATIONS"))
        b->Iterations(std::atoll(n));
}

BENCHMARK(BM_http_raw_curl_multi)->Apply(configure);
BENCHMARK(BM_http_keel_pipeline)->Apply(configure);
// Diagnostics (not part of the target): where keel's cost comes from.
BENCHMARK(BM_http_keel_client)->Apply(configure);
BENCHMARK(BM_http_raw_curl_multi_keel_setup)->Apply(configure);
BENCHMARK(BM_http_raw_curl_multi_socket)->Apply(configure);

int main(int argc, char** argv) {
    std::vector<char*> args;
    bool interleaving_given = false;
    if (!keel_bench::start(argc, argv, args, interleaving_given))
        return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        std::fprintf(stderr, "curl_global_init failed\n");
        return 1;
    }

    // One nginx for the whole process (the destructor stops it).
    std::optional<keel::test::http::nginx> server;
    try {
        server.emplace();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cannot start nginx: %s\n", e.what());
        return 1;
    }
    g_url = server->url("/small.txt");
    g_body_size = keel::test::http::nginx::small_body().size();
    g_server_pid = server->pid();

    benchmark::AddCustomContext("asio_version", std::to_string(ASIO_VERSION / 100000) + "." +
                                                    std::to_string(ASIO_VERSION / 100 % 1000) +
                                                    "." + std::to_string(ASIO_VERSION % 100));
    benchmark::AddCustomContext("libcurl", curl_version());
    benchmark::AddCustomContext("random_interleaving",
                                interleaving_given ? "as given on the command line" : "on");
    benchmark::AddCustomContext("load", "GET " + g_url + " (" + std::to_string(g_body_size) +
                                            " bytes) from nginx (one worker, keep-alive), " +
                                            std::to_string(concurrency) + " requests in flight");
    benchmark::AddCustomContext("iteration", "one completed request, after " +
                                                 std::to_string(warmup_requests) +
                                                 " warm-up requests; real time");
    benchmark::AddCustomContext(
        "allocs_per_request",
        KEEL_BENCH_COUNT_ALLOCATIONS
            ? "operator new (all forms) + malloc/calloc/realloc/memalign/valloc, libcurl's "
              "included, timed window only"
            : std::string("not counted (sanitizer build)"));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    server.reset();
    curl_global_cleanup();
    return 0;
}
