#include "faults.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace cqrs::demo {

namespace {

// 503 with Retry-After on 15% of charges, 3% stalled past the order
// service's 800 ms exchange deadline, 3% reset: every one retried by keel
// with the same Idempotency-Key.
const std::string payment_faults =
    R"({"unavailable":0.15,"retry_after":"1","stall":0.03,"stall_ms":1500,"reset":0.03})";
const std::string payment_healthy = R"({"unavailable":0,"stall":0,"stall_ms":0,"reset":0})";

std::string seconds(std::chrono::steady_clock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%6.1f s", std::chrono::duration<double>(d).count());
    return text;
}

} // namespace

std::vector<fault_step> plan(const options& opts) {
    using a = fault_step::action;
    std::vector<fault_step> steps;
    auto step = [&](double at, a what, fault kind, std::string command = {},
                    std::string target = {}) {
        steps.push_back({at, what, std::move(command), std::move(target), kind});
    };
    if (opts.has(fault::payment)) {
        step(0.10, a::payment_faults_on, fault::payment);
        step(0.90, a::payment_faults_off, fault::payment);
    }
    if (opts.has(fault::broker) && !opts.external_kafka()) {
        // Retriable errors that librdkafka's producer and consumers handle
        // (NOT_ENOUGH_REPLICAS 19, NOT_LEADER_OR_FOLLOWER 6), a broker that
        // goes away for a moment, and a slow broker.
        step(0.15, a::mock_command, fault::broker, "error 0 19,19,19");
        step(0.25, a::mock_command, fault::broker, "broker-down 2");
        step(0.30, a::mock_command, fault::broker, "broker-up 2");
        step(0.35, a::mock_command, fault::broker, "error 1 6,6");
        step(0.55, a::mock_command, fault::broker, "error 0 6,6,19");
        step(0.70, a::mock_command, fault::broker, "rtt 1 300");
        step(0.80, a::mock_command, fault::broker, "rtt 1 0");
        step(0.85, a::mock_command, fault::broker, "error 0 19,19");
    }
    if (opts.has(fault::pg_restart) && !opts.external_pg())
        step(0.40, a::pg_restart, fault::pg_restart);
    if (opts.has(fault::projector_kill)) {
        step(0.50, a::crash, fault::projector_kill, {}, "projector-2");
        step(0.70, a::restart, fault::projector_kill, {}, "projector-2");
    }
    if (opts.has(fault::relay_kill)) {
        // Three times, so that one kill likely lands inside a Kafka
        // transaction: the restarted relay then finds part of a batch in
        // the topic (the mock cluster shows aborted messages) and publishes
        // only the rest.
        for (const double at : {0.45, 0.60, 0.75}) {
            step(at, a::crash, fault::relay_kill, {}, "outbox-relay");
            step(at, a::restart, fault::relay_kill, {}, "outbox-relay");
        }
    }
    std::stable_sort(steps.begin(), steps.end(),
                     [](const fault_step& x, const fault_step& y) { return x.at < y.at; });
    return steps;
}

namespace {

/// How a step takes part in a phase: it opens the phase `key`, closes it, or
/// is a phase by itself (`key` empty).
struct phase_role {
    std::string key;
    bool opens = false;
    std::string label;
};

phase_role role_of(const fault_step& step) {
    using a = fault_step::action;
    switch (step.what) {
    case a::payment_faults_on:
        return {"payment", true, "payment stub: 503s, stalls, resets"};
    case a::payment_faults_off:
        return {"payment", false, {}};
    case a::pg_restart:
        return {{}, false, "PostgreSQL crash and restart"};
    case a::crash:
        return {"down " + step.target, true, step.target + " killed"};
    case a::restart:
        return {"down " + step.target, false, {}};
    case a::mock_command:
        break;
    }
    std::istringstream words(step.command);
    std::string verb, broker, value;
    words >> verb >> broker >> value;
    if (verb == "broker-down")
        return {"broker " + broker, true, "broker " + broker + " down"};
    if (verb == "broker-up")
        return {"broker " + broker, false, {}};
    if (verb == "rtt")
        return {"rtt " + broker, value != "0", "broker " + broker + " slow (" + value + " ms)"};
    return {{}, false, "kafka mock: " + step.command};
}

} // namespace

