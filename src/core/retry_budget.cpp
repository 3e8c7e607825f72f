#include <keel/retry_budget.hpp>

#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>

namespace keel {

namespace {

constexpr std::uint64_t count_mask = 0xffff'ffffULL;

std::uint32_t tag_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word >> 32);
}

std::uint64_t word_of(std::int64_t bucket, std::uint64_t count) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(bucket)) << 32) | count;
}

std::int64_t thousandths(double v) noexcept {
    return static_cast<std::int64_t>(std::llround(v * 1000.0));
}

std::size_t slot_of(std::int64_t bucket) noexcept {
    const std::int64_t r = bucket % retry_budget::buckets;
    return static_cast<std::size_t>(r < 0 ? r + retry_budget::buckets : r);
}

std::int64_t width_of(const retry_budget_settings& s) noexcept {
    const std::int64_t w = s.ttl.count() / retry_budget::buckets;
    return w > 0 ? w : 1;
}

std::int64_t reserve_of(const retry_budget_settings& s) noexcept {
    // min_per_second × ttl retries, in thousandths: ttl in ms keeps it exact
    // for whole milliseconds.
    const double ttl_ms = std::chrono::duration<double, std::milli>(s.ttl).count();
    return static_cast<std::int64_t>(std::llround(s.min_per_second * ttl_ms));
}

} // namespace

std::string_view to_string(retry_budget_settings::budget_kind kind) noexcept {
    return kind == retry_budget_settings::budget_kind::ratio ? "ratio" : "tokens";
}

void validate(const retry_budget_settings& s) {
    using kind = retry_budget_settings::budget_kind;
    if (s.kind == kind::ratio) {
        if (!(s.percent >= 0 && s.percent <= 1000))
            throw std::invalid_argument("retry_budget: percent must be in [0, 1000]");
        if (!(s.min_per_second >= 0 && s.min_per_second <= 1e6))
            throw std::invalid_argument("retry_budget: min_per_second must be in [0, 1000000]");
        if (s.ttl < std::chrono::seconds(1) || s.ttl > std::chrono::minutes(1))
            throw std::invalid_argument("retry_budget: ttl must be in [1s, 60s]");
        return;
    }
    if (!(s.max_tokens > 0 && s.max_tokens <= 1000))
        throw std::invalid_argument("retry_budget: max_tokens must be in (0, 1000]");
    if (!(s.token_ratio > 0 && s.token_ratio <= s.max_tokens))
        throw std::invalid_argument("retry_budget: token_ratio must be in (0, max_tokens]");
}

retry_budget::retry_budget(const retry_budget_settings& settings)
    : settings_((validate(settings), settings)), bucket_width_(width_of(settings)),
      deposit_milli_(thousandths(settings.percent / 100.0)), reserve_milli_(reserve_of(settings)),
      max_milli_(thousandths(settings.max_tokens)), ratio_milli_(thousandths(settings.token_ratio)),
      milli_tokens_(max_milli_) {
    if (settings_.kind == retry_budget_settings::budget_kind::ratio) {
        calls_ = std::make_unique<tagged[]>(buckets);
        retries_ = std::make_unique<tagged[]>(buckets);
        // Tag every slot with a bucket long gone, so that none counts at
        // first, whatever the epoch of the clock that calls first.
        for (int i = 0; i < buckets; ++i) {
            calls_[i].store(word_of(-buckets - 1, 0), std::memory_order_relaxed);
            retries_[i].store(word_of(-buckets - 1, 0), std::memory_order_relaxed);
        }
    }
}

inline std::int64_t retry_budget::bucket_of(clock_ticks now) const noexcept {
    return bucket_width_.floor(now.count());
}

inline void retry_budget::add(tagged& slot, std::int64_t bucket) noexcept {
    std::uint64_t old = slot.load(std::memory_order_relaxed);
    for (;;) {
        // The slot's bucket is this one (or a later one another thread's
        // clock reached first: counted there); else it held a bucket that
        // has expired, and starts over.
        const auto age =
            static_cast<std::int32_t>(static_cast<std::uint32_t>(bucket) - tag_of(old));
        std::uint64_t next = word_of(bucket, 1);
        if (age <= 0)
            next = (old & count_mask) == count_mask ? old : old + 1;
        if (slot.compare_exchange_weak(old, next, std::memory_order_relaxed))
            return;
    }
}

std::int64_t retry_budget::sum(const std::unique_ptr<tagged[]>& slots,
                               std::int64_t bucket) const noexcept {
    std::int64_t total = 0;
    for (int i = 0; i < buckets; ++i) {
        const std::uint64_t w = slots[i].load(std::memory_order_relaxed);
        const auto age = static_cast<std::int32_t>(static_cast<std::uint32_t>(bucket) - tag_of(w));
        if (age < buckets) // a later bucket (age < 0) too: another thread's clock
            total += static_cast<std::int64_t>(w & count_mask);
    }
    return total;
}

std::int64_t retry_budget::milli_balance(std::int64_t bucket) const noexcept {
    return sum(calls_, bucket) * deposit_milli_ + reserve_milli_ - sum(retries_, bucket) * 1000;
}

void retry_budget::deposit(clock_ticks now) noexcept {
    if (settings_.kind != retry_budget_settings::budget_kind::ratio)
        return;
    const std::int64_t bucket = bucket_of(now);
    add(calls_[slot_of(bucket)], bucket);
}

bool retry_budget::try_withdraw(clock_ticks now) noexcept {
    bool allowed = false;
    if (settings_.kind == retry_budget_settings::budget_kind::tokens) {
        allowed = milli_tokens_.load(std::memory_order_relaxed) * 2 > max_milli_;
    } else {
        const std::int64_t bucket = bucket_of(now);
        const std::lock_guard hold(withdrawing_);
        allowed = milli_balance(bucket) >= 1000;
        if (allowed)
            add(retries_[slot_of(bucket)], bucket);
    }
    if (!allowed)
        denied_.fetch_add(1, std::memory_order_relaxed);
    return allowed;
}

void retry_budget::on_attempt_end(attempt_result result, bool retryable) noexcept {
    if (settings_.kind != retry_budget_settings::budget_kind::tokens)
        return;
    const bool success = result == attempt_result::success;
    if (!success && !retryable)
        return;
    std::int64_t old = milli_tokens_.load(std::memory_order_relaxed);
    for (;;) {
        const std::int64_t next = success ? std::min(old + ratio_milli_, max_milli_)
                                          : std::max<std::int64_t>(old - 1000, 0);
        if (next == old ||
            milli_tokens_.compare_exchange_weak(old, next, std::memory_order_relaxed))
            return;
    }
}

double retry_budget::available(clock_ticks now) const noexcept {
    if (settings_.kind == retry_budget_settings::budget_kind::tokens)
        return static_cast<double>(milli_tokens()) / 1000.0;
    const std::int64_t balance = milli_balance(bucket_of(now));
    return balance > 0 ? static_cast<double>(balance / 1000) : 0.0;
}

} // namespace keel
