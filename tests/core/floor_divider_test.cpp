// The reciprocal division behind time buckets (retry budget, adaptive
// throttle, the breaker's time window), against the hardware's, on the
// values where a reciprocal goes wrong first: around multiples of the
// divisor, at both ends of int64 and for divisors near powers of two.
#include <keel/detail/floor_divider.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace keel::detail {
namespace {

/// floor(t / d) with the hardware's division (which truncates towards 0).
std::int64_t reference_floor(std::int64_t t, std::int64_t d) {
    const std::int64_t q = t / d;
    return (t % d != 0 && t < 0) ? q - 1 : q;
}

std::vector<std::int64_t> divisors() {
    std::vector<std::int64_t> out{1,
                                  2,
                                  3,
                                  7,
                                  10,
                                  100,
                                  1'000,
                                  999'999,
                                  1'000'000'000,
                                  100'000'000,
                                  10'000'000'000,
                                  123'456'789'123};
    for (int bit = 1; bit < 63; ++bit) {
        const std::int64_t p = std::int64_t{1} << bit;
        out.insert(out.end(), {p - 1, p, p + 1});
    }
    out.push_back(std::numeric_limits<std::int64_t>::max());
    return out;
}

std::vector<std::int64_t> moments(std::int64_t d) {
    constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t highest = std::numeric_limits<std::int64_t>::max();
    std::vector<std::int64_t> out{0, 1, -1, 2, -2, lowest, lowest + 1, highest, highest - 1};
    // Each side of the multiples of d near 0 and near both ends.
    for (const std::int64_t k :
         {std::int64_t{1}, std::int64_t{2}, std::int64_t{1000}, highest / d, highest / d - 1}) {
        for (const std::int64_t sign : {1, -1}) {
            if (k > highest / d || k < 0)
                continue;
            const std::int64_t m = sign * k * d;
            for (const std::int64_t off : {-1, 0, 1})
                if ((off < 0 && m > lowest) || (off > 0 && m < highest) || off == 0)
                    out.push_back(m + off);
        }
    }
    return out;
}

TEST(floor_divider, agrees_with_the_hardware_division_at_the_edges) {
    for (const std::int64_t d : divisors()) {
        const floor_divider divide(d);
        EXPECT_EQ(divide.divisor(), d);
        for (const std::int64_t t : moments(d)) {
            ASSERT_EQ(divide.floor(t), reference_floor(t, d)) << t << " / " << d;
            const std::int64_t r = divide.modulo(t);
            ASSERT_GE(r, 0) << t << " mod " << d;
            ASSERT_LT(r, d) << t << " mod " << d;
        }
    }
}

TEST(floor_divider, agrees_with_the_hardware_division_on_random_values) {
    std::mt19937_64 engine(20261208);
    std::uniform_int_distribution<std::int64_t> any;
    for (int i = 0; i < 200'000; ++i) {
        std::int64_t d = any(engine);
        d = d < 0 ? -(d + 1) : d;
        d >>= engine() % 63; // divisors of every magnitude
        if (d == 0)
            d = 1;
        const std::int64_t t = any(engine) >> (engine() % 64);
        const floor_divider divide(d);
        ASSERT_EQ(divide.floor(t), reference_floor(t, d)) << t << " / " << d;
    }
}

TEST(floor_divider, rounds_towards_minus_infinity) {
    const floor_divider by_ten(10);
    EXPECT_EQ(by_ten.floor(-1), -1);
    EXPECT_EQ(by_ten.floor(-10), -1);
    EXPECT_EQ(by_ten.floor(-11), -2);
    EXPECT_EQ(by_ten.floor(9), 0);
    EXPECT_EQ(by_ten.floor(10), 1);
    EXPECT_EQ(by_ten.modulo(-1), 9);
    EXPECT_EQ(by_ten.modulo(-10), 0);
    EXPECT_EQ(by_ten.modulo(25), 5);
}

} // namespace
} // namespace keel::detail
