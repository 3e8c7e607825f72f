#include <keel/duration.hpp>
#include <keel/timeout.hpp>

#include <cstdint>

namespace keel {

std::string format_duration(std::chrono::nanoseconds d) {
    if (d == unlimited)
        return "unlimited";
    if (d == std::chrono::nanoseconds::zero())
        return "0s";
    std::string out;
    // The magnitude in unsigned arithmetic, so nanoseconds::min() has one too.
    std::uint64_t left = static_cast<std::uint64_t>(d.count());
    if (d.count() < 0) {
        out.push_back('-');
        left = ~left + 1;
    }
    struct unit {
        std::uint64_t nanoseconds;
        const char* suffix;
    };
    static constexpr unit units[] = {
        {3'600'000'000'000ULL, "h"}, {60'000'000'000ULL, "m"}, {1'000'000'000ULL, "s"},
        {1'000'000ULL, "ms"},        {1'000ULL, "us"},         {1ULL, "ns"},
    };
    for (const unit& u : units) {
        const std::uint64_t count = left / u.nanoseconds;
        if (count > 0) {
            out.append(std::to_string(count)).append(u.suffix);
            left -= count * u.nanoseconds;
        }
    }
    return out;
}

} // namespace keel
