// keel::http::response_headers: the fields of a response as curl hands them
// over, one line at a time, kept in one buffer and looked up on demand.
#include <keel/http/message.hpp>

#include <gtest/gtest.h>

namespace kh = keel::http;

namespace {

/// What curl's header callback hands over for a small nginx response.
kh::response_headers nginx_like() {
    kh::response_headers h;
    for (const char* line :
         {"HTTP/1.1 200 OK\r\n", "Server: nginx/1.22.1\r\n",
          "Date: Thu, 26 Nov 2026 17:00:00 GMT\r\n", "Content-Type: text/plain\r\n",
          "Content-Length: 512\r\n", "Set-Cookie: a=1\r\n", "set-cookie:  b=2 \t\r\n", "\r\n"})
        h.add_line(line);
    return h;
}

TEST(http_response_headers, a_field_is_found_whatever_the_case_of_its_name) {
    const kh::response_headers h = nginx_like();
    EXPECT_EQ(h.find("content-length"), "512");
    EXPECT_EQ(h.find("CONTENT-TYPE"), "text/plain");
    EXPECT_EQ(h.find("Date"), "Thu, 26 Nov 2026 17:00:00 GMT");
    EXPECT_EQ(h.find("X-Missing"), "");
    // A name is matched whole, not as a prefix of a longer one or the reverse.
    EXPECT_EQ(h.find("Content"), "");
    EXPECT_EQ(h.find("Content-Length-Extra"), "");
}

TEST(http_response_headers, a_repeated_field_finds_the_first_and_lists_all_in_order) {
    const kh::response_headers h = nginx_like();
    EXPECT_EQ(h.find("set-cookie"), "a=1");
    const kh::header_list all = h.list();
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(h.size(), 6u);
    EXPECT_EQ(all[0], (std::pair<std::string, std::string>{"Server", "nginx/1.22.1"}));
    EXPECT_EQ(all[4], (std::pair<std::string, std::string>{"Set-Cookie", "a=1"}));
    // Whitespace around a value is not part of it; the name is kept as sent.
    EXPECT_EQ(all[5], (std::pair<std::string, std::string>{"set-cookie", "b=2"}));
}

TEST(http_response_headers, status_and_blank_lines_are_not_fields) {
    kh::response_headers h;
    h.add_line("HTTP/1.1 204 No Content\r\n");
    h.add_line("\r\n");
    h.add_line(": no name\r\n");
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.size(), 0u);
    EXPECT_TRUE(h.list().empty());
    EXPECT_EQ(h.find(""), "");
}

TEST(http_response_headers, an_empty_value_is_found_as_empty_and_listed) {
    kh::response_headers h;
    h.add_line("X-Empty:\r\n");
    h.add_line("X-After: yes\r\n");
    EXPECT_EQ(h.find("x-after"), "yes");
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h.list()[0], (std::pair<std::string, std::string>{"X-Empty", ""}));
}

TEST(http_response_headers, a_copy_owns_its_fields) {
    kh::response_headers copy;
    {
        const kh::response_headers original = nginx_like();
        copy = original;
    }
    EXPECT_EQ(copy.find("server"), "nginx/1.22.1");
    copy.clear();
    EXPECT_TRUE(copy.empty());
    EXPECT_EQ(copy.find("server"), "");
}

} // namespace
