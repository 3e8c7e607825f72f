// The C++ blocks of docs/faults.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/fault_injection.hpp>
#include <keel/keel.hpp>

#include <asio/io_context.hpp>

#include <memory>
#include <string>
#include <vector>

namespace faults_docs {

[[maybe_unused]] void switch_on(bool rehearsal) {
    // [snippet:switch-on]
    // At start-up, from the service's own flag (KEEL_FAULTS=1 does the same):
    // without either, no rule of any file touches a call.
    keel::enable_fault_injection(rehearsal);
    // [end]
}

[[maybe_unused]] void by_hand(asio::io_context& io) {
    // [snippet:by-hand]
    keel::fault_rule refused;
    refused.kind = keel::fault_kind::error;
    refused.rate = 0.2;
    std::string why;
    refused.error_name = "connection_refused";
    refused.error = *keel::fault_error_from_name(refused.error_name, why);
    refused.endpoint = "10.0.0.5:5432"; // only the calls that report this endpoint

    keel::pipeline_policy policy;
    policy.faults = std::make_shared<keel::fault_plan>(std::vector<keel::fault_rule>{refused},
                                                       /*seed=*/42);
    keel::pipeline orders(io, "orders-db", policy);
    // ... after the rehearsal: how many attempts it refused.
    const std::uint64_t refusals = policy.faults->injected(keel::fault_kind::error);
    // [end]
}

} // namespace faults_docs
