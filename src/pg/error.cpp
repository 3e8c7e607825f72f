#include <keel/classified_category.hpp>
#include <keel/error.hpp>
#include <keel/fault_injection.hpp>
#include <keel/pg/error.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace keel::pg {

namespace {

constexpr int base = 36;

int digit(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return -1;
}

/// The packed value of a valid five-character SQLSTATE, or of a two-character
/// class (then compare it with `value / class_divisor`).
constexpr int pack(std::string_view code) noexcept {
    int value = 0;
    for (char c : code)
        value = value * base + (c >= '0' && c <= '9' ? c - '0' : c - 'A' + 10);
    return value;
}

constexpr int class_divisor = base * base * base;

std::string unpack(int value) {
    std::string out(5, '0');
    for (int i = 4; i >= 0; --i) {
        const int d = value % base;
        out[static_cast<std::size_t>(i)] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
        value /= base;
    }
    return out;
}

const char* condition_name(const std::string& code) {
    struct known {
        const char* code;
        const char* name;
    };
    static constexpr known names[] = {
        {"23502", "not_null_violation"},
        {"23503", "foreign_key_violation"},
        {"23505", "unique_violation"},
        {"23514", "check_violation"},
        {"40001", "serialization_failure"},
        {"40P01", "deadlock_detected"},
        {"42601", "syntax_error"},
        {"42P01", "undefined_table"},
        {"42703", "undefined_column"},
        {"53300", "too_many_connections"},
        {"55P03", "lock_not_available"},
        {"57014", "query_canceled"},
        {"57P01", "admin_shutdown"},
        {"57P02", "crash_shutdown"},
        {"57P03", "cannot_connect_now"},
        {"08006", "connection_failure"},
        {"25P02", "in_failed_sql_transaction"},
        {"XX000", "internal_error"},
    };
    for (const known& k : names)
        if (code == k.code)
            return k.name;
    return nullptr;
}

class sqlstate_category_impl final : public classified_category {
public:
    const char* name() const noexcept override { return "keel.pg.sqlstate"; }
    fault_class fault_of(int value) const noexcept override {
        static constexpr int transient[] = {pack("40001"), pack("40P01"), pack("57P01"),
                                            pack("57P02"), pack("57P03"), pack("53300"),
                                            pack("55P03")};
        for (int t : transient)
            if (value == t)
                return fault_class::transient;
        if (value / class_divisor == pack("08")) // connection exceptions
            return fault_class::transient;
        if (value == pack("57014"))
            return fault_class::timeout;
        return fault_class::permanent; // 23xxx, 42xxx, other 4xxxx, and what we do not know
    }
    std::string message(int value) const override {
        const std::string code = unpack(value);
        const char* condition = condition_name(code);
        return "SQLSTATE " + code + (condition ? std::string(" ") + condition : std::string());
    }
    bool equivalent(int value, const std::error_condition& c) const noexcept override {
        // statement_timeout and other cancels are timeouts to the caller too.
        if (c == keel::condition::timeout)
            return value == sqlstate("57014").value();
        return std::error_category::equivalent(value, c);
    }
};

class error_category_impl final : public classified_category {
public:
    const char* name() const noexcept override { return "keel.pg"; }
    fault_class fault_of(int value) const noexcept override {
        switch (static_cast<errc>(value)) {
        case errc::connection_lost:
        case errc::connect_failed:
            return fault_class::transient;
        case errc::pool_exhausted:
            return fault_class::timeout;
        case errc::pool_closed:
            return fault_class::cancelled;
        case errc::commit_outcome_unknown:
        case errc::transaction_function_threw:
            return fault_class::permanent;
        }
        return fault_class::permanent;
    }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::connection_lost:
            return "connection to the PostgreSQL server lost";
        case errc::connect_failed:
            return "could not connect to the PostgreSQL server";
        case errc::pool_exhausted:
            return "no pooled PostgreSQL connection came free before the deadline";
        case errc::commit_outcome_unknown:
            return "the connection was lost during COMMIT: the transaction's outcome is unknown";
        case errc::transaction_function_threw:
            return "the transaction's function threw (rolled back)";
        case errc::pool_closed:
            return "the PostgreSQL pool was closed";
        }
        return "keel.pg error " + std::to_string(value);
    }
    bool equivalent(int value, const std::error_condition& c) const noexcept override {
        if (c == keel::condition::timeout)
            return value == static_cast<int>(errc::pool_exhausted);
        if (c == keel::condition::cancelled)
            return value == static_cast<int>(errc::pool_closed);
        return std::error_category::equivalent(value, c);
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    return category_instance<error_category_impl>();
}

const std::error_category& sqlstate_category() noexcept {
    return category_instance<sqlstate_category_impl>();
}

std::error_code sqlstate(std::string_view code) noexcept {
    int value = 0;
    bool ok = code.size() == 5;
    for (std::size_t i = 0; ok && i < 5; ++i) {
        const int d = digit(code[i]);
        ok = d >= 0;
        value = value * base + d;
    }
    if (!ok)
        return sqlstate("XX000");
    return {value, sqlstate_category()};
}

std::string sqlstate_text(const std::error_code& ec) {
    if (ec.category() != sqlstate_category())
        return {};
    return unpack(ec.value());
}

namespace {

std::optional<std::error_code> sqlstate_from_name(std::string_view code, std::string& why) {
    std::string upper(code);
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const bool valid = upper.size() == 5 && std::all_of(upper.begin(), upper.end(), [](char c) {
                           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
                       });
    if (!valid) {
        why = "a PostgreSQL error is pg_<SQLSTATE> with five characters 0-9 or A-Z (pg_40001)";
        return std::nullopt;
    }
    return sqlstate(upper);
}

// Linked in with the SQLSTATE category (see keel::http's).
[[maybe_unused]] const bool registered = (register_fault_errors(), true);

} // namespace

void register_fault_errors() {
    register_fault_error_family("pg_", &sqlstate_from_name);
}

std::error_code fault_error(std::error_code generic) noexcept {
    if (generic == std::errc::connection_refused)
        return make_error_code(errc::connect_failed);
    if (generic == std::errc::connection_reset)
        return make_error_code(errc::connection_lost);
    return generic;
}

} // namespace keel::pg
