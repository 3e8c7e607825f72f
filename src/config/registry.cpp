// Over 400 lines: the pipelines and the strategies (breakers of either scope, bulkheads, rate
// limiters, retry budgets and throttles) of a registry share its two locks and its listeners; the
// file watcher that reloads it is small.
#include <keel/config/registry.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace keel::config {

registry::registry(asio::any_io_executor executor, document doc,
                   std::shared_ptr<keel::observer> observer, keel::strategy_registry& strategies)
    : registry(std::move(executor), std::move(doc),
               observer ? observer_factory([observer](std::string_view) { return observer; })
                        : observer_factory(),
               strategies) {}

registry::registry(asio::any_io_executor executor, document doc, observer_factory observers,
                   keel::strategy_registry& strategies)
    : executor_(std::move(executor)), observers_(std::move(observers)), strategies_(&strategies) {
    std::lock_guard changes(update_mutex_);
    for (const dependency& dep : doc.dependencies) {
        pipeline_policy policy =
            with_strategies(dep.name, dep.policy, dep.circuit_breaker, dep.bulkhead, dep.rate_limit,
                            dep.retry_budget, dep.adaptive_throttle, dep.hedge);
        std::lock_guard lock(mutex_);
        make_pipeline(dep.name, policy);
    }
    doc_ = std::make_shared<const document>(std::move(doc));
}

pipeline_policy
registry::with_strategies(const std::string& name, pipeline_policy policy,
                          const std::optional<keel::circuit_breaker_settings>& breaker,
                          const std::optional<keel::bulkhead_settings>& bulkhead,
                          const std::optional<keel::rate_limit_settings>& rate_limit,
                          const std::optional<keel::retry_budget_settings>& budget,
                          const std::optional<keel::adaptive_throttle_settings>& throttle,
                          const std::optional<keel::hedge_settings>& hedge) {
    std::shared_ptr<keel::admission_strategy> admits_by_state = breaker_of(name, breaker);
    std::shared_ptr<keel::bulkhead> bounds = bulkhead_of(name, bulkhead);
    std::shared_ptr<keel::rate_limiter> paces = rate_limiter_of(name, rate_limit);
    std::shared_ptr<keel::retry_gate> gate =
        gate_of(name, policy, budget, throttle, hedge.has_value());
    std::shared_ptr<keel::hedging> hedges = hedging_of(name, hedge);
    if (policy.faults) {
        put_in_place(name, policy.faults, fault_plans_, fault_plan_listeners_);
    } else {
        std::lock_guard lock(mutex_); // a plan is the policy's, not shared state
        fault_plans_.erase(name);
    }
    if (!admits_by_state && !bounds && !paces && !gate && !hedges) {
        policy.strategies = nullptr; // nothing configured: the engine's cheapest path
        return policy;
    }
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->breaker = std::move(admits_by_state);
    chain->bulkhead = std::move(bounds);
    chain->rate_limiter = std::move(paces);
    chain->gate = std::move(gate);
    chain->parallel = std::move(hedges);
    policy.strategies = std::move(chain);
    return policy;
}

std::shared_ptr<keel::retry_gate>
registry::gate_of(const std::string& name, const pipeline_policy& policy,
                  const std::optional<keel::retry_budget_settings>& budget,
                  const std::optional<keel::adaptive_throttle_settings>& throttle, bool hedged) {
    std::shared_ptr<keel::retry_budget> bounds_retries;
    // With no retry nor hedge it would only count calls.
    if (!budget || (policy.retry.max_attempts <= 1 && !hedged))
        strategies_->forget<keel::retry_budget>(name);
    else
        bounds_retries = strategies_->obtain<keel::retry_budget>(name, "", *budget);
    std::shared_ptr<keel::adaptive_throttle> refuses_early;
    if (!throttle)
        strategies_->forget<keel::adaptive_throttle>(name);
    else
        refuses_early = strategies_->obtain<keel::adaptive_throttle>(name, "", *throttle);
    if (!bounds_retries && !refuses_early) {
        take_out(name, gates_);
        return nullptr;
    }
    std::shared_ptr<keel::budget_gate> gate;
    {
        std::lock_guard lock(mutex_);
        if (auto it = gates_.find(name); it != gates_.end() &&
                                         it->second->budget() == bounds_retries &&
                                         it->second->throttle() == refuses_early)
            gate = it->second; // the same state: listeners heard of it already
    }
    if (!gate)
        gate = std::make_shared<keel::budget_gate>(std::move(bounds_retries),
                                                   std::move(refuses_early));
    put_in_place(name, gate, gates_, gate_listeners_);
    return gate;
}

