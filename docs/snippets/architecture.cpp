// The C++ blocks of docs/architecture.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/keel.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <memory>

[[maybe_unused]] void writing_a_strategy(asio::io_context& io) {
    // [snippet:writing-a-strategy]
    struct at_most_n final : keel::admission_strategy {
        explicit at_most_n(int n) : free(n) {}
        std::atomic<int> free;
        keel::admission admit(keel::clock_ticks, keel::admission_waiter&) override {
            if (free.fetch_sub(1) > 0)
                return keel::admission::admit();
            free.fetch_add(1);
            return keel::admission::reject(keel::errc::bulkhead_full);
        }
        void release(keel::clock_ticks, const keel::attempt_record*, std::uint64_t) noexcept override {
            free.fetch_add(1);
        }
    };

    auto chain = std::make_shared<keel::strategy_chain>();
    chain->bulkhead = keel::strategy_registry::global().obtain<at_most_n>("payments", "", 8);
    keel::pipeline_policy policy;
    policy.strategies = chain;
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, asio::any_io_executor,
                         keel::strategy_chain> payments(io, "payments", policy);
    // [end]
}
