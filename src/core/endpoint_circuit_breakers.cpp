#include <keel/endpoint_circuit_breakers.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace keel {

namespace {

/// A ticket names the entry (index + 1, so 0 means "no breaker") in its
/// high half and the breaker's own ticket (its epoch) in its low half.
constexpr std::uint64_t ticket_of(int index, std::uint64_t breaker_ticket) noexcept {
    return (static_cast<std::uint64_t>(index) + 1) << 32 | (breaker_ticket & 0xffff'ffffu);
}

/// splitmix64's finaliser: endpoints with similar names get unrelated seeds.
std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e37'79b9'7f4a'7c15u;
    x = (x ^ (x >> 30)) * 0xbf58'476d'1ce4'e5b9u;
    x = (x ^ (x >> 27)) * 0x94d0'49bb'1331'11ebu;
    return x ^ (x >> 31);
}

} // namespace

struct endpoint_circuit_breakers::entry {
    std::string endpoint;                     ///< lock_; fixed while pinned
    std::unique_ptr<circuit_breaker> breaker; ///< lock_; fixed while pinned
    /// Attempts admitted by its breaker, and readers (snapshots) using it:
    /// while non-zero it is not evicted. Taken under lock_, given back
    /// without it.
    std::atomic<int> pinned{0};
    std::uint64_t last_used = 0; ///< lock_
    bool isolated = false;       ///< lock_: held open by isolate(); never evicted
};

endpoint_circuit_breakers::endpoint_circuit_breakers(const circuit_breaker_settings& settings,
                                                     std::uint64_t seed)
    : settings_((validate(settings), settings)), seed_(seed),
      entries_(static_cast<std::size_t>(settings.max_endpoints)) {
    // As its breakers: durations matter only to slow_call.
    set_needs_durations(settings_.slow_threshold.has_value());
    index_.reserve(entries_.size());
}

endpoint_circuit_breakers::endpoint_circuit_breakers(const circuit_breaker_settings& settings,
                                                     endpoint_circuit_breakers& previous,
                                                     std::uint64_t seed)
    : endpoint_circuit_breakers(settings, seed) {
    struct kept {
        int index;
        std::string endpoint;
        std::uint64_t last_used;
        bool isolated;
    };
    std::vector<kept> from;
    {
        // Pinned, so that none is evicted while its state is taken over.
        std::lock_guard lock(previous.lock_);
        for (const auto& [endpoint, index] : previous.index_) {
            entry& e = *previous.entries_[static_cast<std::size_t>(index)];
            e.pinned.fetch_add(1, std::memory_order_relaxed);
            from.push_back({index, e.endpoint, e.last_used, e.isolated});
        }
    }
    // Fewer endpoints allowed now: the most recently used are kept.
    std::sort(from.begin(), from.end(),
              [](const kept& a, const kept& b) { return a.last_used > b.last_used; });
    for (const kept& k : from) {
        if (index_.size() < entries_.size()) {
            auto taken = std::make_unique<entry>();
            taken->endpoint = k.endpoint;
            taken->breaker = make_breaker(
                k.endpoint, previous.entries_[static_cast<std::size_t>(k.index)]->breaker.get());
            taken->last_used = k.last_used;
            taken->isolated = k.isolated;
            clock_ = std::max(clock_, k.last_used);
            const int to = static_cast<int>(index_.size());
            index_.emplace(taken->endpoint, to);
            entries_[static_cast<std::size_t>(to)] = std::move(taken);
        }
        previous.unpin(k.index);
    }
}

endpoint_circuit_breakers::~endpoint_circuit_breakers() = default;

std::unique_ptr<circuit_breaker>
endpoint_circuit_breakers::make_breaker(std::string_view endpoint, circuit_breaker* previous) {
    const std::uint64_t seed = mix(seed_ ^ std::hash<std::string_view>{}(endpoint));
    auto made = previous ? std::make_unique<circuit_breaker>(settings_, *previous, seed)
                         : std::make_unique<circuit_breaker>(settings_, seed);
    // The name lives with the breaker: a transition reported after its
    // entry went to another endpoint still names its own.
    made->on_transition(
        [this, name = std::string(endpoint)](const circuit_transition& t) { notify(name, t); });
    return made;
}

int endpoint_circuit_breakers::pin(std::string_view endpoint, bool make) {
    {
        std::lock_guard lock(lock_);
        if (auto it = index_.find(endpoint); it != index_.end()) {
            entry& e = *entries_[static_cast<std::size_t>(it->second)];
            e.pinned.fetch_add(1, std::memory_order_relaxed);
            e.last_used = ++clock_;
            return it->second;
        }
    }
    if (!make)
        return -1;
    // A new endpoint: the breaker is made outside the lock.
    std::unique_ptr<circuit_breaker> made = make_breaker(endpoint, nullptr);
    std::unique_ptr<circuit_breaker> evicted; // destroyed after the lock is let go
    std::lock_guard lock(lock_);
    if (auto it = index_.find(endpoint); it != index_.end()) { // made by another thread meanwhile
        entry& e = *entries_[static_cast<std::size_t>(it->second)];
        e.pinned.fetch_add(1, std::memory_order_relaxed);
        e.last_used = ++clock_;
        return it->second;
    }
    int chosen = -1;
    if (index_.size() < entries_.size()) {
        // Entries are filled in order and only ever reused after that.
        chosen = static_cast<int>(index_.size());
        entries_[static_cast<std::size_t>(chosen)] = std::make_unique<entry>();
    } else {
        std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            const entry& e = *entries_[i];
            if (!e.isolated && e.pinned.load(std::memory_order_acquire) == 0 &&
                e.last_used < oldest) {
                oldest = e.last_used;
                chosen = static_cast<int>(i);
            }
        }
        if (chosen < 0)
            return -1; // every breaker is busy
        entry& e = *entries_[static_cast<std::size_t>(chosen)];
        index_.erase(e.endpoint);
        evicted = std::move(e.breaker);
    }
    entry& e = *entries_[static_cast<std::size_t>(chosen)];
    e.endpoint.assign(endpoint);
    e.breaker = std::move(made);
    e.isolated = false;
    e.last_used = ++clock_;
    e.pinned.store(1, std::memory_order_relaxed);
    index_.emplace(e.endpoint, chosen);
    return chosen;
}

