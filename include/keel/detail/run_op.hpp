// The composed operation behind pipeline::async_run and async_with_deadline:
// total deadline -> retry -> per-attempt timeout -> the user's operation, as
// one state machine in one allocation.
//
// Threading: the entry points (the attempt's completion, a deadline's
// expiry, a posted resumption) run on the handler's associated executor (the
// deadline queue hands its expiries over with dispatch). They need not be
// serialised by it: a call never has two of them running on the same data --
// an attempt's end and its deadline's expiry are the one pair that can meet,
// and an atomic decides which carries on -- so use_future's system executor
// or a bare thread pool work. The caller's cancellation must be emitted from
// the handler's executor, as Asio requires of any emitter, and with a
// non-serialising executor not while the call moves between attempts.
//
// Ownership: the state is reference-counted: the attempt's handler, a queued
// deadline entry (and the expiry it turns into) and a posted resumption each
// hold one reference; the last one frees the state, in the common case before
// the user's handler is invoked.
// The state is freed when the last one goes, which in the common case happens
// before the user's handler is invoked.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/deadline_service.hpp>
#include <keel/detail/executor_target.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>
#include <keel/random.hpp>
#include <keel/retry.hpp>
#include <keel/timeout.hpp>

#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/recycling_allocator.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// Asio's default allocator means "use the thread's recycling cache": keep
/// that meaning for our own per-call state.
template <class Allocator>
struct recycled {
    using type = Allocator;
    static type from(const Allocator& a) noexcept { return a; }
};
template <class T>
struct recycled<std::allocator<T>> {
    using type = asio::recycling_allocator<T>;
    static type from(const std::allocator<T>&) noexcept { return {}; }
};

/// Where per-call jitter streams come from: a seed and a counter, read only
/// when a call first needs to sleep.
struct jitter_seed {
    std::atomic<std::uint64_t> seed{0x6b65656c5f736565ULL};
    std::atomic<std::uint64_t> streams{0};

    random_source next_stream() noexcept {
        const std::uint64_t n = streams.fetch_add(1, std::memory_order_relaxed) + 1;
        return random_source(seed.load(std::memory_order_relaxed) ^ (0x9e3779b97f4a7c15ULL * n));
    }
};

/// What the initiator decided for one call.
template <class TimePoint>
struct call_params {
    const retry_policy* retry = nullptr; ///< null: exactly one attempt
    std::chrono::nanoseconds connect = unlimited;
    std::chrono::nanoseconds exchange = unlimited;
    std::chrono::nanoseconds total = unlimited;
    TimePoint fixed_deadline = TimePoint::max(); ///< an absolute total deadline, if given
    errc exchange_error = errc::exchange_timeout;
    errc total_error = errc::deadline_exceeded;
    std::string_view name;
    jitter_seed* jitter = nullptr;
    call_report* report = nullptr;
};

/// CallExecutor: where the call's entry points run. By default the handler's
/// associated executor; basic_pipeline passes io_context::executor_type when
/// that executor is an any_io_executor holding a plain io_context executor.
template <class Handler, class Op, class Signature, class Timer, class Observer, class IoExecutor,
          class CallExecutor = asio::associated_executor_t<Handler, IoExecutor>>
class run_op;

template <class Handler, class Op, class Timer, class Observer, class IoExecutor,
          class CallExecutor, class... Ts>
