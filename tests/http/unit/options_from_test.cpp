// keel::http::options_from without a server: a `kind: http` dependency's
// connection section becomes client options; bad sections say where.
#include <keel/config/document.hpp>
#include <keel/http/service.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace keel::test {
namespace {

namespace kh = keel::http;

TEST(http_config, connection_section) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  payments-http:
    kind: http
    connection:
      base_url: http://127.0.0.1:8080/
      headers: {Authorization: Bearer abc, X-Team: core}
      tls: {verify: false, ca_file: /etc/ca.pem}
      deadline_headers: true
      max_connections_per_host: 8
)");
    const kh::client_options o = kh::options_from(doc.dependencies[0]);
    EXPECT_EQ(o.base_url, "http://127.0.0.1:8080");
    ASSERT_EQ(o.default_headers.size(), 2u);
    EXPECT_EQ(o.default_headers[0],
              (std::pair<std::string, std::string>{"Authorization", "Bearer abc"}));
    EXPECT_FALSE(o.tls.verify);
    EXPECT_EQ(o.tls.ca_file, "/etc/ca.pem");
    EXPECT_TRUE(o.deadline_headers);
    EXPECT_EQ(o.max_connections_per_host, 8);
}

TEST(http_config, connection_reads_as_the_loader_does) {
    // The loader's reader: every YAML boolean the loader takes, the loader's
    // message for what it does not, and "did you mean" for a typo.
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: http, connection: {tls: {verify: FALSE}, deadline_headers: True}}
  b: {kind: http, connection: {tls: {verify: yes}}}
  c: {kind: http, connection: {tsl: {verify: true}, max_connections_per_host: -1}}
)",
                                         "svc.yaml");
    const kh::client_options a = kh::options_from(doc.dependencies[0]);
    EXPECT_FALSE(a.tls.verify);
    EXPECT_TRUE(a.deadline_headers);
    std::string b, c;
    try {
        kh::options_from(doc.dependencies[1]);
    } catch (const config::config_error& e) {
        b = e.what();
    }
    try {
        kh::options_from(doc.dependencies[2]);
    } catch (const config::config_error& e) {
        c = e.what();
    }
    EXPECT_EQ(b, "svc.yaml:4:46: error: dependencies.b.connection.tls.verify: expected "
                 "a boolean (true or false), got \"yes\"");
    EXPECT_EQ(c, "svc.yaml:5:32: error: dependencies.c.connection.tsl: unknown key 'tsl' (did you "
                 "mean 'tls'?); expected one of: base_url, headers, tls, deadline_headers, "
                 "max_connections_per_host\n"
                 "svc.yaml:5:79: error: dependencies.c.connection.max_connections_per_host: "
                 "expected a whole number >= 0, got \"-1\"");
}

TEST(http_config, bad_connection_sections_say_where) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: http, connection: {base_url: ftp://x, tls: {verify: yes}, retries: 3}}
  b: {kind: postgres}
)",
                                         "svc.yaml");
    try {
        kh::options_from(doc.dependencies[0]);
        FAIL() << "accepted";
    } catch (const config::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("svc.yaml:3:42: error: dependencies.a.connection.base_url: expected a "
                            "URL starting with http:// or https://"),
                  std::string::npos)
            << what;
        EXPECT_NE(what.find("dependencies.a.connection.tls.verify: expected a boolean"),
                  std::string::npos)
            << what;
        EXPECT_NE(what.find("dependencies.a.connection.retries: unknown key 'retries'"),
                  std::string::npos)
            << what;
    }
    EXPECT_THROW(kh::options_from(doc.dependencies[1]), config::config_error);
}

} // namespace
} // namespace keel::test
