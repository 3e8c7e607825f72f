// Over 400 lines: the run's sequence in one place (start, drive, catch up, check, report, stop).
// cqrs-demo: the CQRS + event-sourcing order pipeline end to end, under
// faults. The main thread starts and stops every process (a child dies with
// the thread that forked it) and injects the faults; the order flows and
// the demo's own keel calls run on one io_context on a second thread.
#include "driver.hpp"
#include "faults.hpp"
#include "options.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "sampler.hpp"
#include "scrape.hpp"
#include "stack.hpp"
#include "summary.hpp"
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <check/consistency.hpp>
#include <common/runtime.hpp>
#include <domain/order.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace cqrs::demo;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
    interrupted = true;
}

/// The loop on its own thread for as long as the demo needs it; stopped
/// and joined on every way out.
class loop_thread {
public:
    explicit loop_thread(asio::io_context& io)
        : io_(io), work_(asio::make_work_guard(io)), thread_([this] { io_.run(); }) {}
    ~loop_thread() {
        work_.reset();
        io_.stop();
        thread_.join();
    }

private:
    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
};

/// One line of progress on stderr: redrawn in place on a terminal, a plain
/// line every few seconds otherwise (CI logs, ctest).
class progress_bar {
public:
    progress_bar() : tty_(::isatty(STDERR_FILENO) != 0) {}

    void show(const std::string& phase, std::size_t done, std::size_t total,
              const cqrs::check::progress& p, bool force = false) {
        const auto now = clock_type::now();
        if (!force &&
            now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5)))
            return;
        last_ = now;
        constexpr int width = 30;
        const int filled = total ? static_cast<int>(width * done / total) : 0;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.append(static_cast<std::size_t>(width - filled), '.');
        char text[256];
        std::snprintf(text, sizeof text,
                      "[%s] %zu/%zu orders  events %zu  applied %zu  behind %zu  outbox %zu  %s",
                      bar.c_str(), done, total, p.events, p.applied,
                      p.events > p.applied ? p.events - p.applied : 0, p.outbox_pending,
                      phase.c_str());
        if (tty_)
            std::fprintf(stderr, "\r%s\033[K", text);
        else
            std::fprintf(stderr, "%s\n", text);
        drawn_ = true;
    }
    /// Ends the redrawn line before other output.
    void finish() {
        if (tty_ && drawn_)
            std::fprintf(stderr, "\n");
        drawn_ = false;
    }

private:
    bool tty_;
    bool drawn_ = false;
    clock_type::time_point last_{};
};

/// Orders read back through the query service (`queries-api`) against the
/// write model's replay (`orders-api`), and the paid orders listed page by
/// page; returns problems.
asio::awaitable<std::vector<std::string>> spot_check(keel::http::service& queries,
                                                     keel::http::service& orders,
                                                     std::vector<std::string> sample,
                                                     std::size_t& listed) {
    using asio::experimental::as_tuple;
    std::vector<std::string> problems;
    for (const auto& id : sample) {
        auto [qe, q] = co_await queries.async_get("/orders/" + id, as_tuple(asio::use_awaitable));
        auto [we, w] = co_await orders.async_get("/orders/" + id, as_tuple(asio::use_awaitable));
        if (qe || we) {
            problems.push_back("query check: GET /orders/" + id + ": query service " +
                               (qe ? qe.message() : "ok") + ", order service " +
                               (we ? we.message() : "ok"));
            continue;
        }
        try {
            const auto read = cqrs::state_from_json(nlohmann::json::parse(q.body).at("order"));
            const auto written = cqrs::state_from_json(nlohmann::json::parse(w.body));
            if (!(read == written))
                problems.push_back("query check: order " + id + " differs: query service " +
                                   cqrs::to_json(read).dump() + ", write model " +
                                   cqrs::to_json(written).dump());
        } catch (const std::exception& e) {
            problems.push_back("query check: order " + id + ": unreadable answer: " + e.what());
        }
    }
    std::string after;
    for (int page = 0; page < 10'000; ++page) {
        std::string url = "/orders?status=paid&limit=500";
        if (!after.empty())
            url += "&after=" + after;
        auto [ec, r] = co_await queries.async_get(url, as_tuple(asio::use_awaitable));
        if (ec) {
            problems.push_back("query check: GET " + url + ": " + ec.message());
            break;
        }
        try {
            const auto j = nlohmann::json::parse(r.body);
            for (const auto& o : j.at("orders")) {
                const auto state = cqrs::state_from_json(o);
                if (state.status != cqrs::order_status::paid)
                    problems.push_back("query check: listed as paid, but " +
                                       std::string(cqrs::to_string(state.status)) + ": " +
                                       state.order_id);
                if (!after.empty() && state.order_id <= after)
                    problems.push_back("query check: list out of order at " + state.order_id);
                after = state.order_id;
                ++listed;
            }
            if (j.at("next").is_null())
                break;
            after = j.at("next").get<std::string>();
        } catch (const std::exception& e) {
            problems.push_back("query check: GET " + url + ": unreadable answer: " + e.what());
            break;
        }
    }
    co_return problems;
}

