#include "result_data.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace keel::pg {

namespace detail {

namespace {

template <class Int>
void parse_integer(std::string_view text, Int& out, const char* type) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || end != text.data() + text.size())
        throw std::invalid_argument("keel::pg::result: \"" + std::string(text) + "\" is not " +
                                    type);
}

template <class Float>
void parse_floating(std::string_view text, Float& out, const char* type) {
    // PostgreSQL spells the special values its own way.
    if (text == "NaN") {
        out = std::numeric_limits<Float>::quiet_NaN();
        return;
    }
    if (text == "Infinity" || text == "-Infinity") {
        out = text[0] == '-' ? -std::numeric_limits<Float>::infinity()
                             : std::numeric_limits<Float>::infinity();
        return;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || end != text.data() + text.size())
        throw std::invalid_argument("keel::pg::result: \"" + std::string(text) + "\" is not " +
                                    type);
}

} // namespace

void parse(std::string_view text, bool& out) {
    if (text == "t" || text == "true")
        out = true;
    else if (text == "f" || text == "false")
        out = false;
    else
        throw std::invalid_argument("keel::pg::result: \"" + std::string(text) +
                                    "\" is not a boolean");
}
void parse(std::string_view text, std::int16_t& out) {
    parse_integer(text, out, "a smallint");
}
void parse(std::string_view text, std::int32_t& out) {
    parse_integer(text, out, "an integer");
}
void parse(std::string_view text, std::int64_t& out) {
    parse_integer(text, out, "a bigint");
}
void parse(std::string_view text, double& out) {
    parse_floating(text, out, "a double precision");
}
void parse(std::string_view text, float& out) {
    parse_floating(text, out, "a real");
}

} // namespace detail

int result::rows() const noexcept {
    return data_ && data_->res ? PQntuples(data_->res) : 0;
}

int result::columns() const noexcept {
    return data_ && data_->res ? PQnfields(data_->res) : 0;
}

std::string_view result::column_name(int column) const {
    check(0, column);
    return PQfname(data_->res, column);
}

int result::column_index(std::string_view name) const {
    for (int c = 0; c < columns(); ++c)
        if (name == PQfname(data_->res, c))
            return c;
    return -1;
}

void result::check(int row, int column) const {
    // column_name passes row 0 for a result that may have no rows.
    const bool row_ok = row >= 0 && (row < rows() || (row == 0 && columns() > 0));
    if (!row_ok || column < 0 || column >= columns())
        throw std::out_of_range("keel::pg::result: no row " + std::to_string(row) + ", column " +
                                std::to_string(column) + " (" + std::to_string(rows()) + " rows, " +
                                std::to_string(columns()) + " columns)");
}

bool result::is_null(int row, int column) const {
    check(row, column);
    if (row >= rows())
        throw std::out_of_range("keel::pg::result: no row " + std::to_string(row));
    return PQgetisnull(data_->res, row, column) != 0;
}

std::string_view result::text(int row, int column) const {
    check(row, column);
    if (row >= rows())
        throw std::out_of_range("keel::pg::result: no row " + std::to_string(row));
    return {PQgetvalue(data_->res, row, column),
            static_cast<std::size_t>(PQgetlength(data_->res, row, column))};
}

std::int64_t result::affected_rows() const noexcept {
    if (!data_ || !data_->res)
        return 0;
    const char* n = PQcmdTuples(data_->res);
    std::int64_t out = 0;
    std::from_chars(n, n + std::strlen(n), out);
    return out;
}

std::string_view result::command_tag() const noexcept {
    return data_ && data_->res ? PQcmdStatus(data_->res) : "";
}

std::string_view result::sqlstate() const noexcept {
    if (!data_ || !data_->res)
        return {};
    const char* s = PQresultErrorField(data_->res, PG_DIAG_SQLSTATE);
    return s ? s : "";
}

std::string_view result::error_message() const noexcept {
    if (!data_)
        return {};
    if (!data_->res)
        return data_->message;
    return PQresultErrorMessage(data_->res);
}

} // namespace keel::pg