std::shared_ptr<keel::admission_strategy>
registry::breaker_of(const std::string& name,
                     const std::optional<keel::circuit_breaker_settings>& settings) {
    if (!settings) {
        // A breaker turned on again later starts afresh; the dependency's
        // other strategies keep their state.
        take_out(name, breakers_);
        take_out(name, endpoint_breakers_);
        return nullptr;
    }
    if (settings->scope == keel::circuit_breaker_settings::scope_kind::endpoint)
        return obtain_breakers(name, *settings, endpoint_breakers_, breakers_,
                               endpoint_breaker_listeners_);
    return obtain_breakers(name, *settings, breakers_, endpoint_breakers_, breaker_listeners_);
}

std::shared_ptr<keel::bulkhead>
registry::bulkhead_of(const std::string& name,
                      const std::optional<keel::bulkhead_settings>& settings) {
    if (!settings) {
        take_out(name, bulkheads_);
        return nullptr;
    }
    const std::shared_ptr<keel::bulkhead> previous = whole_dependency_state<keel::bulkhead>(name);
    // New settings are applied to the bulkhead in place: a new one would
    // admit up to its limit beside the attempts still holding the old one's
    // permits.
    std::shared_ptr<keel::bulkhead> bulkhead =
        strategies_->obtain<keel::bulkhead>(name, "", *settings, [&] {
            if (!previous)
                return std::make_shared<keel::bulkhead>(*settings);
            previous->reconfigure(*settings);
            return previous;
        });
    put_in_place(name, bulkhead, bulkheads_, bulkhead_listeners_);
    return bulkhead;
}

std::shared_ptr<keel::rate_limiter>
registry::rate_limiter_of(const std::string& name,
                          const std::optional<keel::rate_limit_settings>& settings) {
    if (!settings) {
        strategies_->forget<keel::rate_limiter>(name);
        return nullptr;
    }
    // Changed settings make a new bucket: a token owed under the old rate
    // means nothing under the new one.
    return strategies_->obtain<keel::rate_limiter>(name, "", *settings);
}

std::shared_ptr<keel::hedging>
registry::hedging_of(const std::string& name, const std::optional<keel::hedge_settings>& settings) {
    if (!settings) {
        strategies_->forget<keel::hedging>(name);
        return nullptr;
    }
    // Changed settings make a new one, as for the rate limiter: the
    // quantile starts again from the fallback delay.
    return strategies_->obtain<keel::hedging>(name, "", *settings);
}

template <class State>
void registry::take_out(const std::string& name, breakers_of<State>& given) {
    bool had = false;
    {
        std::lock_guard lock(mutex_);
        had = given.erase(name) > 0;
    }
    if (had)
        strategies_->forget<State>(name);
}

template <class State>
std::shared_ptr<State> registry::whole_dependency_state(const std::string& name) const {
    for (auto& [endpoint, state] : strategies_->states_of<State>(name))
        if (endpoint.empty())
            return state;
    return nullptr;
}

template <class State, class Listener>
void registry::put_in_place(const std::string& name, const std::shared_ptr<State>& state,
                            breakers_of<State>& given, const std::vector<Listener>& listeners) {
    bool made = false;
    {
        std::lock_guard lock(mutex_);
        auto& slot = given[name];
        made = slot != state;
        slot = state;
    }
    if (made)
        for (const auto& listener : listeners)
            listener(name, state);
}

template <class Breakers, class Other, class Listener>
std::shared_ptr<keel::admission_strategy>
registry::obtain_breakers(const std::string& name, const keel::circuit_breaker_settings& settings,
                          breakers_of<Breakers>& given, breakers_of<Other>& other_scope,
                          const std::vector<Listener>& listeners) {
    take_out(name, other_scope); // nothing carries over from breakers of the other scope
    const std::shared_ptr<Breakers> previous = whole_dependency_state<Breakers>(name);
    // Seeded by name: the breaks of different dependencies are spread apart.
    const std::uint64_t seed = std::hash<std::string>{}(name);
    std::shared_ptr<Breakers> breakers = strategies_->obtain<Breakers>(name, "", settings, [&] {
        return previous ? std::make_shared<Breakers>(settings, *previous, seed)
                        : std::make_shared<Breakers>(settings, seed);
    });
    put_in_place(name, breakers, given, listeners);
    return breakers;
}

configured_pipeline& registry::make_pipeline(const std::string& name,
                                             const pipeline_policy& policy) {
    std::shared_ptr<keel::observer> observer = observers_ ? observers_(name) : nullptr;
    auto made = std::make_unique<configured_pipeline>(executor_, name, policy,
                                                      keel::shared_observer(std::move(observer)));
    auto& slot = pipelines_[name];
    slot = std::move(made);
    return *slot;
}