std::string describe(const std::set<fault>& faults) {
    std::string out;
    for (auto f : faults) {
        if (!out.empty())
            out += ',';
        out += to_string(f);
    }
    return out.empty() ? "none" : out;
}

std::string default_config() {
    if (const char* env = std::getenv("CQRS_CONFIG"); env && *env)
        return env;
    return std::string(KEEL_CQRS_SOURCE_DIR) + "/config-examples/cqrs.yaml";
}

/// Writes the report; returns what went wrong, or "".
std::string write_report(const std::string& path, const timeline& t) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << render_report(t);
    out.close();
    return out ? std::string() : "cannot write the report to " + path;
}

std::string make_work_dir(const std::string& asked, bool& temporary) {
    temporary = asked.empty();
    if (!temporary) {
        fs::create_directories(asked);
        return fs::absolute(asked).string();
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/cqrs-demo-XXXXXX";
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error("mkdtemp " + pattern + " failed");
    return pattern;
}

/// The whole run; returns the exit status. Everything it starts is stopped
/// when it returns or throws (stack's destructor, loop_thread's).
int run(options opts, const std::string& work_dir) {
    const auto started = clock_type::now();
    stack st(opts, work_dir, interrupted);
    std::fprintf(stderr, "cqrs-demo: %d orders, %d in flight, faults: %s; logs in %s\n",
                 opts.orders, opts.concurrency, describe(opts.faults).c_str(), work_dir.c_str());
    std::fprintf(stderr, "cqrs-demo: starting Kafka (%s) and PostgreSQL (%s)\n",
                 opts.external_kafka() ? opts.kafka.c_str() : "keel-kafka-mock, 3 brokers",
                 opts.external_pg() ? "external" : "a throwaway cluster");
    st.start_infrastructure();

    // The demo's own policies (orders-api, queries-api) and metrics, read
    // after the environment names the services' addresses.
    std::vector<std::string> args = {"cqrs-demo", "--config", opts.config, "--name", "cqrs-demo"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    cqrs::runtime rt("cqrs-demo", cqrs::flags(static_cast<int>(argv.size()), argv.data()));
    rt.on_shutdown([] { interrupted = true; });
    http_probe probe(rt.io());
    // Made once the services listen: a service that had to move to fresh
    // ports (start_services) is reached at its new address.
    std::optional<keel::http::service> orders, queries;
    driver::settings ds;
    ds.orders = opts.orders;
    ds.concurrency = opts.concurrency;
    ds.seed = opts.seed;
    // Unique per run, so a reused external database never mixes two runs'
    // orders under one id.
    ds.run = "o" + std::to_string(static_cast<long>(std::time(nullptr)) % 1'000'000);
    std::optional<driver> d;
    // After everything its coroutines use: on every way out the loop is
    // stopped and joined before they are destroyed.
    loop_thread loop(rt.io());

    std::fprintf(stderr, "cqrs-demo: starting the services\n");
    if (st.start_services(probe)) {
        // The file names the services' addresses: read it again.
        const auto reloaded = rt.policies().reload(opts.config);
        if (!reloaded.success)
            throw std::runtime_error("cannot read " + opts.config + " again after a service " +
                                     "moved to new ports");
    }
    orders.emplace(rt.io().get_executor(), rt.policies(), "orders-api");
    queries.emplace(rt.io().get_executor(), rt.policies(), "queries-api");
    d.emplace(*orders, ds);
    const cqrs::check::sources sources{st.event_store_dsn(), st.read_model_dsn(), st.bootstrap()};
    injector faults(plan(opts), st, probe);
    // Every process's keel metrics, the demo's own (orders-api,
    // queries-api) with them.
    auto scrape_everything = [&] {
        auto counts = st.scrape_all(probe);
        if (rt.metrics_port() != 0) {
            auto own =
                probe.get("http://127.0.0.1:" + std::to_string(rt.metrics_port()) + "/metrics");
            if (own.ok())
                add(counts, parse_keel_counters(own.response.body));
        }
        return counts;
    };
    timeline_sampler sampler(st.read_model_dsn(), scrape_everything, started);
    progress_bar bar;
    cqrs::check::progress seen;
    auto last_measure = clock_type::time_point{};
    auto measure = [&](bool force) {
        if (!force && clock_type::now() - last_measure < std::chrono::seconds(1))
            return;
        last_measure = clock_type::now();
        try {
            seen = cqrs::check::measure(sources);
        } catch (const std::exception&) {
            // PostgreSQL restarting: keep the last numbers.
        }
    };
    // A service that exits by itself is a bug the faults found: restarted so
    // the run can finish, and reported as a problem.
    std::vector<std::string> incidents;
    auto watch_services = [&] {
        for (service* s : st.services())
            if (s->starts > 0 && !s->crashed && !s->process.running()) {
                bar.finish();
                incidents.push_back(s->name + " " + s->process.status() +
                                    " by itself during the run (log: " + s->process.log() + ")");
                std::fprintf(stderr, "cqrs-demo: %s; restarting it\n", incidents.back().c_str());
                st.restart(s->name, probe);
            }
    };

    run_summary summary;
    std::fprintf(stderr, "cqrs-demo: driving orders\n");
    const auto drive_start = clock_type::now();
    auto drive = asio::co_spawn(rt.io(), d->run(), asio::use_future);
    while (drive.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        if (interrupted) {
            d->stop();
            bar.finish();
            std::fprintf(stderr, "cqrs-demo: interrupted; stopping everything\n");
            drive.wait_for(std::chrono::seconds(3));
            return 130;
        }
        const double fraction = static_cast<double>(d->stats().orders_done) / opts.orders;
        faults.advance(fraction, clock_type::now() - started);
        measure(false);
        sampler.maybe_sample(d->stats().orders_done);
        bar.show("driving", d->stats().orders_done, static_cast<std::size_t>(opts.orders), seen);
        watch_services();
    }
    drive.get();
    const auto drive_end = clock_type::now();
    faults.advance(1.0, drive_end - started);
    faults.heal(drive_end - started);

    // The read model has caught up when every event was applied and the
    // outbox is empty; the projectors may still be rebalancing.
    bool caught_up = false;
    const auto catch_up_deadline = clock_type::now() + opts.timeout;
    while (clock_type::now() < catch_up_deadline && !interrupted) {
        measure(true);
        bar.show("catching up", d->stats().orders_done, static_cast<std::size_t>(opts.orders),
                 seen);
        if (seen.events > 0 && seen.applied >= seen.events && seen.outbox_pending == 0) {
            caught_up = true;
            break;
        }
        sampler.maybe_sample(d->stats().orders_done);
        watch_services();
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    bar.show(caught_up ? "caught up" : "timed out", d->stats().orders_done,
             static_cast<std::size_t>(opts.orders), seen, true);
    bar.finish();
    if (interrupted) {
        std::fprintf(stderr, "cqrs-demo: interrupted; stopping everything\n");
        return 130;
    }
    const auto catch_up_end = clock_type::now();
    // The last events applied, which ended the wait, are in no sample yet.
    sampler.maybe_sample(d->stats().orders_done, true);
    auto& pictures = sampler.data();
    pictures.title =
        "cqrs-demo: " + std::to_string(opts.orders) + " orders, faults: " + describe(opts.faults);
    pictures.phases = phases_of(faults.executed(), sampler.seconds_since_start());
    summary.report_path = opts.report;
    summary.report_error = write_report(opts.report, pictures);

    summary.opts = &opts;
    summary.stats = &d->stats();
    summary.caught_up = caught_up;
    std::fprintf(stderr, "cqrs-demo: checking the read model against the event store\n");
    std::vector<std::string> problems;
    try {
        summary.report = cqrs::check::run(sources);
        problems = summary.report.problems;
    } catch (const std::exception& e) {
        problems.push_back(std::string("the check could not read its sources: ") + e.what());
    }
    // A sample of the orders through the query service's API as well.
    std::vector<std::string> sample;
    const auto& created = d->created();
    const std::size_t step = std::max<std::size_t>(1, created.size() / 50);
    for (std::size_t i = 0; i < created.size(); i += step)
        sample.push_back(created[i]);
    auto spot = asio::co_spawn(rt.io(), spot_check(*queries, *orders, sample, summary.listed_paid),
                               asio::use_future)
                    .get();
    summary.spot_checked = sample.size();
    problems.insert(problems.end(), spot.begin(), spot.end());
    problems.insert(problems.end(), incidents.begin(), incidents.end());
    const auto check_end = clock_type::now();

    summary.dependencies = scrape_everything();
    if (auto stats = probe.get(st.url("payment-stub") + "/admin/stats"); stats.ok())
        summary.payment_stats = nlohmann::json::parse(stats.response.body, nullptr, false);
    summary.faults = faults.log();
    summary.unclean = st.stop_all();
    // A service that does not exit 0 on SIGTERM is a bug of its own (under
    // the sanitizers, also a leak or an error reported at exit): it fails
    // the run even when the data is consistent.
    for (const auto& u : summary.unclean)
        problems.push_back("did not stop cleanly: " + u);
    summary.drive = drive_end - drive_start;
    summary.catch_up = catch_up_end - drive_end;
    summary.check = check_end - catch_up_end;
    summary.total = clock_type::now() - started;
    print_summary(std::cout, summary);
    if (!d->samples().empty()) {
        std::cout << "\nsome refused or failed commands:\n";
        for (const auto& s : d->samples())
            std::cout << "  " << s << "\n";
    }

    const auto& r = summary.report;
    if (problems.empty()) {
        std::cout << "consistency: OK (" << r.orders << " orders, " << r.events << " events)"
                  << std::endl;
        return 0;
    }
    std::cout << "\nproblems:\n";
    constexpr std::size_t shown = 40;
    for (std::size_t i = 0; i < problems.size() && i < shown; ++i)
        std::cout << "  " << problems[i] << "\n";
    if (problems.size() > shown)
        std::cout << "  ... and " << problems.size() - shown << " more\n";
    std::cout << "logs: " << work_dir << "\n";
    std::cout << "consistency: FAILED (" << problems.size() << " problems; " << r.orders
              << " orders, " << r.events << " events)" << std::endl;
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    // A closed control pipe is an error to report, not a reason to die.
    ::signal(SIGPIPE, SIG_IGN);
    // Until the runtime's signal set takes over: stop in order, not at once.
    ::signal(SIGINT, on_interrupt);
    ::signal(SIGTERM, on_interrupt);

    options opts;
    try {
        bool help = false;
        opts = parse(argc, argv, help);
        if (help) {
            std::cout << usage();
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "cqrs-demo: " << e.what() << "\n\n" << usage();
        return 2;
    }
    if (opts.config.empty())
        opts.config = default_config();
    opts.config = fs::absolute(opts.config).string();

    bool temporary = false;
    std::string work_dir;
    int status = 1;
    try {
        work_dir = make_work_dir(opts.work_dir, temporary);
        if (opts.report.empty())
            opts.report = work_dir + "/report.html";
        opts.report = fs::absolute(opts.report).string();
        status = run(opts, work_dir);
    } catch (const std::exception& e) {
        std::cout.flush();
        std::cerr << "\ncqrs-demo: " << e.what() << "\n";
        std::cout << "logs: " << work_dir << "\n";
        std::cout << "consistency: FAILED (" << (interrupted ? "interrupted" : "error") << ": "
                  << std::string(e.what()).substr(0, std::string(e.what()).find('\n')) << ")"
                  << std::endl;
        status = interrupted ? 130 : 1;
    }
    if (status == 0 && temporary && !opts.keep) {
        // The logs go; the report, if it is there, stays.
        std::error_code ignored;
        for (const auto& entry : fs::directory_iterator(work_dir, ignored))
            if (entry.path() != fs::path(opts.report))
                fs::remove_all(entry.path(), ignored);
        fs::remove(work_dir, ignored); // fails, as it should, while the report is in it
    } else if (status != 0 && !work_dir.empty()) {
        std::cerr << "cqrs-demo: the logs of every process are in " << work_dir << "\n";
    }
    return status;
}
