// Helpers of the prometheus integration tests: a plain HTTP GET of a local
// port, and an operation that succeeds at once.
#pragma once

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/append.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

namespace keel::test {

/// GET `path` from 127.0.0.1:port; the whole response, headers included.
inline std::string http_get(std::uint16_t port, const std::string& path) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    asio::write(socket, asio::buffer(request));
    std::string response;
    std::error_code ec;
    asio::read(socket, asio::dynamic_buffer(response), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return response;
}

/// An operation that completes at once, with success.
inline auto answer_now(asio::io_context& io) {
    return [&io](const auto&, auto&& token) {
        return asio::post(io, asio::experimental::append(std::move(token), std::error_code{}));
    };
}

} // namespace keel::test
