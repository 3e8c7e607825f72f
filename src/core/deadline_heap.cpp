#include <keel/detail/deadline_heap.hpp>

namespace keel::detail {

void deadline_heap::push(deadline_entry& entry) {
    items_.push_back(&entry);
    entry.index = items_.size() - 1;
    sift_up(entry.index);
}

void deadline_heap::erase(deadline_entry& entry) noexcept {
    std::size_t index = entry.index;
    entry.index = deadline_entry::not_queued;
    deadline_entry* last = items_.back();
    items_.pop_back();
    if (index == items_.size())
        return; // it was the last one
    place(index, last);
    if (index > 0 && last->deadline < items_[(index - 1) / 2]->deadline)
        sift_up(index);
    else
        sift_down(index);
}

deadline_entry* deadline_heap::pop_expired(std::int64_t now) noexcept {
    deadline_entry* head = nullptr;
    deadline_entry** tail = &head;
    while (!items_.empty() && items_.front()->deadline <= now) {
        deadline_entry* entry = items_.front();
        erase(*entry);
        entry->next_expired = nullptr;
        *tail = entry;
        tail = &entry->next_expired;
    }
    return head;
}

deadline_entry* deadline_heap::take_all() noexcept {
    deadline_entry* head = nullptr;
    for (deadline_entry* entry : items_) {
        entry->index = deadline_entry::not_queued;
        entry->next_expired = head;
        head = entry;
    }
    items_.clear();
    return head;
}

void deadline_heap::sift_up(std::size_t index) noexcept {
    deadline_entry* entry = items_[index];
    while (index > 0) {
        std::size_t parent = (index - 1) / 2;
        if (items_[parent]->deadline <= entry->deadline)
            break;
        place(index, items_[parent]);
        index = parent;
    }
    place(index, entry);
}

void deadline_heap::sift_down(std::size_t index) noexcept {
    deadline_entry* entry = items_[index];
    const std::size_t count = items_.size();
    for (;;) {
        std::size_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count && items_[child + 1]->deadline < items_[child]->deadline)
            ++child;
        if (entry->deadline <= items_[child]->deadline)
            break;
        place(index, items_[child]);
        index = child;
    }
    place(index, entry);
}

} // namespace keel::detail
