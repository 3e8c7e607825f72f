// Where the memory of a call's state and of the handlers it makes comes from
// when the caller's handler names no allocator.
#pragma once

#include <keel/detail/block_cache.hpp>

#include <asio/recycling_allocator.hpp>

#include <memory>
#include <type_traits>

namespace keel::detail {

/// Asio's default allocator means "use the thread's recycling cache" (blocks
/// up to 1020 bytes): `type`, for the handlers a call makes. A larger state,
/// with slots for parallel attempts, would evict Asio's own block there: it
/// comes from keel's block cache instead (`state_type`), while its small
/// handlers still take Asio's cache, as a plain call's do.
template <class Allocator, bool Large = false>
struct recycled {
    using type = Allocator;
    using state_type = Allocator;
    static type from(const Allocator& a) noexcept { return a; }
    static state_type state_from(const type& a) noexcept { return a; }
};
template <class T, bool Large>
struct recycled<std::allocator<T>, Large> {
    using type = asio::recycling_allocator<T>;
    using state_type = std::conditional_t<Large, cached_allocator<T>, type>;
    static type from(const std::allocator<T>&) noexcept { return {}; }
    static state_type state_from(const type&) noexcept { return {}; }
};

} // namespace keel::detail
