// The executor an any_io_executor holds, if it is of a given type.
//
// Asio 1.22's any_executor::target<T>() does not check the type: it casts
// whatever is held (later Asio versions return null on a mismatch). Every
// keel use goes through target_if, which compares target_type() first.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/io_context.hpp>

#include <type_traits>
#include <typeinfo>

namespace keel::detail {

template <class T>
const T* target_if(const asio::any_io_executor& executor) noexcept {
    return executor.target_type() == typeid(T) ? executor.target<T>() : nullptr;
}

/// The plain io_context executor `executor` is or holds; null for any other
/// (a strand, a thread pool's). Asked once, where a type-erased executor is
/// stored, so that each use does not ask again.
template <class Executor>
const asio::io_context::executor_type* plain_context_executor(const Executor& executor) noexcept {
    if constexpr (std::is_same_v<Executor, asio::io_context::executor_type>)
        return &executor;
    else if constexpr (std::is_same_v<Executor, asio::any_io_executor>)
        return target_if<asio::io_context::executor_type>(executor);
    else
        return nullptr;
}

/// What asio::associated_executor names for a handler without an executor
/// of its own: no executor can be this type, so a handler bound to any
/// executor (even the one it would get anyway) is told apart.
struct no_associated_executor {};

/// Whether `Handler` names an executor (a nested executor_type, a binder,
/// a specialisation of asio::associated_executor): where it does not, it
/// runs on the fallback executor it is given.
template <class Handler>
inline constexpr bool has_own_executor_v =
    !std::is_same_v<asio::associated_executor_t<Handler, no_associated_executor>,
                    no_associated_executor>;

} // namespace keel::detail
