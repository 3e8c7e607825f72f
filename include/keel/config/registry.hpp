// The runtime side of keel::config: one pipeline per configured dependency,
// kept up to date when the file changes.
#pragma once

#include <keel/budget_gate.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/config/document.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/observer.hpp>
#include <keel/pipeline.hpp>
#include <keel/rate_limiter.hpp>
#include <keel/strategy.hpp>
#include <keel/strategy_registry.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

/// The pipelines a registry hands out: steady clock, observer chosen at run
/// time (the Prometheus observer, a trace printer, or none), and the
/// dependency's strategies (its circuit breaker, its bulkhead) when it has
/// any: a dependency without costs one branch per call.
using configured_pipeline = keel::basic_pipeline<asio::steady_timer, keel::shared_observer,
                                                 asio::any_io_executor, keel::strategy_chain>;

/// Hears of every circuit breaker a registry puts into a pipeline.
using circuit_breaker_listener = std::function<void(
    std::string_view dependency, const std::shared_ptr<keel::circuit_breaker>& breaker)>;

/// Hears of every endpoint set (`scope: endpoint`) a registry puts into a
/// pipeline.
using endpoint_circuit_breakers_listener = std::function<void(
    std::string_view dependency, const std::shared_ptr<keel::endpoint_circuit_breakers>& breakers)>;

/// Hears of every bulkhead a registry puts into a pipeline.
using bulkhead_listener = std::function<void(std::string_view dependency,
                                             const std::shared_ptr<keel::bulkhead>& bulkhead)>;

/// Hears of every retry gate (a dependency's retry budget and adaptive
/// throttle) a registry puts into a pipeline.
/// Hears of each dependency's fault plan (its `faults:`), made at load and
/// at every reload that keeps rules: keel::prometheus counts its injections.
using fault_plan_listener =
    std::function<void(std::string_view dependency, const std::shared_ptr<keel::fault_plan>&)>;
using retry_gate_listener = std::function<void(std::string_view dependency,
                                               const std::shared_ptr<keel::budget_gate>& gate)>;

/// One breaker as a readiness or health endpoint shows it.
struct circuit_breaker_status {
    std::string dependency;
    /// empty: the whole dependency (scope: dependency), or the calls that
    /// reported no endpoint (scope: endpoint)
    std::string endpoint;
    keel::circuit_snapshot snapshot;
};

/// Makes the observer of one dependency's pipeline.
using observer_factory =
    std::function<std::shared_ptr<keel::observer>(std::string_view dependency)>;

/// What one reload attempt produced; the metrics component counts these.
struct reload_event {
    bool success = false;
    std::string source;             ///< the file
    std::vector<diagnostic> errors; ///< why it was refused (empty on success)
    std::size_t dependencies = 0;   ///< dependencies in force afterwards
};

/// One pipeline per dependency of a document. Pipelines live as long as the
/// registry, so references to them stay valid across reloads. Thread-safe.
///
/// A dependency with a `circuit_breaker:` gets its breaker from `strategies`
/// (keel::strategy_registry::global() unless another is given: tests and
/// keel-sim keep theirs apart), keyed by the dependency's name: every
/// pipeline and wrapper of a dependency in the process shares one breaker.
/// A reload that leaves a breaker's settings unchanged keeps the breaker;
/// one that changes them puts in a new breaker that takes over the state of
/// the old (an open breaker stays open until its break ends) with an empty
/// window; one that removes them leaves the dependency without strategies.
///
/// With `scope: endpoint` the dependency's breaker is a
/// keel::endpoint_circuit_breakers (one breaker per endpoint its calls
/// report), shared and reloaded the same way, endpoint by endpoint: equal
/// settings keep the set; changed settings put in a new set whose breakers
/// take over each endpoint's state with an empty window. A reload that
/// changes the scope starts afresh.
///
/// A dependency with a `bulkhead:` gets one keel::bulkhead the same way,
/// shared by all its pipelines. A reload that changes its settings keeps
/// the same bulkhead and applies them in place (bulkhead::reconfigure): the
/// attempts still running hold their permits under the new limit, so the
/// dependency never runs more than the new limit at once; an adaptive limit
/// keeps its value, clamped into the new bounds.
///
/// Each strategy is kept or forgotten alone: a reload that removes the
/// bulkhead keeps the breaker's state and the other way round; one that
/// removes both leaves the dependency without strategies.
class registry {
public:
    /// Every pipeline reports to `observer` (none when null).
    registry(asio::any_io_executor executor, document doc,
             std::shared_ptr<keel::observer> observer = {},
             keel::strategy_registry& strategies = keel::strategy_registry::global());
    /// Each pipeline reports to the observer `observers(dependency)` makes for
    /// it when the pipeline is made (e.g. keel::prometheus's, which resolves
    /// the dependency's metrics once). An empty factory, or one that returns
    /// null, means no observer.
    registry(asio::any_io_executor executor, document doc, observer_factory observers,
             keel::strategy_registry& strategies = keel::strategy_registry::global());

