#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/pg/error.hpp>

#include <mutex>
#include <string>

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

class sqlstate_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "keel.pg.sqlstate"; }
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

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "keel.pg"; }
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

bool classify_sqlstate(const std::error_code& ec, fault_class& out) {
    const std::string code = unpack(ec.value());
    static constexpr const char* transient[] = {"40001", "40P01", "57P01", "57P02",
                                                "57P03", "53300", "55P03"};
    for (const char* t : transient)
        if (code == t) {
            out = fault_class::transient;
            return true;
        }
    if (code.starts_with("08")) { // connection exceptions
        out = fault_class::transient;
        return true;
    }
    if (code == "57014") {
        out = fault_class::timeout;
        return true;
    }
    out = fault_class::permanent; // 23xxx, 42xxx, other 4xxxx, and what we do not know
    return true;
}

bool classify_pg(const std::error_code& ec, fault_class& out) {
    switch (static_cast<errc>(ec.value())) {
    case errc::connection_lost:
    case errc::connect_failed:
        out = fault_class::transient;
        return true;
    case errc::pool_exhausted:
        out = fault_class::timeout;
        return true;
    case errc::pool_closed:
        out = fault_class::cancelled;
        return true;
    case errc::commit_outcome_unknown:
    case errc::transaction_function_threw:
        out = fault_class::permanent;
        return true;
    }
    out = fault_class::permanent;
    return true;
}

} // namespace

const std::error_category& error_category() noexcept {
    static const error_category_impl instance;
    return instance;
}

const std::error_category& sqlstate_category() noexcept {
    static const sqlstate_category_impl instance;
    return instance;
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

void register_classifiers() {
    static std::once_flag once;
    std::call_once(once, [] {
        keel::register_classifier(sqlstate_category(), &classify_sqlstate);
        keel::register_classifier(error_category(), &classify_pg);
    });
}

} // namespace keel::pg
