#include <keel/classified_category.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>

#include <asio/error.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <stdexcept>

namespace keel {

std::string_view to_string(fault_class f) noexcept {
    switch (f) {
    case fault_class::transient:
        return "transient";
    case fault_class::timeout:
        return "timeout";
    case fault_class::throttled:
        return "throttled";
    case fault_class::permanent:
        return "permanent";
    case fault_class::cancelled:
        return "cancelled";
    case fault_class::rejected:
        return "rejected";
    }
    return "unknown";
}

namespace {

struct registered_classifier {
    const std::error_category* category = nullptr;
    category_classifier classify = nullptr;
};

// Only overrides and foreign categories register (keel's own categories
// answer for themselves), and classification only runs when an attempt
// failed: a small locked table is plenty. `registered` lets the common
// program, which registers nothing, skip the lock.
struct classifier_table {
    std::mutex mutex;
    std::array<registered_classifier, 32> entries{};
    std::size_t size = 0;
    std::atomic<std::size_t> registered{0}; ///< `size`, readable without the lock
};

classifier_table& table() {
    static classifier_table instance;
    return instance;
}

} // namespace

void register_classifier(const std::error_category& category, category_classifier classifier) {
    auto& t = table();
    std::lock_guard lock(t.mutex);
    for (std::size_t i = 0; i < t.size; ++i) {
        if (*t.entries[i].category == category) {
            t.entries[i].classify = classifier;
            return;
        }
    }
    if (t.size == t.entries.size())
        throw std::length_error("keel::register_classifier: too many error categories");
    t.entries[t.size++] = {&category, classifier};
    t.registered.store(t.size, std::memory_order_release);
}

void unregister_classifier(const std::error_category& category) {
    auto& t = table();
    std::lock_guard lock(t.mutex);
    for (std::size_t i = 0; i < t.size; ++i) {
        if (*t.entries[i].category == category) {
            t.entries[i] = t.entries[--t.size];
            t.entries[t.size] = {};
            t.registered.store(t.size, std::memory_order_release);
            return;
        }
    }
}

fault_class classify_builtin(const std::error_code& original) noexcept {
    const std::error_code ec = detail::portable(original);
    if (ec == condition::cancelled)
        return fault_class::cancelled;
    if (ec == condition::rejected)
        return fault_class::rejected;
    if (ec == condition::timeout)
        return fault_class::timeout;
    if (ec == asio::error::eof || ec == asio::error::host_not_found_try_again)
        return fault_class::transient;
    // Errors where the peer or the path to it is (possibly briefly) away.
    static constexpr std::errc transient_errors[] = {
        std::errc::connection_refused,
        std::errc::connection_reset,
        std::errc::connection_aborted,
        std::errc::broken_pipe,
        std::errc::network_down,
        std::errc::network_reset,
        std::errc::network_unreachable,
        std::errc::host_unreachable,
        std::errc::not_connected,
        std::errc::resource_unavailable_try_again,
        std::errc::interrupted,
        std::errc::no_buffer_space,
        std::errc::device_or_resource_busy,
    };
    for (std::errc e : transient_errors) {
        if (ec == e)
            return fault_class::transient;
    }
    return fault_class::permanent;
}

fault_class classify(const std::error_code& ec) noexcept {
    const std::error_category& category = ec.category();
    auto& t = table();
    if (t.registered.load(std::memory_order_acquire) != 0) {
        category_classifier custom = nullptr;
        {
            std::lock_guard lock(t.mutex);
            for (std::size_t i = 0; i < t.size; ++i) {
                if (*t.entries[i].category == category) {
                    custom = t.entries[i].classify;
                    break;
                }
            }
        }
        fault_class result{};
        if (custom && custom(ec, result))
            return result;
    }
    if (const auto* own = dynamic_cast<const classified_category*>(&category))
        return own->fault_of(ec.value());
    return classify_builtin(ec);
}

} // namespace keel