    /// The pipeline of dependency `name`. Throws std::out_of_range naming the
    /// dependency, the file and the dependencies it does declare.
    configured_pipeline& pipeline(std::string_view name);

    /// The same, or -- when the file does not declare `name` -- a pipeline
    /// named `name` with the file's defaults (asked for explicitly, so a typo
    /// in a name is never silently accepted by pipeline()).
    configured_pipeline& pipeline_or_defaults(std::string_view name);

    /// The document in force.
    std::shared_ptr<const document> current() const;

    /// `read(dependency)` of dependency `name` in the document in force: how
    /// a wrapper reads its `connection:` section. Throws std::out_of_range
    /// as pipeline() does.
    template <class Read>
    auto read_dependency(std::string_view name, Read&& read) const {
        const std::shared_ptr<const document> doc = current();
        const dependency* dep = doc->find(name);
        if (!dep)
            throw_unknown(*doc, name);
        return std::forward<Read>(read)(*dep);
    }

    /// Makes `doc` the document in force: each dependency's pipeline switches
    /// to its new policy atomically (calls in flight keep theirs), new
    /// dependencies get pipelines, and dependencies no longer declared keep
    /// their last policy (their pipelines may still be in use).
    void apply(document doc);

    /// Loads `path` and applies it. On any error nothing changes: the running
    /// policies stay. Either way the event goes to every on_reload listener.
    reload_event reload(const std::string& path, const load_options& options = {});

    /// Called after every reload attempt, on the thread that made it.
    void on_reload(std::function<void(const reload_event&)> listener);

    /// Calls `listener` at once for every breaker already in a pipeline, then
    /// for every breaker the registry puts into one (a pipeline made, a
    /// reload that made a new breaker), before any call uses it: the place to
    /// add transition listeners (circuit_breaker::on_transition) and keep the
    /// breaker for its snapshots (keel::prometheus does). Called on the
    /// thread that constructs, applies or asks, with changes to the registry
    /// held off: it must not call apply, reload, pipeline_or_defaults or
    /// on_circuit_breaker.
    void on_circuit_breaker(circuit_breaker_listener listener);
    /// The same for the endpoint sets of dependencies with `scope:
    /// endpoint` (endpoint_circuit_breakers::on_transition hears each
    /// endpoint's transitions; keel::prometheus adds its listener here).
    void on_endpoint_circuit_breakers(endpoint_circuit_breakers_listener listener);
    /// The same for bulkheads: every one in place at once, then each new
    /// one before calls use it (a bulkhead reconfigured in place by a
    /// reload is not new). The place to keep a bulkhead for its gauges
    /// (in_flight, limit, queued).
    void on_bulkhead(bulkhead_listener listener);
    /// The same for retry gates: every one in place at once, then each new
    /// one (new when its budget or throttle is) before calls use it.
    void on_retry_gate(retry_gate_listener listener);
    /// Calls `listener` at once for every fault plan in a pipeline, then for
    /// each new one a load or reload makes.
    void on_fault_plan(fault_plan_listener listener);

