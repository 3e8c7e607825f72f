// The simulation: the real keel pipeline, built from the scenario's policy,
// calling the scripted dependency on the manual clock, which jumps from event
// to event. Single-threaded and deterministic: the same scenario and seed give
// the same result.
#pragma once

#include <keel/observer.hpp>

#include "scenario.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace keel::sim {

/// One attempt as the trace shows it: attempt 0 is a call refused before any
/// attempt (start == end, result = the refusal).
struct trace_row {
    std::uint64_t call = 0; ///< 1-based, in start order
    int attempt = 0;
    nanos start{0};
    nanos end{0};
    /// "ok", the scenario's error name, "hang" never (a hang ends by keel),
    /// "exchange_timeout" / "deadline_exceeded" (keel cut it short),
    /// "cancelled", or the local refusal's name. Points into static strings
    /// or the scenario, which must outlive the result.
    std::string_view result;
};

/// A strategy changing state (a breaker opening), as strategies report them.
struct transition {
    nanos at{0};
    std::string strategy;
    std::string from;
    std::string to;
    std::string reason;
};

struct run_options {
    std::optional<std::uint64_t> seed; ///< overrides the scenario's
    bool trace = false;                ///< fill run_result::trace
    bool timeline = false;             ///< fill call_ends and attempt_starts (for the plot)
};

/// What a dependency's hedging did over a run, summed from the call reports.
struct hedge_summary {
    std::uint64_t started = 0;    ///< attempts started as hedges
    std::uint64_t won = 0;        ///< calls a hedge won rather than the first attempt
    std::uint64_t suppressed = 0; ///< hedges due but not started (deadline, budget)
};

/// An adaptive bulkhead's limit over a run.
struct limit_summary {
    int initial = 0;
    int min = 0; ///< the lowest value the limit took during the run
    int max = 0; ///< the highest
    int final = 0;
};

/// Attempts in flight and the bulkhead's limit from `at` on (until the
/// next sample): the plot's concurrency panel.
struct concurrency_sample {
    nanos at{0};
    int in_flight = 0;
    int limit = 0;
};

/// A pushback's pause of the rate limiter's bucket: from the throttled
/// answer `at` until the time no token is free before.
struct pause {
    nanos at{0};
    nanos until{0};
};

/// What the dependency's rate limiter did over a run.
struct rate_limit_summary {
    /// How long each attempt that waited for a token waited, ascending
    /// (attempts that found a token, or were refused at once, did not wait).
    std::vector<nanos> waits;
    /// In time order; a pushback during a pause that moves its end is one more.
    std::vector<pause> pauses;
};

inline constexpr int outcome_count = 8; ///< keel::call_outcome values
inline constexpr int give_up_count = 6; ///< keel::give_up_reason values
static_assert(give_up_count == static_cast<int>(give_up_reason::budget) + 1,
              "a give_up_reason added: count it");

struct run_result {
    std::string dependency;
    std::uint64_t seed = 1;
    std::uint64_t calls = 0;
    std::uint64_t attempts = 0;                          ///< attempts that reached the dependency
    std::array<std::uint64_t, outcome_count> outcomes{}; ///< by keel::call_outcome
    /// Calls that made attempts, by keel::give_up_reason (a call refused
    /// before any attempt is in outcomes and `rejected` only).
    std::array<std::uint64_t, give_up_count> give_up{};
    std::map<std::string, std::uint64_t> rejected; ///< by refusal name
    std::vector<nanos> call_latencies;             ///< ascending
    std::vector<transition> transitions;           ///< in time order
    int peak_attempts_in_flight = 0;
    /// The limit of an adaptive bulkhead (none without one).
    std::optional<limit_summary> limit;
    /// The rate limiter's waits and pauses (none without one).
    std::optional<rate_limit_summary> rate_limit;
    /// The hedges (none without a `hedge:`).
    std::optional<hedge_summary> hedges;
    /// Calls answered by the policy's fallback (none without a `fallback:`;
    /// the simulated fallback always answers, at once).
    std::optional<std::uint64_t> fallbacks;
    /// Calls that could never have ended (a hang with no deadline): the run
    /// cancelled them when nothing else was left to happen.
    std::uint64_t abandoned = 0;
    nanos end{0}; ///< when the last call ended

    std::vector<trace_row> trace;                          ///< by call, then attempt
    std::vector<std::pair<nanos, call_outcome>> call_ends; ///< in time order
    std::vector<nanos> attempt_starts;                     ///< in time order
    /// With a bulkhead: a sample at 0 and at each instant either changed.
    std::vector<concurrency_sample> concurrency;
};

/// Runs `s` to the end (every call ended). Uses the process-wide manual
/// clock: one simulation at a time per process.
run_result simulate(const scenario& s, const run_options& options = {});

/// The name of one of keel's own codes (`circuit_open`, `bulkhead_full`,
/// ...: the keel::errc enumerator), or "rejected" for any other refusal.
std::string_view refusal_name(const std::error_code& ec);

} // namespace keel::sim
