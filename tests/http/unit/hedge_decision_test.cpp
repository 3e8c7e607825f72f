// Which keel::http requests a pipeline with hedging may send more than once
// at a time (keel::http::may_hedge): the methods RFC 9110 makes idempotent
// that keel lists, or a request carrying an Idempotency-Key.
#include <keel/http/message.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::http {
namespace {

request with_method(std::string method) {
    request r;
    r.method = std::move(method);
    r.url = "http://orders.internal/orders/42";
    return r;
}

TEST(http_hedge_decision, the_method_table) {
    for (const char* method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
        EXPECT_TRUE(may_hedge(with_method(method))) << method;
    for (const char* method : {"POST", "PATCH", "TRACE", "CONNECT", "LOCK"})
        EXPECT_FALSE(may_hedge(with_method(method))) << method;
    // Methods are case-sensitive (RFC 9110, 9.1): "get" is not GET.
    EXPECT_FALSE(may_hedge(with_method("get")));
}

TEST(http_hedge_decision, an_idempotency_key_of_any_case_makes_a_post_or_patch_hedgeable) {
    for (const char* method : {"POST", "PATCH"}) {
        request r = with_method(method);
        r.headers.emplace_back("Content-Type", "application/json");
        EXPECT_FALSE(may_hedge(r)) << method;
        r.headers.emplace_back("idempotency-KEY", "charge-7f3a");
        EXPECT_TRUE(may_hedge(r)) << method;
    }
}

TEST(http_hedge_decision, an_empty_idempotency_key_is_no_key) {
    request r = with_method("POST");
    r.headers.emplace_back("Idempotency-Key", "");
    EXPECT_FALSE(may_hedge(r));
}

TEST(http_hedge_decision, a_request_marked_idempotent_is_hedgeable) {
    request r = with_method("POST");
    r.idempotent = true;
    EXPECT_TRUE(may_hedge(r));
}

} // namespace
} // namespace keel::http