    /// A snapshot of every breaker of the dependencies in pipelines (one per
    /// endpoint for `scope: endpoint`, once it has been used), sorted by
    /// dependency then endpoint, at `now` on the pipelines' clock
    /// (std::chrono::steady_clock, as time since its epoch): what a
    /// readiness endpoint lists. Time-driven transitions due by `now` are
    /// made first (and reported to transition listeners).
    std::vector<circuit_breaker_status> circuit_breakers(keel::clock_ticks now) const;
    /// The same, now.
    std::vector<circuit_breaker_status> circuit_breakers() const;

private:
    [[noreturn]] static void throw_unknown(const document& doc, std::string_view name);
    configured_pipeline& make_pipeline(const std::string& name, const pipeline_policy& policy);
    /// `policy` with the strategies of dependency `name` (its breaker made,
    /// kept or taken over from the strategy registry, its bulkhead made,
    /// kept or reconfigured, its rate limiter kept or made; listeners told
    /// of a new one). Called with update_mutex_ held, not mutex_.
    pipeline_policy with_strategies(const std::string& name, pipeline_policy policy,
                                    const std::optional<keel::circuit_breaker_settings>& breaker,
                                    const std::optional<keel::bulkhead_settings>& bulkhead,
                                    const std::optional<keel::rate_limit_settings>& rate_limit,
                                    const std::optional<keel::retry_budget_settings>& budget,
                                    const std::optional<keel::adaptive_throttle_settings>& throttle,
                                    const std::optional<keel::hedge_settings>& hedge);
    /// The retry gate of `name` (its retry budget and adaptive throttle, one
    /// each for all its pipelines, kept while their settings are); null when
    /// neither applies: no throttle, and no budget or no retry or hedge to
    /// gate.
    std::shared_ptr<keel::retry_gate>
    gate_of(const std::string& name, const pipeline_policy& policy,
            const std::optional<keel::retry_budget_settings>& budget,
            const std::optional<keel::adaptive_throttle_settings>& throttle, bool hedged);
    /// The hedging of `name`, one for all its pipelines: kept while its
    /// settings are, else made afresh; null and its state forgotten when
    /// `settings` has none.
    std::shared_ptr<keel::hedging> hedging_of(const std::string& name,
                                              const std::optional<keel::hedge_settings>& settings);
    /// The breaker (either scope) of `name`, or null and its state
    /// forgotten when `settings` has none.
    std::shared_ptr<keel::admission_strategy>
    breaker_of(const std::string& name,
               const std::optional<keel::circuit_breaker_settings>& settings);
    /// The bulkhead of `name`: kept, reconfigured in place or made; null
    /// and its state forgotten when `settings` has none.
    std::shared_ptr<keel::bulkhead>
    bulkhead_of(const std::string& name, const std::optional<keel::bulkhead_settings>& settings);
    /// The rate limiter of `name`, one for all its pipelines: kept while its
    /// settings are, else made afresh; null and its state forgotten when
    /// `settings` has none.
    std::shared_ptr<keel::rate_limiter>
    rate_limiter_of(const std::string& name,
                    const std::optional<keel::rate_limit_settings>& settings);
    template <class Breakers>
    using breakers_of = std::map<std::string, std::shared_ptr<Breakers>, std::less<>>;
    /// The breaker (scope: dependency) or endpoint set (scope: endpoint) of
    /// dependency `name`: kept, made, or taking over the previous one's
    /// state; recorded in `given` (and out of `other_scope`: a changed scope
    /// starts afresh); `listeners` told of a new one.
    template <class Breakers, class Other, class Listener>
    std::shared_ptr<keel::admission_strategy>
    obtain_breakers(const std::string& name, const keel::circuit_breaker_settings& settings,
                    breakers_of<Breakers>& given, breakers_of<Other>& other_scope,
                    const std::vector<Listener>& listeners);
    /// `name`'s pipelines are no longer given a `State`: out of `given`, and
    /// its state forgotten (one given again later starts afresh).
    template <class State>
    void take_out(const std::string& name, breakers_of<State>& given);
    /// The `State` the strategy registry holds for the whole of dependency
    /// `name` (no endpoint), if any.
    template <class State>
    std::shared_ptr<State> whole_dependency_state(const std::string& name) const;
    /// Records `state` as what `name`'s pipelines are given; tells
    /// `listeners` of it when it is new there.
    template <class State, class Listener>
    void put_in_place(const std::string& name, const std::shared_ptr<State>& state,
                      breakers_of<State>& given, const std::vector<Listener>& listeners);
    /// Tells `listener` of every one in `given`, then adds it to `listeners`.
    template <class Breakers, class Listener>
    void listen(const breakers_of<Breakers>& given, std::vector<Listener>& listeners,
                Listener listener);

