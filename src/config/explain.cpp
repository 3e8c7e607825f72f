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

std::string number(double v) {
    char buffer[64];
    // The shortest text that reads back as the same double.
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
    std::string out(buffer, ec == std::errc() ? end : buffer);
    if (out.find_first_of(".eE") == std::string::npos)
        out += ".0";
    return out;
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
    out << YAML::Key << "retry_on" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (int i = 0; i < fault_class_count; ++i) {
        const auto f = static_cast<fault_class>(i);
        if (r.retry_on.contains(f))
            out << std::string(to_string(f));
    }
    out << YAML::EndSeq;
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
        out << YAML::EndMap;
    }
    out << YAML::EndMap;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

} // namespace keel::config
