// A wrapper's async_call: a pipeline whose attempts each initiate the
// wrapper's own operation on a request the call keeps (sent uncopied), with
// the attempt in the operation's options so that its deadlines reach the
// client library.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/fault_selectors.hpp>
#include <keel/endpoint.hpp>

#include <asio/async_result.hpp>

#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// One call's attempts: each initiates `initiation(handler, options,
/// &request)` on the request the call keeps. Says whether they may run
/// several at once (keel::idempotent, for hedging), as the wrapper decided
/// from the request before the call.
template <class Signature, class Options, class Initiation, class Request>
struct attempts_on_request {
    Initiation initiation;
    Request request;
    bool may_run_in_parallel = false;

    bool idempotent() const noexcept { return may_run_in_parallel; }
    /// The request's HTTP method or statement name, for fault rules'
    /// selectors: a view of the request the call keeps.
    std::string_view fault_method() const noexcept requires names_fault_method<Request> {
        return fault_method_of(request);
    }
    std::string_view fault_statement() const noexcept requires names_fault_statement<Request> {
        return fault_statement_of(request);
    }
    /// The wrapper's own error for a generic injected one, when its
    /// initiation translates them.
    std::error_code
    fault_error(std::error_code generic) const requires translates_fault_error<Initiation> {
        return initiation.fault_error(generic);
    }

    template <class Token>
    auto operator()(const keel::attempt& a, Token&& token) const {
        Options options;
        options.attempt = &a;
        return asio::async_initiate<Token, Signature>(initiation, token, options, &request);
    }
};

/// `pipeline.async_run<Signature>` of attempts that each initiate
/// `initiation(handler, options, &request)`, `options` an `Options` whose
/// `attempt` is the attempt. The pipeline keeps the factory (and the request
/// in it) until the call completes, after its last attempt. `idempotent`:
/// whether the request may be sent more than once at a time (only then does
/// a pipeline with hedging start parallel attempts). With an `endpoint`
/// (std::string, or a std::string_view of a name that outlives the call),
/// the call reports it to the strategies kept per endpoint.
template <class Signature, class Options, class Pipeline, class Initiation, class Request,
          class Token, class... Endpoint>
auto call_with_attempts(Pipeline& pipeline, Initiation initiation, Request request, bool idempotent,
                        Token&& token, Endpoint... endpoint) {
    static_assert(sizeof...(Endpoint) <= 1, "one endpoint at most");
    // The wrappers push an attempt's deadlines into their library, as
    // steady-clock durations.
    static_assert(
        std::is_same_v<typename std::remove_cvref_t<Pipeline>::attempt_type, keel::attempt>,
        "keel's clients run on the steady clock: use a pipeline with a steady_timer");
    using attempts_type = attempts_on_request<Signature, Options, Initiation, Request>;
    attempts_type attempts{std::move(initiation), std::move(request), idempotent};
    if constexpr (sizeof...(Endpoint) == 0)
        return pipeline.template async_run<Signature>(std::move(attempts),
                                                      std::forward<Token>(token));
    else
        return pipeline.template async_run<Signature>(
            with_endpoint_t<attempts_type, Endpoint...>{std::move(attempts),
                                                        std::move(endpoint)...},
            std::forward<Token>(token));
}

} // namespace keel::detail
