// Samples the running demo for its report: every half second on the main
// thread (it already polls there), keel's metrics of every process and the
// read model's lag since the previous sample.
#pragma once

#include "scrape.hpp"
#include "timeline.hpp"
#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace cqrs::demo {

/// Pure: when the sample after one taken at `now` is due, `next` having
/// been due: every `interval` on average whatever the caller's polling
/// period; after a long block (a restart), half an interval later, not a
/// burst of catching-up samples.
std::chrono::steady_clock::time_point next_sample_due(std::chrono::steady_clock::time_point next,
                                                      std::chrono::steady_clock::time_point now,
                                                      std::chrono::steady_clock::duration interval);

/// keel's metrics of one sample, as read.
dependency_point point_of(const dependency_counts& c);

class timeline_sampler {
public:
    using clock_type = std::chrono::steady_clock;
    static constexpr auto interval = std::chrono::milliseconds(500);

    /// `scrape`: keel's metrics of every process now; `started`: the run's
    /// time zero.
    timeline_sampler(std::string read_model_dsn, std::function<counts_by_dependency()> scrape,
                     clock_type::time_point started);

    /// Takes a sample when the next is due (every `interval` on average,
    /// whatever the caller's polling period), or now if `force`d.
    void maybe_sample(std::size_t orders_done, bool force = false);
    timeline& data() { return timeline_; }
    double seconds_since_start() const;

private:
    /// p50 and p99 of the events applied since the last reading; leaves the
    /// sample's lag empty when there were none or the read model is down.
    void read_lag(timeline_sample& s);

    std::string dsn_;
    std::function<counts_by_dependency()> scrape_;
    clock_type::time_point started_, next_{};
    std::unique_ptr<PGconn, decltype(&PQfinish)> read_model_{nullptr, &PQfinish};
    std::string applied_after_ = "-infinity"; ///< the read model's clock, as text
    timeline timeline_;
};

} // namespace cqrs::demo
