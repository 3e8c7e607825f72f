#include <keel/kafka/message.hpp>

namespace keel::kafka {

std::optional<std::string_view> find_header(const header_list& headers,
                                            std::string_view name) noexcept {
    std::optional<std::string_view> found;
    for (const auto& [n, v] : headers)
        if (n == name)
            found = v;
    return found;
}

} // namespace keel::kafka