void endpoint_circuit_breakers::unpin(int index) noexcept {
    // Release: whatever this attempt did with the breaker happens before
    // an eviction that sees the count at zero.
    entries_[static_cast<std::size_t>(index)]->pinned.fetch_sub(1, std::memory_order_release);
}

std::vector<int> endpoint_circuit_breakers::pin_all() {
    std::vector<int> out;
    std::lock_guard lock(lock_);
    out.reserve(index_.size());
    for (const auto& [endpoint, index] : index_) {
        entries_[static_cast<std::size_t>(index)]->pinned.fetch_add(1, std::memory_order_relaxed);
        out.push_back(index);
    }
    return out;
}

admission endpoint_circuit_breakers::admit(clock_ticks now, admission_waiter& waiter) {
    return admit_at(lazy_time(now), waiter);
}

void endpoint_circuit_breakers::release(clock_ticks now, const attempt_record* attempt,
                                        std::uint64_t ticket) noexcept {
    release_at(lazy_time(now), attempt, ticket);
}

admission endpoint_circuit_breakers::admit_at(const lazy_time& now, admission_waiter& waiter) {
    const int index = pin(waiter.endpoint(), true);
    if (index < 0) {
        unguarded_.fetch_add(1, std::memory_order_relaxed);
        return admission::admit(0);
    }
    admission a = entries_[static_cast<std::size_t>(index)]->breaker->admit_at(now, waiter);
    if (!a.admitted) {
        unpin(index);
        return a;
    }
    a.ticket = ticket_of(index, a.ticket);
    return a;
}

void endpoint_circuit_breakers::release_at(const lazy_time& now, const attempt_record* attempt,
                                           std::uint64_t ticket) noexcept {
    if (ticket == 0) // admitted without a breaker
        return;
    const int index = static_cast<int>(ticket >> 32) - 1;
    // Pinned since its admission: the entry holds the same breaker.
    entries_[static_cast<std::size_t>(index)]->breaker->release_at(now, attempt,
                                                                   ticket & 0xffff'ffffu);
    unpin(index);
}

void endpoint_circuit_breakers::isolate(std::string_view endpoint, clock_ticks now) {
    const int index = pin(endpoint, true);
    if (index < 0)
        throw std::length_error("keel: endpoint_circuit_breakers: no room to isolate '" +
                                std::string(endpoint) + "': every breaker is busy");
    entry& e = *entries_[static_cast<std::size_t>(index)];
    {
        std::lock_guard lock(lock_);
        e.isolated = true;
    }
    e.breaker->isolate(now);
    unpin(index);
}

void endpoint_circuit_breakers::reset(std::string_view endpoint, clock_ticks now) {
    const int index = pin(endpoint, false);
    if (index < 0)
        return;
    entry& e = *entries_[static_cast<std::size_t>(index)];
    e.breaker->reset(now);
    {
        std::lock_guard lock(lock_);
        e.isolated = false;
    }
    unpin(index);
}

void endpoint_circuit_breakers::isolate_all(clock_ticks now) {
    for (int index : pin_all()) {
        entry& e = *entries_[static_cast<std::size_t>(index)];
        {
            std::lock_guard lock(lock_);
            e.isolated = true;
        }
        e.breaker->isolate(now);
        unpin(index);
    }
}

void endpoint_circuit_breakers::reset_all(clock_ticks now) {
    for (int index : pin_all()) {
        entry& e = *entries_[static_cast<std::size_t>(index)];
        e.breaker->reset(now);
        {
            std::lock_guard lock(lock_);
            e.isolated = false;
        }
        unpin(index);
    }
}

std::vector<endpoint_circuit_snapshot> endpoint_circuit_breakers::snapshot(clock_ticks now) {
    std::vector<endpoint_circuit_snapshot> out;
    for (int index : pin_all()) {
        entry& e = *entries_[static_cast<std::size_t>(index)];
        out.push_back({e.endpoint, e.breaker->snapshot(now)});
        unpin(index);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.endpoint < b.endpoint; });
    return out;
}

std::optional<circuit_snapshot> endpoint_circuit_breakers::snapshot(std::string_view endpoint,
                                                                    clock_ticks now) {
    const int index = pin(endpoint, false);
    if (index < 0)
        return std::nullopt;
    const circuit_snapshot s = entries_[static_cast<std::size_t>(index)]->breaker->snapshot(now);
    unpin(index);
    return s;
}

void endpoint_circuit_breakers::on_transition(listener l) {
    std::lock_guard lock(listeners_mutex_);
    listeners_.push_back(std::move(l));
}

std::size_t endpoint_circuit_breakers::size() const {
    std::lock_guard lock(lock_);
    return index_.size();
}

void endpoint_circuit_breakers::notify(std::string_view endpoint,
                                       const circuit_transition& t) noexcept {
    // Transitions are rare: a copy lets listeners run outside the lock.
    std::vector<listener> listeners;
    {
        std::lock_guard lock(listeners_mutex_);
        listeners = listeners_;
    }
    for (const listener& l : listeners)
        l(endpoint, t);
}

} // namespace keel
