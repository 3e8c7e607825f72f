// parse_duration: the configuration's duration syntax.
#include <keel/config/document.hpp>
#include <keel/duration.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::config {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

TEST(config_duration, units_and_compounds) {
    EXPECT_EQ(parse_duration("0s", nullptr), 0ns);
    EXPECT_EQ(parse_duration("7ns", nullptr), 7ns);
    EXPECT_EQ(parse_duration("250us", nullptr), 250us);
    EXPECT_EQ(parse_duration("250ms", nullptr), 250ms);
    EXPECT_EQ(parse_duration("2s", nullptr), 2s);
    EXPECT_EQ(parse_duration("1m30s", nullptr), 90s);
    EXPECT_EQ(parse_duration("2h", nullptr), 2h);
    EXPECT_EQ(parse_duration("1h2m3s4ms5us6ns", nullptr), 1h + 2min + 3s + 4ms + 5us + 6ns);
    EXPECT_EQ(parse_duration("90s", nullptr), 90s); // no carrying required
}

TEST(config_duration, largest_finite_value) {
    // nanoseconds::max() is keel::unlimited, so the longest finite duration is one less.
    EXPECT_EQ(parse_duration("2562047h47m16s854775806ns", nullptr), nanoseconds::max() - 1ns);
    std::string why;
    EXPECT_FALSE(parse_duration("2562047h47m16s854775807ns", &why));
    EXPECT_NE(why.find("too long"), std::string::npos);
    EXPECT_FALSE(parse_duration("99999999999999999999999ns", &why));
    EXPECT_NE(why.find("too long"), std::string::npos);
}

TEST(config_duration, round_trips_format_duration) {
    const nanoseconds values[] = {0ns, 1ns, 999us, 1500ms, 90s, 3h + 1ns, nanoseconds::max() - 1ns};
    for (nanoseconds d : values)
        EXPECT_EQ(parse_duration(format_duration(d), nullptr), d) << format_duration(d);
}

struct bad_duration {
    const char* text;
    const char* why;
};

TEST(config_duration, rejects_with_a_reason) {
    const bad_duration cases[] = {
        {"", "duration is empty"},
        {"200", "duration \"200\" needs a unit (ns, us, ms, s, m, h)"},
        {"0", "duration \"0\" needs a unit"},
        {"1m30", "duration \"1m30\" needs a unit"},
        {"-1s", "duration \"-1s\" is negative"},
        {"5sec", "duration \"5sec\" has an unknown unit \"sec\""},
        {"5µs", "has an unknown unit \"µs\""},
        {"1.5s", "must use whole numbers"},
        {"30s1m", "must list each unit once, largest first"},
        {"1s1s", "must list each unit once, largest first"},
        {"ms", "\"ms\" is not a duration"},
        {"1 s", "\"1 s\" is not a duration"},
        {"+1s", "\"+1s\" is not a duration"},
        {"unlimited", "\"unlimited\" is not a duration"}, // the loader's word, not a duration
    };
    for (const bad_duration& c : cases) {
        std::string why;
        EXPECT_FALSE(parse_duration(c.text, &why)) << c.text;
        EXPECT_NE(why.find(c.why), std::string::npos) << c.text << ": " << why;
        EXPECT_FALSE(parse_duration(c.text, nullptr)); // the reason is optional
    }
}

} // namespace
} // namespace keel::config
