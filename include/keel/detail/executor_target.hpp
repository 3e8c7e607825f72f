// The executor an any_io_executor holds, if it is of a given type.
//
// Asio 1.22's any_executor::target<T>() does not check the type: it casts
// whatever is held (later Asio versions return null on a mismatch). Every
// keel use goes through target_if, which compares target_type() first.
#pragma once

#include <asio/any_io_executor.hpp>

#include <typeinfo>

namespace keel::detail {

template <class T>
const T* target_if(const asio::any_io_executor& executor) noexcept {
    return executor.target_type() == typeid(T) ? executor.target<T>() : nullptr;
}

} // namespace keel::detail
