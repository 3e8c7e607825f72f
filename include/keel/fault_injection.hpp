// Fault injection: latency, errors and hangs put into real calls on purpose,
// so a team can rehearse an outage and see every other strategy react as it
// would to a real one. Innermost in the chain: the engine asks the plan just
// before it calls the operation, so a breaker, a retry or a fallback sees an
// injected error exactly as the operation's own. Off in every process unless
// KEEL_FAULTS=1 or enable_fault_injection(true); off, a call costs one branch
// and no random draw.
#pragma once

#include <keel/detail/fault_selectors.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace keel {

/// Whether fault rules apply in this process: false unless the environment
/// says KEEL_FAULTS=1 (read once, at the first question) or
/// enable_fault_injection(true) was called. A pipeline asks at each call
/// whose policy carries fault rules, so turning it off stops injection at once.
bool fault_injection_enabled() noexcept;
void enable_fault_injection(bool enabled) noexcept;

// ---- the error vocabulary -------------------------------------------------------

/// Resolves the names of one family (`http_503`: family "http_", rest "503")
/// to the error code the real wrapper reports; nullopt with `why` set when
/// the rest is malformed.
using fault_error_resolver = std::optional<std::error_code> (*)(std::string_view rest,
                                                                std::string& why);

/// Registers the family of names starting with `prefix` ("http_", "pg_",
/// "kafka_"). Each wrapper registers its own when it is linked in (its
/// error category's translation unit does, and register_fault_errors() in
/// its namespace does so explicitly), so keel::core needs no wrapper.
/// The last registration of a prefix wins; thread-safe.
void register_fault_error_family(std::string_view prefix, fault_error_resolver resolver);

/// The error code a fault rule or a keel-sim scenario names, exactly as
/// the real wrapper reports it: `http_<status>` (400..599), `pg_<SQLSTATE>`,
/// `kafka_<librdkafka name>`; and the generic `connection_refused`,
/// `connection_reset` (std::errc codes, keel::http's for those failures),
/// which a call of another wrapper turns into its own when injected
/// (detail::translates_fault_error).
/// nullopt: `why` says what is wrong, or is empty for a name of no known
/// family (the caller offers "did you mean"). A family whose wrapper is not
/// linked into the program is refused with that reason.
std::optional<std::error_code> fault_error_from_name(std::string_view name, std::string& why);

// ---- rules and plans ------------------------------------------------------------

enum class fault_kind : std::uint8_t { latency, error, hang };
inline constexpr int fault_kind_count = 3;
std::string_view to_string(fault_kind kind) noexcept;

/// One `faults:` entry.
struct fault_rule {
    fault_kind kind = fault_kind::error;
    double rate = 0.0;                 ///< the share of matching attempts it applies to, 0..1
    std::chrono::nanoseconds delay{0}; ///< latency: added before the operation starts
    std::string error_name;            ///< error: as written (`http_503`)
    std::error_code error;             ///< error: what the attempt completes with
    /// error: the server-advised delay the attempt reports (a 503's
    /// Retry-After), as the wrapper would.
    std::optional<std::chrono::nanoseconds> retry_after;
    // Selectors; empty matches any.
    std::string endpoint;  ///< the call's endpoint ("10.0.0.5:5432", "http://api:8080")
    std::string method;    ///< HTTP method ("POST")
    std::string statement; ///< PostgreSQL statement name
};

/// What a call's operation says about itself, for the selectors.
struct fault_target {
    std::string_view endpoint;
    std::string_view method;
    std::string_view statement;
};

/// Whether `rule`'s selectors all match `target`.
bool selects(const fault_rule& rule, const fault_target& target) noexcept;

/// The fault rules of one dependency, with their seeded random stream.
/// Immutable but for the stream and the counters: a reload builds a new plan.
/// Thread-safe; drawing allocates nothing.
class fault_plan {
public:
    explicit fault_plan(std::vector<fault_rule> rules, std::uint64_t seed = 0x6b65656cULL);

    /// The rule an attempt to `target` gets, or null: the first rule that
    /// selects it and whose draw falls under its rate. One random draw per
    /// selecting rule asked (none for rate 0 or 1). Counts the injection.
    const fault_rule* draw(const fault_target& target) noexcept;

    const std::vector<fault_rule>& rules() const noexcept { return rules_; }
    std::uint64_t seed() const noexcept { return seed_; }
    /// Random numbers drawn so far.
    std::uint64_t draws() const noexcept { return draws_.load(std::memory_order_relaxed); }
    /// Faults of `kind` injected so far (keel_faults_injected_total).
    std::uint64_t injected(fault_kind kind) const noexcept {
        return injected_[static_cast<int>(kind)].load(std::memory_order_relaxed);
    }

private:
    double next_unit() noexcept;

    std::vector<fault_rule> rules_;
    std::uint64_t seed_;
    std::atomic<std::uint64_t> state_;
    std::atomic<std::uint64_t> draws_{0};
    std::atomic<std::uint64_t> injected_[fault_kind_count] = {};
};

namespace detail {

/// The selectors' view of `op`: its endpoint (keel::with_endpoint, a
/// wrapper's), HTTP method and statement name when it reports them.
template <class Op>
fault_target fault_target_of(const Op& op, std::string_view endpoint) noexcept {
    fault_target t;
    t.endpoint = endpoint;
    if constexpr (reports_fault_method<Op>)
        t.method = op.fault_method();
    if constexpr (reports_fault_statement<Op>)
        t.statement = op.fault_statement();
    return t;
}

/// The error an injected `generic` one completes `op`'s attempt with: the
/// wrapper's own for that failure when `op` translates it, else `generic`.
template <class Op>
std::error_code injected_error_of(const Op& op, std::error_code generic) {
    if constexpr (translates_fault_error<Op>)
        return op.fault_error(generic);
    else
        return generic;
}

} // namespace detail

} // namespace keel
