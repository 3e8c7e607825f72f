// keel::last_good_cache: stale-if-error for keel::with_fallback. Successful
// results are remembered by key; when a call fails, its fallback answers with
// the one remembered for its key if it is younger than max_age, and says how
// old it is. A read model's query served from here while the database is
// down is stale but useful; one older than max_age is not served.
#pragma once

#include <keel/fallback.hpp>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/experimental/append.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace keel {

/// What a call answered from a last_good_cache learns: filled in by the
/// fallback before the call completes (the caller keeps it per call, as it
/// keeps a call_report).
struct stale_mark {
    bool stale = false;              ///< the answer came from the cache
    std::chrono::nanoseconds age{0}; ///< how long ago it was remembered
};

/// Thread-safe. Keeps at most `max_entries` keys; when full, remembering a
/// new key forgets the one remembered longest ago. Clock is a template
/// parameter so that ages are tested on a manual clock.
template <class Key, class Value, class Clock = std::chrono::steady_clock,
          class Hash = std::hash<Key>>
class last_good_cache {
public:
    using time_point = typename Clock::time_point;

    struct answer {
        Value value;
        std::chrono::nanoseconds age;
    };

    /// Throws std::invalid_argument unless max_age > 0 and max_entries > 0.
    explicit last_good_cache(std::chrono::nanoseconds max_age, std::size_t max_entries = 10'000)
        : max_age_(max_age), max_entries_(max_entries) {
        if (max_age.count() <= 0)
            throw std::invalid_argument("last_good_cache: max_age must be positive");
        if (max_entries == 0)
            throw std::invalid_argument("last_good_cache: max_entries must be positive");
    }

    /// `value` is the latest good answer for `key`, as of now.
    void remember(const Key& key, Value value) { remember_at(Clock::now(), key, std::move(value)); }

    void remember_at(time_point at, const Key& key, Value value) {
        std::lock_guard lock(mutex_);
        if (auto it = entries_.find(key); it != entries_.end()) {
            it->second.value = std::move(value);
            it->second.stored = at;
            order_.splice(order_.end(), order_, it->second.position); // newest last
            return;
        }
        while (entries_.size() >= max_entries_) {
            entries_.erase(order_.front());
            order_.pop_front();
        }
        order_.push_back(key);
        entries_.emplace(key, entry{std::move(value), at, std::prev(order_.end())});
    }

    /// The value remembered for `key` if it is younger than max_age, with
    /// its age.
    std::optional<answer> recall(const Key& key) const { return recall_at(Clock::now(), key); }

    std::optional<answer> recall_at(time_point now, const Key& key) const {
        std::lock_guard lock(mutex_);
        const auto it = entries_.find(key);
        if (it == entries_.end())
            return std::nullopt;
        const auto age =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - it->second.stored);
        if (age >= max_age_)
            return std::nullopt;
        return answer{it->second.value, age};
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return entries_.size();
    }

    std::chrono::nanoseconds max_age() const noexcept { return max_age_; }

    /// A fallback for keel::with_fallback(op, cache.fallback(key, &mark)):
    /// completes with the value remembered for `key` when one younger than
    /// max_age is kept (and sets *mark), else with the call's own error (a
    /// failed fallback: the call keeps its error). Completes through the
    /// handler's executor, never inline. `mark` (may be null) must outlive
    /// the call.
    auto fallback(Key key, stale_mark* mark = nullptr) {
        return fallback_op{this, std::move(key), mark};
    }

private:
    struct entry {
        Value value;
        time_point stored;
        typename std::list<Key>::iterator position;
    };

    struct fallback_op {
        const last_good_cache* cache;
        Key key;
        stale_mark* mark;

        template <class Token>
        auto operator()(const fallback_context& context, Token&& token) const {
            return asio::async_initiate<Token, void(std::error_code, Value)>(
                [](auto handler, const last_good_cache* cache, const Key& key, stale_mark* mark,
                   std::error_code call_error) {
                    auto executor = asio::get_associated_executor(handler);
                    std::optional<answer> kept = cache->recall(key);
                    if (mark && kept)
                        *mark = stale_mark{true, kept->age};
                    if (kept)
                        asio::post(executor,
                                   asio::experimental::append(std::move(handler), std::error_code{},
                                                              std::move(kept->value)));
                    else
                        asio::post(executor, asio::experimental::append(std::move(handler),
                                                                        call_error, Value{}));
                },
                token, cache, key, mark, context.error);
        }
    };

    const std::chrono::nanoseconds max_age_;
    const std::size_t max_entries_;
    mutable std::mutex mutex_;
    std::unordered_map<Key, entry, Hash> entries_;
    std::list<Key> order_; ///< keys by when they were remembered, oldest first
};

} // namespace keel
