// keel::pg::result: the rows (or the error) a statement produced.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace keel::pg {

namespace detail {
struct result_data;

// Text-format parsers behind result::get<T>; each throws
// std::invalid_argument naming the text when it is not a T.
void parse(std::string_view text, bool& out);
void parse(std::string_view text, std::int16_t& out);
void parse(std::string_view text, std::int32_t& out);
void parse(std::string_view text, std::int64_t& out);
void parse(std::string_view text, double& out);
void parse(std::string_view text, float& out);
inline void parse(std::string_view text, std::string& out) {
    out.assign(text);
}
inline void parse(std::string_view text, std::string_view& out) {
    out = text;
}
} // namespace detail

/// What one statement returned: rows of text values (libpq's text format),
/// or an error with its SQLSTATE and message. Cheap to copy (shared, read
/// only); safe to read from any thread. Rows and columns count from 0.
class result {
public:
    result() = default;

    /// Whether the server answered (rows, a command tag, or an error).
    bool has_value() const noexcept { return data_ != nullptr; }

    int rows() const noexcept;
    int columns() const noexcept;
    std::string_view column_name(int column) const;
    /// The index of the column named `name`, or -1.
    int column_index(std::string_view name) const;

    bool is_null(int row, int column) const;
    /// The value as the server sent it in text form; empty for NULL (use
    /// is_null to tell NULL from ''). Valid while a copy of this result lives.
    std::string_view text(int row, int column) const;

    /// The value converted to T (bool, std::int16_t/32/64, double, float,
    /// std::string, std::string_view). Throws std::invalid_argument on NULL
    /// or when the text is not a T (e.g. get<std::int32_t> of "x"), and
    /// std::out_of_range for a row or column that does not exist.
    template <class T>
    T get(int row, int column) const {
        if (is_null(row, column))
            throw std::invalid_argument("keel::pg::result: NULL in row " + std::to_string(row) +
                                        ", column " + std::to_string(column));
        T out{};
        detail::parse(text(row, column), out);
        return out;
    }
    /// As get<T>, with NULL as nullopt.
    template <class T>
    std::optional<T> get_optional(int row, int column) const {
        if (is_null(row, column))
            return std::nullopt;
        return get<T>(row, column);
    }

    /// Rows an INSERT/UPDATE/DELETE/SELECT affected (the command tag's
    /// count); 0 when the tag has none.
    std::int64_t affected_rows() const noexcept;
    /// The command tag, e.g. "INSERT 0 1".
    std::string_view command_tag() const noexcept;

    /// The server's SQLSTATE and message of a failed statement; empty
    /// otherwise (and for failures without a server answer).
    std::string_view sqlstate() const noexcept;
    std::string_view error_message() const noexcept;

    explicit result(std::shared_ptr<const detail::result_data> data) noexcept
        : data_(std::move(data)) {}

private:
    void check(int row, int column) const;
    std::shared_ptr<const detail::result_data> data_;
};

} // namespace keel::pg
