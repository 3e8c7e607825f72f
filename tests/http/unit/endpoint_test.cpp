// keel::http::endpoint_of: the key of a request's per-endpoint state.
#include <keel/http/message.hpp>

#include <gtest/gtest.h>

namespace keel::http {
namespace {

TEST(http_endpoint, scheme_host_and_port_with_the_schemes_default_port) {
    EXPECT_EQ(endpoint_of("http://127.0.0.1:8080/orders?id=1"), "http://127.0.0.1:8080");
    EXPECT_EQ(endpoint_of("http://api.example.com/v1"), "http://api.example.com:80");
    EXPECT_EQ(endpoint_of("https://api.example.com"), "https://api.example.com:443");
}

TEST(http_endpoint, scheme_and_host_are_lower_cased_and_user_info_dropped) {
    EXPECT_EQ(endpoint_of("HTTPS://Api.Example.COM/Path"), "https://api.example.com:443");
    EXPECT_EQ(endpoint_of("http://user:secret@db1:8443/x"), "http://db1:8443");
}

TEST(http_endpoint, ipv6_literals_keep_their_brackets) {
    EXPECT_EQ(endpoint_of("http://[::1]:9000/x"), "http://[::1]:9000");
    EXPECT_EQ(endpoint_of("https://[2001:db8::1]/x"), "https://[2001:db8::1]:443");
}

TEST(http_endpoint, a_url_without_a_scheme_is_http) {
    EXPECT_EQ(endpoint_of("example.com/x"), "http://example.com:80");
    EXPECT_EQ(endpoint_of("example.com?q=1"), "http://example.com:80");
}

} // namespace
} // namespace keel::http
