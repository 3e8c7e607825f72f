// The faults the demo injects, at fractions of the orders driven: a plan
// (pure, decided from the options alone) and its execution against the
// running stack (main thread: it forks, and restarts PostgreSQL).
#pragma once

#include "options.hpp"
#include "scrape.hpp"
#include "stack.hpp"
#include "timeline.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace cqrs::demo {

struct fault_step {
    enum class action {
        payment_faults_on,
        payment_faults_off,
        mock_command, ///< `command` to keel-kafka-mock's stdin
        pg_restart,
        crash,   ///< kill -9 `target`
        restart, ///< start `target` again
    };
    double at = 0; ///< fraction of the orders done, 0..1
    action what = action::mock_command;
    std::string command; ///< mock_command's line
    std::string target;  ///< crash's and restart's service
    fault kind = fault::broker;
};

/// The steps for the faults asked for, in the order of `at`; those that need
/// what is not there (a mock, a cluster of the demo's) are left out.
std::vector<fault_step> plan(const options& opts);

/// A step as it ran, in seconds since the run started.
struct executed_step {
    fault_step step;
    double started = 0, ended = 0;
};

/// Pure: the fault phases the steps made, in time order. A step that turns
/// a fault on opens a phase its counterpart closes (payment faults on/off,
/// broker-down/up, rtt N ms/0, a crash and its restart); one that is a single
/// action (an error burst, a PostgreSQL restart) lasts as long as it took. A
/// phase not closed by `run_end` ends there.
std::vector<fault_phase> phases_of(const std::vector<executed_step>& steps, double run_end);

/// Runs the plan's steps as the drive progresses, and records what each did.
class injector {
public:
    injector(std::vector<fault_step> steps, stack& s, http_probe& probe);

    /// Runs every step due at `fraction` not run yet.
    void advance(double fraction, std::chrono::steady_clock::duration since_start);
    /// Turns off what is still on (payment faults, a broker down, a crashed
    /// service): the read model is then waited for on a healthy system.
    void heal(std::chrono::steady_clock::duration since_start);

    /// "12.3 s (41%) pg-restart: ..." per step run.
    const std::vector<std::string>& log() const { return log_; }
    /// Steps that did not do what they should (an `error:` from the mock).
    std::size_t failures() const { return failures_; }
    /// Every step run, with its times (for the report's fault phases).
    const std::vector<executed_step>& executed() const { return executed_; }

private:
    void run(const fault_step& step, double fraction, std::chrono::steady_clock::duration at);

    std::vector<fault_step> steps_;
    std::size_t next_ = 0;
    stack& stack_;
    http_probe& probe_;
    std::vector<std::string> log_;
    std::vector<executed_step> executed_;
    std::size_t failures_ = 0;
};

} // namespace cqrs::demo
