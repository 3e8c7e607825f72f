#include "payment_stub.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <set>
#include <string_view>
#include <variant>

namespace cqrs {
namespace {

using keel::test::http::behaviour;
using keel::test::http::received_request;
using keel::test::http::response;
using json = nlohmann::json;

response json_reply(int status, const json& body) {
    return response{
        .status = status, .headers = {{"Content-Type", "application/json"}}, .body = body.dump()};
}

// The order service's refusal shape (CONTRACT.md), plus the field at fault.
response bad_request(std::string_view field, const std::string& message) {
    json body = {{"error", "bad_request"}, {"message", message}};
    if (!field.empty())
        body["field"] = field;
    return json_reply(400, body);
}

std::string_view path_of(const received_request& req) {
    return std::string_view(req.target).substr(0, req.target.find('?'));
}

json to_json(const payment_faults& f) {
    return {{"unavailable", f.unavailable},
            {"stall", f.stall},
            {"reset", f.reset},
            {"retry_after", f.retry_after},
            {"stall_ms", f.stall_ms}};
}

json to_json(const payment_stats& s) {
    return {{"requests", s.requests}, {"charges", s.charges},         {"duplicates", s.duplicates},
            {"rejected", s.rejected}, {"unavailable", s.unavailable}, {"stalled", s.stalled},
            {"reset", s.reset}};
}

// A Retry-After value goes out as a header line as is: printable ASCII only.
bool header_safe(const std::string& value) {
    if (value.empty())
        return false;
    for (char c : value)
        if (c < 0x20 || c > 0x7e)
            return false;
    return true;
}

// Parses a POST /admin/faults body. Absent fields take their defaults: a
// body states the whole fault mix ({} heals), so a scenario never inherits
// a leftover fault from the previous one.
std::variant<payment_faults, response> parse_faults(const std::string& text) {
    const json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object())
        return bad_request("", "expected a JSON object");
    static const std::set<std::string, std::less<>> known = {"unavailable", "stall", "reset",
                                                             "retry_after", "stall_ms"};
    for (const auto& [key, value] : body.items())
        if (!known.contains(key))
            return bad_request(key, "unknown field '" + key +
                                        "' (unavailable, stall, reset, retry_after, stall_ms)");

    payment_faults f;
    for (auto [name, target] : {std::pair{"unavailable", &f.unavailable},
                                std::pair{"stall", &f.stall}, std::pair{"reset", &f.reset}}) {
        if (!body.contains(name))
            continue;
        const json& v = body.at(name);
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
            v.get<double>() > 1)
            return bad_request(name, std::string(name) + ": expected a fraction in [0,1], got " +
                                         v.dump());
        *target = v.get<double>();
    }
    if (f.unavailable + f.stall + f.reset > 1 + 1e-9)
        return bad_request("unavailable+stall+reset",
                           "unavailable + stall + reset must not exceed 1 (each request draws "
                           "one fault at most)");
    if (body.contains("retry_after")) {
        const json& v = body.at("retry_after");
        if (v.is_number_unsigned())
            f.retry_after = std::to_string(v.get<std::uint64_t>());
        else if (v.is_string() && header_safe(v.get<std::string>()))
            f.retry_after = v.get<std::string>();
        else
            return bad_request("retry_after",
                               "retry_after: expected seconds (\"1\" or 1) or an HTTP date, got " +
                                   v.dump());
    }
    if (body.contains("stall_ms")) {
        const json& v = body.at("stall_ms");
        if (!v.is_number_integer() || v.get<long>() < 0 || v.get<long>() > 3'600'000)
            return bad_request("stall_ms",
                               "stall_ms: expected milliseconds in [0,3600000], got " + v.dump());
        f.stall_ms = v.get<long>();
    }
    return f;
}

} // namespace

