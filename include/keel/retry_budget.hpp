// keel::retry_budget: a bound on the retries (and hedges) of one dependency,
// shared by every pipeline that calls it (issue 24's `retry_budget:`), so
// that retries cannot multiply the load on a failing dependency. Two kinds:
//   - ratio (Finagle's RetryBudget): every call deposits `percent`% of a
//     retry, every retry withdraws one; both expire after `ttl`. A retry is
//     allowed while the balance of the last ttl, plus `min_per_second` × ttl
//     in reserve, holds one more.
//   - tokens (gRPC's retry throttling): a bucket of `max_tokens`, full at
//     first; an attempt that failed with a fault class of the policy's
//     retry_on takes 1 token, a successful one adds `token_ratio` (never
//     above max_tokens); a retry may start only while tokens > max_tokens / 2.
// The state is a function of the times it is handed: no clock, no timer, no
// allocation after construction.
#pragma once

#include <keel/detail/floor_divider.hpp>
#include <keel/detail/spinlock.hpp>
#include <keel/strategy.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace keel {

/// What a retry budget is configured with (the `retry_budget:` key).
struct retry_budget_settings {
    enum class budget_kind : std::uint8_t { ratio, tokens };
    budget_kind kind = budget_kind::ratio;

    // ratio: Finagle's defaults.
    double percent = 20.0;        ///< of the calls of the last ttl, as retries
    double min_per_second = 10.0; ///< retries always allowed, × ttl in reserve
    std::chrono::nanoseconds ttl = std::chrono::seconds(10);

    // tokens: gRPC's retryThrottling.
    double max_tokens = 100.0; ///< at most 1000, thousandths kept
    double token_ratio = 0.1;  ///< thousandths kept

    friend bool operator==(const retry_budget_settings&, const retry_budget_settings&) = default;
};

std::string_view to_string(retry_budget_settings::budget_kind kind) noexcept;

/// Throws std::invalid_argument naming the first impossible value.
void validate(const retry_budget_settings& settings);

/// Thread-safe. Deposits (ratio) and token changes (tokens) are lock-free;
/// a ratio withdrawal is serialised so that two retries racing for the last
/// one in the budget cannot both take it.
class retry_budget {
public:
    /// Time buckets of the ratio kind per ttl: a deposit or withdrawal made
    /// at t expires at the start of the bucket that begins ttl after its
    /// own (exactly ttl later for a t on a bucket boundary, at most
    /// ttl / buckets early otherwise).
    static constexpr int buckets = 100;

    /// Throws std::invalid_argument on impossible settings (validate).
    explicit retry_budget(const retry_budget_settings& settings);
    retry_budget(const retry_budget&) = delete;
    retry_budget& operator=(const retry_budget&) = delete;

    /// A call starts: the ratio kind deposits.
    void deposit(clock_ticks now) noexcept;
    /// May a retry (or hedge) start now? The ratio kind withdraws one retry
    /// when it answers yes; the tokens kind takes nothing (the failure did).
    bool try_withdraw(clock_ticks now) noexcept;
    /// An attempt that reached the operation ended (tokens kind): a success
    /// adds token_ratio, a failure whose class is in retry_on
    /// (`retryable`) takes one token; any other failure changes nothing.
    void on_attempt_end(attempt_result result, bool retryable) noexcept;

    /// What is available now: the ratio kind's whole retries left, the
    /// tokens kind's tokens (5.1). For metrics and tests.
    double available(clock_ticks now) const noexcept;
    /// The tokens, in thousandths (tokens kind).
    std::int64_t milli_tokens() const noexcept {
        return milli_tokens_.load(std::memory_order_relaxed);
    }
    /// Retries refused since construction.
    std::uint64_t denied() const noexcept { return denied_.load(std::memory_order_relaxed); }

    const retry_budget_settings& settings() const noexcept { return settings_; }

private:
    /// A count tagged with the number of the time bucket it belongs to, in
    /// one word: (bucket number mod 2^32) << 32 | count.
    using tagged = std::atomic<std::uint64_t>;

    // Inlined: a deposit, on every call, is these two.
    [[gnu::always_inline]] std::int64_t bucket_of(clock_ticks now) const noexcept;
    [[gnu::always_inline]] static void add(tagged& slot, std::int64_t bucket) noexcept;
    std::int64_t sum(const std::unique_ptr<tagged[]>& slots, std::int64_t bucket) const noexcept;
    /// The ratio balance now, in thousandths of a retry.
    std::int64_t milli_balance(std::int64_t bucket) const noexcept;

    const retry_budget_settings settings_;
    // ratio
    const detail::floor_divider bucket_width_; ///< ns; divides a time into its bucket
    const std::int64_t deposit_milli_;
    const std::int64_t reserve_milli_;
    std::unique_ptr<tagged[]> calls_;
    std::unique_ptr<tagged[]> retries_;
    detail::spinlock withdrawing_;
    // tokens
    const std::int64_t max_milli_;
    const std::int64_t ratio_milli_;
    std::atomic<std::int64_t> milli_tokens_;

    std::atomic<std::uint64_t> denied_{0};
};

} // namespace keel