class run_op<Handler, Op, void(std::error_code, Ts...), Timer, Observer, IoExecutor, CallExecutor>
    : private deadline_entry {
public:
    using clock_type = typename Timer::clock_type;
    using time_point = typename clock_type::time_point;
    using attempt_type = basic_attempt<clock_type>;
    using params_type = call_params<time_point>;
    using service_type = deadline_service<Timer>;
    using executor_type = CallExecutor;
    using allocator_type = typename recycled<asio::associated_allocator_t<Handler>>::type;

    /// Forwarding references: the handler and the operation are moved (or
    /// copied) once, into the state, not first into parameters.
    template <class H, class O>
    static void start(H&& handler, O&& op, const params_type& params, service_type& service,
                      const Observer& observer, const IoExecutor& io_executor) {
        using state_allocator =
            typename std::allocator_traits<allocator_type>::template rebind_alloc<run_op>;
        state_allocator alloc(recycled_allocator(handler));
        run_op* self = std::allocator_traits<state_allocator>::allocate(alloc, 1);
        try {
            ::new (static_cast<void*>(self)) run_op(std::forward<H>(handler), std::forward<O>(op),
                                                    params, service, observer, io_executor);
        } catch (...) {
            std::allocator_traits<state_allocator>::deallocate(alloc, self, 1);
            throw;
        }
        self->begin();
    }

private:
    enum class phase : std::uint8_t { attempting, sleeping, finished };
    enum class expiry : std::uint8_t { none, exchange, total };

    // Bits of race_: who got to an attempt's end first when its deadline
    // fired (the queue took the entry out) while the operation completed.
    static constexpr std::uint8_t op_done = 1;
    static constexpr std::uint8_t expiry_ran = 2;

    static executor_type call_executor(const Handler& handler, const IoExecutor& io_executor) {
        auto associated = asio::get_associated_executor(handler, io_executor);
        if constexpr (std::is_same_v<executor_type, decltype(associated)>)
            return associated;
        else // the initiator checked that it holds an executor_type
            return *target_if<executor_type>(associated);
    }

    static allocator_type recycled_allocator(const Handler& handler) {
        using associated = asio::associated_allocator_t<Handler>;
        return recycled<associated>::from(asio::get_associated_allocator(handler));
    }

    template <class H, class O>
    run_op(H&& handler, O&& op, const params_type& params, service_type& service,
           const Observer& observer, const IoExecutor& io_executor)
        : handler_(std::forward<H>(handler)), op_(std::forward<O>(op)),
          executor_(call_executor(handler_, io_executor)), io_executor_(io_executor),
          allocator_(recycled_allocator(handler_)), service_(&service), observer_(&observer),
          params_(params) {
        this->expire = &on_entry_expired;
        this->abandon = &on_entry_abandoned;
    }

    // Only reached through release(): no entry is queued any more (a queued
    // entry holds a reference).
    ~run_op() {
        if (outer_slot_.is_connected())
            outer_slot_.clear();
    }

    // The state is its own deadline entry: one allocation per call, and the
    // expiry finds the state with a cast.
    deadline_entry& entry() noexcept { return *this; }

    // ---- references ---------------------------------------------------------

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }

    /// Drops `count` references; the last one frees the state with the
    /// handler's allocator. Nothing may touch `this` afterwards.
    void release(int count = 1) noexcept {
        if (refs_.fetch_sub(count, std::memory_order_acq_rel) != count)
            return;
        using state_allocator =
            typename std::allocator_traits<allocator_type>::template rebind_alloc<run_op>;
        state_allocator alloc(allocator_);
        this->~run_op();
        std::allocator_traits<state_allocator>::deallocate(alloc, this, 1);
    }

    /// The user's handler and its arguments, taken out of the state so the
    /// state can be freed before the upcall.
    struct upcall {
        Handler handler;
        std::error_code ec;
        std::tuple<Ts...> args;

        void operator()() {
            std::apply([this](Ts&... values) { std::move(handler)(ec, std::move(values)...); },
                       args);
        }
    };

    /// Most entry points end here: drop their reference(s), then (state
    /// possibly gone) invoke the user's handler if the call finished.
    void release_then(std::optional<upcall>& up, int count = 1) {
        release(count);
        if (up)
            (*up)();
    }

    // ---- the handler given to each attempt ------------------------------------

    class attempt_handler {
    public:
        using executor_type = typename run_op::executor_type;
        using allocator_type = typename run_op::allocator_type;
        using cancellation_slot_type = asio::cancellation_slot;

        explicit attempt_handler(run_op* self) noexcept : self_(self) {}
        attempt_handler(attempt_handler&& other) noexcept
            : self_(std::exchange(other.self_, nullptr)) {}
        attempt_handler& operator=(attempt_handler&&) = delete;
        ~attempt_handler() {
            if (self_) // destroyed without being invoked (its context shut down)
                self_->release();
        }

        void operator()(std::error_code ec, Ts... args) {
            std::exchange(self_, nullptr)->on_attempt_complete(ec, std::move(args)...);
        }

        executor_type get_executor() const noexcept { return self_->executor_; }
        allocator_type get_allocator() const noexcept { return self_->allocator_; }
        cancellation_slot_type get_cancellation_slot() const noexcept {
            return self_->inner_signal_.slot();
        }

    private:
        run_op* self_;
    };

    /// A callback run on the handler's executor that owns one reference.
    template <void (run_op::*Member)()>
    class resumption {
    public:
        explicit resumption(run_op* self) noexcept : self_(self) {}
        resumption(resumption&& other) noexcept : self_(std::exchange(other.self_, nullptr)) {}
        resumption& operator=(resumption&&) = delete;
        ~resumption() {
            if (self_)
                self_->release();
        }
        void operator()() { (std::exchange(self_, nullptr)->*Member)(); }

        using allocator_type = typename run_op::allocator_type;
        allocator_type get_allocator() const noexcept { return self_->allocator_; }

    private:
        run_op* self_;
    };

    /// Posts resume() with a reference the caller hands over.
    void post_resume() { asio::post(executor_, resumption<&run_op::resume>(this)); }

    struct outer_cancel_handler {
        run_op* self;
        void operator()(asio::cancellation_type_t type) const { self->on_outer_cancel(type); }
    };

    // ---- the state machine ------------------------------------------------------
    //
    // Entry points: on_attempt_complete (the operation's handler), on_expired
    // (a deadline, via the queue), resume (posted by keel), on_outer_cancel
    // (the caller's slot). Each holds one reference. Starting an attempt hands
    // the caller's reference to the attempt's handler, and nothing touches
    // the state after the operation has been started: its completion may
    // already be running on another thread. When a deadline fires while the
    // operation completes, race_ decides which of the two carries on.

    time_point now() const noexcept { return clock_type::now(); }

    bool needs_clock() const noexcept {
        return observer_enabled_v<Observer> || params_.exchange != unlimited ||
               params_.connect != unlimited || params_.total != unlimited ||
               params_.fixed_deadline != time_point::max();
    }

    void begin() {
        auto slot = asio::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) {
            outer_slot_ = slot;
            outer_slot_.template emplace<outer_cancel_handler>(outer_cancel_handler{this});
        }
        if (needs_clock()) {
            call_started_ = now();
            total_deadline_ =
                std::min(deadline_after(call_started_, params_.total), params_.fixed_deadline);
        }
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::call_start{params_.name});
        // The first attempt may complete on another thread before op_ even
        // returns here, so after starting it this function touches nothing but
        // `initiating_`. A completion that finds it still set (inline, or on
        // another thread racing us) parks its result and leaves it to us: the
        // user's handler must not run inside async_run.
        refs_.store(1, std::memory_order_relaxed); // becomes the attempt handler's
        initiating_.store(true, std::memory_order_relaxed);
        start_attempt(call_started_);
        if (!initiating_.exchange(false, std::memory_order_acq_rel))
            post_resume(); // with the reference the parked completion kept
    }

    /// Starts the next attempt with the caller's reference, which passes to
    /// the attempt's handler. The caller must not touch the state afterwards.
    void start_attempt(time_point started) {
        ++attempt_number_;
        phase_ = phase::attempting;
        expired_ = expiry::none;
        race_.store(0, std::memory_order_relaxed);
        const int max_attempts = params_.retry ? std::max(params_.retry->max_attempts, 1) : 1;
        timeout_policy phases{params_.connect, params_.exchange, unlimited};
        attempt_ = attempt_type(attempt_number_, max_attempts,
                                deadlines_for(phases, started, total_deadline_));
        attempt_started_ = started;
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::attempt_start{params_.name, attempt_number_});
        const time_point deadline = attempt_.exchange_deadline();
        if (deadline != time_point::max() && deadline <= started) {
            // Already due (a total deadline reached while we slept): cut the
            // attempt before it starts, rather than let the queue fire at an
            // operation that has not yet connected its cancellation slot.
            expired_ = deadline >= total_deadline_ ? expiry::total : expiry::exchange;
            attempt_scheduled_ = false;
            parked_.emplace(asio::error::operation_aborted, std::tuple<Ts...>());
            post_resume();
            return;
        }
        attempt_scheduled_ = deadline != time_point::max() && schedule(deadline);
        op_pending_ = true;
        op_(std::as_const(attempt_), attempt_handler(this));
    }

    /// Queues this call's entry with a reference of its own.
    bool schedule(time_point deadline) {
        this->deadline = service_type::ticks(deadline);
        add_ref();
        if (service_->schedule(entry()))
            return true;
        release(); // the context is shutting down; never the last reference
        return false;
    }

    void on_attempt_complete(std::error_code ec, Ts&&... args) {
        op_pending_ = false;
        if (initiating_.load(std::memory_order_acquire)) {
            // async_run may not have returned yet. Park first, then claim the
            // flag: its release publishes the parked result to the thread
            // that posts the resumption.
            parked_.emplace(ec, std::tuple<Ts...>(std::move(args)...));
            if (initiating_.exchange(false, std::memory_order_acq_rel))
                return; // our reference now belongs to that resumption
            // async_run finished in between and posts nothing: carry on here.
            auto [parked_ec, parked_args] = std::move(*parked_);
            parked_.reset();
            attempt_ended(parked_ec, std::move(parked_args));
            return;
        }
        attempt_ended(ec, std::tuple<Ts...>(std::move(args)...));
    }

    /// The attempt's result is in; we hold one reference.
    void attempt_ended(std::error_code ec, std::tuple<Ts...>&& args) {
        std::optional<upcall> up;
        int refs_held = 1;
        if (attempt_scheduled_) {
            attempt_scheduled_ = false;
            if (service_->cancel(entry())) {
                refs_held = 2; // the entry's reference is ours now
            } else {
                // The deadline fired: its expiry is on the way or running.
                // Whoever of us comes second carries on.
                parked_.emplace(ec, std::move(args));
                if (!(race_.fetch_or(op_done, std::memory_order_acq_rel) & expiry_ran)) {
                    release();
                    return;
                }
                auto [parked_ec, parked_args] = std::move(*parked_);
                parked_.reset();
                after_attempt(parked_ec, std::move(parked_args), up);
                release_then(up);
                return;
            }
        }
        after_attempt(ec, std::move(args), up);
        release_then(up, refs_held);
    }

    void resume() {
        if (phase_ == phase::sleeping) {
            after_sleep();
            return;
        }
        if (phase_ == phase::attempting && parked_) {
            auto [ec, args] = std::move(*parked_);
            parked_.reset();
            attempt_ended(ec, std::move(args));
            return;
        }
        release();
    }

    // Runs on the deadline queue's executor, outside its lock.
    static void on_entry_expired(deadline_entry& entry) noexcept {
        run_op* self = from_entry(entry);
        asio::dispatch(
            self->executor_,
            asio::bind_allocator(self->allocator_, resumption<&run_op::on_expired>(self)));
    }

    // The context shut down with the entry queued: drop its reference.
    static void on_entry_abandoned(deadline_entry& entry) noexcept { from_entry(entry)->release(); }

    static run_op* from_entry(deadline_entry& entry) noexcept {
        return static_cast<run_op*>(&entry);
    }

    void on_expired() {
        if (phase_ == phase::sleeping) {
            after_sleep();
            return;
        }
        if (!(race_.load(std::memory_order_acquire) & op_done)) {
            expired_ =
                attempt_.exchange_deadline() >= total_deadline_ ? expiry::total : expiry::exchange;
            // Terminal cancellation into the operation; it completes (now,
            // inline, or later) with its own error, which after_attempt
            // reports as the timeout it is.
            inner_signal_.emit(asio::cancellation_type::terminal);
            if (!(race_.fetch_or(expiry_ran, std::memory_order_acq_rel) & op_done)) {
                release();
                return;
            }
        }
        // The operation finished first (or during the emit) and parked.
        std::optional<upcall> up;
        auto [ec, args] = std::move(*parked_);
        parked_.reset();
        after_attempt(ec, std::move(args), up);
        release_then(up);
    }

    // On the handler's executor, as Asio requires of whoever emits.
    void on_outer_cancel(asio::cancellation_type_t type) {
        outer_cancel_.store(type, std::memory_order_release);
        if (phase_ == phase::attempting && op_pending_) {
            inner_signal_.emit(type);
        } else if (phase_ == phase::sleeping && service_->cancel(entry())) {
            post_resume(); // with the entry's reference; after_sleep sees the cancel
        }
        // Otherwise a wake-up is already on its way and will see the cancel.
    }

    bool cancelled_by_caller() const noexcept {
        return outer_cancel_.load(std::memory_order_acquire) != asio::cancellation_type::none;
    }

    /// The sleep is over; we hold one reference, which a new attempt takes.
    void after_sleep() {
        sleep_work_.reset();
        if (cancelled_by_caller()) {
            std::optional<upcall> up;
            finish(asio::error::operation_aborted, std::tuple<Ts...>(), give_up_reason::none, up);
            release_then(up);
            return;
        }
        start_attempt(needs_clock() ? now() : time_point());
    }

    static timeout_phase phase_of(const std::error_code& ec, bool& is_timeout) noexcept {
        is_timeout = true;
        if (ec == errc::connect_timeout)
            return timeout_phase::connect;
        if (ec == errc::deadline_exceeded)
            return timeout_phase::total;
        if (ec == errc::exchange_timeout || ec == errc::timeout)
            return timeout_phase::exchange;
        is_timeout = false;
        return timeout_phase::exchange;
    }

    /// Decides what follows an attempt: finish, or sleep and retry. Whatever
    /// it starts (a sleep entry, a posted wake-up) holds its own reference,
    /// and is the last thing it does.
    void after_attempt(std::error_code ec, std::tuple<Ts...>&& args, std::optional<upcall>& up) {
        if (!ec) {
            // Only the observer needs the clock here: no clock read (~20 ns)
            // on the hot path otherwise, and one read serves both the
            // attempt's and the call's end.
            time_point ended{};
            if constexpr (observer_enabled_v<Observer>) {
                ended = now();
                observer_->on(
                    events::attempt_end{params_.name, attempt_number_, attempt_result::success, ec,
                                        fault_class::transient, ended - attempt_started_});
            }
            finish(ec, std::move(args), give_up_reason::none, up, ended);
            return;
        }
        time_point ended{};
        if (needs_clock())
            ended = now();
        // The error the caller sees: ours when we cut the attempt short, the
        // operation's own otherwise.
        const bool cancelled = cancelled_by_caller();
        if (cancelled)
            ec = asio::error::operation_aborted;
        else if (expired_ == expiry::total)
            ec = params_.total_error;
        else if (expired_ == expiry::exchange)
            ec = params_.exchange_error;
        else if (ec.category() != keel::error_category())
            // keel's own codes from the operation are keel's deadlines that a
            // wrapper enforced (libcurl's timeout set from the attempt's, a
            // connect deadline): they are not what the dependency answered,
            // and whether the wrapper or the queue notices first is a race.
            last_operation_error_ = ec;
        last_fault_ = classify(ec);
        bool timed_out = false;
        const timeout_phase which = phase_of(ec, timed_out);
        if constexpr (observer_enabled_v<Observer>) {
            observer_->on(
                events::attempt_end{params_.name, attempt_number_,
                                    timed_out ? attempt_result::timeout : attempt_result::failure,
                                    ec, last_fault_, ended - attempt_started_});
            if (timed_out)
                observer_->on(events::timeout{params_.name, attempt_number_, which});
        }
        if (cancelled) {
            finish(ec, std::move(args), give_up_reason::none, up, ended);
            return;
        }
        if (expired_ == expiry::total) {
            finish(ec, std::move(args), give_up_reason::deadline, up, ended);
            return;
        }
        if (!params_.retry) {
            finish(ec, std::move(args), give_up_reason::attempts_exhausted, up, ended);
            return;
        }
        failed_attempt failed;
        failed.number = attempt_number_;
        failed.error = ec;
        failed.fault = last_fault_;
        failed.retry_after = attempt_.retry_after();
        failed.retry_forbidden = attempt_.retry_forbidden();
        failed.previous_delay = previous_delay_;
        if (total_deadline_ != time_point::max())
            failed.time_left = std::chrono::nanoseconds(total_deadline_ - ended);
        if (!jitter_)
            jitter_.emplace(params_.jitter ? params_.jitter->next_stream() : random_source());
        const retry_decision decision = params_.retry->decide(failed, *jitter_);
        if (!decision.retry) {
            finish(ec, std::move(args), decision.reason, up, ended);
            return;
        }
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::retry_scheduled{params_.name, attempt_number_ + 1, decision.delay,
                                                  last_fault_, decision.server_advised});
        previous_delay_ = decision.delay;
        phase_ = phase::sleeping;
        // Nothing else may keep the contexts running while we sleep: not our
        // operation (it finished) and not the deadline queue's timer (it
        // stops counting as work when idle).
        sleep_work_.emplace(asio::prefer(executor_, asio::execution::outstanding_work.tracked),
                            asio::prefer(io_executor_, asio::execution::outstanding_work.tracked));
        if (decision.delay <= std::chrono::nanoseconds(0)) {
            add_ref();
            post_resume(); // a zero-delay kernel timer costs far more than a post
        } else if (!schedule((needs_clock() ? ended : now()) + decision.delay)) {
            sleep_work_.reset(); // shutting down: nothing will wake us
        }
    }

    /// `ended`: when the last attempt ended, if the caller read the clock
    /// (the default: not read).
    void finish(std::error_code ec, std::tuple<Ts...>&& args, give_up_reason reason,
                std::optional<upcall>& up, time_point ended = time_point()) {
        phase_ = phase::finished;
        if (outer_slot_.is_connected())
            outer_slot_.clear();
        call_outcome outcome;
        if (!ec)
            outcome =
                attempt_number_ > 1 ? call_outcome::success_after_retry : call_outcome::success;
        else if (ec == condition::cancelled)
            outcome = call_outcome::cancelled;
        else if (ec == condition::timeout)
            outcome = call_outcome::timeout;
        else
            outcome =
                attempt_number_ > 1 ? call_outcome::failure_after_retry : call_outcome::failure;
        if (params_.report) {
            params_.report->attempts = attempt_number_;
            params_.report->outcome = outcome;
            params_.report->reason = reason;
            params_.report->error = ec;
            params_.report->fault = ec ? last_fault_ : fault_class::transient;
            params_.report->last_operation_error = last_operation_error_;
        }
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(
                events::call_end{params_.name, outcome, attempt_number_, ec,
                                 (ended == time_point() ? now() : ended) - call_started_});
        up.emplace(upcall{std::move(handler_), ec, std::move(args)});
    }

    // ---- state ------------------------------------------------------------------

    Handler handler_;
    Op op_;
    executor_type executor_;
    IoExecutor io_executor_;
    [[no_unique_address]] allocator_type allocator_;
    service_type* service_;
    const Observer* observer_;
    params_type params_;

    attempt_type attempt_;
    asio::cancellation_signal inner_signal_;
    asio::cancellation_slot outer_slot_;

    time_point call_started_{};
    time_point attempt_started_{};
    time_point total_deadline_ = time_point::max();
    std::chrono::nanoseconds previous_delay_{0};
    std::optional<random_source> jitter_;
    fault_class last_fault_ = fault_class::permanent;
    std::error_code last_operation_error_;
    std::optional<std::tuple<std::error_code, std::tuple<Ts...>>> parked_;
    template <class Executor>
    using tracked_t = std::decay_t<decltype(asio::prefer(
        std::declval<const Executor&>(), asio::execution::outstanding_work.tracked))>;
    std::optional<std::pair<tracked_t<executor_type>, tracked_t<IoExecutor>>> sleep_work_;

    std::atomic<int> refs_{0};
    std::atomic<bool> initiating_{false};
    std::atomic<std::uint8_t> race_{0};
    std::atomic<asio::cancellation_type_t> outer_cancel_{asio::cancellation_type::none};
    int attempt_number_ = 0;
    phase phase_ = phase::attempting;
    expiry expired_ = expiry::none;
    bool attempt_scheduled_ = false;
    bool op_pending_ = false;
};

} // namespace keel::detail
