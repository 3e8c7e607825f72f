// Small text comparisons keel::http makes per request and per header line.
// Private to src/http.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace keel::http::detail {

/// Whether `text` begins with the literal `prefix`: a fixed-size memcmp the
/// compiler inlines (string_view's compare is called out of line here, per
/// header line and per method check).
template <std::size_t N>
bool starts_with(std::string_view text, const char (&prefix)[N]) noexcept {
    return text.size() >= N - 1 && std::memcmp(text.data(), prefix, N - 1) == 0;
}

/// Whether `text` is the literal `word`.
template <std::size_t N>
bool is(std::string_view text, const char (&word)[N]) noexcept {
    return text.size() == N - 1 && std::memcmp(text.data(), word, N - 1) == 0;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

} // namespace keel::http::detail
