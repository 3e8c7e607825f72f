// Which time bucket a moment falls in, without a hardware divide: the retry
// budget files every call's deposit by its bucket, and a 64-bit idiv (40 to
// 90 cycles on the VMs keel is measured on) was the dearest instruction of
// the deposit. A multiplication by the divisor's reciprocal and one
// correction give the exact quotient.
#pragma once

#include <cstdint>

namespace keel::detail {

/// Floor division by a divisor fixed at construction: floor(t / divisor)
/// for every int64 t, rounding towards minus infinity (bucket -1 holds the
/// moments just before 0, as bucket 0 those just after it).
class floor_divider {
public:
    /// `divisor` >= 1.
    explicit floor_divider(std::int64_t divisor) noexcept
        : divisor_(static_cast<std::uint64_t>(divisor)),
          reciprocal_(~std::uint64_t{0} / static_cast<std::uint64_t>(divisor)) {}

    std::int64_t divisor() const noexcept { return static_cast<std::int64_t>(divisor_); }

    std::int64_t floor(std::int64_t t) const noexcept {
        if (t >= 0)
            return static_cast<std::int64_t>(quotient(static_cast<std::uint64_t>(t)));
        // -1 - t is in [0, 2^63): floor(t / d) = -1 - (-1 - t) / d.
        return -1 - static_cast<std::int64_t>(quotient(static_cast<std::uint64_t>(-1 - t)));
    }

    /// t - divisor * floor(t): in [0, divisor).
    std::int64_t modulo(std::int64_t t) const noexcept {
        // In unsigned arithmetic: divisor * floor(t) may be below INT64_MIN
        // (t near it); the difference, taken mod 2^64, is exact.
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(t) -
                                         static_cast<std::uint64_t>(floor(t)) * divisor_);
    }

private:
    /// n / divisor for n < 2^63. With r = floor((2^64 - 1) / d), n * r / 2^64
    /// lies in (n / d - 1, n / d]: its floor is the quotient or one less.
    std::uint64_t quotient(std::uint64_t n) const noexcept {
        using wide = unsigned __int128;
        auto q = static_cast<std::uint64_t>((static_cast<wide>(n) * reciprocal_) >> 64);
        if (n - q * divisor_ >= divisor_)
            ++q;
        return q;
    }

    std::uint64_t divisor_;
    std::uint64_t reciprocal_;
};

} // namespace keel::detail