std::vector<fault_phase> phases_of(const std::vector<executed_step>& steps, double run_end) {
    std::vector<fault_phase> phases;
    std::map<std::string, std::size_t> open; // key -> index in phases
    for (const auto& s : steps) {
        const phase_role role = role_of(s.step);
        const std::string kind = to_string(s.step.kind);
        if (role.key.empty()) {
            phases.push_back({kind, role.label, s.started, s.ended});
        } else if (role.opens) {
            if (!open.count(role.key)) {
                open[role.key] = phases.size();
                phases.push_back({kind, role.label, s.started, run_end});
            }
        } else if (const auto it = open.find(role.key); it != open.end()) {
            phases[it->second].to = s.ended;
            open.erase(it);
        }
    }
    for (const auto& [key, index] : open)
        phases[index].to = std::max(phases[index].to, phases[index].from);
    std::stable_sort(phases.begin(), phases.end(),
                     [](const fault_phase& x, const fault_phase& y) { return x.from < y.from; });
    return phases;
}

injector::injector(std::vector<fault_step> steps, stack& s, http_probe& probe)
    : steps_(std::move(steps)), stack_(s), probe_(probe) {}

void injector::advance(double fraction, std::chrono::steady_clock::duration since_start) {
    while (next_ < steps_.size() && steps_[next_].at <= fraction) {
        run(steps_[next_], fraction, since_start);
        ++next_;
    }
}

void injector::heal(std::chrono::steady_clock::duration since_start) {
    // What the plan would have undone had the drive reached its end.
    while (next_ < steps_.size()) {
        const auto& step = steps_[next_++];
        using a = fault_step::action;
        if (step.what == a::payment_faults_off || step.what == a::restart ||
            (step.what == a::mock_command && step.command.rfind("error", 0) != 0))
            run(step, 1.0, since_start);
    }
}

void injector::run(const fault_step& step, double fraction,
                   std::chrono::steady_clock::duration at) {
    using a = fault_step::action;
    std::string what;
    bool ok = true;
    const auto started = std::chrono::steady_clock::now();
    try {
        switch (step.what) {
        case a::payment_faults_on:
        case a::payment_faults_off: {
            const std::string& body =
                step.what == a::payment_faults_on ? payment_faults : payment_healthy;
            const auto r = probe_.post(stack_.url("payment-stub") + "/admin/faults", body);
            ok = r.ok();
            what =
                "payment stub faults " + body +
                (ok ? ""
                    : " -> " + (r.error ? r.error.message() : std::to_string(r.response.status)));
            break;
        }
        case a::mock_command: {
            const std::string answer = stack_.mock_control(step.command);
            ok = answer == "ok";
            what = "kafka mock: " + step.command + " -> " + answer;
            break;
        }
        case a::pg_restart:
            what = "PostgreSQL stopped (immediate: a crash) and started again";
            stack_.restart_pg();
            break;
        case a::crash:
            what = step.target + " killed (SIGKILL)";
            stack_.crash(step.target, probe_);
            break;
        case a::restart:
            what = step.target + " restarted";
            stack_.restart(step.target, probe_);
            break;
        }
    } catch (const std::exception& e) {
        ok = false;
        what += std::string(": failed: ") + e.what();
    }
    const auto took = std::chrono::steady_clock::now() - started;
    const double at_seconds = std::chrono::duration<double>(at).count();
    executed_.push_back(
        {step, at_seconds, at_seconds + std::chrono::duration<double>(took).count()});
    if (took > std::chrono::milliseconds(500))
        what +=
            " (" +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
            " ms)";
    char head[48];
    std::snprintf(head, sizeof head, " (%3d%%) %-14s ", static_cast<int>(fraction * 100 + 0.5),
                  to_string(step.kind).c_str());
    log_.push_back(seconds(at) + head + what + (ok ? "" : "  [FAILED]"));
    if (!ok)
        ++failures_;
}

} // namespace cqrs::demo
