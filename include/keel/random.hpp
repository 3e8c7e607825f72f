// The random source behind jitter: small, fast, seedable, so the same seed
// gives the same backoff schedule in tests and in keel-check.
#pragma once

#include <chrono>
#include <cstdint>

namespace keel {

/// SplitMix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number
/// generators", OOPSLA 2014). Eight bytes of state, no allocation; good
/// enough for spreading retries, not for cryptography.
class random_source {
public:
    constexpr explicit random_source(std::uint64_t seed = 0x853c49e6748fea9bULL) noexcept
        : state_(seed) {}

    constexpr std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    /// Uniform in [0, 1).
    constexpr double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// Uniform in [low, high); `low` when the range is empty.
    std::chrono::nanoseconds uniform(std::chrono::nanoseconds low,
                                     std::chrono::nanoseconds high) noexcept {
        if (high <= low)
            return low;
        auto span = static_cast<std::uint64_t>((high - low).count());
        return low + std::chrono::nanoseconds(static_cast<std::int64_t>(next() % span));
    }

private:
    std::uint64_t state_;
};

} // namespace keel
