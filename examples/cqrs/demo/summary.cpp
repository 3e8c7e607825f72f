#include "summary.hpp"

#include <cstdio>

namespace cqrs::demo {

namespace {

std::string seconds(std::chrono::steady_clock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
    return text;
}

std::string number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.0f", v);
    return text;
}

} // namespace

std::string human(std::chrono::microseconds d) {
    char text[32];
    const double us = static_cast<double>(d.count());
    if (us < 10'000)
        std::snprintf(text, sizeof text, "%.1f ms", us / 1000);
    else if (us < 1'000'000)
        std::snprintf(text, sizeof text, "%.0f ms", us / 1000);
    else
        std::snprintf(text, sizeof text, "%.2f s", us / 1e6);
    return text;
}

void print_summary(std::ostream& out, const run_summary& s) {
    const driver_stats& d = *s.stats;
    const check::report& r = s.report;
    out << "\n== cqrs-demo summary ==\n";
    out << "orders      " << d.orders_done << " driven: " << d.paid << " paid, " << d.cancelled
        << " cancelled, " << d.abandoned << " abandoned (a command refused or given up)\n";
    out << "commands    " << d.commands << " sent: " << d.applied << " applied (" << d.recognised
        << " of them recognised repeats: 409 at the next version), " << d.rejected << " rejected, "
        << d.failed << " failed; " << d.resent << " sent again by the driver after keel gave up\n";
    out << "events      " << r.events << " in the event store, " << r.applied
        << " applied to the read model, " << r.view_rows << " order_view rows, " << r.published
        << " published (" << r.duplicates << " duplicates, " << r.unpublished << " unpublished)\n";
    if (s.payment_stats.is_object()) {
        auto field = [&](const char* name) {
            return s.payment_stats.contains(name) ? s.payment_stats[name].dump() : "?";
        };
        out << "payments    " << field("requests") << " requests to the stub: " << field("charges")
            << " charges, " << field("unavailable") << " answered 503, " << field("stalled")
            << " stalled, " << field("reset") << " reset\n";
    }
    out << "queries     " << s.spot_checked
        << " orders read through the query service equal the write model's; " << s.listed_paid
        << " paid orders listed\n";

    out << "\nkeel, per dependency (every service and the driver; crashed processes up to "
           "their crash;\nrecovered: succeeded after retrying, failed: gave up):\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-20s %10s %10s %8s %9s %9s\n", "dependency", "calls",
                  "recovered", "failed", "retries", "timeouts");
    out << line;
    for (const auto& [name, c] : s.dependencies) {
        std::snprintf(line, sizeof line, "  %-20s %10s %10s %8s %9s %9s\n", name.c_str(),
                      number(c.calls).c_str(), number(c.recovered).c_str(),
                      number(c.failed).c_str(), number(c.retries).c_str(),
                      number(c.timeouts).c_str());
        out << line;
    }

    out << "\nfaults injected:\n";
    if (s.faults.empty())
        out << "  none\n";
    for (const auto& f : s.faults)
        out << "  " << f << "\n";

    if (!s.unclean.empty()) {
        out << "\nprocesses that did not stop cleanly:\n";
        for (const auto& u : s.unclean)
            out << "  " << u << "\n";
    }

    out << "\nlag         event created -> applied to the read model: p50 " << human(r.lag_p50)
        << ", p99 " << human(r.lag_p99) << ", max " << human(r.lag_max) << "\n";
    out << "duration    drive " << seconds(s.drive) << ", catch-up " << seconds(s.catch_up)
        << (s.caught_up ? "" : " (timed out)") << ", check " << seconds(s.check) << ", total "
        << seconds(s.total) << "\n";
    if (!s.report_path.empty())
        out << "report      " << (s.report_error.empty() ? s.report_path : s.report_error) << "\n";
}

} // namespace cqrs::demo
