// keel::detail::operation_pool: the reusable memory of a producer's
// operations, and make_completion's choice between it and the handler's own
// allocator.
#include <keel/detail/operation_pool.hpp>
#include <keel/detail/shared_completion.hpp>

#include <asio/bind_allocator.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace {

namespace kd = keel::detail;

/// Deletes the pool the way its owner does.
struct owner_release {
    void operator()(kd::operation_pool* pool) const noexcept { pool->release_owner(); }
};
using owned_pool = std::unique_ptr<kd::operation_pool, owner_release>;

TEST(operation_pool, reuses_a_block_that_came_back) {
    owned_pool pool(kd::operation_pool::make(4));
    void* first = pool->allocate();
    EXPECT_EQ(pool->outstanding(), 1u);
    EXPECT_EQ(pool->kept(), 3u); // a slab of all 4 (the limit is below a first slab's 64)
    pool->deallocate(first);
    EXPECT_EQ(pool->outstanding(), 0u);
    EXPECT_EQ(pool->kept(), 4u);
    void* second = pool->allocate();
    EXPECT_EQ(second, first);
    pool->deallocate(second);
}

TEST(operation_pool, blocks_of_a_slab_are_contiguous) {
    owned_pool pool(kd::operation_pool::make(1000));
    char* first = static_cast<char*>(pool->allocate());
    char* second = static_cast<char*>(pool->allocate());
    EXPECT_EQ(second - first, static_cast<std::ptrdiff_t>(kd::operation_pool::block_size));
    EXPECT_EQ(pool->kept(), kd::operation_pool::first_slab_blocks - 2);
    pool->deallocate(first);
    pool->deallocate(second);
}

TEST(operation_pool, grows_by_slabs_up_to_its_limit_then_uses_the_heap) {
    owned_pool pool(kd::operation_pool::make(100)); // slabs of 64, then 36
    std::vector<void*> blocks;
    for (int i = 0; i < 130; ++i)
        blocks.push_back(pool->allocate());
    EXPECT_EQ(pool->outstanding(), 130u);
    EXPECT_EQ(pool->kept(), 0u);
    for (void* b : blocks)
        pool->deallocate(b);
    EXPECT_EQ(pool->kept(), 100u); // the 30 beyond the limit went back to the heap
    EXPECT_EQ(pool->outstanding(), 0u);
}

// The producer releases the pool when it is destroyed; an operation whose
// handler has not run yet may still hold a block. (ASan: no leak, no use
// after free.)
TEST(operation_pool, outlives_its_owner_until_the_last_block_comes_back) {
    auto* pool = kd::operation_pool::make(4);
    void* kept_block = pool->allocate();
    void* late_block = pool->allocate();
    pool->deallocate(kept_block);
    EXPECT_EQ(pool->outstanding(), 1u);
    pool->release_owner(); // late_block is still out: the pool stays
    static_cast<char*>(late_block)[0] = 'x';
    pool->deallocate(late_block); // the last one: the pool goes
}

TEST(operation_pool, two_threads_share_it_safely) {
    owned_pool pool(kd::operation_pool::make(20));
    const auto churn = [&] {
        std::vector<void*> held;
        for (int round = 0; round < 2000; ++round) {
            for (int i = 0; i < 16; ++i)
                held.push_back(pool->allocate());
            for (void* b : held)
                pool->deallocate(b);
            held.clear();
        }
    };
    std::thread other(churn);
    churn();
    other.join();
    EXPECT_EQ(pool->outstanding(), 0u);
    EXPECT_EQ(pool->kept(), 20u); // 32 at once at most: 20 from the slab, the rest from the heap
}

template <class T>
struct counting_allocator {
    using value_type = T;
    int* count;
    explicit counting_allocator(int* c) : count(c) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& other) : count(other.count) {}
    T* allocate(std::size_t n) {
        ++*count;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) { std::allocator<T>().deallocate(p, n); }
    bool operator==(const counting_allocator& other) const { return count == other.count; }
};

TEST(operation_pool, an_operation_without_an_allocator_of_its_own_comes_from_the_pool) {
    asio::io_context context;
    owned_pool pool(kd::operation_pool::make(4));
    int calls = 0;
    auto* op = kd::make_completion<kd::shared_completion, std::error_code, int>(
                   [&](std::error_code ec, int where) {
                       EXPECT_FALSE(ec);
                       EXPECT_EQ(where, 7);
                       ++calls;
                   },
                   context.get_executor(), pool.get())
                   .release();
    EXPECT_EQ(pool->outstanding(), 1u);
    const std::size_t kept_while_out = pool->kept();
    op->finish(kd::upcall::post, std::error_code(), 7);
    context.run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(pool->outstanding(), 0u);
    EXPECT_EQ(pool->kept(), kept_while_out + 1);
}

TEST(operation_pool, a_handlers_own_allocator_is_used_instead) {
    asio::io_context context;
    owned_pool pool(kd::operation_pool::make(4));
    int allocations = 0, calls = 0;
    auto* op = kd::make_completion<kd::shared_completion, std::error_code, int>(
                   asio::bind_allocator(counting_allocator<void>(&allocations),
                                        [&](std::error_code, int) { ++calls; }),
                   context.get_executor(), pool.get())
                   .release();
    EXPECT_EQ(pool->outstanding(), 0u);
    EXPECT_EQ(allocations, 1);
    op->finish(kd::upcall::post, std::error_code(), 0);
    context.run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(pool->kept(), 0u);
}

} // namespace
