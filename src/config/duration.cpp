// Durations as the configuration writes them: "250ms", "1m30s", "2h".
#include <keel/config/document.hpp>

#include <cstdint>
#include <limits>

namespace keel::config {

namespace {

constexpr const char* unit_list = "ns, us, ms, s, m, h";

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// Nanoseconds per unit, 0 when unknown; `rank` orders units largest first.
std::int64_t unit_ns(std::string_view unit, int& rank) noexcept {
    struct entry {
        std::string_view name;
        std::int64_t ns;
    };
    static constexpr entry units[] = {
        {"h", 3'600'000'000'000}, {"m", 60'000'000'000}, {"s", 1'000'000'000},
        {"ms", 1'000'000},        {"us", 1'000},         {"ns", 1}};
    for (int i = 0; i < 6; ++i)
        if (units[i].name == unit) {
            rank = i;
            return units[i].ns;
        }
    return 0;
}

bool fail(std::string* why, std::string message) {
    if (why)
        *why = std::move(message);
    return false;
}

} // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* why) {
    // Built by appending: g++ 12 -O3 reports a false -Wrestrict for
    // `"literal" + std::string(...)`.
    std::string quoted(1, '"');
    quoted.append(text).push_back('"');
    if (text.empty()) {
        fail(why, "duration is empty (write e.g. 250ms or 1m30s)");
        return std::nullopt;
    }
    if (text.front() == '-') {
        fail(why, "duration " + quoted + " is negative");
        return std::nullopt;
    }
    std::int64_t total = 0;
    int last_rank = -1;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_digit(text[i])) {
            fail(why, quoted + " is not a duration (write e.g. 250ms or 1m30s)");
            return std::nullopt;
        }
        // Digits; an overflowing count is detected as it is accumulated.
        std::uint64_t count = 0;
        bool count_overflow = false;
        while (i < text.size() && is_digit(text[i])) {
            if (count > (std::numeric_limits<std::uint64_t>::max() - 9) / 10)
                count_overflow = true;
            else
                count = count * 10 + static_cast<unsigned>(text[i] - '0');
            ++i;
        }
        if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
            fail(why, "duration " + quoted + " must use whole numbers (write e.g. 1s500ms)");
            return std::nullopt;
        }
        const std::size_t unit_start = i;
        while (i < text.size() && (is_alpha(text[i]) || text[i] == '\xc2' || text[i] == '\xb5'))
            ++i;
        const std::string_view unit = text.substr(unit_start, i - unit_start);
        if (unit.empty()) {
            if (i == text.size())
                fail(why, "duration " + quoted + " needs a unit (" + unit_list + ")");
            else
                fail(why, quoted + " is not a duration (write e.g. 250ms or 1m30s)");
            return std::nullopt;
        }
        int rank = 0;
        const std::int64_t per = unit_ns(unit, rank);
        if (per == 0) {
            fail(why, "duration " + quoted + " has an unknown unit \"" + std::string(unit) +
                          "\" (expected " + unit_list + ")");
            return std::nullopt;
        }
        if (rank <= last_rank) {
            fail(why,
                 "duration " + quoted + " must list each unit once, largest first (e.g. 1h2m3s)");
            return std::nullopt;
        }
        last_rank = rank;
        const auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (count_overflow || count > max / static_cast<std::uint64_t>(per) ||
            count * static_cast<std::uint64_t>(per) > max - static_cast<std::uint64_t>(total)) {
            fail(why, "duration " + quoted + " is too long (the longest is 2562047h47m16s)");
            return std::nullopt;
        }
        total += static_cast<std::int64_t>(count * static_cast<std::uint64_t>(per));
    }
    // nanoseconds::max() is keel::unlimited ("no deadline"): a finite value
    // must stay below it or it would silently change meaning.
    if (total == std::numeric_limits<std::int64_t>::max()) {
        fail(why, "duration " + quoted + " is too long (the longest is 2562047h47m16s)");
        return std::nullopt;
    }
    return std::chrono::nanoseconds(total);
}

} // namespace keel::config
