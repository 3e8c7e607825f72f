// Reusable memory for a producer's operations. A producer with thousands of
// produces in flight would otherwise take one operation from the heap per
// message and give it back when the report comes: measured on librdkafka's
// mock cluster, glibc's allocator then cost ~200 instructions per message,
// more than the rest of keel's bridge (bench/kafka_bench.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <thread>
#include <utility>

namespace keel::kafka::detail {

/// Fixed-size blocks on a free list behind a spin lock (held for a pointer
/// swap; produces and reports may come from any thread). Blocks come back
/// to the list up to `max_free`, the rest to the heap, so the memory kept
/// is at most the peak of operations alive at once, and at most
/// `max_free` blocks. The owner (the producer) releases the pool; it is
/// freed then, or by the last block to come back after that.
class operation_pool {
public:
    static constexpr std::size_t block_size = 256;
    static constexpr std::size_t block_align = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    static operation_pool* make(std::size_t max_free) { return new operation_pool(max_free); }

    operation_pool(const operation_pool&) = delete;
    operation_pool& operator=(const operation_pool&) = delete;

    /// A block of block_size bytes.
    void* allocate() {
        {
            const lock_guard lock(*this);
            ++outstanding_;
            if (free_) {
                --free_count_;
                return std::exchange(free_, free_->next);
            }
        }
        try {
            return ::operator new(block_size);
        } catch (...) {
            deallocate_bookkeeping();
            throw;
        }
    }

    void deallocate(void* block) noexcept {
        bool delete_pool = false;
        {
            const lock_guard lock(*this);
            --outstanding_;
            if (free_count_ < max_free_ && owned_) {
                free_ = new (block) free_block{free_};
                ++free_count_;
                return;
            }
            delete_pool = !owned_ && outstanding_ == 0;
        }
        ::operator delete(block);
        if (delete_pool)
            delete this;
    }

    /// Blocks on the free list, and blocks handed out and not back yet.
    std::size_t kept() const noexcept {
        const lock_guard lock(*this);
        return free_count_;
    }
    std::size_t outstanding() const noexcept {
        const lock_guard lock(*this);
        return outstanding_;
    }

    /// The owner is done with the pool: freed now, or when the last block
    /// still out comes back.
    void release_owner() noexcept {
        bool delete_pool;
        {
            const lock_guard lock(*this);
            owned_ = false;
            delete_pool = outstanding_ == 0;
        }
        if (delete_pool)
            delete this;
    }

private:
    struct free_block {
        free_block* next;
    };

    class lock_guard {
    public:
        explicit lock_guard(const operation_pool& pool) noexcept : pool_(pool) {
            while (pool_.busy_.exchange(true, std::memory_order_acquire))
                while (pool_.busy_.load(std::memory_order_relaxed))
                    std::this_thread::yield();
        }
        ~lock_guard() { pool_.busy_.store(false, std::memory_order_release); }
        lock_guard(const lock_guard&) = delete;
        lock_guard& operator=(const lock_guard&) = delete;

    private:
        const operation_pool& pool_;
    };

    explicit operation_pool(std::size_t max_free) : max_free_(max_free) {}
    ~operation_pool() {
        while (free_)
            ::operator delete(std::exchange(free_, free_->next));
    }

    void deallocate_bookkeeping() noexcept {
        const lock_guard lock(*this);
        --outstanding_;
    }

    mutable std::atomic<bool> busy_{false};
    free_block* free_ = nullptr; ///< what follows: under busy_
    std::size_t free_count_ = 0;
    std::size_t outstanding_ = 0;
    const std::size_t max_free_;
    bool owned_ = true;
};

} // namespace keel::kafka::detail
