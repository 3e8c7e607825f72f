#include "dependency_model.hpp"

#include <keel/error.hpp>

#ifdef KEEL_SIM_WITH_HTTP
#include <keel/http/error.hpp>
#endif
#ifdef KEEL_SIM_WITH_PG
#include <keel/pg/error.hpp>
#endif
#ifdef KEEL_SIM_WITH_KAFKA
#include <keel/kafka/error.hpp>

#include <librdkafka/rdkafka.h>
#endif

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace keel::sim {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

std::optional<named_error> http_status(std::string_view name, std::string_view digits,
                                       std::string& why) {
    int status = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), status);
    if (ec != std::errc() || end != digits.data() + digits.size() || status < 400 || status > 599) {
        why = "an HTTP error is http_<status> with a status from 400 to 599";
        return std::nullopt;
    }
#ifdef KEEL_SIM_WITH_HTTP
    return named_error{std::string(name), http::make_status_error(status)};
#else
    (void)name;
    why = "this keel-sim was built without keel::http";
    return std::nullopt;
#endif
}

std::optional<named_error> pg_sqlstate(std::string_view name, std::string_view code,
                                       std::string& why) {
    std::string upper(code);
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const bool valid = upper.size() == 5 && std::all_of(upper.begin(), upper.end(), [](char c) {
                           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
                       });
    if (!valid) {
        why = "a PostgreSQL error is pg_<SQLSTATE> with five characters 0-9 or A-Z (pg_40001)";
        return std::nullopt;
    }
#ifdef KEEL_SIM_WITH_PG
    return named_error{std::string(name), pg::sqlstate(upper)};
#else
    (void)name;
    why = "this keel-sim was built without keel::pg";
    return std::nullopt;
#endif
}

std::optional<named_error> kafka_error(std::string_view name, std::string_view code,
                                       std::string& why) {
#ifdef KEEL_SIM_WITH_KAFKA
    // librdkafka's names, lowercase: NOT_LEADER_FOR_PARTITION is
    // kafka_not_leader_for_partition; its own (_MSG_TIMED_OUT) may be written
    // with or without the leading underscore. A broker name wins a tie.
    const struct rd_kafka_err_desc* descs = nullptr;
    std::size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    std::optional<int> own;
    for (std::size_t i = 0; i < count; ++i) {
        if (!descs[i].name)
            continue;
        std::string lower(descs[i].name);
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == code)
            return named_error{std::string(name), kafka::make_error_code(descs[i].code)};
        if (!lower.empty() && lower[0] == '_' && lower.substr(1) == code && !own)
            own = descs[i].code;
    }
    if (own)
        return named_error{std::string(name), kafka::make_error_code(*own)};
    why = "librdkafka has no error named '" + std::string(code) +
          "' (kafka_<name> takes rd_kafka_err2name's names in lowercase, e.g. "
          "kafka_not_leader_for_partition)";
    return std::nullopt;
#else
    (void)name;
    (void)code;
    why = "this keel-sim was built without keel::kafka";
    return std::nullopt;
#endif
}

} // namespace

std::optional<named_error> error_from_name(std::string_view name, std::string& why) {
    if (name == "connection_refused")
        return named_error{std::string(name), std::make_error_code(std::errc::connection_refused)};
    if (name == "connection_reset")
        return named_error{std::string(name), std::make_error_code(std::errc::connection_reset)};
    if (starts_with(name, "http_"))
        return http_status(name, name.substr(5), why);
    if (starts_with(name, "pg_"))
        return pg_sqlstate(name, name.substr(3), why);
    if (starts_with(name, "kafka_"))
        return kafka_error(name, name.substr(6), why);
    why.clear(); // unknown: the caller says so with "did you mean"
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
