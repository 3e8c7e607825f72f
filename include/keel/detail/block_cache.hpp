// A per-thread cache of small memory blocks for the objects keel makes per
// call (a pg query, its completion and its result; an http transfer and its
// completion).
//
// Why not Asio's recycling allocator: it keeps two blocks per thread, shared
// by every Asio operation on that thread. A keel call has two or three
// objects alive at once besides Asio's own, so most of them missed it and
// went to malloc (pg: 7 allocations per query against raw libpq's 4). This
// cache keeps up to `blocks_per_class` free blocks per 64-byte size class.
//
// Any thread may free a block, whichever thread allocated it: a block goes to
// the freeing thread's cache (all blocks of a class have the same size). A
// thread's cache is emptied when the thread exits; blocks freed after that,
// during its thread-local destructors, go straight back to operator delete.
#pragma once

#include <cstddef>

namespace keel::detail {

struct block_cache {
    static constexpr std::size_t granule = 64; ///< size classes up to `small` are multiples of this
    static constexpr std::size_t small = 1024;
    /// Above `small`, classes are multiples of this: a hedging call's state
    /// (up to five attempt slots, about 2 KiB) is the one object that large.
    static constexpr std::size_t large_granule = 512;
    static constexpr std::size_t largest = 4096;        ///< larger blocks bypass the cache
    static constexpr std::size_t blocks_per_class = 16; ///< free blocks kept per class

    /// At least `size` bytes, aligned as operator new aligns; from this
    /// thread's cache when it holds a block of the size class.
    static void* allocate(std::size_t size);
    /// Gives back a block from allocate(size), with the same `size`.
    static void deallocate(void* block, std::size_t size) noexcept;
    /// How many free blocks this thread's cache holds (for tests).
    static std::size_t cached_blocks() noexcept;
};

/// A standard allocator over block_cache, for std::allocate_shared and for
/// keel's completions when the handler has no allocator of its own.
template <class T>
class cached_allocator {
public:
    using value_type = T;

    cached_allocator() noexcept = default;
    template <class U>
    cached_allocator(const cached_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__,
                      "block_cache blocks are aligned as operator new aligns");
        return static_cast<T*>(block_cache::allocate(n * sizeof(T)));
    }
    void deallocate(T* block, std::size_t n) noexcept {
        block_cache::deallocate(block, n * sizeof(T));
    }

    template <class U>
    bool operator==(const cached_allocator<U>&) const noexcept {
        return true;
    }
};

} // namespace keel::detail
