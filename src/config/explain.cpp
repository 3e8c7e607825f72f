// The effective policies, written back in the file's own schema.
#include <keel/config/document.hpp>
#include <keel/duration.hpp>

#include <yaml-cpp/emitter.h>
#include <yaml-cpp/emittermanip.h>

#include <charconv>
#include <set>
#include <stdexcept>

namespace keel::config {

namespace {

/// The shortest text that reads back as the same double: 20, 0.1.
std::string shortest(double v) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
    return std::string(buffer, ec == std::errc() ? end : buffer);
}

/// As shortest(), a whole number with ".0": 2.0 (a ratio, a multiplier).
std::string number(double v) {
    std::string out = shortest(v);
    if (out.find_first_of(".eE") == std::string::npos)
        out += ".0";
    return out;
}

void emit_faults(YAML::Emitter& out, fault_set set) {
    out << YAML::Flow << YAML::BeginSeq;
    for (int i = 0; i < fault_class_count; ++i) {
        const auto f = static_cast<fault_class>(i);
        if (set.contains(f))
            out << std::string(to_string(f));
    }
    out << YAML::EndSeq;
}

/// `off` when `inherited` would otherwise reach a dependency that has none.
void emit_breaker(YAML::Emitter& out, const std::optional<circuit_breaker_settings>& breaker,
                  bool inherited) {
    if (!breaker) {
        if (inherited)
            out << YAML::Key << "circuit_breaker" << YAML::Value << "off";
        return;
    }
    const circuit_breaker_settings& b = *breaker;
    const auto key = [&](const char* name) { out << YAML::Key << name << YAML::Value; };
    key("circuit_breaker");
    out << YAML::BeginMap;
    key("window");
    out << YAML::Flow << YAML::BeginMap;
    if (b.window == circuit_breaker_settings::window_kind::time) {
        key("kind");
        out << "time";
        key("size");
        out << format_duration(b.window_time);
        key("buckets");
        out << b.buckets;
    } else {
        key("kind");
        out << "count";
        key("size");
        out << b.window_size;
    }
    out << YAML::EndMap;
    key("min_calls");
    out << b.min_calls;
    key("failure_ratio");
    out << number(b.failure_ratio);
    key("consecutive_failures");
    out << b.consecutive_failures;
    key("slow_call");
    if (b.slow_threshold) {
        out << YAML::Flow << YAML::BeginMap;
        key("threshold");
        out << format_duration(*b.slow_threshold);
        key("ratio");
        out << number(b.slow_ratio);
        out << YAML::EndMap;
    } else {
        out << "off";
    }
    key("record");
    emit_faults(out, b.record);
    key("ignore");
    emit_faults(out, b.ignore);
    key("break");
    out << YAML::Flow << YAML::BeginMap;
    key("duration");
    out << format_duration(b.break_duration);
    key("multiplier");
    out << number(b.break_multiplier);
    key("max");
    out << format_duration(b.break_max);
    key("jitter");
    out << number(b.break_jitter);
    out << YAML::EndMap;
    key("half_open");
    out << YAML::Flow << YAML::BeginMap;
    key("probes");
    out << b.probes;
    key("successes");
    out << b.probe_successes();
    key("max_wait");
    out << format_duration(b.half_open_max_wait);
    out << YAML::EndMap;
    key("scope");
    out << (b.scope == circuit_breaker_settings::scope_kind::endpoint ? "endpoint" : "dependency");
    key("max_endpoints");
    out << b.max_endpoints;
    out << YAML::EndMap;
}

/// `off` when `inherited` would otherwise reach a dependency that has none.
void emit_rate_limit(YAML::Emitter& out, const std::optional<rate_limit_settings>& limit,
                     bool inherited) {
    if (!limit) {
        if (inherited)
            out << YAML::Key << "rate_limit" << YAML::Value << "off";
        return;
    }
    out << YAML::Key << "rate_limit" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "rate" << YAML::Value << to_string(limit->rate);
    out << YAML::Key << "burst" << YAML::Value << limit->burst_tokens();
    out << YAML::Key << "max_wait" << YAML::Value << format_duration(limit->max_wait);
    out << YAML::Key << "honor_pushback" << YAML::Value
        << (limit->honor_pushback ? "true" : "false");
    out << YAML::EndMap;
}

/// Always shown: it is on unless turned `off`.
void emit_retry_budget(YAML::Emitter& out, const std::optional<retry_budget_settings>& budget) {
    out << YAML::Key << "retry_budget" << YAML::Value;
    if (!budget) {
        out << "off";
        return;
    }
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "kind" << YAML::Value << std::string(to_string(budget->kind));
    if (budget->kind == retry_budget_settings::budget_kind::ratio) {
        out << YAML::Key << "percent" << YAML::Value << shortest(budget->percent);
        out << YAML::Key << "min_per_second" << YAML::Value << shortest(budget->min_per_second);
        out << YAML::Key << "ttl" << YAML::Value << format_duration(budget->ttl);
    } else {
        out << YAML::Key << "max_tokens" << YAML::Value << shortest(budget->max_tokens);
        out << YAML::Key << "token_ratio" << YAML::Value << shortest(budget->token_ratio);
    }
    out << YAML::EndMap;
}

/// `off` when `inherited` would otherwise reach a dependency that has none.
void emit_throttle(YAML::Emitter& out, const std::optional<adaptive_throttle_settings>& throttle,
                   bool inherited) {
    if (!throttle) {
        if (inherited)
            out << YAML::Key << "adaptive_throttle" << YAML::Value << "off";
        return;
    }
    out << YAML::Key << "adaptive_throttle" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "k" << YAML::Value << number(throttle->k);
    out << YAML::Key << "window" << YAML::Value << format_duration(throttle->window);
    out << YAML::Key << "min_requests" << YAML::Value << throttle->min_requests;
    out << YAML::Key << "max_rejection" << YAML::Value << shortest(throttle->max_rejection);
    if (throttle->seed != adaptive_throttle_settings{}.seed)
        out << YAML::Key << "seed" << YAML::Value << throttle->seed;
    out << YAML::EndMap;
}

/// `off` when `inherited` would otherwise reach a dependency that has none.
void emit_hedge(YAML::Emitter& out, const std::optional<hedge_settings>& hedge, bool inherited) {
    if (!hedge) {
        if (inherited)
            out << YAML::Key << "hedge" << YAML::Value << "off";
        return;
    }
    const auto key = [&](const char* name) { out << YAML::Key << name << YAML::Value; };
    key("hedge");
    out << YAML::Flow << YAML::BeginMap;
    key("max_attempts");
    out << hedge->max_attempts;
    key("delay");
    out << (hedge->delay_quantile ? quantile_name(*hedge->delay_quantile)
                                  : format_duration(hedge->delay));
    key("min_samples");
    out << hedge->min_samples;
    key("fallback_delay");
    out << format_duration(hedge->fallback_delay);
    key("non_fatal");
    emit_faults(out, hedge->non_fatal);
    if (hedge->min_remaining) {
        key("min_remaining");
        out << format_duration(*hedge->min_remaining);
    }
    out << YAML::EndMap;
}

/// `off` (the bulkhead, or its adaptive limit) when `inherited` would
/// otherwise reach a dependency that has none.
void emit_bulkhead(YAML::Emitter& out, const std::optional<bulkhead_settings>& bulkhead,
                   const std::optional<bulkhead_settings>& inherited) {
    const auto key = [&](const char* name) { out << YAML::Key << name << YAML::Value; };
    if (!bulkhead) {
        if (inherited)
            out << YAML::Key << "bulkhead" << YAML::Value << "off";
        return;
    }
    const bulkhead_settings& b = *bulkhead;
    key("bulkhead");
    out << YAML::BeginMap;
    key("max_concurrent");
    out << b.max_concurrent;
    key("queue");
    out << YAML::Flow << YAML::BeginMap;
    key("max");
    out << b.queue.max;
    key("timeout");
    out << format_duration(b.queue.timeout);
    out << YAML::EndMap;
    if (b.adaptive) {
        const bulkhead_settings::adaptive_settings& a = *b.adaptive;
        key("adaptive");
        out << YAML::Flow << YAML::BeginMap;
        key("algorithm");
        out << (a.algorithm == bulkhead_settings::adaptive_settings::algorithm_kind::gradient2
                    ? "gradient2"
                    : "aimd");
        key("initial");
        out << a.initial;
        key("min");
        out << a.min_limit();
        key("max");
        out << a.max;
        key("backoff_ratio");
        out << number(a.backoff_ratio);
        key("timeout");
        out << (a.timeout ? format_duration(*a.timeout) : std::string("off"));
        key("smoothing");
        out << number(a.smoothing);
        key("queue_size");
        out << a.queue_size;
        key("tolerance");
        out << number(a.tolerance);
        key("long_window");
        out << a.long_window;
        out << YAML::EndMap;
    } else if (inherited && inherited->adaptive) {
        key("adaptive");
        out << "off";
    }
    out << YAML::EndMap;
}

/// `faults:` with its seed, so the output replays the same injections, and
/// `fallback:` when written.
void emit_faults_and_fallback(YAML::Emitter& out, const dependency& dep) {
    if (const fault_plan* plan = dep.policy.faults.get()) {
        out << YAML::Key << "faults" << YAML::Value << YAML::BeginMap;
        out << YAML::Key << "seed" << YAML::Value << plan->seed();
        out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
        for (const fault_rule& rule : plan->rules()) {
            out << YAML::Flow << YAML::BeginMap;
            out << YAML::Key << "kind" << YAML::Value << std::string(to_string(rule.kind));
            out << YAML::Key << "rate" << YAML::Value << number(rule.rate);
            if (rule.kind == fault_kind::latency)
                out << YAML::Key << "delay" << YAML::Value << format_duration(rule.delay);
            if (rule.kind == fault_kind::error)
                out << YAML::Key << "error" << YAML::Value << rule.error_name;
            if (rule.retry_after)
                out << YAML::Key << "retry_after" << YAML::Value
                    << format_duration(*rule.retry_after);
            for (const auto& [key, selector] :
                 {std::pair<const char*, const std::string*>{"endpoint", &rule.endpoint},
                  {"method", &rule.method},
                  {"statement", &rule.statement}})
                if (!selector->empty())
                    out << YAML::Key << key << YAML::Value << *selector;
            out << YAML::EndMap;
        }
        out << YAML::EndSeq << YAML::EndMap;
    }
    if (dep.fallback_on) {
        out << YAML::Key << "fallback" << YAML::Value << YAML::Flow << YAML::BeginMap;
        out << YAML::Key << "on" << YAML::Value;
        emit_faults(out, *dep.fallback_on);
        out << YAML::EndMap;
    }
}

void emit_policy(YAML::Emitter& out, const pipeline_policy& p) {
    const retry_policy& r = p.retry;
    out << YAML::Key << "retry" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "max_attempts" << YAML::Value << r.max_attempts;
    out << YAML::Key << "backoff" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "kind" << YAML::Value << std::string(to_string(r.backoff.kind));
    out << YAML::Key << "initial" << YAML::Value << format_duration(r.backoff.initial);
    out << YAML::Key << "multiplier" << YAML::Value << number(r.backoff.multiplier);
    out << YAML::Key << "step" << YAML::Value << format_duration(r.backoff.step);
    out << YAML::Key << "max" << YAML::Value << format_duration(r.backoff.max);
    out << YAML::Key << "jitter" << YAML::Value << std::string(to_string(r.backoff.jitter));
    out << YAML::EndMap;
    out << YAML::Key << "retry_on" << YAML::Value;
    emit_faults(out, r.retry_on);
    out << YAML::Key << "retry_after" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "honor" << YAML::Value << (r.retry_after.honor ? "true" : "false");
    out << YAML::Key << "max" << YAML::Value << format_duration(r.retry_after.max);
    out << YAML::EndMap;
    out << YAML::EndMap;
    out << YAML::Key << "timeout" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "connect" << YAML::Value << format_duration(p.timeout.connect);
    out << YAML::Key << "exchange" << YAML::Value << format_duration(p.timeout.exchange);
    out << YAML::Key << "total" << YAML::Value << format_duration(p.timeout.total);
    out << YAML::EndMap;
}

} // namespace

