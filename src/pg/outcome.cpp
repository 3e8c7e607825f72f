#include "outcome.hpp"

#include <keel/pg/error.hpp>

#include <algorithm>
#include <string>

namespace keel::pg::detail {

std::error_code statement_error(bool succeeded, const char* sqlstate) {
    if (succeeded)
        return {};
    if (sqlstate)
        return pg::sqlstate(sqlstate);
    // No SQLSTATE: libpq's own failure, which in practice is the connection.
    return make_error_code(errc::connection_lost);
}

std::error_code sqlstate_in_message(std::string_view message) {
    for (std::string_view severity : {"FATAL:  ", "ERROR:  "}) {
        for (std::size_t at = message.find(severity); at != std::string_view::npos;
             at = message.find(severity, at + 1)) {
            std::string_view rest = message.substr(at + severity.size());
            if (rest.size() > 5 && rest[5] == ':' &&
                std::all_of(rest.begin(), rest.begin() + 5, [](char ch) {
                    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
                }))
                return pg::sqlstate(rest.substr(0, 5));
        }
    }
    return {};
}

bool outcome_unknown(const std::error_code& ec) noexcept {
    if (!ec)
        return false;
    if (ec.category() != sqlstate_category())
        return true;
    const std::string code = sqlstate_text(ec);
    if (code == "57014")
        return false; // query_canceled: the statement was stopped, not applied
    return code.starts_with("08") || code.starts_with("57") || code.starts_with("58") ||
           code.starts_with("XX");
}

} // namespace keel::pg::detail