configured_pipeline& registry::pipeline(std::string_view name) {
    std::lock_guard lock(mutex_);
    if (doc_->find(name)) {
        auto it = pipelines_.find(name);
        if (it != pipelines_.end())
            return *it->second;
    }
    throw_unknown(*doc_, name);
}

void registry::throw_unknown(const document& doc, std::string_view name) {
    std::string known;
    for (const dependency& dep : doc.dependencies)
        known += (known.empty() ? "" : ", ") + dep.name;
    throw std::out_of_range("keel: unknown dependency '" + std::string(name) + "' in " +
                            doc.source + " (it declares: " + (known.empty() ? "none" : known) +
                            ")");
}

configured_pipeline& registry::pipeline_or_defaults(std::string_view name) {
    {
        std::lock_guard lock(mutex_);
        auto it = pipelines_.find(name);
        if (it != pipelines_.end())
            return *it->second;
    }
    std::lock_guard changes(update_mutex_);
    const std::shared_ptr<const document> doc = current();
    {
        // Made by another thread meanwhile?
        std::lock_guard lock(mutex_);
        auto it = pipelines_.find(name);
        if (it != pipelines_.end())
            return *it->second;
    }
    const std::string key(name);
    pipeline_policy policy =
        with_strategies(key, doc->defaults, doc->defaults_circuit_breaker, doc->defaults_bulkhead,
                        doc->defaults_rate_limit, doc->defaults_retry_budget,
                        doc->defaults_adaptive_throttle, doc->defaults_hedge);
    std::lock_guard lock(mutex_);
    return make_pipeline(key, policy);
}

std::shared_ptr<const document> registry::current() const {
    std::lock_guard lock(mutex_);
    return doc_;
}

void registry::apply(document doc) {
    std::lock_guard changes(update_mutex_);
    const std::shared_ptr<const document> before = current();
    // The new policies, strategies included, before any pipeline switches:
    // a new breaker's listeners hear of it before calls use it.
    std::vector<std::pair<std::string, pipeline_policy>> next;
    for (const dependency& dep : doc.dependencies)
        next.emplace_back(dep.name, with_strategies(dep.name, dep.policy, dep.circuit_breaker,
                                                    dep.bulkhead, dep.rate_limit, dep.retry_budget,
                                                    dep.adaptive_throttle, dep.hedge));
    std::vector<std::string> made_on_demand;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, p] : pipelines_)
            if (!doc.find(name) && !before->find(name))
                made_on_demand.push_back(name);
    }
    // Pipelines made by pipeline_or_defaults follow the new defaults.
    for (const std::string& name : made_on_demand)
        next.emplace_back(name,
                          with_strategies(name, doc.defaults, doc.defaults_circuit_breaker,
                                          doc.defaults_bulkhead, doc.defaults_rate_limit,
                                          doc.defaults_retry_budget, doc.defaults_adaptive_throttle,
                                          doc.defaults_hedge));

    std::lock_guard lock(mutex_);
    for (auto& [name, policy] : next) {
        auto it = pipelines_.find(name);
        if (it == pipelines_.end())
            make_pipeline(name, policy);
        else
            it->second->update(std::move(policy));
    }
    doc_ = std::make_shared<const document>(std::move(doc));
}

reload_event registry::reload(const std::string& path, const load_options& options) {
    reload_event event;
    event.source = path;
    load_result loaded = try_load_file(path, options);
    if (loaded.doc) {
        event.dependencies = loaded.doc->dependencies.size();
        try {
            apply(std::move(*loaded.doc));
            event.success = true;
        } catch (const std::invalid_argument& e) {
            // The loader validates what pipelines validate; should they ever
            // disagree, refuse the reload rather than half-apply it.
            diagnostic refused;
            refused.where.file = path;
            refused.where.line = 1;
            refused.where.column = 1;
            refused.message = e.what();
            event.errors.push_back(std::move(refused));
        }
    } else {
        event.errors = std::move(loaded.errors);
    }
    std::vector<std::function<void(const reload_event&)>> listeners;
    {
        std::lock_guard lock(mutex_);
        if (!event.success)
            event.dependencies = doc_->dependencies.size();
        listeners = listeners_;
    }
    for (auto& listener : listeners)
        listener(event);
    return event;
}

void registry::on_reload(std::function<void(const reload_event&)> listener) {
    std::lock_guard lock(mutex_);
    listeners_.push_back(std::move(listener));
}