response payment_stub::answer(const received_request& req) {
    const std::string_view path = path_of(req);
    auto only = [&](std::string_view method) {
        return req.method == method || (method == "GET" && req.method == "HEAD");
    };
    auto wrong_method = [&](std::string_view allowed) {
        response r = json_reply(
            405, {{"error", "method_not_allowed"}, {"message", std::string(allowed) + " only"}});
        r.headers.emplace_back("Allow", std::string(allowed));
        return r;
    };

    if (path == "/payments")
        return only("POST") ? pay(req) : wrong_method("POST");
    if (path == "/admin/faults") {
        if (only("GET")) {
            std::lock_guard lock(mutex_);
            return json_reply(200, to_json(faults_));
        }
        return only("POST") ? set_faults(req) : wrong_method("GET, POST");
    }
    if (path == "/admin/stats") {
        if (!only("GET"))
            return wrong_method("GET");
        std::lock_guard lock(mutex_);
        return json_reply(200, to_json(stats_));
    }
    if (path == "/healthz")
        return only("GET") ? response{.body = "ok"} : wrong_method("GET");
    if (path == "/metrics") {
        if (!only("GET"))
            return wrong_method("GET");
        std::lock_guard lock(mutex_);
        return response{.headers = {{"Content-Type", "text/plain; version=0.0.4"}},
                        .body = metrics_text()};
    }
    return json_reply(404, {{"error", "not_found"}, {"message", "no route " + std::string(path)}});
}

response payment_stub::pay(const received_request& req) {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    // One draw per request, first, so a seed gives the same fault sequence
    // whatever the requests contain.
    const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    if (draw < faults_.unavailable) {
        ++stats_.unavailable;
        response r = json_reply(503, {{"error", "unavailable"}, {"message", "injected fault"}});
        r.headers.emplace_back("Retry-After", faults_.retry_after);
        return r;
    }

    // The charge happens before a stall or a reset: the reply is what gets
    // lost, which is what an Idempotency-Key is for.
    response r;
    const std::string key = req.header("Idempotency-Key");
    const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (key.empty()) {
        ++stats_.rejected;
        r = bad_request("Idempotency-Key", "missing Idempotency-Key header");
    } else if (!body.is_object()) {
        ++stats_.rejected;
        r = bad_request("", "expected a JSON object");
    } else if (!body.contains("order_id") || !body["order_id"].is_string() ||
               body["order_id"].get<std::string>().empty()) {
        ++stats_.rejected;
        r = bad_request("order_id", "order_id: expected a non-empty string");
    } else if (!body.contains("amount_cents") || !body["amount_cents"].is_number_integer() ||
               body["amount_cents"].get<long long>() < 0) {
        ++stats_.rejected;
        r = bad_request("amount_cents", "amount_cents: expected an integer >= 0");
    } else {
        auto [it, charged] = payments_.try_emplace(key);
        if (charged) {
            it->second = "pay-" + std::to_string(++stats_.charges);
        } else {
            ++stats_.duplicates;
        }
        r = json_reply(200, {{"payment_id", it->second}});
    }

    if (draw < faults_.unavailable + faults_.stall) {
        ++stats_.stalled;
        // Bounded: nothing is sent for stall_ms, then the connection closes
        // without a reply (so a long demo does not pile up stalled
        // connections); 0 holds it until the client gives up.
        if (faults_.stall_ms == 0)
            return response{.what = behaviour::stall_before_headers};
        return response{.what = behaviour::close_without_reply,
                        .delay = std::chrono::milliseconds(faults_.stall_ms)};
    }
    if (draw < faults_.unavailable + faults_.stall + faults_.reset) {
        ++stats_.reset;
        return response{.what = behaviour::reset};
    }
    return r;
}

response payment_stub::set_faults(const received_request& req) {
    auto parsed = parse_faults(req.body);
    if (auto* refused = std::get_if<response>(&parsed))
        return *refused;
    std::lock_guard lock(mutex_);
    faults_ = std::get<payment_faults>(parsed);
    return json_reply(200, to_json(faults_));
}

std::string payment_stub::metrics_text() const {
    std::string out;
    auto counter = [&](const char* name, const char* help, long value) {
        out += std::string("# HELP cqrs_payment_stub_") + name + "_total " + help + "\n" +
               "# TYPE cqrs_payment_stub_" + name + "_total counter\n" + "cqrs_payment_stub_" +
               name + "_total " + std::to_string(value) + "\n";
    };
    counter("requests", "POST /payments received", stats_.requests);
    counter("charges", "Distinct Idempotency-Keys charged", stats_.charges);
    counter("duplicates", "Requests answered with an existing payment", stats_.duplicates);
    counter("rejected", "Requests answered 400", stats_.rejected);
    counter("unavailable", "Requests answered 503 (injected)", stats_.unavailable);
    counter("stalled", "Requests stalled (injected)", stats_.stalled);
    counter("reset", "Connections reset (injected)", stats_.reset);
    return out;
}

payment_stats payment_stub::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

payment_faults payment_stub::faults() const {
    std::lock_guard lock(mutex_);
    return faults_;
}

} // namespace cqrs
