// Fault classes: what kind of failure an error is, which decides whether a
// retry can help.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <system_error>

namespace keel {

enum class fault_class : std::uint8_t {
    transient, ///< may succeed if tried again (connection refused/reset, deadlock, 500)
    timeout,   ///< a deadline expired
    throttled, ///< the peer asked us to slow down (429, 503 + Retry-After)
    permanent, ///< trying again gives the same answer (bad request, constraint violation)
    cancelled, ///< the caller cancelled; never retried
    rejected,  ///< refused locally before any attempt started (circuit open, bulkhead
               ///< full, rate limited, budget exhausted); not in the default retry_on
};

inline constexpr int fault_class_count = 6;

std::string_view to_string(fault_class f) noexcept;

/// A set of fault classes (the `retry_on` of a retry policy). A bit mask, so
/// testing membership on the failure path costs one AND.
class fault_set {
public:
    constexpr fault_set() noexcept = default;
    constexpr fault_set(std::initializer_list<fault_class> classes) noexcept {
        for (fault_class f : classes)
            insert(f);
    }
    constexpr void insert(fault_class f) noexcept { bits_ |= bit(f); }
    constexpr void erase(fault_class f) noexcept { bits_ &= static_cast<std::uint8_t>(~bit(f)); }
    constexpr bool contains(fault_class f) const noexcept { return (bits_ & bit(f)) != 0; }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    friend constexpr bool operator==(fault_set, fault_set) noexcept = default;

private:
    static constexpr std::uint8_t bit(fault_class f) noexcept {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(f));
    }
    std::uint8_t bits_ = 0;
};

/// Classifies errors of one category. Returns false to pass the error on (to
/// the category's own answer, then the built-in rules).
using category_classifier = bool (*)(const std::error_code& ec, fault_class& out);

/// Registers a classifier for every error of `category`: for a category that
/// states no fault classes of its own (a foreign library's, the system's), or
/// to override the answer of one that does (keel's, HTTP statuses, SQLSTATEs,
/// Kafka codes: see classified_category.hpp). The last registration for a
/// category wins. Thread-safe; meant for start-up.
void register_classifier(const std::error_category& category, category_classifier classifier);

/// Removes what `register_classifier` installed for `category`; the
/// category's own answer (or the built-in rules) apply again.
void unregister_classifier(const std::error_category& category);

/// The fault class of a failed operation's error, asked in this order:
/// 1. a classifier registered for the error's category (`register_classifier`);
/// 2. the category itself, when it is a `keel::classified_category`;
/// 3. the built-in rules for system, generic and Asio errors (`classify_builtin`).
/// An error nobody recognises is `permanent`: retrying what we do not
/// understand hides bugs. Must not be called with a success code.
fault_class classify(const std::error_code& ec) noexcept;

/// The built-in rules alone (what `classify` falls back to): conditions
/// (cancelled, rejected, timeout) and the system's and Asio's network errors.
fault_class classify_builtin(const std::error_code& ec) noexcept;

} // namespace keel
