// Backoff: how long to wait before the next attempt. Pure functions of the
// policy, the retry number, the previous delay and a random source.
#pragma once

#include <keel/random.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

namespace keel {

enum class backoff_kind : std::uint8_t { constant, linear, exponential };
enum class jitter_kind : std::uint8_t { none, full, equal, decorrelated };

std::string_view to_string(backoff_kind k) noexcept;
std::string_view to_string(jitter_kind j) noexcept;

/// The delay between attempts. Before jitter, the delay before retry `n`
/// (n = 1 for the first retry) is
///   constant:    initial
///   linear:      initial + (n - 1) * step
///   exponential: initial * multiplier^(n - 1)
/// always capped at `max`. Jitter then spreads it (d is the capped delay):
///   none:         d
///   full:         uniform in [0, d)
///   equal:        d/2 + uniform in [0, d/2)
///   decorrelated: min(max, uniform in [initial, 3 * previous)), previous
///                 starting at `initial` -- the "decorrelated jitter" of
///                 Marc Brooker, "Exponential Backoff And Jitter", AWS
///                 Architecture Blog, 2015. It grows by itself, so `kind`,
///                 `step` and `multiplier` do not apply to it.
struct backoff_policy {
    backoff_kind kind = backoff_kind::exponential;
    std::chrono::nanoseconds initial = std::chrono::milliseconds(100);
    double multiplier = 2.0;                                        ///< exponential only, >= 1
    std::chrono::nanoseconds step = std::chrono::milliseconds(100); ///< linear only
    std::chrono::nanoseconds max = std::chrono::seconds(5);         ///< the cap
    jitter_kind jitter = jitter_kind::full;

    /// The capped delay before retry `n` (1-based), before jitter.
    std::chrono::nanoseconds base_delay(int n) const noexcept;

    /// The delay before retry `n`, jitter applied. `previous` is the delay
    /// returned for retry n - 1 (ignored for n = 1); only decorrelated
    /// jitter uses it.
    std::chrono::nanoseconds delay(int n, std::chrono::nanoseconds previous,
                                   random_source& random) const noexcept;

    friend bool operator==(const backoff_policy&, const backoff_policy&) = default;
};

/// The first `retries` delays a policy produces from `seed`: what tests and
/// keel-check print. The same seed always gives the same schedule.
std::vector<std::chrono::nanoseconds> backoff_schedule(const backoff_policy& policy, int retries,
                                                       std::uint64_t seed);

} // namespace keel
