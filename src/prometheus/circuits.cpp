// Circuit breakers as metrics: transitions counted by the breaker's own
// listener, state and failure ratio read from its snapshot when published.
#include "circuits.hpp"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <utility>

namespace keel::prometheus::detail {

namespace {

constexpr circuit_state all_states[] = {circuit_state::closed, circuit_state::open,
                                        circuit_state::half_open};

/// How bad a state is, for showing several breakers as one.
int severity(circuit_state s) noexcept {
    switch (s) {
    case circuit_state::closed:
        return 0;
    case circuit_state::half_open:
        return 1;
    case circuit_state::open:
        return 2;
    }
    return 0;
}

struct possible_transition {
    circuit_state from;
    circuit_state to;
    std::string_view reason;
};

/// Every transition keel::circuit_breaker makes (circuit_transition::reason).
constexpr possible_transition possible_transitions[] = {
    {circuit_state::closed, circuit_state::open, "failure_ratio"},
    {circuit_state::closed, circuit_state::open, "slow_calls"},
    {circuit_state::closed, circuit_state::open, "consecutive_failures"},
    {circuit_state::closed, circuit_state::open, "isolated"},
    {circuit_state::open, circuit_state::half_open, "break_ended"},
    {circuit_state::half_open, circuit_state::open, "probe_failed"},
    {circuit_state::half_open, circuit_state::open, "half_open_timeout"},
    {circuit_state::half_open, circuit_state::open, "isolated"},
    {circuit_state::half_open, circuit_state::closed, "probes_succeeded"},
    {circuit_state::half_open, circuit_state::closed, "reset"},
    {circuit_state::open, circuit_state::closed, "reset"},
};

/// Whether `watched` holds `one` already.
template <class Breakers>
bool watching(const std::vector<std::weak_ptr<Breakers>>& watched,
              const std::shared_ptr<Breakers>& one) {
    return std::any_of(watched.begin(), watched.end(),
                       [&](const auto& weak) { return weak.lock() == one; });
}

} // namespace

circuit_reading aggregate(std::span<const circuit_snapshot> breakers) noexcept {
    circuit_reading out;
    for (const circuit_snapshot& b : breakers) {
        if (severity(b.state) > severity(out.state))
            out.state = b.state;
        out.failure_ratio = std::max(out.failure_ratio, b.failure_ratio);
    }
    return out;
}

circuit_tally tally(std::span<const endpoint_circuit_snapshot> endpoints) noexcept {
    circuit_tally out;
    for (const endpoint_circuit_snapshot& e : endpoints) {
        ++out.in_state[static_cast<std::size_t>(e.snapshot.state)];
        out.failure_ratio = std::max(out.failure_ratio, e.snapshot.failure_ratio);
    }
    return out;
}

// ---- transitions ----------------------------------------------------------------------

transition_counter::transition_counter(std::shared_ptr<::prometheus::Registry> registry,
                                       ::prometheus::Family<::prometheus::Counter>& family,
                                       std::string dependency)
    : registry_(std::move(registry)), family_(&family), dependency_(std::move(dependency)) {
    for (const possible_transition& t : possible_transitions)
        known_.push_back({t.from, t.to, t.reason, &series(t.from, t.to, t.reason)});
}

::prometheus::Counter& transition_counter::series(circuit_state from, circuit_state to,
                                                  std::string_view reason) const {
    return family_->Add({{"dependency", dependency_},
                         {"from", std::string(to_string(from))},
                         {"to", std::string(to_string(to))},
                         {"reason", std::string(reason)}});
}

void transition_counter::count(const circuit_transition& t) const noexcept {
    for (const known& k : known_) {
        if (k.from == t.from && k.to == t.to && k.reason == t.reason) {
            k.counter->Increment();
            return;
        }
    }
    try { // a reason keel's breaker added later: rare, so found in the family
        series(t.from, t.to, t.reason).Increment();
    } catch (const std::exception&) {
        // Out of memory: the transition happened all the same; a count is lost.
    }
}

// ---- watched breakers -----------------------------------------------------------------

bool circuit_watch::start(const circuit_families& families,
                          const std::shared_ptr<::prometheus::Registry>& registry,
                          const std::string& dependency) {
    if (!transitions_) {
        families_ = families;
        transitions_ =
            std::make_shared<const transition_counter>(registry, *families.transitions, dependency);
    }
    if (!failure_ratio_) { // the first breaker, or the first since the last one went
        for (circuit_state s : all_states)
            state_[static_cast<std::size_t>(s)] = &families_.state->Add(
                {{"dependency", dependency}, {"state", std::string(to_string(s))}});
        failure_ratio_ = &families_.failure_ratio->Add({{"dependency", dependency}});
        return true;
    }
    return false;
}

void circuit_watch::add(const circuit_families& families,
                        const std::shared_ptr<::prometheus::Registry>& registry,
                        const std::string& dependency,
                        const std::shared_ptr<circuit_breaker>& breaker) {
    std::lock_guard lock(mutex_);
    if (watching(breakers_, breaker))
        return;
    if (start(families, registry, dependency)) // until published: a new breaker is closed
        state_[static_cast<std::size_t>(circuit_state::closed)]->Set(1);
    per_endpoint_ = false;
    breaker->on_transition(
        [counter = transitions_](const circuit_transition& t) { counter->count(t); });
    breakers_.push_back(breaker);
}

void circuit_watch::add(const circuit_families& families,
                        const std::shared_ptr<::prometheus::Registry>& registry,
                        const std::string& dependency,
                        const std::shared_ptr<endpoint_circuit_breakers>& breakers) {
    std::lock_guard lock(mutex_);
    if (watching(sets_, breakers))
        return;
    start(families, registry, dependency); // until published: no endpoint, every count 0
    per_endpoint_ = true;
    // Every endpoint's transitions, summed per dependency.
    breakers->on_transition(
        [counter = transitions_](std::string_view, const circuit_transition& t) {
            counter->count(t);
        });
    sets_.push_back(breakers);
}

void circuit_watch::set_gauges(clock_ticks now) {
    std::erase_if(sets_, [](const auto& weak) { return weak.expired(); });
    std::vector<circuit_snapshot> snapshots;
    std::erase_if(breakers_, [&](const std::weak_ptr<circuit_breaker>& weak) {
        const std::shared_ptr<circuit_breaker> breaker = weak.lock();
        if (breaker)
            snapshots.push_back(breaker->snapshot(now));
        return !breaker;
    });
    std::shared_ptr<endpoint_circuit_breakers> newest_set;
    for (auto it = sets_.rbegin(); !newest_set && it != sets_.rend(); ++it)
        newest_set = it->lock();
    if (newest_set && (per_endpoint_ || snapshots.empty())) {
        const circuit_tally counted = tally(newest_set->snapshot(now));
        for (circuit_state s : all_states)
            state_[static_cast<std::size_t>(s)]->Set(counted.in_state[static_cast<std::size_t>(s)]);
        failure_ratio_->Set(counted.failure_ratio);
        return;
    }
    if (snapshots.empty()) { // every breaker of the dependency is gone
        for (::prometheus::Gauge*& g : state_)
            families_.state->Remove(std::exchange(g, nullptr));
        families_.failure_ratio->Remove(std::exchange(failure_ratio_, nullptr));
        return;
    }
    const circuit_reading reading = aggregate(snapshots);
    for (circuit_state s : all_states)
        state_[static_cast<std::size_t>(s)]->Set(s == reading.state ? 1 : 0);
    failure_ratio_->Set(reading.failure_ratio);
}

} // namespace keel::prometheus::detail
