#include <keel/detail/block_cache.hpp>

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A cached block is poisoned: a use after free still fails under ASan while
// the block waits here for its next owner.
#define KEEL_POISON_BLOCK(block, size) ASAN_POISON_MEMORY_REGION(block, size)
#define KEEL_UNPOISON_BLOCK(block, size) ASAN_UNPOISON_MEMORY_REGION(block, size)
#else
#define KEEL_POISON_BLOCK(block, size) static_cast<void>(0)
#define KEEL_UNPOISON_BLOCK(block, size) static_cast<void>(0)
#endif

namespace keel::detail {

namespace {

constexpr std::size_t small_classes = block_cache::small / block_cache::granule;
constexpr std::size_t class_count =
    small_classes + (block_cache::largest - block_cache::small) / block_cache::large_granule;

/// The class of a block of `size` bytes (1..largest) and the size its
/// blocks really have: 64-byte steps up to 1 KiB, 512-byte steps above.
constexpr std::size_t class_of(std::size_t size) noexcept {
    if (size <= block_cache::small)
        return (size - 1) / block_cache::granule;
    return small_classes + (size - block_cache::small - 1) / block_cache::large_granule;
}
constexpr std::size_t class_size(std::size_t size_class) noexcept {
    if (size_class < small_classes)
        return (size_class + 1) * block_cache::granule;
    return block_cache::small + (size_class - small_classes + 1) * block_cache::large_granule;
}
static_assert(class_of(block_cache::small) == small_classes - 1);
static_assert(class_of(block_cache::small + 1) == small_classes);
static_assert(class_size(class_of(block_cache::largest)) == block_cache::largest);
static_assert(class_of(block_cache::largest) == class_count - 1);

/// This thread's free blocks. Trivially destructible, so it stays usable
/// while the thread exits: after `emptier` below has run, `closed` sends
/// every block freed later straight to operator delete.
struct thread_blocks {
    void* blocks[class_count][block_cache::blocks_per_class];
    unsigned char count[class_count];
    bool emptier_registered;
    bool closed;
};
constinit thread_local thread_blocks t_blocks{};

/// Empties the thread's cache when the thread exits. Registered (its
/// destructor scheduled) by the first block the thread caches.
struct emptier {
    ~emptier() {
        thread_blocks& t = t_blocks;
        t.closed = true;
        for (std::size_t c = 0; c < class_count; ++c) {
            while (t.count[c] > 0) {
                void* block = t.blocks[c][--t.count[c]];
                KEEL_UNPOISON_BLOCK(block, class_size(c));
                ::operator delete(block);
            }
        }
    }
};
thread_local emptier t_emptier;

} // namespace

void* block_cache::allocate(std::size_t size) {
    if (size > largest)
        return ::operator new(size);
    const std::size_t c = class_of(size == 0 ? 1 : size);
    thread_blocks& t = t_blocks;
    if (t.count[c] > 0) {
        void* block = t.blocks[c][--t.count[c]];
        KEEL_UNPOISON_BLOCK(block, class_size(c));
        return block;
    }
    return ::operator new(class_size(c));
}

void block_cache::deallocate(void* block, std::size_t size) noexcept {
    if (!block)
        return;
    if (size > largest) {
        ::operator delete(block);
        return;
    }
    const std::size_t c = class_of(size == 0 ? 1 : size);
    thread_blocks& t = t_blocks;
    if (t.closed || t.count[c] == blocks_per_class) {
        ::operator delete(block);
        return;
    }
    if (!t.emptier_registered) {
        t.emptier_registered = true;
        // Odr-using the thread_local constructs it on this thread, which
        // schedules its destructor for the thread's exit.
        static_cast<void>(&t_emptier);
    }
    KEEL_POISON_BLOCK(block, class_size(c));
    t.blocks[c][t.count[c]++] = block;
}

std::size_t block_cache::cached_blocks() noexcept {
    std::size_t n = 0;
    for (unsigned char count : t_blocks.count)
        n += count;
    return n;
}

} // namespace keel::detail
