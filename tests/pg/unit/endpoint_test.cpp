// keel::pg::endpoint_of: the pool's one endpoint, from its connection string.
#include <keel/pg/pool.hpp>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

namespace keel::pg {
namespace {

TEST(pg_endpoint, host_and_port_of_a_keyword_string) {
    EXPECT_EQ(endpoint_of("host=DB1 port=6432 dbname=app"), "db1:6432");
    EXPECT_EQ(endpoint_of("hostaddr=10.0.0.7 dbname=app"), "10.0.0.7:5432");
}

TEST(pg_endpoint, host_and_port_of_a_uri) {
    EXPECT_EQ(endpoint_of("postgresql://app@DB1/app"), "db1:5432");
    EXPECT_EQ(endpoint_of("postgres://app:pw@127.0.0.1:55432/app?sslmode=disable"),
              "127.0.0.1:55432");
}

TEST(pg_endpoint, defaults_where_the_string_names_none) {
    EXPECT_EQ(endpoint_of("dbname=app"), "localhost:5432");
}

TEST(pg_endpoint, a_string_libpq_cannot_parse_has_none) {
    EXPECT_EQ(endpoint_of("host='unterminated"), "");
}

TEST(pg_endpoint, a_pool_reports_its_connection_strings_endpoint) {
    asio::io_context io;
    pool_options options;
    options.dsn = "host=replica-2 port=5433 dbname=app";
    pool p(io.get_executor(), options);
    EXPECT_EQ(p.endpoint(), "replica-2:5433");
}

} // namespace
} // namespace keel::pg
