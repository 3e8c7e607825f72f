// keel::endpoint_circuit_breakers: one circuit breaker per endpoint a call
// reports (`scope: endpoint`), so one peer that is down is cut off while its
// siblings keep serving (docs/circuit-breaker.md).
#pragma once

#include <keel/circuit_breaker.hpp>
#include <keel/detail/spinlock.hpp>
#include <keel/strategy.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace keel {

/// One endpoint's breaker as a health check shows it.
struct endpoint_circuit_snapshot {
    std::string endpoint;
    circuit_snapshot snapshot;
};

/// Up to `settings.max_endpoints` circuit breakers, keyed by the endpoint the
/// attempt's call reports (admission_waiter::endpoint(); a call that reports
/// none shares the breaker of the empty endpoint). A breaker is made with
/// the set's settings on its endpoint's first attempt, seeded from the set's
/// seed and the endpoint so their break jitter differs. When the set is full
/// a new endpoint takes the place of the least recently used idle one; a
/// breaker with attempts admitted (or isolated) is never evicted. If every
/// one is busy, the new endpoint's attempt is admitted without a breaker and
/// counted (unguarded()): refusing it would cut off an endpoint nobody has
/// seen fail, and max_endpoints concurrent peers say the bound is too low.
///
/// Thread-safe. An attempt of a known endpoint takes a lock for a hash
/// lookup, then its breaker's, and allocates nothing.
class endpoint_circuit_breakers final : public admission_strategy {
public:
    /// Throws std::invalid_argument on impossible settings (validate).
    explicit endpoint_circuit_breakers(const circuit_breaker_settings& settings,
                                       std::uint64_t seed = 0);
    /// A set with new settings (a reload changed them) whose breakers take
    /// over the state of `previous`'s, endpoint by endpoint, with empty
    /// windows (circuit_breaker's taking-over constructor). Its
    /// on_transition listeners are not carried over.
    endpoint_circuit_breakers(const circuit_breaker_settings& settings,
                              endpoint_circuit_breakers& previous, std::uint64_t seed = 0);
    ~endpoint_circuit_breakers() override;
    endpoint_circuit_breakers(const endpoint_circuit_breakers&) = delete;
    endpoint_circuit_breakers& operator=(const endpoint_circuit_breakers&) = delete;

    /// The breaker of `waiter.endpoint()` decides; the ticket names it.
    admission admit(clock_ticks now, admission_waiter& waiter) override;
    void release(clock_ticks now, const attempt_record* attempt,
                 std::uint64_t ticket) noexcept override;
    /// As the endpoint's breaker: a closed one reads no time.
    admission admit_at(const lazy_time& now, admission_waiter& waiter) override;
    void release_at(const lazy_time& now, const attempt_record* attempt,
                    std::uint64_t ticket) noexcept override;

    /// Holds `endpoint`'s breaker open until reset (made first if needed).
    /// An isolated breaker is never evicted. Throws std::length_error when
    /// the set is full of busy breakers.
    void isolate(std::string_view endpoint, clock_ticks now);
    /// Closes `endpoint`'s breaker, if there is one.
    void reset(std::string_view endpoint, clock_ticks now);
    /// isolate() of every breaker there is.
    void isolate_all(clock_ticks now);
    /// reset() of every breaker there is.
    void reset_all(clock_ticks now);

    /// Every endpoint's breaker at `now`, sorted by endpoint.
    std::vector<endpoint_circuit_snapshot> snapshot(clock_ticks now);
    /// `endpoint`'s breaker at `now`; nullopt when it has none.
    std::optional<circuit_snapshot> snapshot(std::string_view endpoint, clock_ticks now);

    /// Adds a listener called after every transition of any endpoint's
    /// breaker, with the endpoint, outside the locks, on the thread that made
    /// it. It must not throw. Safe while the set is in use.
    void on_transition(
        std::function<void(std::string_view endpoint, const circuit_transition&)> listener);

    /// How many endpoints have a breaker now.
    std::size_t size() const;
    /// Attempts admitted without a breaker because every breaker was busy.
    std::uint64_t unguarded() const noexcept { return unguarded_.load(std::memory_order_relaxed); }

    const circuit_breaker_settings& settings() const noexcept { return settings_; }

private:
    struct entry;
    struct hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using listener = std::function<void(std::string_view, const circuit_transition&)>;

    /// The entry of `endpoint`, made when `make` allows (evicting an idle
    /// one if full), with one attempt (a pin) counted against it so that it
    /// stays; -1 when there is none (or no room).
    int pin(std::string_view endpoint, bool make);
    void unpin(int index) noexcept;
    /// The endpoints there are, each pinned.
    std::vector<int> pin_all();
    std::unique_ptr<circuit_breaker> make_breaker(std::string_view endpoint,
                                                  circuit_breaker* previous);
    void notify(std::string_view endpoint, const circuit_transition& t) noexcept;

    const circuit_breaker_settings settings_;
    const std::uint64_t seed_;
    mutable detail::spinlock lock_; ///< the index, the entries' endpoints and use order
    std::unordered_map<std::string, int, hash, std::equal_to<>> index_;
    /// max_endpoints entries; an entry stays where it is while pinned, so a
    /// ticket's index reaches it without the lock.
    std::vector<std::unique_ptr<entry>> entries_;
    std::uint64_t clock_ = 0; ///< use counter: the least recently used is evicted
    std::atomic<std::uint64_t> unguarded_{0};
    std::mutex listeners_mutex_;
    std::vector<listener> listeners_;
};

} // namespace keel
