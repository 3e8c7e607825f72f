#include <keel/strategy_registry.hpp>

#include <algorithm>

namespace keel {

strategy_registry& strategy_registry::global() {
    static strategy_registry instance;
    return instance;
}

std::shared_ptr<void> strategy_registry::find_or_make(std::string_view dependency,
                                                      std::string_view endpoint,
                                                      std::type_index state_type,
                                                      const void* settings, const settings_ops& ops,
                                                      const std::function<made_state()>& make) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) {
        return e.state_type == state_type && e.dependency == dependency && e.endpoint == endpoint;
    });
    if (it != entries_.end() && it->settings_type == ops.type &&
        it->equal(it->settings.get(), settings))
        return it->state;
    // Made under the lock: two callers racing for a new state get one.
    made_state made = make();
    if (it != entries_.end()) {
        it->settings_type = ops.type;
        it->state = made.state;
        it->settings = std::move(made.settings);
        it->equal = ops.equal;
    } else {
        entries_.push_back({std::string(dependency), std::string(endpoint), state_type, ops.type,
                            made.state, std::move(made.settings), ops.equal});
    }
    return made.state;
}

std::vector<std::pair<std::string, std::shared_ptr<void>>>
strategy_registry::find_all(std::string_view dependency, std::type_index state_type) const {
    std::vector<std::pair<std::string, std::shared_ptr<void>>> out;
    {
        std::lock_guard lock(mutex_);
        for (const entry& e : entries_)
            if (e.state_type == state_type && e.dependency == dependency)
                out.emplace_back(e.endpoint, e.state);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

void strategy_registry::forget(std::string_view dependency) {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [&](const entry& e) { return e.dependency == dependency; });
}

void strategy_registry::forget(std::string_view dependency, std::type_index state_type) {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [&](const entry& e) {
        return e.state_type == state_type && e.dependency == dependency;
    });
}

std::size_t strategy_registry::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

} // namespace keel
