// keel::config::reader and section_reader: the one reader behind the
// loader's schema and the wrappers' connection sections. Each kind of value,
// the positions it reports, "did you mean", and every YAML boolean spelling.
#include <keel/config/section_reader.hpp>
#include <keel/timeout.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

value text(std::string s, int line = 3, int column = 7) {
    return value::make_scalar(std::move(s), position{"f.yaml", line, column});
}

/// The one message `read` reports, or "no error".
template <class Read>
std::string message_of(Read read) {
    std::vector<diagnostic> errors;
    reader r(errors);
    read(r);
    if (errors.empty())
        return "no error";
    EXPECT_EQ(errors.size(), 1u);
    return errors.front().to_string();
}

TEST(config_reader, accepts_every_yaml_boolean_spelling) {
    std::vector<diagnostic> errors;
    reader r(errors);
    for (const char* yes : {"true", "True", "TRUE"})
        EXPECT_EQ(r.boolean(text(yes), "k"), true) << yes;
    for (const char* no : {"false", "False", "FALSE"})
        EXPECT_EQ(r.boolean(text(no), "k"), false) << no;
    EXPECT_TRUE(errors.empty());
}

TEST(config_reader, rejects_what_yaml_1_2_does_not_call_a_boolean) {
    // yes/no/on/off are YAML 1.1's booleans: a classic surprise ("no" as a
    // country code), rejected everywhere in the file alike.
    for (const char* other : {"yes", "no", "on", "off", "y", "n", "1", "0", "tRUE", ""}) {
        EXPECT_EQ(
            message_of([&](reader& r) { EXPECT_FALSE(r.boolean(text(other), "a.b")); }),
            std::string("f.yaml:3:7: error: a.b: expected a boolean (true or false), got \"") +
                other + "\"");
    }
}

TEST(config_reader, a_value_of_the_wrong_shape_says_what_it_was) {
    const position at{"f.yaml", 4, 9};
    EXPECT_EQ(message_of([&](reader& r) { r.boolean(value::make_null(at), "k"); }),
              "f.yaml:4:9: error: k: expected a boolean (true or false), got an empty value");
    EXPECT_EQ(message_of([&](reader& r) { r.scalar(value::make_map({}, at), "k", "a URL"); }),
              "f.yaml:4:9: error: k: expected a URL, got a map");
    EXPECT_EQ(message_of([&](reader& r) { r.duration(value::make_sequence({}, at), "k"); }),
              "f.yaml:4:9: error: k: expected a duration (e.g. 250ms), got a sequence");
    EXPECT_EQ(message_of([&](reader& r) { r.map(text("x"), "k", {"a"}); }),
              "f.yaml:3:7: error: k: expected a map, got \"x\"");
}

TEST(config_reader, integers_and_whole_numbers) {
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_EQ(r.integer(text("-12"), "k"), -12);
    EXPECT_EQ(r.whole_number(text("8"), "k", 0), 8);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(message_of([](reader& r) { r.integer(text("3.5"), "k"); }),
              "f.yaml:3:7: error: k: expected an integer, got \"3.5\"");
    EXPECT_EQ(message_of([](reader& r) { r.integer(text("99999999999999999999"), "k"); }),
              "f.yaml:3:7: error: k: integer \"99999999999999999999\" is out of range");
    EXPECT_EQ(message_of([](reader& r) { r.whole_number(text("0"), "k", 1); }),
              "f.yaml:3:7: error: k: expected a whole number >= 1, got \"0\"");
    EXPECT_EQ(message_of([](reader& r) { r.whole_number(text("4x"), "k", 0); }),
              "f.yaml:3:7: error: k: expected a whole number >= 0, got \"4x\"");
}

TEST(config_reader, numbers_are_finite) {
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_EQ(r.number(text("1.5"), "k"), 1.5);
    EXPECT_TRUE(errors.empty());
    for (const char* bad : {"inf", "nan", "1.5x", "two"})
        EXPECT_EQ(message_of([&](reader& r) { r.number(text(bad), "k"); }),
                  std::string("f.yaml:3:7: error: k: expected a number, got \"") + bad + "\"");
}

TEST(config_reader, durations_follow_their_rules) {
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_EQ(r.duration(text("1m30s"), "k"), 90s);
    EXPECT_EQ(r.duration(text("0s"), "k"), 0s);
    EXPECT_EQ(r.duration(text("unlimited"), "k", {.allow_unlimited = true}), unlimited);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(message_of([](reader& r) { r.duration(text("unlimited"), "k"); }),
              "f.yaml:3:7: error: k: cannot be unlimited");
    EXPECT_EQ(message_of([](reader& r) { r.duration(text("0s"), "k", {.positive = true}); }),
              "f.yaml:3:7: error: k: a timeout must be positive (write 'unlimited' for no "
              "deadline)");
    EXPECT_NE(
        message_of([](reader& r) { r.duration(text("5"), "k"); }).find("f.yaml:3:7: error: k: "),
        std::string::npos);
}

