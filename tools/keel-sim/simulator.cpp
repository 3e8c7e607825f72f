// Over 400 lines: the engine is one state (its event queue, call and attempt
// slots, the pipeline) and the handlers that move it; split, they would share it all.
#include "simulator.hpp"

#include <keel/budget_gate.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/detail/completion.hpp>
#include <keel/error.hpp>
#include <keel/fallback.hpp>
#include <keel/fault_injection.hpp>
#include <keel/hedging.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>
#include <keel/strategy.hpp>
#include <keel/testing/manual_clock.hpp>

#include "sim_timer.hpp"
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/experimental/append.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <queue>

namespace keel::sim {

namespace {

using clock = sim_timer::clock_type;
using time_point = sim_timer::time_point;
// The run's time 0 on the manual clock.
const time_point epoch{std::chrono::seconds(1000)};

class engine;

/// Hears the waits for a rate limiter's token (the JSON's `rate_limit`);
/// every other event is dropped.
struct wait_observer {
    engine* self = nullptr;
    template <class Event>
    void on(const Event&) const noexcept {}
    void on(const events::admission_wait& e) const noexcept;
};

using sim_pipeline =
    keel::basic_pipeline<sim_timer, wait_observer, asio::any_io_executor, strategy_chain>;
using attempt_type = sim_pipeline::attempt_type;
using attempt_completion = keel::detail::completion<std::error_code>;

/// What happens at a moment of the run. At equal times the dependency's
/// answers come first (an attempt whose latency equals its timeout makes
/// it; an attempt that ends when another starts does not overlap it), then
/// keel's timers, then new calls; each kind in the order it was queued.
struct event {
    enum class kind : std::uint8_t { answer, timer, arrival };
    std::int64_t at;
    kind what;
    std::uint64_t sequence;
    std::uint32_t id;
    std::uint32_t generation;

    friend bool operator>(const event& a, const event& b) noexcept {
        return std::tie(a.at, a.what, a.sequence) > std::tie(b.at, b.what, b.sequence);
    }
};

class engine final : public timer_queue {
public:
    engine(const scenario& s, const run_options& options);
    run_result run();

    // timer_queue: keel's timer arms its waits here.
    std::uint32_t add_timer(sim_timer* timer) override;
    /// An attempt's wait for a rate limiter's token is over.
    void waited_for_token(nanos waited) { result_.rate_limit->waits.push_back(waited); }
    void remove_timer(std::uint32_t id) noexcept override { timers_[id] = nullptr; }
    void schedule_timer(std::uint32_t id, std::uint32_t generation, time_point at) override {
        push(event::kind::timer, at.time_since_epoch() - epoch.time_since_epoch(), id, generation);
    }

private:
    struct call_slot {
        keel::call_report report;
        asio::cancellation_signal signal;
        std::uint64_t number = 0;
        nanos start{0};
        int caller = -1;
        bool open = false;
    };
    struct attempt_slot {
        keel::detail::completion_ptr<attempt_completion> completion;
        const attempt_type* attempt = nullptr;
        std::uint64_t call = 0;
        int number = 0;
        nanos start{0};
        attempt_answer answer;
        std::uint32_t generation = 0;
        bool in_use = false;
    };

    static nanos now() noexcept { return clock::now() - epoch; }
    void push(event::kind what, nanos at, std::uint32_t id, std::uint32_t generation = 0) {
        if (what == event::kind::arrival)
            ++arrivals_queued_;
        queue_.push(event{at.count(), what, ++sequence_, id, generation});
    }

    /// The operation the pipeline runs: each attempt asks the scripted
    /// dependency.
    struct simulated_operation {
        engine* self;
        std::uint32_t call;
        bool may_hedge; ///< the scenario's operation.idempotent

        bool idempotent() const noexcept { return may_hedge; }

        template <class Token>
        auto operator()(const attempt_type& attempt, Token&& token) const {
            return asio::async_initiate<Token, void(std::error_code)>(
                [self = self, call = call, &attempt](auto handler) {
                    self->start_attempt(call, attempt, std::move(handler));
                },
                token);
        }
    };

    /// The fallback of a policy with `fallback:`: answers at once (the best
    /// a fallback does: a cached value, a default), posted as an answer is.
    struct simulated_fallback {
        asio::io_context* io;
        template <class Token>
        auto operator()(const fallback_context&, Token&& token) const {
            return asio::post(
                *io, asio::experimental::append(std::forward<Token>(token), std::error_code()));
        }
    };

