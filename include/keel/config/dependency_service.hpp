// What keel::http::service, keel::pg::service and keel::kafka::service are
// made of: one dependency's pipeline from the registry, and a client made
// from the dependency's `connection:` section.
#pragma once

#include <keel/config/registry.hpp>
#include <keel/reporting_pipeline.hpp>

#include <string_view>
#include <utility>

namespace keel::config {

template <class Client>
class dependency_service {
public:
    using executor_type = typename Client::executor_type;

    configured_pipeline& pipeline() noexcept { return *pipeline_; }

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

    /// client_.async_call through the pipeline.
    template <class... Args>
    auto call(Args&&... args) {
        return client_.async_call(*pipeline_, std::forward<Args>(args)...);
    }
    /// The same, and `report` says how it went.
    template <class... Args>
    auto call_reported(call_report& report, Args&&... args) {
        return client_.async_call(with_report(*pipeline_, report), std::forward<Args>(args)...);
    }

    configured_pipeline* pipeline_;
    Client client_;
};

} // namespace keel::config
