// What keel::http::service, keel::pg::service and keel::kafka::service are
// made of: one dependency's pipeline from the registry, a client made from
// the dependency's `connection:` section, and the one place where a verb's
// optional call_report& is told apart from its completion token.
#pragma once

#include <keel/config/registry.hpp>
#include <keel/reporting_pipeline.hpp>

#include <asio/async_result.hpp>

#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::config {

template <class Client>
class dependency_service {
public:
    using executor_type = typename Client::executor_type;

    configured_pipeline& pipeline() noexcept { return *pipeline_; }

    /// The wrapped client (http::client, pg::pool, kafka::producer): one
    /// attempt per call, no policy.
    Client& client() noexcept { return client_; }

protected:
    /// `options_from(dependency)`: the client's options from the section.
    /// Throws std::out_of_range for an unknown dependency, config_error for
    /// a bad connection section.
    template <class OptionsFrom>
    dependency_service(executor_type executor, registry& policies, std::string_view dependency,
                       OptionsFrom options_from)
        : pipeline_(&policies.pipeline(dependency)),
          client_(std::move(executor), policies.read_dependency(dependency, options_from)) {}
    ~dependency_service() = default;

    /// A verb of a service: `client_.async_call(pipeline, args..., token)`,
    /// where `args` are the verb's own arguments and `tail` is what its
    /// caller passed after them (see route).
    template <class... Args, class... Tail>
    auto call(std::tuple<Args...> args, Tail&&... tail) {
        return route(
            [&](auto&& pipeline, auto&& token) {
                return std::apply(
                    [&](auto&&... arg) {
                        return client_.async_call(pipeline, std::forward<decltype(arg)>(arg)...,
                                                  std::forward<decltype(token)>(token));
                    },
                    std::move(args));
            },
            std::forward<Tail>(tail)...);
    }

    static constexpr bool has_default_token =
        !std::is_void_v<asio::default_completion_token_t<executor_type>>;
    static auto default_token() { return asio::default_completion_token_t<executor_type>(); }

    /// Every verb takes, after its own arguments, an optional call_report&
    /// and then a completion token (optional where the executor has a
    /// default one; any_io_executor has none in Asio 1.22). `start(pipeline,
    /// token)` starts the call on the dependency's pipeline, seen through
    /// with_report when the caller passed a report.
    template <class Start>
    requires has_default_token auto route(Start&& start) {
        return start(*pipeline_, default_token());
    }
    template <class Start, class Token>
    requires(!std::is_same_v<std::remove_cvref_t<Token>, call_report>) auto route(Start&& start,
                                                                                  Token&& token) {
        return start(*pipeline_, std::forward<Token>(token));
    }
    template <class Start>
    requires has_default_token auto route(Start&& start, call_report& report) {
        return start(with_report(*pipeline_, report), default_token());
    }
    template <class Start, class Token>
    auto route(Start&& start, call_report& report, Token&& token) {
        return start(with_report(*pipeline_, report), std::forward<Token>(token));
    }

    configured_pipeline* pipeline_;
    Client client_;
};

} // namespace keel::config
