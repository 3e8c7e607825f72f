#include <keel/fault_injection.hpp>

#include <cstdlib>
#include <map>
#include <mutex>

namespace keel {

namespace {

std::atomic<bool>& enabled_flag() noexcept {
    // Read from the environment once, at the first question.
    static std::atomic<bool> flag = [] {
        const char* value = std::getenv("KEEL_FAULTS");
        return value != nullptr && std::string_view(value) == "1";
    }();
    return flag;
}

struct family_table {
    std::mutex mutex;
    std::map<std::string, fault_error_resolver, std::less<>> resolvers;
};

family_table& families() {
    static family_table table;
    return table;
}

/// The wrapper each family of names belongs to, for "not linked" errors.
std::string_view wrapper_of(std::string_view name) noexcept {
    if (name.substr(0, 5) == "http_")
        return "keel::http";
    if (name.substr(0, 3) == "pg_")
        return "keel::pg";
    if (name.substr(0, 6) == "kafka_")
        return "keel::kafka";
    return {};
}

} // namespace

bool fault_injection_enabled() noexcept {
    return enabled_flag().load(std::memory_order_relaxed);
}

void enable_fault_injection(bool enabled) noexcept {
    enabled_flag().store(enabled, std::memory_order_relaxed);
}

void register_fault_error_family(std::string_view prefix, fault_error_resolver resolver) {
    family_table& table = families();
    std::lock_guard lock(table.mutex);
    table.resolvers.insert_or_assign(std::string(prefix), resolver);
}

std::optional<std::error_code> fault_error_from_name(std::string_view name, std::string& why) {
    why.clear();
    if (name == "connection_refused")
        return std::make_error_code(std::errc::connection_refused);
    if (name == "connection_reset")
        return std::make_error_code(std::errc::connection_reset);
    fault_error_resolver resolver = nullptr;
    std::string_view rest;
    {
        family_table& table = families();
        std::lock_guard lock(table.mutex);
        for (const auto& [prefix, r] : table.resolvers) {
            if (name.substr(0, prefix.size()) == prefix) {
                resolver = r;
                rest = name.substr(prefix.size());
                break;
            }
        }
    }
    if (resolver)
        return resolver(rest, why);
    if (const std::string_view wrapper = wrapper_of(name); !wrapper.empty())
        why = "this program was built without " + std::string(wrapper);
    return std::nullopt;
}

std::string_view to_string(fault_kind kind) noexcept {
    switch (kind) {
    case fault_kind::latency:
        return "latency";
    case fault_kind::error:
        return "error";
    case fault_kind::hang:
        return "hang";
    }
    return "?";
}

bool selects(const fault_rule& rule, const fault_target& target) noexcept {
    return (rule.endpoint.empty() || rule.endpoint == target.endpoint) &&
           (rule.method.empty() || rule.method == target.method) &&
           (rule.statement.empty() || rule.statement == target.statement);
}

fault_plan::fault_plan(std::vector<fault_rule> rules, std::uint64_t seed)
    : rules_(std::move(rules)), seed_(seed), state_(seed) {}

double fault_plan::next_unit() noexcept {
    // SplitMix64 (keel::random_source) on an atomic counter: each draw takes
    // its own step, so threads share the stream without a lock and one
    // thread's calls replay exactly from the seed.
    constexpr std::uint64_t gamma = 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_.fetch_add(gamma, std::memory_order_relaxed) + gamma;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    draws_.fetch_add(1, std::memory_order_relaxed);
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

const fault_rule* fault_plan::draw(const fault_target& target) noexcept {
    for (const fault_rule& rule : rules_) {
        if (rule.rate <= 0.0 || !selects(rule, target))
            continue;
        if (rule.rate >= 1.0 || next_unit() < rule.rate) {
            injected_[static_cast<int>(rule.kind)].fetch_add(1, std::memory_order_relaxed);
            return &rule;
        }
    }
    return nullptr;
}

} // namespace keel