    void schedule_first_arrivals();
    /// The time to the next arrival of a Poisson process (exponential).
    nanos poisson_gap(const poisson_arrivals& rate);
    void on_arrival(const event& e);
    void start_call(int caller);
    template <class Handler>
    void start_attempt(std::uint32_t call, const attempt_type& attempt, Handler&& handler);
    void on_answer(const event& e);
    void cancel_attempt(std::uint32_t id, std::uint32_t generation);
    void finish_attempt(std::uint32_t id, const std::error_code& ec, std::string_view result);
    void end_call(std::uint32_t id);
    void abandon_open_calls();
    /// After each event: the bulkhead's limit and the attempts in flight,
    /// recorded when either changed.
    void sample_concurrency();
    /// After each event: a pushback that paused the rate limiter's bucket.
    void sample_pause();

    const scenario& scenario_;
    const run_options& options_;
    run_result result_;
    random_source arrivals_random_;
    random_source dependency_random_;

    std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
    std::uint64_t sequence_ = 0;
    std::vector<sim_timer*> timers_;
    std::deque<call_slot> calls_; // stable addresses: the pipeline holds reports and slots
    std::vector<std::uint32_t> free_calls_;
    std::vector<attempt_slot> attempts_;
    std::vector<std::uint32_t> free_attempts_;
    std::size_t open_calls_ = 0;
    std::size_t arrivals_queued_ = 0;
    std::size_t next_at_ = 0; ///< explicit arrivals: the next index
    int in_flight_ = 0;

