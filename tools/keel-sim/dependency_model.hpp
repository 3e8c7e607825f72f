// The simulated dependency: how it answers each attempt, by time window. Pure:
// the answer is a function of the window, the attempt's number and the random
// source, so a seed replays a run exactly.
#pragma once

#include <keel/random.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace keel::sim {

using nanos = std::chrono::nanoseconds;

/// An error a scenario names (`connection_refused`, `http_503`, `pg_40001`,
/// `kafka_not_leader_for_partition`), as the real wrapper reports it.
struct named_error {
    std::string name;
    std::error_code code;
};

/// The error code that `name` stands for, or nullopt with `why` saying what
/// is wrong with it. `ok` and `hang` are not errors: the caller checks them
/// first. Names of a wrapper this build lacks are refused with that reason.
std::optional<named_error> error_from_name(std::string_view name, std::string& why);

/// The spellings a scenario may use, for "did you mean" (families written
/// `http_<status>`, ...).
const std::vector<std::string_view>& result_name_examples();

/// An attempt's duration: fixed, or log-normal through a median and a p99.
struct latency_model {
    nanos median{0};
    std::optional<nanos> p99; ///< none: every attempt takes `median`

    /// One draw (consumes random numbers only when log-normal).
    nanos draw(random_source& random) const;
};

/// What the attempts of one window end with.
struct result_model {
    enum class kind { ok, error, hang };
    kind what = kind::ok;
    named_error error;        ///< when what == error
    double rate = 1.0;        ///< the share of attempts that fail this way (the rest succeed)
    std::optional<int> first; ///< only each call's first N attempts fail this way
    std::optional<nanos> retry_after; ///< advised to the attempt with its error
};

/// The dependency from the start of the run until `until` (the last window
/// lasts for ever: retries of late calls run past the scenario's duration).
struct behaviour_window {
    std::optional<nanos> until;
    latency_model latency;
    result_model result;
};

/// The window that an attempt starting at `start` (since the run began)
/// follows: the first whose `until` is after `start`, else the last.
const behaviour_window& window_at(const std::vector<behaviour_window>& windows, nanos start);

/// How one attempt ends, before keel's deadlines have their say.
struct attempt_answer {
    bool hangs = false;    ///< never answers: only a deadline or a cancel ends it
    nanos latency{0};      ///< when it answers, after its start
    std::error_code error; ///< empty: success
    std::string_view name; ///< "ok", or the error's scenario name (for the trace)
    std::optional<nanos> retry_after;
};

/// The answer of `window` to attempt `attempt_number` (1-based) of a call.
attempt_answer answer(const behaviour_window& window, int attempt_number, random_source& random);

} // namespace keel::sim
