// keel::pg::options_from without a server: a `kind: postgres` dependency's
// connection section becomes pool options; bad sections name the file,
// line, column and key.
#include <keel/config/document.hpp>
#include <keel/pg/service.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

namespace config = keel::config;
namespace kp = keel::pg;

TEST(pg_config, connection_section) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  orders-db:
    kind: postgres
    connection: {dsn: "host=db port=5432 dbname=orders", pool_size: 8, cancel_grace: 1s500ms}
)");
    const kp::pool_options o = kp::options_from(doc.dependencies[0]);
    EXPECT_EQ(o.dsn, "host=db port=5432 dbname=orders");
    EXPECT_EQ(o.size, 8u);
    EXPECT_EQ(o.cancel_grace, std::chrono::milliseconds(1500));
}

TEST(pg_config, a_typo_in_the_connection_section_gets_a_suggestion) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: postgres, connection: {dsn: "host=x", pool_sise: 2, cancel_grace: unlimited}}
)",
                                         "svc.yaml");
    std::string what = "accepted";
    try {
        kp::options_from(doc.dependencies[0]);
    } catch (const config::config_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "svc.yaml:3:51: error: dependencies.a.connection.pool_sise: unknown key "
                    "'pool_sise' (did you mean 'pool_size'?); expected one of: dsn, pool_size, "
                    "cancel_grace\n"
                    "svc.yaml:3:79: error: dependencies.a.connection.cancel_grace: cannot be "
                    "unlimited");
}

TEST(pg_config, bad_connection_sections_say_where) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: postgres, connection: {dsn: "host=x", pool_size: 0, grace: 1s}}
  b: {kind: postgres, connection: {pool_size: 2, cancel_grace: 5}}
  c: {kind: http}
  d: {kind: postgres}
)",
                                         "svc.yaml");
    const auto message_of = [&](int i) {
        try {
            kp::options_from(doc.dependencies[static_cast<std::size_t>(i)]);
        } catch (const config::config_error& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    const std::string a = message_of(0);
    EXPECT_NE(a.find("svc.yaml:3:62: error: dependencies.a.connection.pool_size: expected a whole "
                     "number >= 1, got \"0\""),
              std::string::npos)
        << a;
    EXPECT_NE(a.find("dependencies.a.connection.grace: unknown key 'grace'; expected one of: dsn, "
                     "pool_size, cancel_grace"),
              std::string::npos)
        << a;
    const std::string b = message_of(1);
    EXPECT_NE(b.find("dependencies.b.connection.dsn: is required"), std::string::npos) << b;
    EXPECT_NE(b.find("dependencies.b.connection.cancel_grace:"), std::string::npos) << b;
    const std::string c = message_of(2);
    EXPECT_NE(c.find("svc.yaml:5:3: error: dependencies.c: is kind http, not postgres"),
              std::string::npos)
        << c;
    const std::string d = message_of(3);
    EXPECT_NE(d.find("svc.yaml:6:3: error: dependencies.d.connection.dsn: is required"),
              std::string::npos)
        << d;
}

} // namespace
