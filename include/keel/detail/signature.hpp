// Deducing an operation's completion signature: call it (unevaluated) with a
// probe token whose async_result records the signature it was initiated with.
#pragma once

#include <asio/async_result.hpp>

#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::detail {

struct signature_probe {};

template <class Signature>
struct probed_signature {};

/// Marker: "deduce the signature from the operation".
struct deduce_signature {};

/// Normalises `void(const std::error_code&, const T&)` to `void(std::error_code, T)`.
template <class Signature>
struct normalize_signature {
    static_assert(sizeof(Signature) == 0,
                  "keel: the operation must complete with void(std::error_code, ...)");
};
template <class E, class... Ts>
struct normalize_signature<void(E, Ts...)> {
    static_assert(std::is_same_v<std::decay_t<E>, std::error_code>,
                  "keel: the operation must complete with an error_code first");
    using type = void(std::error_code, std::decay_t<Ts>...);
};

template <class T>
struct signature_from_probe {
    static constexpr bool found = false;
};
template <class Signature>
struct signature_from_probe<probed_signature<Signature>> {
    static constexpr bool found = true;
    using type = Signature;
};

/// The signature given explicitly, or deduced by calling
/// `op(args..., signature_probe{})` in an unevaluated context.
template <class Explicit, class Op, class... Args>
struct resolve_signature {
    using type = typename normalize_signature<Explicit>::type;
};

template <class Op, class... Args>
struct resolve_signature<deduce_signature, Op, Args...> {
    using probe_result = decltype(std::declval<Op&>()(std::declval<Args>()..., signature_probe{}));
    static_assert(signature_from_probe<probe_result>::found,
                  "keel: cannot deduce the operation's completion signature. Make the operation "
                  "return the result of the Asio initiating function it calls, or name the "
                  "signature: async_run<void(std::error_code, T)>(op, token)");
    using type =
        typename normalize_signature<typename signature_from_probe<probe_result>::type>::type;
};

} // namespace keel::detail

namespace asio {

template <class Signature>
class async_result<keel::detail::signature_probe, Signature> {
public:
    // Only ever named inside decltype; never runs.
    template <class Initiation, class... Args>
    static keel::detail::probed_signature<Signature>
    initiate(Initiation&&, keel::detail::signature_probe, Args&&...) {
        return {};
    }
};

} // namespace asio
