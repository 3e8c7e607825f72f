// Test helper: one call through a pipeline on the manual clock, to its end.
#pragma once

#include <keel/observer.hpp>

#include "support/scripted_op.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <system_error>
#include <vector>

namespace keel::test {

/// Runs one call of `steps` through `pipeline` and returns its report
/// (failing the test if it has not ended within 10 s of manual time).
template <class Pipeline>
call_report run_to_end(asio::io_context& context, Pipeline& pipeline,
                       const std::vector<step>& steps) {
    scripted_op op(context, steps);
    call_report report;
    bool done = false;
    pipeline.async_run(op, report, [&](std::error_code, int) { done = true; });
    run_for(context, 10s, [&] { return done; });
    EXPECT_TRUE(done);
    return report;
}

} // namespace keel::test
