#include <keel/classified_category.hpp>
#include <keel/error.hpp>

#include <asio/error.hpp>

#include <string>

namespace keel {
namespace {

class keel_error_category final : public classified_category {
public:
    const char* name() const noexcept override { return "keel"; }

    fault_class fault_of(int value) const noexcept override {
        switch (static_cast<errc>(value)) {
        case errc::timeout:
        case errc::connect_timeout:
        case errc::exchange_timeout:
        case errc::deadline_exceeded:
            return fault_class::timeout;
        case errc::circuit_open:
        case errc::bulkhead_full:
        case errc::bulkhead_timeout:
        case errc::rate_limited:
        case errc::retry_budget_exhausted:
        case errc::throttled_locally:
            return fault_class::rejected;
        }
        return fault_class::permanent; // a code this version does not know
    }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::timeout:
            return "timeout";
        case errc::connect_timeout:
            return "connect timeout";
        case errc::exchange_timeout:
            return "exchange timeout";
        case errc::deadline_exceeded:
            return "total deadline exceeded";
        case errc::circuit_open:
            return "circuit open";
        case errc::bulkhead_full:
            return "bulkhead full";
        case errc::bulkhead_timeout:
            return "bulkhead wait timed out";
        case errc::rate_limited:
            return "rate limited";
        case errc::retry_budget_exhausted:
            return "retry budget exhausted";
        case errc::throttled_locally:
            return "throttled locally";
        }
        return "unknown keel error " + std::to_string(value);
    }

    // A code's condition follows from its fault class: one list to keep.
    std::error_condition default_error_condition(int value) const noexcept override {
        switch (fault_of(value)) {
        case fault_class::timeout:
            return condition::timeout;
        case fault_class::rejected:
            return condition::rejected;
        default:
            return {value, *this};
        }
    }
};

class keel_condition_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "keel.condition"; }

    std::string message(int value) const override {
        switch (static_cast<condition>(value)) {
        case condition::timeout:
            return "timeout";
        case condition::cancelled:
            return "cancelled";
        case condition::rejected:
            return "rejected locally";
        }
        return "unknown keel condition " + std::to_string(value);
    }

    bool equivalent(const std::error_code& original, int value) const noexcept override {
        const std::error_code code = detail::portable(original);
        switch (static_cast<condition>(value)) {
        case condition::timeout:
            // keel's own codes answer through default_error_condition above.
            return (code.category() == keel::error_category() &&
                    keel::error_category().default_error_condition(code.value()) ==
                        condition::timeout) ||
                   code == std::errc::timed_out;
        case condition::cancelled:
            return code == std::errc::operation_canceled;
        case condition::rejected:
            return code.category() == keel::error_category() &&
                   keel::error_category().default_error_condition(code.value()) ==
                       condition::rejected;
        }
        return false;
    }
};

} // namespace

namespace detail {

std::error_code portable(const std::error_code& ec) noexcept {
    // Standalone Asio reports errno values in its own "asio.system" category,
    // which does not map them to std::errc conditions: re-home them.
    if (ec.category() == asio::error::get_system_category())
        return {ec.value(), std::system_category()};
    return ec;
}

} // namespace detail

namespace {

/// A category built at compile time and never destroyed: error_category()
/// is asked for every keel code made or compared (a refusal, a timeout), and
/// a function-local static would cost a guard check each time; never
/// destroyed, a code compared in another object's destructor at exit stays
/// valid.
template <class Category>
union constant_category {
    constexpr constant_category() noexcept : value() {}
    ~constant_category() {}
    Category value;
};

constinit constant_category<keel_error_category> error_instance;
constinit constant_category<keel_condition_category> condition_instance;

} // namespace

const std::error_category& error_category() noexcept {
    return error_instance.value;
}

const std::error_category& condition_category() noexcept {
    return condition_instance.value;
}

} // namespace keel
