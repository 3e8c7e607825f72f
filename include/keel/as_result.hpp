// keel::as_result(token): deliver `std_result<T>` instead of `(error_code, T)`.
#pragma once

#include <asio/associator.hpp>
#include <asio/async_result.hpp>
#include <boost/outcome/std_result.hpp>

#include <system_error>
#include <type_traits>
#include <utility>

namespace keel {

template <class T>
using result = boost::outcome_v2::std_result<T>;

/// Token adapter: `co_await p.async_run(op, keel::as_result(asio::use_awaitable))`
/// yields `keel::result<T>` (`std_result<T>`), which carries the error instead
/// of throwing it.
template <class Token>
struct as_result_t {
    Token token_;
};

template <class Token>
constexpr as_result_t<std::decay_t<Token>> as_result(Token&& token) {
    return {std::forward<Token>(token)};
}

namespace detail {

template <class Signature>
struct result_signature;
template <class R, class E>
struct result_signature<R(E)> {
    using type = R(result<void>);
};
template <class R, class E, class T>
struct result_signature<R(E, T)> {
    using type = R(result<std::decay_t<T>>);
};

template <class Handler>
struct result_handler {
    Handler handler_;

    void operator()(const std::error_code& ec) {
        if (ec)
            std::move(handler_)(result<void>(boost::outcome_v2::failure(ec)));
        else
            std::move(handler_)(result<void>(boost::outcome_v2::success()));
    }

    template <class T>
    void operator()(const std::error_code& ec, T&& value) {
        using value_type = std::decay_t<T>;
        if (ec)
            std::move(handler_)(result<value_type>(boost::outcome_v2::failure(ec)));
        else
            std::move(handler_)(
                result<value_type>(boost::outcome_v2::success(std::forward<T>(value))));
    }
};

} // namespace detail
} // namespace keel

namespace asio {

template <class Token, class Signature>
struct async_result<keel::as_result_t<Token>, Signature>
    : async_result<Token, typename keel::detail::result_signature<Signature>::type> {
    using base = async_result<Token, typename keel::detail::result_signature<Signature>::type>;

    template <class Initiation>
    struct wrapped_initiation {
        Initiation initiation_;

        template <class Handler, class... Args>
        void operator()(Handler&& handler, Args&&... args) {
            std::move(initiation_)(
                keel::detail::result_handler<std::decay_t<Handler>>{std::forward<Handler>(handler)},
                std::forward<Args>(args)...);
        }
    };

    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& initiation, RawToken&& token, Args&&... args) {
        return base::initiate(
            wrapped_initiation<std::decay_t<Initiation>>{std::forward<Initiation>(initiation)},
            std::forward<RawToken>(token).token_, std::forward<Args>(args)...);
    }
};

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct associator<Associator, keel::detail::result_handler<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const keel::detail::result_handler<Handler>& h,
        const DefaultCandidate& c = DefaultCandidate()) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler_, c);
    }
};

} // namespace asio
