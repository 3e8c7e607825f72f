// keel::with_report: a pipeline seen through a call_report, for functions
// that take any pipeline (pg::pool::async_call, pg::pool::async_transaction,
// http::client::async_call) and so have no report parameter of their own.
#pragma once

#include <keel/observer.hpp>

#include <utility>

namespace keel {

/// Runs every call through `Pipeline` with `report` filled in: the attempt
/// count, the outcome, and the last error an attempt reported by itself
/// (call_report::last_operation_error), which is what a log line or an
/// error answer should name when keel's deadline ended the call. A view:
/// it holds references, so the pipeline and the report must outlive every
/// call started through it (the view itself need not: a call started
/// through it no longer uses it).
template <class Pipeline>
class reporting_pipeline {
public:
    using attempt_type = typename Pipeline::attempt_type;
    using executor_type = typename Pipeline::executor_type;

    reporting_pipeline(Pipeline& pipeline, call_report& report) noexcept
        : pipeline_(pipeline), report_(report) {}

    executor_type get_executor() const noexcept { return pipeline_.get_executor(); }

    template <class Signature, class Op, class Token>
    auto async_run(Op&& op, Token&& token) {
        return pipeline_.template async_run<Signature>(std::forward<Op>(op), report_,
                                                       std::forward<Token>(token));
    }

private:
    Pipeline& pipeline_;
    call_report& report_;
};

/// `pool.async_transaction(keel::with_report(pipeline, report), ...)`.
template <class Pipeline>
reporting_pipeline<Pipeline> with_report(Pipeline& pipeline, call_report& report) noexcept {
    return reporting_pipeline<Pipeline>(pipeline, report);
}

} // namespace keel
