// Where the memory of a call's state and of the handlers it makes comes from
// when the caller's handler names no allocator.
#pragma once

#include <keel/detail/block_cache.hpp>

#include <asio/recycling_allocator.hpp>

#include <memory>
#include <type_traits>

namespace keel::detail {

/// Asio's default allocator means "use the thread's recycling cache" (blocks
/// up to 1020 bytes). A larger state, with slots for parallel attempts, would
/// evict Asio's own block there: it comes from keel's block cache instead.
template <class Allocator, bool Large = false>
struct recycled {
    using type = Allocator;
    static type from(const Allocator& a) noexcept { return a; }
};
template <class T, bool Large>
struct recycled<std::allocator<T>, Large> {
    using type = std::conditional_t<Large, cached_allocator<T>, asio::recycling_allocator<T>>;
    static type from(const std::allocator<T>&) noexcept { return {}; }
};

} // namespace keel::detail
