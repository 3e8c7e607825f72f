// What the demo prints at the end: the run in numbers, then the verdict.
#pragma once

#include "driver.hpp"
#include "options.hpp"
#include "scrape.hpp"
#include <check/consistency.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace cqrs::demo {

struct run_summary {
    const options* opts = nullptr;
    const driver_stats* stats = nullptr;
    check::report report;
    counts_by_dependency dependencies; ///< every service's and the demo's
    std::vector<std::string> faults;   ///< the injector's log
    nlohmann::json payment_stats;      ///< the stub's /admin/stats (null if unread)
    std::size_t spot_checked = 0;      ///< orders read through the query service
    std::size_t listed_paid = 0;       ///< paid orders listed by the query service
    std::vector<std::string> unclean;  ///< processes that did not stop cleanly
    bool caught_up = false;
    std::string report_path;  ///< the HTML report
    std::string report_error; ///< why it was not written, or ""
    std::chrono::steady_clock::duration drive{}, catch_up{}, check{}, total{};
};

/// Everything but the verdict line.
void print_summary(std::ostream& out, const run_summary& s);

/// "1.2 ms", "340 ms", "2.41 s".
std::string human(std::chrono::microseconds d);

} // namespace cqrs::demo
