// Allocation counting for keel's benchmarks: replaces malloc and friends and
// the global operator new/delete, and counts every allocation.
//
// Include this header from exactly ONE translation unit per executable: it
// DEFINES (not declares) malloc, free, operator new, ... for the whole
// process, and a second inclusion would define them twice. Each keel
// benchmark executable is a single .cpp, which includes it once.
//
// Provides KEEL_BENCH_COUNT_ALLOCATIONS (0 under sanitizers, where nothing is
// replaced and allocation counts must not be reported) and
// allocation_count(), the number of allocations so far in this process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

// ============================================================================
// Allocation counting
//
// malloc and friends are interposed (the executable's definitions win over
// glibc's for the whole process) and forward to glibc's __libc_* entry
// points. The global operator new/delete (all forms) are replaced too and go
// straight to __libc_*, so an operator new is counted exactly once.
// ============================================================================

// Sanitizers own malloc and operator new: under them nothing is replaced and
// allocs_per_op is not reported.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KEEL_BENCH_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define KEEL_BENCH_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef KEEL_BENCH_COUNT_ALLOCATIONS
#define KEEL_BENCH_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<std::uint64_t> g_allocations{0};
std::uint64_t allocation_count() noexcept {
    return g_allocations.load(std::memory_order_relaxed);
}
} // namespace

#if KEEL_BENCH_COUNT_ALLOCATIONS

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
void __libc_free(void* pointer);
}

namespace {

inline void count_allocation() noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
}

void* checked(void* pointer) {
    if (!pointer)
        throw std::bad_alloc();
    return pointer;
}

void* new_aligned(std::size_t size, std::align_val_t alignment) {
    count_allocation();
    return checked(__libc_memalign(static_cast<std::size_t>(alignment), size ? size : 1));
}

void* new_plain(std::size_t size) {
    count_allocation();
    return checked(__libc_malloc(size ? size : 1));
}

} // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
    count_allocation();
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    count_allocation();
    return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) noexcept {
    count_allocation();
    return __libc_realloc(pointer, size);
}
void free(void* pointer) noexcept {
    __libc_free(pointer);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    count_allocation();
    return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    count_allocation();
    return __libc_memalign(alignment, size);
}
void* valloc(std::size_t size) noexcept {
    count_allocation();
    return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
    count_allocation();
    return __libc_pvalloc(size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0)
        return 22; // EINVAL
    count_allocation();
    void* pointer = __libc_memalign(alignment, size);
    if (!pointer)
        return 12; // ENOMEM
    *out = pointer;
    return 0;
}

} // extern "C"

void* operator new(std::size_t size) {
    return new_plain(size);
}
void* operator new[](std::size_t size) {
    return new_plain(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    count_allocation();
    return __libc_malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    count_allocation();
    return __libc_malloc(size ? size : 1);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return new_aligned(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return new_aligned(size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    count_allocation();
    return __libc_memalign(static_cast<std::size_t>(alignment), size ? size : 1);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    count_allocation();
    return __libc_memalign(static_cast<std::size_t>(alignment), size ? size : 1);
}

void operator delete(void* pointer) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer) noexcept {
    __libc_free(pointer);
}
void operator delete(void* pointer, std::size_t) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer, std::size_t) noexcept {
    __libc_free(pointer);
}
void operator delete(void* pointer, const std::nothrow_t&) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer, const std::nothrow_t&) noexcept {
    __libc_free(pointer);
}
void operator delete(void* pointer, std::align_val_t) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer, std::align_val_t) noexcept {
    __libc_free(pointer);
}
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept {
    __libc_free(pointer);
}
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
    __libc_free(pointer);
}
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
    __libc_free(pointer);
}

#endif // KEEL_BENCH_COUNT_ALLOCATIONS
