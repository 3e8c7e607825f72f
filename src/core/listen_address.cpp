#include <keel/internal/listen_address.hpp>

#include <string>

namespace keel::internal {

bool split_listen_address(std::string_view text, std::string& host, std::uint16_t& port,
                          std::string* why) {
    const auto fail = [&](std::string message) {
        if (why)
            *why = std::move(message);
        return false;
    };
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos)
            return fail("unclosed '[' in \"" + std::string(text) + "\" (write [::1]:9464)");
        host = std::string(text.substr(1, close - 1));
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected host:port, got \"" + std::string(text) + "\" (no port)");
        port_text = text.substr(close + 2);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return fail("expected host:port (e.g. 127.0.0.1:9464), got \"" + std::string(text) +
                        "\"");
        host = std::string(text.substr(0, colon));
        if (host.find(':') != std::string::npos)
            return fail("an IPv6 address needs brackets: [" + host +
                        "]:" + std::string(text.substr(colon + 1)));
        port_text = text.substr(colon + 1);
    }
    if (host.empty())
        return fail("expected host:port, got \"" + std::string(text) +
                    "\" (no host: write 0.0.0.0 to listen on every interface)");
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string_view::npos)
        return fail("the port must be a number from 0 to 65535, got \"" + std::string(port_text) +
                    "\"");
    const unsigned long value = std::stoul(std::string(port_text));
    if (value > 65535)
        return fail("the port must be a number from 0 to 65535, got \"" + std::string(port_text) +
                    "\"");
    port = static_cast<std::uint16_t>(value);
    return true;
}

} // namespace keel::internal
