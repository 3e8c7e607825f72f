#include "dependency_model.hpp"

#include <keel/fault_injection.hpp>

#ifdef KEEL_SIM_WITH_HTTP
#include <keel/http/error.hpp>
#endif
#ifdef KEEL_SIM_WITH_PG
#include <keel/pg/error.hpp>
#endif
#ifdef KEEL_SIM_WITH_KAFKA
#include <keel/kafka/error.hpp>
#endif

#include <algorithm>
#include <cmath>

namespace keel::sim {

std::optional<named_error> error_from_name(std::string_view name, std::string& why) {
    // The names are keel's (fault_error_from_name), shared with the fault
    // rules of every process; the wrappers this build has register theirs.
    static const bool registered = [] {
#ifdef KEEL_SIM_WITH_HTTP
        http::register_fault_errors();
#endif
#ifdef KEEL_SIM_WITH_PG
        pg::register_fault_errors();
#endif
#ifdef KEEL_SIM_WITH_KAFKA
        kafka::register_fault_errors();
#endif
        return true;
    }();
    (void)registered;
    if (std::optional<std::error_code> code = fault_error_from_name(name, why))
        return named_error{std::string(name), *code};
    return std::nullopt;
}

const std::vector<std::string_view>& result_name_examples() {
    static const std::vector<std::string_view> names = {
        "ok",       "hang",     "connection_refused", "connection_reset",
        "http_500", "http_503", "http_429",           "http_404",
        "pg_40001", "pg_57P01", "pg_57P03",           "kafka_not_leader_for_partition"};
    return names;
}

nanos latency_model::draw(random_source& random) const {
    if (!p99 || *p99 == median)
        return median;
    // Log-normal through two quantiles: ln(latency) is normal with mean
    // ln(median) and a sigma that puts p99 at 2.3263 standard deviations.
    constexpr double z99 = 2.3263478740408408;
    const double sigma =
        std::log(static_cast<double>(p99->count()) / static_cast<double>(median.count())) / z99;
    // Box-Muller from two uniform draws; u1 in (0, 1] keeps the log finite.
    const double u1 = 1.0 - random.unit();
    const double u2 = random.unit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
    const double ns = static_cast<double>(median.count()) * std::exp(sigma * z);
    // A draw beyond about 292 years would overflow: such a tail is a hang.
    constexpr double longest = 9.0e18;
    return nanos(static_cast<nanos::rep>(std::llround(std::min(ns, longest))));
}

const behaviour_window& window_at(const std::vector<behaviour_window>& windows, nanos start) {
    for (const behaviour_window& w : windows)
        if (w.until && start < *w.until)
            return w;
    return windows.back();
}

attempt_answer answer(const behaviour_window& window, int attempt_number, random_source& random) {
    attempt_answer out;
    out.latency = window.latency.draw(random);
    out.name = "ok";
    const result_model& r = window.result;
    if (r.what == result_model::kind::ok)
        return out;
    const bool fails =
        r.first ? attempt_number <= *r.first : r.rate >= 1.0 || random.unit() < r.rate;
    if (!fails)
        return out;
    if (r.what == result_model::kind::hang) {
        out.hangs = true;
        out.name = "hang";
        return out;
    }
    out.error = r.error.code;
    out.name = r.error.name;
    out.retry_after = r.retry_after;
    return out;
}

} // namespace keel::sim
