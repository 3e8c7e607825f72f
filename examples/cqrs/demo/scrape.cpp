#include "scrape.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <memory>

namespace cqrs::demo {

http_probe::http_probe(asio::io_context& io) : client_(io.get_executor()) {}

http_probe::result http_probe::get(const std::string& url, std::chrono::milliseconds timeout) {
    keel::http::request r;
    r.url = url;
    return send(std::move(r), timeout);
}

http_probe::result http_probe::post(const std::string& url, std::string body,
                                    std::chrono::milliseconds timeout) {
    keel::http::request r;
    r.method = "POST";
    r.url = url;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "application/json");
    return send(std::move(r), timeout);
}

http_probe::result http_probe::send(keel::http::request r, std::chrono::milliseconds timeout) {
    keel::http::send_options options;
    options.connect_timeout = std::min(timeout, std::chrono::milliseconds(500));
    options.timeout = timeout;
    // A promise rather than use_future: a failed request's response (its
    // status) is wanted too, not an exception.
    auto promise = std::make_shared<std::promise<result>>();
    auto done = promise->get_future();
    client_.async_send(std::move(r), options,
                       [promise](std::error_code ec, keel::http::response response) {
                           promise->set_value({ec, std::move(response)});
                       });
    return done.get();
}

namespace {

/// The value of label `name` in `labels` (`a="x",b="y"`), or "".
std::string label(std::string_view labels, std::string_view name) {
    const std::string key = std::string(name) + "=\"";
    std::size_t at = 0;
    while ((at = labels.find(key, at)) != std::string_view::npos) {
        if (at == 0 || labels[at - 1] == ',' || labels[at - 1] == ' ') {
            const auto start = at + key.size();
            const auto end = labels.find('"', start);
            return std::string(labels.substr(start, end - start));
        }
        at += key.size();
    }
    return {};
}

} // namespace

counts_by_dependency parse_keel_counters(std::string_view page) {
    counts_by_dependency out;
    while (!page.empty()) {
        const auto nl = page.find('\n');
        const std::string_view line = page.substr(0, nl);
        page = nl == std::string_view::npos ? std::string_view{} : page.substr(nl + 1);
        if (line.empty() || line[0] == '#')
            continue;
        const auto open = line.find('{');
        const auto close = line.find('}');
        if (open == std::string_view::npos || close == std::string_view::npos || close < open)
            continue;
        const std::string_view name = line.substr(0, open);
        const std::string_view labels = line.substr(open + 1, close - open - 1);
        const double value = std::strtod(std::string(line.substr(close + 1)).c_str(), nullptr);
        const std::string dependency = label(labels, "dependency");
        if (dependency.empty())
            continue;
        if (name == "keel_calls_total") {
            out[dependency].calls += value;
            const std::string outcome = label(labels, "outcome");
            if (outcome == "success_after_retry")
                out[dependency].recovered += value;
            else if (outcome != "success" && outcome != "cancelled")
                out[dependency].failed += value; // a caller's cancellation is no failure
        } else if (name == "keel_retries_total") {
            out[dependency].retries += value;
        } else if (name == "keel_timeouts_total") {
            out[dependency].timeouts += value;
        } else if (name == "keel_attempts_total") {
            out[dependency].attempts += value;
        } else if (name == "keel_rejections_total") {
            out[dependency].rejections[label(labels, "reason")] += value;
        } else if (name == "keel_circuit_state") {
            out[dependency].circuit[label(labels, "state")] += value;
        } else if (name == "keel_bulkhead_in_flight") {
            out[dependency].in_flight += value;
        } else if (name == "keel_bulkhead_limit") {
            out[dependency].has_bulkhead = true;
            out[dependency].limit += value;
        }
    }
    return out;
}

void add(counts_by_dependency& into, const counts_by_dependency& more) {
    for (const auto& [dependency, c] : more) {
        auto& sum = into[dependency];
        sum.calls += c.calls;
        sum.recovered += c.recovered;
        sum.failed += c.failed;
        sum.retries += c.retries;
        sum.timeouts += c.timeouts;
        sum.attempts += c.attempts;
        for (const auto& [reason, n] : c.rejections)
            sum.rejections[reason] += n;
        for (const auto& [state, n] : c.circuit)
            sum.circuit[state] += n;
        sum.has_bulkhead = sum.has_bulkhead || c.has_bulkhead;
        sum.in_flight += c.in_flight;
        sum.limit += c.limit;
    }
}

counts_by_dependency counters_only(counts_by_dependency counts) {
    for (auto& [dependency, c] : counts) {
        c.circuit.clear();
        c.has_bulkhead = false;
        c.in_flight = 0;
        c.limit = 0;
    }
    return counts;
}

} // namespace cqrs::demo
