#include "sampler.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace cqrs::demo {

std::chrono::steady_clock::time_point
next_sample_due(std::chrono::steady_clock::time_point next,
                std::chrono::steady_clock::time_point now,
                std::chrono::steady_clock::duration interval) {
    // Due times, not "interval after the last": polled every 100 ms, the
    // samples would be 600 ms apart.
    return std::max(next + interval, now + interval / 2);
}

dependency_point point_of(const dependency_counts& c) {
    dependency_point p;
    p.attempts = c.attempts;
    p.retries = c.retries;
    p.rejections = c.rejections;
    p.circuit = worst_circuit_state(c.circuit);
    p.has_bulkhead = c.has_bulkhead;
    p.in_flight = c.in_flight;
    p.limit = c.limit;
    return p;
}

timeline_sampler::timeline_sampler(std::string read_model_dsn,
                                   std::function<counts_by_dependency()> scrape,
                                   clock_type::time_point started)
    : dsn_(std::move(read_model_dsn)), scrape_(std::move(scrape)), started_(started) {}

double timeline_sampler::seconds_since_start() const {
    return std::chrono::duration<double>(clock_type::now() - started_).count();
}

void timeline_sampler::maybe_sample(std::size_t orders_done, bool force) {
    const auto now = clock_type::now();
    if (now < next_ && !force)
        return;
    next_ = next_sample_due(next_, now, interval);
    timeline_sample s;
    s.at = seconds_since_start();
    s.orders_done = static_cast<double>(orders_done);
    for (const auto& [name, counts] : scrape_())
        s.dependencies[name] = point_of(counts);
    read_lag(s);
    timeline_.samples.push_back(std::move(s));
}

void timeline_sampler::read_lag(timeline_sample& s) {
    if (!read_model_ || PQstatus(read_model_.get()) != CONNECTION_OK) {
        // The DSN expanded, then a short connect timeout: a restarting
        // server must not stall the main thread's loop.
        const char* keys[] = {"dbname", "connect_timeout", nullptr};
        const char* values[] = {dsn_.c_str(), "2", nullptr};
        read_model_.reset(PQconnectdbParams(keys, values, 1));
        if (PQstatus(read_model_.get()) != CONNECTION_OK)
            return;
    }
    const char* params[] = {applied_after_.c_str()};
    std::unique_ptr<PGresult, decltype(&PQclear)> r(
        PQexecParams(read_model_.get(),
                     "SELECT count(*), "
                     "percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms), "
                     "percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms), "
                     "max(applied_at)::text FROM (SELECT applied_at, "
                     "extract(epoch FROM applied_at - event_created_at) * 1000 AS lag_ms "
                     "FROM applied_events WHERE applied_at > $1::timestamptz) recent",
                     1, nullptr, params, nullptr, nullptr, 0),
        &PQclear);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1 ||
        std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10) == 0)
        return;
    s.lag_p50_ms = std::strtod(PQgetvalue(r.get(), 0, 1), nullptr);
    s.lag_p99_ms = std::strtod(PQgetvalue(r.get(), 0, 2), nullptr);
    applied_after_ = PQgetvalue(r.get(), 0, 3);
}

} // namespace cqrs::demo
