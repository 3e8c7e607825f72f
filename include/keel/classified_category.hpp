// An error category that states the fault class of its own codes.
#pragma once

#include <keel/fault.hpp>

#include <system_error>

namespace keel {

/// Derive an error category from this to give each of its codes a fault
/// class. `keel::classify` asks it directly, so the answer does not depend on
/// any registration or on which objects a program happened to construct.
/// keel's own categories (keel::errc, HTTP statuses, curl, SQLSTATEs,
/// keel::pg::errc, Kafka) are classified categories.
///
/// A classifier registered with `register_classifier` for the same category
/// still wins: that is how an application overrides one of these answers.
class classified_category : public std::error_category {
public:
    /// The fault class of the code `value` of this category. Called only for
    /// failures (never for value 0 of a category where 0 means success), on
    /// any thread: it must be a pure function of `value`.
    virtual fault_class fault_of(int value) const noexcept = 0;

protected:
    constexpr classified_category() noexcept = default;
};

/// The one object of the category type `Category`: categories compare by
/// address, so each is made once, on first use (thread-safe).
template <class Category>
const Category& category_instance() noexcept {
    static const Category instance;
    return instance;
}

} // namespace keel
