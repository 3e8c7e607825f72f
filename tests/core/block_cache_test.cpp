// The per-thread block cache behind keel's per-call objects (pg queries and
// results, http transfers, their completions).
#include <keel/detail/block_cache.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keel::detail {
namespace {

using cache = block_cache;

/// Empties this thread's cache (each test starts from nothing cached).
void drain() {
    std::vector<std::pair<void*, std::size_t>> taken;
    for (std::size_t size = cache::granule; size <= cache::largest;
         size += size < cache::small ? cache::granule : cache::large_granule)
        for (std::size_t i = 0; i < cache::blocks_per_class; ++i)
            taken.emplace_back(cache::allocate(size), size);
    for (auto& [block, size] : taken)
        ::operator delete(block); // behind the cache's back: it stays empty
}

TEST(block_cache, a_freed_block_is_the_next_one_of_its_class) {
    drain();
    void* first = cache::allocate(100);
    cache::deallocate(first, 100);
    EXPECT_EQ(cache::cached_blocks(), 1u);
    // 100 and 128 bytes are both in the 65..128 class.
    void* second = cache::allocate(128);
    EXPECT_EQ(second, first);
    EXPECT_EQ(cache::cached_blocks(), 0u);
    cache::deallocate(second, 128);
}

TEST(block_cache, classes_do_not_share_blocks) {
    drain();
    void* small = cache::allocate(64);
    cache::deallocate(small, 64);
    void* larger = cache::allocate(65); // the next class up
    EXPECT_NE(larger, small);
    EXPECT_EQ(cache::cached_blocks(), 1u); // the 64-byte block is still there
    void* again = cache::allocate(1);
    EXPECT_EQ(again, small);
    cache::deallocate(larger, 65);
    cache::deallocate(again, 1);
}

TEST(block_cache, above_a_kibibyte_classes_are_512_bytes_wide) {
    drain();
    void* block = cache::allocate(2056); // a hedging call's state: the 2049..2560 class
    cache::deallocate(block, 2056);
    EXPECT_EQ(cache::cached_blocks(), 1u);
    void* again = cache::allocate(2560);
    EXPECT_EQ(again, block);
    void* next_class = cache::allocate(2561);
    EXPECT_NE(next_class, block);
    cache::deallocate(again, 2560);
    cache::deallocate(next_class, 2561);
    EXPECT_EQ(cache::cached_blocks(), 2u);
}

TEST(block_cache, keeps_a_bounded_number_per_class_and_bypasses_large_blocks) {
    drain();
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < cache::blocks_per_class + 5; ++i)
        blocks.push_back(cache::allocate(200));
    for (void* b : blocks)
        cache::deallocate(b, 200);
    EXPECT_EQ(cache::cached_blocks(), cache::blocks_per_class);

    void* big = cache::allocate(cache::largest + 1);
    cache::deallocate(big, cache::largest + 1);
    EXPECT_EQ(cache::cached_blocks(), cache::blocks_per_class);
}

TEST(block_cache, a_block_freed_on_another_thread_joins_that_threads_cache) {
    drain();
    void* from_worker = nullptr;
    std::thread([&] { from_worker = cache::allocate(300); }).join();
    cache::deallocate(from_worker, 300);
    EXPECT_EQ(cache::cached_blocks(), 1u);
    void* reused = cache::allocate(300);
    EXPECT_EQ(reused, from_worker);
    cache::deallocate(reused, 300);
}

TEST(block_cache, a_threads_cache_is_emptied_when_it_exits) {
    // Under ASan, LeakSanitizer fails the test binary if the worker's cached
    // blocks outlive it; here the worker also frees a block from a
    // thread_local destructor that runs after the cache was emptied.
    std::size_t cached_in_worker = 0;
    std::thread([&] {
        struct late_free {
            void* block = cache::allocate(64);
            ~late_free() { cache::deallocate(block, 64); }
        };
        thread_local late_free late; // constructed before the cache's emptier
        static_cast<void>(late.block);
        std::vector<void*> blocks;
        for (int i = 0; i < 4; ++i)
            blocks.push_back(cache::allocate(512));
        for (void* b : blocks)
            cache::deallocate(b, 512);
        cached_in_worker = cache::cached_blocks();
    }).join();
    EXPECT_EQ(cached_in_worker, 4u);
}

TEST(block_cache, serves_allocate_shared) {
    drain();
    struct payload {
        std::string text;
        int number = 0;
    };
    std::weak_ptr<payload> gone;
    {
        auto p = std::allocate_shared<payload>(cached_allocator<payload>(), payload{"x", 7});
        gone = p;
        EXPECT_EQ(p->number, 7);
    }
    // The control block and payload, one block, back in the cache once the
    // weak reference is gone too.
    gone.reset();
    EXPECT_EQ(cache::cached_blocks(), 1u);
    auto q = std::allocate_shared<payload>(cached_allocator<payload>(), payload{"y", 8});
    EXPECT_EQ(q->text, "y");
    EXPECT_EQ(cache::cached_blocks(), 0u);
}

} // namespace
} // namespace keel::detail
