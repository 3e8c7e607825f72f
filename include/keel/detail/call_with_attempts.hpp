// A wrapper's async_call: a pipeline whose attempts each initiate the
// wrapper's own operation on a request the call keeps (sent uncopied), with
// the attempt in the operation's options so that its deadlines reach the
// client library.
#pragma once

#include <keel/attempt.hpp>
#include <keel/endpoint.hpp>

#include <asio/async_result.hpp>

#include <type_traits>
#include <utility>

namespace keel::detail {

/// `pipeline.async_run<Signature>` of attempts that each initiate
/// `initiation(handler, options, &request)`, `options` an `Options` whose
/// `attempt` is the attempt. The pipeline keeps the factory (and the request
/// in it) until the call completes, after its last attempt. With an
/// `endpoint` (std::string, or a std::string_view of a name that outlives
/// the call), the call reports it to the strategies kept per endpoint.
template <class Signature, class Options, class Pipeline, class Initiation, class Request,
          class Token, class... Endpoint>
auto call_with_attempts(Pipeline& pipeline, Initiation initiation, Request request, Token&& token,
                        Endpoint... endpoint) {
    static_assert(sizeof...(Endpoint) <= 1, "one endpoint at most");
    // The wrappers push an attempt's deadlines into their library, as
    // steady-clock durations.
    static_assert(
        std::is_same_v<typename std::remove_cvref_t<Pipeline>::attempt_type, keel::attempt>,
        "keel's clients run on the steady clock: use a pipeline with a steady_timer");
    auto attempts = [initiation, request = std::move(request)](const keel::attempt& a,
                                                               auto&& attempt_token) {
        Options options;
        options.attempt = &a;
        return asio::async_initiate<decltype(attempt_token), Signature>(initiation, attempt_token,
                                                                        options, &request);
    };
    if constexpr (sizeof...(Endpoint) == 0)
        return pipeline.template async_run<Signature>(std::move(attempts),
                                                      std::forward<Token>(token));
    else
        return pipeline.template async_run<Signature>(
            with_endpoint_t<decltype(attempts), Endpoint...>{std::move(attempts),
                                                             std::move(endpoint)...},
            std::forward<Token>(token));
}

} // namespace keel::detail