    std::shared_ptr<circuit_breaker> breaker_; ///< the dependency's, when it has one
    std::shared_ptr<bulkhead> bulkhead_;       ///< likewise
    std::shared_ptr<rate_limiter> rate_limiter_;
    std::shared_ptr<budget_gate> gate_;    ///< the retry budget and adaptive throttle
    std::optional<fault_set> fallback_on_; ///< the policy's `fallback: {on}`, if any
    asio::io_context io_{1};
    std::optional<sim_pipeline> pipeline_;
};

// ---- engine ------------------------------------------------------------------

std::uint64_t mix(std::uint64_t seed, std::uint64_t stream) {
    return random_source(seed ^ (stream * 0x9e3779b97f4a7c15ULL)).next();
}

engine::engine(const scenario& s, const run_options& options) : scenario_(s), options_(options) {
    result_.dependency = s.dependency;
    result_.seed = options.seed.value_or(s.seed);
    // Independent streams, so that arrivals do not shift when the dependency
    // draws more or fewer numbers, nor jitter when either does.
    arrivals_random_ = random_source(mix(result_.seed, 1));
    dependency_random_ = random_source(mix(result_.seed, 2));
    asio::use_service<timer_queue_link>(io_).target = this;
    clock::set(epoch);
    const config::dependency* dep = s.policy.find(s.dependency);
    pipeline_policy policy = dep ? dep->policy : pipeline_policy{};
    // The policy's fault rules apply in simulation too, so a plan can be
    // rehearsed offline first: a plan of the run's own, replaying from its seed.
    if (policy.faults) {
        enable_fault_injection(true);
        policy.faults = std::make_shared<fault_plan>(policy.faults->rules(), policy.faults->seed());
    }
    // Strategies of the run's own, not the process's shared ones: every run
    // starts from the settings (a closed breaker, an idle bulkhead) and
    // replays from the seed.
    if (dep && dep->circuit_breaker) {
        breaker_ = std::make_shared<circuit_breaker>(*dep->circuit_breaker, mix(result_.seed, 4));
        breaker_->on_transition([this](const circuit_transition& t) {
            result_.transitions.push_back({t.at - epoch.time_since_epoch(), "circuit_breaker",
                                           std::string(to_string(t.from)),
                                           std::string(to_string(t.to)), std::string(t.reason)});
        });
    }
    if (dep && dep->bulkhead) {
        bulkhead_ = std::make_shared<bulkhead>(*dep->bulkhead);
        const int limit = bulkhead_->limit();
        if (dep->bulkhead->adaptive)
            result_.limit = limit_summary{limit, limit, limit, limit};
        if (options_.timeline)
            result_.concurrency.push_back({nanos(0), 0, limit});
    }
    if (dep && dep->rate_limit) {
        rate_limiter_ = std::make_shared<rate_limiter>(*dep->rate_limit);
        result_.rate_limit.emplace();
    }
    if (dep && dep->fallback_on) { // it answers in simulation too (result_.fallbacks)
        fallback_on_ = dep->fallback_on;
        result_.fallbacks.emplace();
    }
    // As the registry builds it: a budget only where there are retries or
    // hedges to gate.
    std::shared_ptr<retry_budget> budget;
    if (dep && dep->retry_budget && (policy.retry.max_attempts > 1 || dep->hedge))
        budget = std::make_shared<retry_budget>(*dep->retry_budget);
    std::shared_ptr<adaptive_throttle> throttle;
    if (dep && dep->adaptive_throttle)
        throttle = std::make_shared<adaptive_throttle>(*dep->adaptive_throttle);
    if (budget || throttle)
        gate_ = std::make_shared<budget_gate>(std::move(budget), std::move(throttle));
    std::shared_ptr<hedging> hedges;
    if (dep && dep->hedge) {
        hedges = std::make_shared<hedging>(*dep->hedge);
        result_.hedges.emplace();
    }
    if (breaker_ || bulkhead_ || rate_limiter_ || gate_ || hedges) {
        auto chain = std::make_shared<strategy_chain>();
        chain->breaker = breaker_;
        chain->rate_limiter = rate_limiter_;
        chain->bulkhead = bulkhead_;
        chain->gate = gate_;
        chain->parallel = std::move(hedges);
        policy.strategies = std::move(chain);
    }
    pipeline_.emplace(io_, s.dependency, std::move(policy), wait_observer{this});
    pipeline_->seed(mix(result_.seed, 3));
}

std::uint32_t engine::add_timer(sim_timer* timer) {
    timers_.push_back(timer);
    return static_cast<std::uint32_t>(timers_.size() - 1);
}

void engine::schedule_first_arrivals() {
    if (const auto* loop = std::get_if<closed_loop_arrivals>(&scenario_.calls)) {
        for (int caller = 0; caller < loop->callers; ++caller)
            push(event::kind::arrival, nanos(0), static_cast<std::uint32_t>(caller));
        return;
    }
    if (const auto* at = std::get_if<explicit_arrivals>(&scenario_.calls)) {
        if (at->times.empty())
            return;
        push(event::kind::arrival, at->times[0], 0);
        next_at_ = 1;
    } else if (const auto* rate = std::get_if<poisson_arrivals>(&scenario_.calls)) {
        // A Poisson process's first arrival comes after a gap like any other.
        const nanos first = poisson_gap(*rate);
        if (first < scenario_.duration.value_or(nanos::max()))
            push(event::kind::arrival, first, 0);
    } else {
        push(event::kind::arrival, nanos(0), 0);
    }
}

nanos engine::poisson_gap(const poisson_arrivals& rate) {
    const double seconds = -std::log(1.0 - arrivals_random_.unit()) / rate.per_second;
    return nanos(static_cast<nanos::rep>(std::llround(seconds * 1e9)));
}

void engine::on_arrival(const event& e) {
    --arrivals_queued_;
    const nanos t = now();
    const nanos limit = scenario_.duration.value_or(nanos::max());
    if (std::holds_alternative<closed_loop_arrivals>(scenario_.calls)) {
        start_call(static_cast<int>(e.id));
        return;
    }
    // Queue the next arrival before starting this call: its time does not
    // depend on how the call goes.
    std::optional<nanos> next;
    if (const auto* every = std::get_if<every_arrivals>(&scenario_.calls)) {
        next = t + every->interval;
    } else if (const auto* rate = std::get_if<poisson_arrivals>(&scenario_.calls)) {
        next = t + poisson_gap(*rate);
    } else if (const auto* at = std::get_if<explicit_arrivals>(&scenario_.calls)) {
        if (next_at_ < at->times.size())
            next = at->times[next_at_++];
    }
    if (next && *next < limit)
        push(event::kind::arrival, *next, 0);
    start_call(-1);
}

void engine::start_call(int caller) {
    std::uint32_t id;
    if (!free_calls_.empty()) {
        id = free_calls_.back();
        free_calls_.pop_back();
    } else {
        id = static_cast<std::uint32_t>(calls_.size());
        calls_.emplace_back();
    }
    call_slot& call = calls_[id];
    call.report = keel::call_report{};
    call.number = ++result_.calls;
    call.start = now();
    call.caller = caller;
    call.open = true;
    ++open_calls_;
    auto ended = asio::bind_cancellation_slot(call.signal.slot(),
                                              [this, id](const std::error_code&) { end_call(id); });
    const simulated_operation op{this, id, scenario_.idempotent};
    if (fallback_on_)
        pipeline_->async_run<void(std::error_code)>(
            keel::with_fallback(op, simulated_fallback{&io_}, *fallback_on_), call.report, ended);
    else
        pipeline_->async_run<void(std::error_code)>(op, call.report, ended);
}

template <class Handler>
void engine::start_attempt(std::uint32_t call, const attempt_type& attempt, Handler&& handler) {
    std::uint32_t id;
    if (!free_attempts_.empty()) {
        id = free_attempts_.back();
        free_attempts_.pop_back();
    } else {
        id = static_cast<std::uint32_t>(attempts_.size());
        attempts_.emplace_back();
    }
    attempt_slot& slot = attempts_[id];
    slot.in_use = true;
    slot.attempt = &attempt;
    slot.call = calls_[call].number;
    slot.number = attempt.number();
    slot.start = now();
    slot.answer =
        answer(window_at(scenario_.behaviour, slot.start), slot.number, dependency_random_);
    ++result_.attempts;
    result_.peak_attempts_in_flight = std::max(result_.peak_attempts_in_flight, ++in_flight_);
    if (options_.timeline)
        result_.attempt_starts.push_back(slot.start);

    // The simulated operation honours cancellation, as keel's wrappers do:
    // a deadline or a cancel ends it at once.
    auto cancel = asio::get_associated_cancellation_slot(handler);
    if (cancel.is_connected()) {
        const std::uint32_t generation = slot.generation;
        cancel.assign(
            [this, id, generation](asio::cancellation_type) { cancel_attempt(id, generation); });
    }
    slot.completion = keel::detail::make_completion<keel::detail::completion, std::error_code>(
        std::forward<Handler>(handler), asio::any_io_executor(io_.get_executor()));
    if (!slot.answer.hangs)
        push(event::kind::answer, slot.start + slot.answer.latency, id, slot.generation);
}

void engine::on_answer(const event& e) {
    attempt_slot& slot = attempts_[e.id];
    if (!slot.in_use || slot.generation != e.generation)
        return; // cancelled before it answered
    if (slot.answer.error && slot.answer.retry_after)
        slot.attempt->feedback().retry_after(*slot.answer.retry_after);
    finish_attempt(e.id, slot.answer.error, slot.answer.name);
}

void engine::cancel_attempt(std::uint32_t id, std::uint32_t generation) {
    attempt_slot& slot = attempts_[id];
    if (!slot.in_use || slot.generation != generation)
        return;
    // Which of keel's deadlines cut it short, as keel will report it.
    const time_point t = clock::now();
    std::string_view why = "cancelled";
    if (t >= slot.attempt->total_deadline())
        why = "deadline_exceeded";
    else if (t >= slot.attempt->exchange_deadline())
        why = "exchange_timeout";
    finish_attempt(id, asio::error::operation_aborted, why);
}

void engine::finish_attempt(std::uint32_t id, const std::error_code& ec, std::string_view result) {
    attempt_slot& slot = attempts_[id];
    --in_flight_;
    if (options_.trace)
        result_.trace.push_back({slot.call, slot.number, slot.start, now(), result});
    auto completion = std::move(slot.completion);
    slot.in_use = false;
    ++slot.generation;
    slot.attempt = nullptr;
    free_attempts_.push_back(id);
    // Never inside the engine's own frame: the handler runs from the loop.
    completion.release()->complete(keel::detail::upcall::post, ec);
}

void engine::end_call(std::uint32_t id) {
    call_slot& call = calls_[id];
    const nanos t = now();
    const keel::call_report& report = call.report;
    ++result_.outcomes[static_cast<std::size_t>(report.outcome)];
    // Why a call that made attempts stopped; a call refused before any attempt
    // (whether its fallback answered or not) is counted by its refusal alone.
    const bool refused = report.outcome == call_outcome::rejected ||
                         (report.attempts == 0 && report.original_fault == fault_class::rejected);
    if (report.reason != give_up_reason::none && !refused)
        ++result_.give_up[static_cast<std::size_t>(report.reason)];
    if (report.refusal) {
        ++result_.rejected[std::string(refusal_name(report.refusal))];
        if (options_.trace && refused)
            result_.trace.push_back({call.number, 0, call.start, t, refusal_name(report.refusal)});
    }
    if (result_.fallbacks && report.original_error) // the fallback ran
        ++*result_.fallbacks;
    if (result_.hedges) {
        result_.hedges->started += static_cast<std::uint64_t>(report.hedges_started);
        result_.hedges->won += report.hedge_won ? 1 : 0;
        result_.hedges->suppressed += static_cast<std::uint64_t>(report.hedges_suppressed);
    }
    result_.call_latencies.push_back(t - call.start);
    result_.end = std::max(result_.end, t);
    if (options_.timeline)
        result_.call_ends.emplace_back(t, report.outcome);

    if (const auto* loop = std::get_if<closed_loop_arrivals>(&scenario_.calls)) {
        const nanos next = t + loop->think;
        if (next < scenario_.duration.value_or(nanos::max()))
            push(event::kind::arrival, next, static_cast<std::uint32_t>(call.caller));
    }
    call.open = false;
    --open_calls_;
    free_calls_.push_back(id);
}

void engine::abandon_open_calls() {
    for (call_slot& call : calls_) {
        if (call.open) {
            ++result_.abandoned;
            call.signal.emit(asio::cancellation_type::terminal);
        }
    }
}

run_result engine::run() {
    // The loop never runs out of work: poll() would otherwise stop it.
    auto keep_running = asio::make_work_guard(io_);
    schedule_first_arrivals();
    io_.poll();
    std::uint64_t abandon_rounds = 0;
    for (;;) {
        // Stale timer waits may remain queued: they change nothing.
        if (open_calls_ == 0 && arrivals_queued_ == 0)
            break;
        if (queue_.empty()) {
            // Calls are open and nothing can end them: hangs with no deadline.
            if (++abandon_rounds > 2)
                break;
            abandon_open_calls();
            io_.poll();
            continue;
        }
        const event e = queue_.top();
        queue_.pop();
        if (nanos(e.at) > now())
            clock::set(epoch + nanos(e.at));
        switch (e.what) {
        case event::kind::answer:
            on_answer(e);
            break;
        case event::kind::timer:
            if (e.id < timers_.size() && timers_[e.id])
                timers_[e.id]->fire(e.generation);
            break;
        case event::kind::arrival:
            on_arrival(e);
            break;
        }
        io_.poll();
        sample_concurrency();
        sample_pause();
    }
    // Transitions due by the end of the run (a break that ended after the
    // last call) are made at the instants they were due.
    if (breaker_)
        breaker_->snapshot(epoch.time_since_epoch() + result_.end);
    std::sort(result_.call_latencies.begin(), result_.call_latencies.end());
    if (result_.rate_limit)
        std::sort(result_.rate_limit->waits.begin(), result_.rate_limit->waits.end());
    if (options_.trace)
        std::sort(result_.trace.begin(), result_.trace.end(),
                  [](const trace_row& a, const trace_row& b) {
                      return std::tie(a.call, a.attempt) < std::tie(b.call, b.attempt);
                  });
    return std::move(result_);
}

void engine::sample_concurrency() {
    if (!bulkhead_)
        return;
    const int limit = bulkhead_->limit();
    if (result_.limit) {
        result_.limit->min = std::min(result_.limit->min, limit);
        result_.limit->max = std::max(result_.limit->max, limit);
        result_.limit->final = limit;
    }
    if (!options_.timeline)
        return;
    auto& samples = result_.concurrency;
    const auto unchanged = [&] {
        return samples.back().in_flight == in_flight_ && samples.back().limit == limit;
    };
    if (unchanged())
        return;
    const nanos t = now();
    if (samples.back().at == t)
        samples.pop_back(); // several events at one instant: what they left
    if (samples.empty() || !unchanged())
        samples.push_back({t, in_flight_, limit});
}

void engine::sample_pause() {
    if (!rate_limiter_)
        return;
    const nanos until = rate_limiter_->paused_until() - epoch.time_since_epoch();
    auto& pauses = result_.rate_limit->pauses;
    // Before the first pushback the pause lies far in the past.
    if (until <= now() || (!pauses.empty() && pauses.back().until == until))
        return;
    pauses.push_back({now(), until});
}

void wait_observer::on(const events::admission_wait& e) const noexcept {
    if (e.stage == admission_stage::rate_limiter)
        self->waited_for_token(e.waited);
}

} // namespace

std::string_view refusal_name(const std::error_code& ec) {
    if (ec.category() != keel::error_category())
        return "rejected";
    switch (static_cast<keel::errc>(ec.value())) {
    case keel::errc::timeout:
        return "timeout";
    case keel::errc::connect_timeout:
        return "connect_timeout";
    case keel::errc::exchange_timeout:
        return "exchange_timeout";
    case keel::errc::deadline_exceeded:
        return "deadline_exceeded";
    case keel::errc::circuit_open:
        return "circuit_open";
    case keel::errc::bulkhead_full:
        return "bulkhead_full";
    case keel::errc::bulkhead_timeout:
        return "bulkhead_timeout";
    case keel::errc::rate_limited:
        return "rate_limited";
    case keel::errc::retry_budget_exhausted:
        return "retry_budget_exhausted";
    case keel::errc::throttled_locally:
        return "throttled_locally";
    }
    return "rejected";
}

run_result simulate(const scenario& s, const run_options& options) {
    engine e(s, options);
    return e.run();
}

} // namespace keel::sim
