// The data structure behind the per-context deadline queue: an intrusive
// binary min-heap of entries that live inside the calls they time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::detail {

struct deadline_entry {
    static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);

    /// Clock ticks (nanoseconds since the clock's epoch).
    std::int64_t deadline = 0;
    /// Position in the heap; not_queued when the entry is not in it.
    std::size_t index = not_queued;
    /// Links entries that expired together, so they fire after the lock is dropped.
    deadline_entry* next_expired = nullptr;
    /// Called once the deadline passed, outside the queue's lock, on the
    /// queue's executor. The entry is no longer queued when it runs.
    void (*expire)(deadline_entry&) noexcept = nullptr;
    /// Called instead of `expire` when the queue shuts down with the entry queued.
    void (*abandon)(deadline_entry&) noexcept = nullptr;

    bool queued() const noexcept { return index != not_queued; }
};

class deadline_heap {
public:
    deadline_heap() { items_.reserve(64); }

    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }
    deadline_entry* top() const noexcept { return items_.empty() ? nullptr : items_.front(); }

    /// Adds an entry that is not queued yet. Allocates only to grow.
    void push(deadline_entry& entry);
    /// Removes a queued entry.
    void erase(deadline_entry& entry) noexcept;
    /// Removes every entry whose deadline is at or before `now`, returned as
    /// a list linked through next_expired (earliest first).
    deadline_entry* pop_expired(std::int64_t now) noexcept;
    /// Removes every entry (for shutdown), linked through next_expired.
    deadline_entry* take_all() noexcept;

private:
    void place(std::size_t index, deadline_entry* entry) noexcept {
        items_[index] = entry;
        entry->index = index;
    }
    void sift_up(std::size_t index) noexcept;
    void sift_down(std::size_t index) noexcept;

    std::vector<deadline_entry*> items_;
};

} // namespace keel::detail