template <class Breakers, class Listener>
void registry::listen(const breakers_of<Breakers>& given, std::vector<Listener>& listeners,
                      Listener listener) {
    std::lock_guard changes(update_mutex_);
    breakers_of<Breakers> in_place;
    {
        std::lock_guard lock(mutex_);
        in_place = given;
    }
    for (const auto& [name, breakers] : in_place)
        listener(name, breakers);
    listeners.push_back(std::move(listener));
}

void registry::on_circuit_breaker(circuit_breaker_listener listener) {
    listen(breakers_, breaker_listeners_, std::move(listener));
}

void registry::on_endpoint_circuit_breakers(endpoint_circuit_breakers_listener listener) {
    listen(endpoint_breakers_, endpoint_breaker_listeners_, std::move(listener));
}

void registry::on_fault_plan(fault_plan_listener listener) {
    listen(fault_plans_, fault_plan_listeners_, std::move(listener));
}

void registry::on_bulkhead(bulkhead_listener listener) {
    listen(bulkheads_, bulkhead_listeners_, std::move(listener));
}

void registry::on_retry_gate(retry_gate_listener listener) {
    listen(gates_, gate_listeners_, std::move(listener));
}

std::vector<circuit_breaker_status> registry::circuit_breakers(keel::clock_ticks now) const {
    std::vector<std::string> names;
    std::vector<std::pair<std::string, std::shared_ptr<keel::endpoint_circuit_breakers>>> sets;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, breaker] : breakers_)
            names.push_back(name);
        for (const auto& [name, set] : endpoint_breakers_)
            sets.emplace_back(name, set);
    }
    // Snapshots outside the lock: one may make a transition and call its
    // listeners.
    std::vector<circuit_breaker_status> out;
    for (const std::string& name : names)
        for (auto& [endpoint, breaker] : strategies_->states_of<keel::circuit_breaker>(name))
            out.push_back({name, std::move(endpoint), breaker->snapshot(now)});
    for (const auto& [name, set] : sets)
        for (auto& [endpoint, snapshot] : set->snapshot(now))
            out.push_back({name, std::move(endpoint), snapshot});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return std::tie(a.dependency, a.endpoint) < std::tie(b.dependency, b.endpoint);
    });
    return out;
}

std::vector<circuit_breaker_status> registry::circuit_breakers() const {
    return circuit_breakers(std::chrono::steady_clock::now().time_since_epoch());
}

// ---- file_watcher -------------------------------------------------------------

file_watcher::file_watcher(asio::any_io_executor executor, registry& target, std::string path,
                           watch_options options)
    : timer_(std::move(executor)), target_(&target), path_(std::move(path)),
      options_(std::move(options)) {
    // The file the registry was built from is the baseline: no reload until
    // it changes.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) {
        seen_mtime_ns_ =
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        seen_size_ = static_cast<std::int64_t>(st.st_size);
        std::ifstream in(path_, std::ios::binary);
        std::ostringstream content;
        content << in.rdbuf();
        seen_hash_ = std::hash<std::string>{}(content.str());
    }
}

file_watcher::~file_watcher() {
    stop();
}

void file_watcher::start() {
    std::lock_guard lock(mutex_);
    if (running_)
        return;
    running_ = true;
    arm();
}

void file_watcher::stop() {
    std::lock_guard lock(mutex_);
    running_ = false;
    timer_.cancel();
}

void file_watcher::arm() {
    timer_.expires_after(options_.interval);
    timer_.async_wait([this](const std::error_code& ec) {
        if (ec)
            return; // stopped
        check_now();
        std::lock_guard lock(mutex_);
        if (running_)
            arm();
    });
}

bool file_watcher::check_now() {
    std::lock_guard lock(check_mutex_);
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        // A file being replaced may be missing for a moment; a real removal
        // is reported when it stays away (the next look sees the same).
        if (seen_size_ == -2)
            return false;
        seen_size_ = -2;
        seen_mtime_ns_ = -2;
        target_->reload(path_, options_.load); // reports the missing file, keeps the policies
        return true;
    }
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    const auto size = static_cast<std::int64_t>(st.st_size);
    if (mtime == seen_mtime_ns_ && size == seen_size_)
        return false;
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    const std::size_t hash = std::hash<std::string>{}(content.str());
    const bool content_changed = hash != seen_hash_ || seen_size_ < 0;
    seen_mtime_ns_ = mtime;
    seen_size_ = size;
    seen_hash_ = hash;
    if (!content_changed)
        return false; // touched, not changed
    target_->reload(path_, options_.load);
    return true;
}

std::unique_ptr<file_watcher> watch(asio::any_io_executor executor, registry& target,
                                    std::string path, watch_options options) {
    auto watcher = std::make_unique<file_watcher>(std::move(executor), target, std::move(path),
                                                  std::move(options));
    watcher->start();
    return watcher;
}

} // namespace keel::config
