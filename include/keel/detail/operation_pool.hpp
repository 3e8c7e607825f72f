// Reusable memory for completions when thousands are in flight at once: the
// pooled mode of keel's completions (completion.hpp), which kafka's producer
// uses for its produces. Without it a produce took its completion from the
// heap and gave it back when the report came: measured on librdkafka's mock
// cluster, glibc's allocator then cost ~200 instructions per message, more
// than the rest of keel's bridge (bench/kafka_bench.cpp). The per-thread
// block cache (block_cache.hpp) does not fit that pattern: it keeps 16 blocks
// per thread, and a produce is made on the caller's thread but freed on the
// loop's, so the caller's cache would always be empty. The blocks come in
// slabs, not one by one: a batch of produces gets neighbouring blocks, and
// the pool's memory is a few large allocations rather than thousands of
// small ones among librdkafka's own messages.
#pragma once

#include <keel/detail/spinlock.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace keel::detail {

/// Fixed-size blocks on a free list behind a spin lock (held for a pointer
/// swap; produces and reports may come from any thread). The pool grows by
/// slabs (64 blocks, then each as large as all before it) up to
/// `max_blocks`; beyond that a block comes from the heap and goes back to
/// it. So the memory kept is about the peak of operations alive at once
/// (rounded up to a slab), and at most `max_blocks` blocks. The owner (the
/// producer) releases the pool; it is freed then, or by the last block to
/// come back after that.
class operation_pool {
public:
    static constexpr std::size_t block_size = 256;
    static constexpr std::size_t block_align = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    static constexpr std::size_t first_slab_blocks = 64;

    static operation_pool* make(std::size_t max_blocks) { return new operation_pool(max_blocks); }

    operation_pool(const operation_pool&) = delete;
    operation_pool& operator=(const operation_pool&) = delete;

    /// A block of block_size bytes.
    void* allocate() {
        {
            const std::lock_guard lock(lock_);
            ++outstanding_;
            if (!free_ && capacity_ < max_blocks_)
                grow();
            if (free_) {
                --free_count_;
                return std::exchange(free_, free_->next);
            }
        }
        try {
            return ::operator new(block_size);
        } catch (...) {
            const std::lock_guard lock(lock_);
            --outstanding_;
            throw;
        }
    }

    void deallocate(void* block) noexcept {
        bool from_slab;
        bool delete_pool;
        {
            const std::lock_guard lock(lock_);
            --outstanding_;
            from_slab = in_slab(block);
            if (from_slab) {
                free_ = new (block) free_block{free_};
                ++free_count_;
            }
            delete_pool = !owned_ && outstanding_ == 0;
        }
        if (!from_slab)
            ::operator delete(block);
        if (delete_pool)
            delete this;
    }

    /// Blocks on the free list, and blocks handed out and not back yet.
    std::size_t kept() const noexcept {
        const std::lock_guard lock(lock_);
        return free_count_;
    }
    std::size_t outstanding() const noexcept {
        const std::lock_guard lock(lock_);
        return outstanding_;
    }

    /// The owner is done with the pool: freed now, or when the last block
    /// still out comes back.
    void release_owner() noexcept {
        bool delete_pool;
        {
            const std::lock_guard lock(lock_);
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
    struct slab {
        char* begin;
        char* end;
    };

    explicit operation_pool(std::size_t max_blocks) : max_blocks_(max_blocks) {}
    ~operation_pool() {
        for (const slab& s : slabs_)
            ::operator delete(s.begin);
    }

    /// Under lock_: adds a slab's blocks to the free list.
    void grow() {
        const std::size_t blocks =
            std::min(slabs_.empty() ? first_slab_blocks : capacity_, max_blocks_ - capacity_);
        const std::size_t bytes = blocks * block_size;
        char* memory = static_cast<char*>(::operator new(bytes, std::nothrow));
        if (!memory)
            return; // the caller falls back to a block of its own
        try {
            slabs_.push_back({memory, memory + bytes});
        } catch (...) {
            ::operator delete(memory);
            return;
        }
        capacity_ += blocks;
        // Last block first on the list: the first taken is at the slab's start.
        for (std::size_t i = blocks; i-- > 0;)
            free_ = new (memory + i * block_size) free_block{free_};
        free_count_ += blocks;
    }

    /// Under lock_. The slabs double in size: a handful to look through.
    bool in_slab(const void* block) const noexcept {
        const char* p = static_cast<const char*>(block);
        return std::any_of(slabs_.begin(), slabs_.end(),
                           [p](const slab& s) { return p >= s.begin && p < s.end; });
    }

    mutable spinlock lock_;
    free_block* free_ = nullptr; ///< what follows: under lock_
    std::size_t free_count_ = 0;
    std::size_t outstanding_ = 0;
    std::size_t capacity_ = 0; ///< blocks in slabs
    std::vector<slab> slabs_;
    const std::size_t max_blocks_;
    bool owned_ = true;
};

} // namespace keel::detail
