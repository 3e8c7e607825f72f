// A dependency's pipeline that also fills a keel::call_report: keel::pg's
// and keel::http's services take no report, and a failure should name the
// last error the dependency gave, not only the deadline that ended the call.
#pragma once

#include <keel/attempt.hpp>
#include <keel/config/registry.hpp>
#include <keel/observer.hpp>

#include <utility>

namespace cqrs::orders {

struct reporting_pipeline {
    using attempt_type = keel::attempt;

    keel::config::configured_pipeline& pipeline;
    keel::call_report& report;

    template <class Signature, class Op, class Token>
    auto async_run(Op&& op, Token&& token) {
        return pipeline.template async_run<Signature>(std::forward<Op>(op), report,
                                                      std::forward<Token>(token));
    }
};

} // namespace cqrs::orders