TEST(config_reader, choices_suggest_the_closest_name) {
    constexpr std::string_view kinds[] = {"constant", "linear", "exponential"};
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_EQ(r.choice(text("linear"), "k", "backoff kind", kinds), 1u);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(
        message_of([&](reader& r) { r.choice(text("exponentail"), "k", "backoff kind", kinds); }),
        "f.yaml:3:7: error: k: unknown backoff kind 'exponentail' (did you mean "
        "'exponential'?); expected one of: constant, linear, exponential");
    // Further than two edits away: a guess, not a typo.
    EXPECT_EQ(message_of([&](reader& r) { r.choice(text("random"), "k", "backoff kind", kinds); }),
              "f.yaml:3:7: error: k: unknown backoff kind 'random'; expected one of: constant, "
              "linear, exponential");
}

TEST(config_reader, unknown_keys_are_reported_at_the_key_with_a_suggestion) {
    // Positions of keys come from a loaded file: load a connection section.
    const document doc = load_string("version: 1\n"
                                     "dependencies:\n"
                                     "  a:\n"
                                     "    connection:\n"
                                     "      pool_sise: 3\n"
                                     "      '<<': x\n",
                                     "f.yaml");
    const value& c = doc.dependencies.at(0).connection;
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_TRUE(r.map(c, "c", {"dsn", "pool_size"}));
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0].to_string(), "f.yaml:5:7: error: c.pool_sise: unknown key 'pool_sise' (did "
                                     "you mean 'pool_size'?); expected one of: dsn, pool_size");
    EXPECT_EQ(errors[0].key_path, "c.pool_sise");
    EXPECT_NE(errors[1].message.find("YAML merge keys are not supported"), std::string::npos);
    EXPECT_EQ(errors[1].where.line, 6);
}

TEST(config_reader, an_empty_section_is_nothing_to_read) {
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_FALSE(r.map(value::make_null({"f.yaml", 1, 1}), "k", {"a"}));
    EXPECT_TRUE(errors.empty());
}

TEST(config_reader, the_loader_and_a_section_fail_alike) {
    // The same spelling under metrics (read by the loader) and under a
    // connection section (read by a wrapper) gives the same message.
    const load_result loaded = try_load_string("version: 1\n"
                                               "metrics: {enabled: on}\n"
                                               "dependencies:\n"
                                               "  a: {connection: {verify: on}}\n",
                                               "f.yaml");
    ASSERT_EQ(loaded.errors.size(), 1u);
    const document doc = load_string("version: 1\n"
                                     "dependencies:\n"
                                     "  a: {connection: {verify: on}}\n",
                                     "f.yaml");
    std::vector<diagnostic> errors;
    reader r(errors);
    EXPECT_FALSE(r.boolean(*doc.dependencies.at(0).connection.find("verify"), "k"));
    ASSERT_EQ(errors.size(), 1u);
    const std::string loader_says = loaded.errors[0].message;
    EXPECT_EQ(loader_says.substr(loader_says.find(": ")),
              errors[0].message.substr(errors[0].message.find(": ")));
}

TEST(config_reader, suggestions_use_edit_distance) {
    EXPECT_EQ(edit_distance("", "abc"), 3u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(edit_distance("retry", "retry"), 0u);
    constexpr std::string_view none[] = {"x"};
    EXPECT_EQ(unknown_name("key", "xy", none),
              "unknown key 'xy' (did you mean 'x'?); expected one of: x");
    EXPECT_EQ(unknown_name("profile", "a", {}), "unknown profile 'a'");
}

TEST(config_section_reader, checks_the_kind_and_collects_errors) {
    const document doc = load_string("version: 1\n"
                                     "dependencies:\n"
                                     "  db: {kind: postgres}\n"
                                     "  web: {kind: http, connection: {verify: true}}\n",
                                     "f.yaml");
    try {
        section_reader wrong(doc.dependencies.at(0), dependency_kind::http, "keel::http::service");
        FAIL() << "accepted";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "f.yaml:3:3: error: dependencies.db: is kind postgres, not http "
                               "(keel::http::service needs kind: http)");
    }
    section_reader none(doc.dependencies.at(0), dependency_kind::postgres, "keel::pg::service");
    EXPECT_EQ(none.base(), "dependencies.db.connection");
    EXPECT_EQ(none.where().line, 3); // no section: the dependency's key
    none.throw_if_errors();          // nothing collected: no throw

    section_reader web(doc.dependencies.at(1), dependency_kind::http, "keel::http::service");
    EXPECT_EQ(web.where().line, 4);
    EXPECT_EQ(web.where().column, 33);
    web.error(web.where(), join(web.base(), "x"), "broken");
    EXPECT_THROW(web.throw_if_errors(), config_error);
}

} // namespace
} // namespace keel::config