    /// Serialises changes (construction, apply, pipelines made on demand,
    /// listeners added) and the breaker listeners' calls; taken before mutex_.
    mutable std::mutex update_mutex_;
    /// Guards what calls to pipeline() and circuit_breakers() read.
    mutable std::mutex mutex_;
    asio::any_io_executor executor_;
    observer_factory observers_;
    keel::strategy_registry* strategies_;
    std::shared_ptr<const document> doc_;
    std::map<std::string, std::unique_ptr<configured_pipeline>, std::less<>> pipelines_;
    /// The breaker each pipeline was last given (none: no entry).
    breakers_of<keel::circuit_breaker> breakers_;
    /// The endpoint set each pipeline with `scope: endpoint` was last given.
    breakers_of<keel::endpoint_circuit_breakers> endpoint_breakers_;
    /// The bulkhead each pipeline was last given.
    breakers_of<keel::bulkhead> bulkheads_;
    /// The retry gate each pipeline was last given.
    breakers_of<keel::budget_gate> gates_;
    std::vector<std::function<void(const reload_event&)>> listeners_;
    std::vector<circuit_breaker_listener> breaker_listeners_;
    std::vector<endpoint_circuit_breakers_listener> endpoint_breaker_listeners_;
    std::vector<bulkhead_listener> bulkhead_listeners_;
    std::vector<retry_gate_listener> gate_listeners_;
    /// The fault plan each pipeline was last given.
    breakers_of<keel::fault_plan> fault_plans_;
    std::vector<fault_plan_listener> fault_plan_listeners_;
};

struct watch_options {
    std::chrono::milliseconds interval{1000}; ///< how often the file is looked at
    load_options load;
};

/// Reloads a registry when its file changes (its size, modification time or
/// content). Polls on a timer: portable, and config files are small. A bad
/// file is reported (registry::on_reload) and the running policies stay.
class file_watcher {
public:
    file_watcher(asio::any_io_executor executor, registry& target, std::string path,
                 watch_options options = {});
    ~file_watcher();
    file_watcher(const file_watcher&) = delete;
    file_watcher& operator=(const file_watcher&) = delete;

    /// Starts polling every options.interval.
    void start();
    /// Stops polling (a check in progress finishes).
    void stop();
    /// Looks at the file once, now; reloads if it changed since the last
    /// look. Returns whether it reloaded (successfully or not).
    bool check_now();

private:
    void arm();

    asio::steady_timer timer_;
    registry* target_;
    std::string path_;
    watch_options options_;
    std::mutex mutex_;       ///< guards running_ and the timer
    std::mutex check_mutex_; ///< serialises check_now() (timer and callers)
    bool running_ = false;
    std::int64_t seen_mtime_ns_ = -1;
    std::int64_t seen_size_ = -1;
    std::size_t seen_hash_ = 0;
};

/// Starts a file_watcher on `path` for `target`.
std::unique_ptr<file_watcher> watch(asio::any_io_executor executor, registry& target,
                                    std::string path, watch_options options = {});

} // namespace keel::config
