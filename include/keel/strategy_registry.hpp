// keel::strategy_registry: the stability patterns' state, one per dependency
// (and endpoint), shared by every pipeline and wrapper of that dependency.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

namespace keel {

/// Holds the state objects of the strategies (a breaker's window, a
/// bulkhead's permits, a budget's tokens) keyed by dependency, endpoint
/// (empty: the whole dependency; a wrapper that knows its peer may key by
/// "host:port") and state type. Every pipeline and wrapper of `payments`
/// that asks for a breaker gets the same one, so one process sees one
/// breaker per dependency. Thread-safe; meant for construction and reloads,
/// not for each call (a call reaches its state through its pipeline's
/// strategy_chain).
class strategy_registry {
public:
    /// The registry that pipelines built from configuration use.
    static strategy_registry& global();

    /// The `State` of (dependency, endpoint). Made with `make()` when there is
    /// none yet or when the one there was made from other settings; kept
    /// when the settings are equal (`==`), so a reload that leaves a
    /// strategy's settings unchanged keeps its state: an open breaker stays
    /// open. `make` returns std::shared_ptr<State>.
    template <class State, class Settings, class Make>
    std::shared_ptr<State> obtain(std::string_view dependency, std::string_view endpoint,
                                  const Settings& settings, Make&& make) {
        const settings_ops ops{typeid(Settings), [](const void* a, const void* b) {
                                   return *static_cast<const Settings*>(a) ==
                                          *static_cast<const Settings*>(b);
                               }};
        auto made = [&]() -> made_state {
            std::shared_ptr<State> state = std::forward<Make>(make)();
            return {std::move(state), std::make_shared<const Settings>(settings)};
        };
        return std::static_pointer_cast<State>(
            find_or_make(dependency, endpoint, typeid(State), &settings, ops, made));
    }

    /// As above, with `std::make_shared<State>(settings)`.
    template <class State, class Settings>
    std::shared_ptr<State> obtain(std::string_view dependency, std::string_view endpoint,
                                  const Settings& settings) {
        return obtain<State>(dependency, endpoint, settings,
                             [&] { return std::make_shared<State>(settings); });
    }

    /// Every `State` of `dependency`, one per endpoint, sorted by endpoint:
    /// what a health check lists.
    template <class State>
    std::vector<std::pair<std::string, std::shared_ptr<State>>>
    states_of(std::string_view dependency) const {
        std::vector<std::pair<std::string, std::shared_ptr<State>>> out;
        for (auto& [endpoint, state] : find_all(dependency, typeid(State)))
            out.emplace_back(std::move(endpoint), std::static_pointer_cast<State>(state));
        return out;
    }

    /// Forgets every state of `dependency` (it left the configuration).
    /// Pipelines that still hold one keep it alive.
    void forget(std::string_view dependency);
    /// Forgets the `State`s of `dependency`, every endpoint's (the
    /// dependency no longer has that strategy; its others keep their state).
    template <class State>
    void forget(std::string_view dependency) {
        forget(dependency, typeid(State));
    }

    /// How many states are held.
    std::size_t size() const;

private:
    struct settings_ops {
        std::type_index type;
        bool (*equal)(const void*, const void*);
    };
    struct made_state {
        std::shared_ptr<void> state;
        std::shared_ptr<const void> settings;
    };
    struct entry {
        std::string dependency;
        std::string endpoint;
        std::type_index state_type;
        std::type_index settings_type;
        std::shared_ptr<void> state;
        std::shared_ptr<const void> settings;
        bool (*equal)(const void*, const void*);
    };

    std::shared_ptr<void> find_or_make(std::string_view dependency, std::string_view endpoint,
                                       std::type_index state_type, const void* settings,
                                       const settings_ops& ops,
                                       const std::function<made_state()>& make);
    std::vector<std::pair<std::string, std::shared_ptr<void>>>
    find_all(std::string_view dependency, std::type_index state_type) const;
    void forget(std::string_view dependency, std::type_index state_type);

    mutable std::mutex mutex_;
    std::vector<entry> entries_; // few: one per strategy and dependency
};

} // namespace keel