std::string explain(const document& doc, std::string_view only) {
    if (!only.empty() && !doc.find(only))
        throw std::invalid_argument("keel::config::explain: " + doc.source +
                                    " has no dependency '" + std::string(only) + "'");
    std::vector<const dependency*> shown;
    for (const dependency& dep : doc.dependencies)
        if (only.empty() || dep.name == only)
            shown.push_back(&dep);
    // The profiles named by `extends` are listed empty: their settings are
    // already merged into each dependency, and listing them keeps the output
    // loadable with `extends` intact.
    std::set<std::string> profiles;
    for (const dependency* dep : shown)
        profiles.insert(dep->extends.begin(), dep->extends.end());

    YAML::Emitter out;
    out << YAML::Comment("effective policies of " + doc.source +
                         ": defaults and profiles are merged into each dependency");
    out << YAML::BeginMap;
    out << YAML::Key << "version" << YAML::Value << 1;
    if (only.empty()) {
        out << YAML::Key << "defaults" << YAML::Value << YAML::BeginMap;
        emit_policy(out, doc.defaults);
        emit_breaker(out, doc.defaults_circuit_breaker, false);
        emit_bulkhead(out, doc.defaults_bulkhead, std::nullopt);
        emit_rate_limit(out, doc.defaults_rate_limit, false);
        emit_retry_budget(out, doc.defaults_retry_budget);
        emit_throttle(out, doc.defaults_adaptive_throttle, false);
        emit_hedge(out, doc.defaults_hedge, false);
        out << YAML::EndMap;
    }
    if (!profiles.empty()) {
        out << YAML::Key << "profiles" << YAML::Value << YAML::BeginMap;
        for (const std::string& name : profiles)
            out << YAML::Key << name << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        out << YAML::EndMap;
    }
    out << YAML::Key << "dependencies" << YAML::Value;
    if (shown.empty())
        out << YAML::Flow;
    out << YAML::BeginMap;
    for (const dependency* dep : shown) {
        out << YAML::Key << dep->name << YAML::Value << YAML::BeginMap;
        out << YAML::Key << "kind" << YAML::Value << std::string(to_string(dep->kind));
        if (!dep->extends.empty()) {
            out << YAML::Key << "extends" << YAML::Value << YAML::Flow << YAML::BeginSeq;
            for (const std::string& name : dep->extends)
                out << name;
            out << YAML::EndSeq;
        }
        // `connection:` is left out on purpose: after ${VAR} substitution it
        // may hold secrets (a DSN's password), and the policy does not use it.
        emit_policy(out, dep->policy);
        emit_breaker(out, dep->circuit_breaker, doc.defaults_circuit_breaker.has_value());
        emit_bulkhead(out, dep->bulkhead, doc.defaults_bulkhead);
        emit_rate_limit(out, dep->rate_limit, doc.defaults_rate_limit.has_value());
        emit_retry_budget(out, dep->retry_budget);
        emit_throttle(out, dep->adaptive_throttle, doc.defaults_adaptive_throttle.has_value());
        emit_hedge(out, dep->hedge, doc.defaults_hedge.has_value());
        emit_faults_and_fallback(out, *dep);
        out << YAML::EndMap;
    }
    out << YAML::EndMap;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

} // namespace keel::config
