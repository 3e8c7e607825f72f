// Over 400 lines: one driver whose entry points share one lock protocol, best read together.
// The driver behind pipeline::async_run and async_with_deadline: it executes what the call's state
// machine (call_machine.hpp) decides -- starting and cancelling attempts, one deadline-queue entry,
// the completion -- in one allocation per call.
//
// Threading protocol. Every entry point (an attempt's completion, the deadline's expiry, a posted
// resumption, the caller's cancellation) feeds the machine under `lock_`, a spinlock held only for
// that and never while user code runs. Actions are executed outside the lock; while one is executed
// for an attempt slot the slot is busy, and a completion of that slot arriving meanwhile (inline,
// or from another thread) is parked and fed by the executing thread when it returns. So the machine
// sees one event at a time, a cancellation is never emitted into an attempt that is not yet started
// or already replaced, and an executor that does not serialise (use_future's system executor, a
// bare thread pool) works. The caller's handler never runs inside async_run or inside the caller's
// own cancellation: those entry points post the completion instead.
//
// Ownership: `refs_` counts the attempt handlers, a queued deadline entry (and the expiry it turns
// into), posted resumptions and the slots waiting for admission (their strategy may still call
// them); the last one frees the state, in the common case before the user's handler is invoked. A
// waiter still queued when its context is destroyed keeps the state alive: a strategy withdraws its
// waiters when it shuts down.
#pragma once

#include <keel/detail/call_machine.hpp>
#include <keel/detail/deadline_service.hpp>
#include <keel/detail/executor_target.hpp>
#include <keel/detail/fault_attempt.hpp>
#include <keel/detail/recycled_allocator.hpp>
#include <keel/detail/slot_array.hpp>
#include <keel/detail/spinlock.hpp>
#include <keel/endpoint.hpp>

#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// CallExecutor: where the call's entry points run. By default the handler's
/// associated executor; basic_pipeline passes io_context::executor_type when
/// that executor is an any_io_executor holding a plain io_context executor.
template <class Handler, class Op, class Signature, class Timer, class Observer, class IoExecutor,
          class Chain = no_strategies,
          class CallExecutor = asio::associated_executor_t<Handler, IoExecutor>>
class run_op;

template <class Handler, class Op, class Timer, class Observer, class IoExecutor, class Chain,
          class CallExecutor, class... Ts>
class run_op<Handler, Op, void(std::error_code, Ts...), Timer, Observer, IoExecutor, Chain,
             CallExecutor> : private deadline_entry {
public:
    using clock_type = typename Timer::clock_type;
    using time_point = typename clock_type::time_point;
    using machine_type = call_machine<clock_type, Observer, Chain>;
    using params_type = typename machine_type::params_type;
    using service_type = deadline_service<Timer>;
    using executor_type = CallExecutor;
    static constexpr bool large = Chain::max_in_flight > 1; // a state over 1020 bytes
    using recycler = recycled<asio::associated_allocator_t<Handler>, large>;
    /// The allocator of the handlers the call makes (its attempts', its
    /// posted resumptions).
    using allocator_type = typename recycler::type;

    /// `first_ticket`: the breaker admitted the first attempt already (the
    /// initiator asked it before building the call, to refuse cheaply).
    template <class H, class O>
    static void start(H&& handler, O&& op, const params_type& params, service_type& service,
                      const Observer& observer, const IoExecutor& io_executor,
                      std::optional<std::uint64_t> first_ticket = std::nullopt) {
        state_allocator alloc(recycler::state_from(recycled_allocator(handler)));
        run_op* self = nullptr;
        try {
            self = std::allocator_traits<state_allocator>::allocate(alloc, 1);
            ::new (static_cast<void*>(self)) run_op(std::forward<H>(handler), std::forward<O>(op),
                                                    params, service, observer, io_executor);
        } catch (...) {
            if (self)
                std::allocator_traits<state_allocator>::deallocate(alloc, self, 1);
            if constexpr (Chain::enabled) {
                if (first_ticket) // never attempted
                    params.strategies->breaker->release_at(lazy_time(&read_clock), nullptr,
                                                           *first_ticket);
            }
            throw;
        }
        if constexpr (Chain::enabled) {
            if (first_ticket)
                self->machine_.breaker_admitted_first(*first_ticket);
        }
        self->begin();
    }

private:
    using state_allocator = typename std::allocator_traits<
        typename recycler::state_type>::template rebind_alloc<run_op>;
    static constexpr int slots = machine_type::slots;

    template <class H, class O>
    run_op(H&& handler, O&& op, const params_type& params, service_type& service,
           const Observer& observer, const IoExecutor& io_executor)
        : handler_(std::forward<H>(handler)), op_(std::forward<O>(op)),
          executor_(call_executor(handler_, io_executor)), io_executor_(io_executor),
          allocator_(recycled_allocator(handler_)), service_(&service), report_(params.report),
          faults_(params.faults), machine_(with_op_settings(params, op_), observer) {
        this->expire = &on_entry_expired;
        this->abandon = &on_entry_abandoned;
        if constexpr (Chain::enabled) {
            slot_waiter& first = slots_[0].waiter;
            // op_ lives as long as the call: its endpoint's view does too.
            first.attach(this, 0, endpoint_of(op_));
            if constexpr (slots > 1)
                machine_.attach_waiters(first, {this, &open_slot});
            else
                machine_.attach_waiters(first, {});
        }
    }

    /// A hedge needs a slot no attempt of the call has used: builds its
    /// state, and hands the machine its waiter.
    static admission_waiter* open_slot(void* driver, int slot) noexcept {
        run_op* self = static_cast<run_op*>(driver);
        slot_waiter& waiter = self->slots_.open(slot).waiter;
        waiter.attach(self, slot, endpoint_of(self->op_));
        return &waiter;
    }

    static clock_ticks read_clock() noexcept {
        return std::chrono::duration_cast<clock_ticks>(clock_type::now().time_since_epoch());
    }

    /// The call's parameters, with what the operation itself adds (a fallback).
    static params_type with_op_settings(params_type params, const Op& op) noexcept {
        if constexpr (is_with_fallback<Op>::value)
            params.fallback_on = op.on;
        return params;
    }

    static executor_type call_executor(const Handler& handler, const IoExecutor& io_executor) {
        auto associated = asio::get_associated_executor(handler, io_executor);
        if constexpr (std::is_same_v<executor_type, decltype(associated)>)
            return associated;
        else // the initiator checked that it holds an executor_type
            return *target_if<executor_type>(associated);
    }

    static allocator_type recycled_allocator(const Handler& handler) {
        return recycler::from(asio::get_associated_allocator(handler));
    }

    /// The time for an event: read only when the machine needs it (a clock
    /// read is ~20 ns); a timer event always does.
    time_point now(bool always = false) const noexcept {
        return always || machine_.needs_clock() ? clock_type::now() : time_point();
    }

    // ---- the objects that hold a reference -------------------------------------

    /// The handler given to the attempt on one slot.
    class attempt_handler {
    public:
        using executor_type = typename run_op::executor_type;
        using allocator_type = typename run_op::allocator_type;
        using cancellation_slot_type = asio::cancellation_slot;

        attempt_handler(run_op* self, int slot) noexcept : self_(self), slot_(slot) {}
        attempt_handler(attempt_handler&& other) noexcept
            : self_(std::exchange(other.self_, nullptr)), slot_(other.slot_) {}
        attempt_handler& operator=(attempt_handler&&) = delete;
        ~attempt_handler() {
            if (self_) // destroyed without being invoked (its context shut down)
                self_->on_attempt_abandoned(slot_);
        }

        void operator()(std::error_code ec, Ts... args) {
            std::exchange(self_, nullptr)->on_attempt_complete(slot_, ec, std::move(args)...);
        }

        executor_type get_executor() const noexcept { return self_->executor_; }
        allocator_type get_allocator() const noexcept { return self_->allocator_; }
        cancellation_slot_type get_cancellation_slot() const noexcept {
            return self_->slots_[slot_].signal.slot();
        }

    private:
        run_op* self_;
        int slot_;
    };

    /// A callback on the call's executor that owns one reference.
    template <void (run_op::*Member)()>
    class resumption {
    public:
        explicit resumption(run_op* self) noexcept : self_(self) {}
        resumption(resumption&& other) noexcept : self_(std::exchange(other.self_, nullptr)) {}
        resumption& operator=(resumption&&) = delete;
        ~resumption() {
            if (self_) {
                self_->lock_.lock();
                self_->drop_ref_and_unlock();
            }
        }
        void operator()() { (std::exchange(self_, nullptr)->*Member)(); }

        using allocator_type = typename run_op::allocator_type;
        allocator_type get_allocator() const noexcept { return self_->allocator_; }

    private:
        run_op* self_;
    };

    /// What an admission strategy holds while a slot waits for a permit. Its
    /// admitted() may run on any thread, inside another call's release():
    /// it only posts, with the reference the waiting slot holds.
    struct slot_waiter final : admission_waiter {
        run_op* self = nullptr;
        int slot = 0;
        void attach(run_op* owner, int index, std::string_view endpoint) noexcept {
            self = owner;
            slot = index;
            set_endpoint(endpoint);
        }
        void admitted() noexcept override {
            asio::post(self->executor_, asio::bind_allocator(self->allocator_, grant{self, slot}));
        }
    };

    /// The posted admission of a waiting slot; owns the slot's reference.
    class grant {
    public:
        grant(run_op* self, int slot) noexcept : self_(self), slot_(slot) {}
        grant(grant&& other) noexcept
            : self_(std::exchange(other.self_, nullptr)), slot_(other.slot_) {}
        grant& operator=(grant&&) = delete;
        ~grant() {
            if (self_) { // its context shut down: the call never goes on
                self_->lock_.lock();
                --self_->waiter_refs_;
                self_->drop_ref_and_unlock();
            }
        }
        void operator()() { std::exchange(self_, nullptr)->on_admitted(slot_); }

        using allocator_type = typename run_op::allocator_type;
        allocator_type get_allocator() const noexcept { return self_->allocator_; }

    private:
        run_op* self_;
        int slot_;
    };

    struct outer_cancel_handler {
        run_op* self;
        void operator()(asio::cancellation_type_t type) const { self->on_outer_cancel(type); }
    };

    // ---- entry points -------------------------------------------------------------

    void begin() {
        auto slot = asio::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) {
            outer_slot_ = slot;
            outer_slot_.template emplace<outer_cancel_handler>(outer_cancel_handler{this});
        }
        lock_.lock();
        ++refs_; // the initiator's, until drive() drops it (a cancel may have come first)
        machine_.start(now());
        drive(entry::initiation);
    }

    void on_attempt_complete(int slot, std::error_code ec, Ts&&... args) {
        lock_.lock();
        if (machine_.busy(slot)) { // its start or cancel is still being executed
            slots_[slot].parked.emplace(ec, std::tuple<Ts...>(std::move(args)...));
            ++parked_;
            lock_.unlock(); // our reference goes to the busy slot's executor
            return;
        }
        attempt_ended(slot, ec, std::tuple<Ts...>(std::move(args)...));
        drive(entry::handler); // drops the attempt handler's reference
    }

    // Rare (a context shut down) and, with strategies, large: not inlined
    // into the attempt handler's destructor, which every completion runs.
    [[gnu::noinline]] void on_attempt_abandoned(int slot) noexcept {
        lock_.lock();
        machine_.attempt_abandoned(slot);
        drop_ref_and_unlock();
    }

    void resume() {
        lock_.lock();
        drive(entry::handler);
    }

    void on_admitted(int slot) {
        lock_.lock();
        --waiter_refs_; // the waiting slot's reference is now this entry's
        machine_.admission_granted(slot, now(true));
        drive(entry::handler);
    }

    void on_expired() {
        lock_.lock();
        entry_ = entry_state::idle; // its reference is now ours
        machine_.timer(now(true));
        drive(entry::handler);
    }

    // On the handler's executor, as Asio requires of whoever emits.
    void on_outer_cancel(asio::cancellation_type_t type) {
        lock_.lock();
        ++refs_;
        machine_.cancel(type, now());
        drive(entry::cancellation);
    }

    // Runs on the deadline queue's executor, outside its lock.
    static void on_entry_expired(deadline_entry& entry) noexcept {
        run_op* self = static_cast<run_op*>(&entry);
        asio::dispatch(
            self->executor_,
            asio::bind_allocator(self->allocator_, resumption<&run_op::on_expired>(self)));
    }

    // The context shut down with the entry queued: drop its reference.
    static void on_entry_abandoned(deadline_entry& entry) noexcept {
        run_op* self = static_cast<run_op*>(&entry);
        self->lock_.lock();
        self->entry_ = entry_state::idle;
        self->drop_ref_and_unlock();
    }

    // ---- executing the machine's actions ------------------------------------------

    /// Feeds an attempt's result to the machine; keeps its values when the
    /// machine says they are the call's.
    void attempt_ended(int slot, std::error_code ec, std::tuple<Ts...>&& values) {
        const bool read = machine_.needs_clock_at_end(static_cast<bool>(ec));
        const time_point ended = read ? clock_type::now() : time_point();
        if (machine_.attempt_ended(slot, ended, ec, read))
            values_ = std::move(values);
    }

    /// Feeds the completions parked while their slot was busy, if it is no
    /// longer.
    void feed_parked() {
        for (int i = 0; i < machine_.slots_used(); ++i) {
            if (slots_[i].parked && !machine_.busy(i)) {
                auto [ec, values] = std::move(*slots_[i].parked);
                slots_[i].parked.reset();
                --parked_;
                attempt_ended(i, ec, std::move(values));
                --refs_; // the parked attempt handler's
            }
        }
    }

    /// Who calls drive(): the caller's handler may run only from a handler.
    enum class entry : std::uint8_t { initiation, cancellation, handler };

    /// With the lock held and one reference of the caller's: executes actions
    /// until the machine waits, then drops that reference and unlocks.
    void drive(entry from) {
        for (bool started = false;;) {
            if (started && from == entry::initiation) {
                // async_run must return before anything that could lead to
                // the caller's handler (an inline completion): carry on later.
                if (parked_ > 0 || machine_.has_action())
                    post_resume();
                break;
            }
            if (parked_ > 0) [[unlikely]]
                feed_parked();
            const call_action action = machine_.next();
            if (action.kind == call_action_kind::none)
                break;
            if (action.kind == call_action_kind::complete) {
                if (from != entry::handler) {
                    post_resume();
                    break;
                }
                complete(); // unlocks and may free the state
                return;
            }
            const int slot = action.slot;
            if constexpr (is_with_fallback<Op>::value) {
                if (action.kind == call_action_kind::run_fallback) {
                    ++refs_; // the fallback's handler: slot 0's attempt handler
                    fallback_context input = machine_.fallback_input();
                    lock_.unlock();
                    op_.fallback(std::move(input), attempt_handler(this, 0));
                    lock_.lock();
                    machine_.action_done(0);
                    continue;
                }
            }
            if (action.kind == call_action_kind::start_attempt) {
                ++refs_; // the attempt handler's
                lock_.unlock();
                // The one branch fault injection costs when off. The operation
                // is started here alone: a second call site would keep the
                // compiler from inlining its initiation.
                if (!faults_ || !injected_fault(slot)) [[likely]]
                    op_(machine_.attempt(slot), attempt_handler(this, slot));
                started = true;
            } else {
                lock_.unlock();
                slots_[slot].signal.emit(action.cancel);
            }
            lock_.lock();
            machine_.action_done(slot);
        }
        rearm();
        track_sleep();
        sync_waiter_refs();
        drop_ref_and_unlock();
    }

    // ---- fault injection (fault_attempt.hpp) --------------------------------------

    /// The handler of an attempt started after an injected delay: a type of
    /// its own, so that the operation's usual start stays its only caller.
    class delayed_attempt_handler : public attempt_handler {
        using attempt_handler::attempt_handler;
    };

    /// How an injection ends or starts the attempt on `slot`.
    struct fault_hooks {
        run_op* self;
        int slot;
        void complete(std::error_code error) const {
            post_attempt_result<Ts...>(self->executor_, self->allocator_,
                                       attempt_handler(self, slot), error);
        }
        void start() const {
            self->op_(self->machine_.attempt(slot), delayed_attempt_handler(self, slot));
        }
        std::error_code injected_error(std::error_code generic) const {
            return injected_error_of(self->op_, generic);
        }
    };

    /// Off the hot path: only a call whose policy has rules, with injection
    /// on. False: no rule picked the attempt, the caller starts it.
    [[gnu::noinline]] bool injected_fault(int slot) {
        const fault_rule* rule = faults_->draw(fault_target_of(op_, endpoint_of(op_)));
        if (!rule)
            return false;
        inject_fault<Timer>(*rule, machine_.attempt(slot), slots_[slot].signal.slot(), executor_,
                            io_executor_, fault_hooks{this, slot});
        return true;
    }

    /// A slot waiting for admission holds a reference: its strategy may call
    /// its waiter until it is withdrawn or admitted.
    void sync_waiter_refs() noexcept {
        if constexpr (Chain::enabled) {
            if (const int waiting = machine_.waiting(); waiting != waiter_refs_) [[unlikely]] {
                refs_ += waiting - waiter_refs_;
                waiter_refs_ = waiting;
            }
        }
    }

    /// Posts resume() with a reference of its own.
    void post_resume() {
        ++refs_;
        asio::post(executor_, resumption<&run_op::resume>(this));
    }

    /// Keeps the deadline entry queued at the machine's wake-up time.
    void rearm() {
        const time_point wanted = machine_.wakeup();
        if (entry_ == entry_state::firing || (entry_ == entry_state::queued && armed_ == wanted))
            return;
        if (entry_ == entry_state::queued) {
            if (service_->cancel(*this)) {
                entry_ = entry_state::idle;
                --refs_;
            } else {
                entry_ = entry_state::firing; // its expiry will re-arm
                return;
            }
        }
        if (wanted == time_point::max())
            return;
        this->deadline = service_type::ticks(wanted);
        if (service_->schedule(*this)) { // false: the context is shutting down
            entry_ = entry_state::queued;
            armed_ = wanted;
            ++refs_;
        }
    }

    /// While the call sleeps (between attempts, or for a reserved permit)
    /// nothing else keeps the contexts running: not its operation (none
    /// runs, or it may finish first) and not the deadline queue's timer (it
    /// stops counting as work when idle).
    void track_sleep() {
        if (machine_.woken_by_timer_only() == sleep_work_.has_value())
            return;
        if (sleep_work_)
            sleep_work_.reset();
        else
            sleep_work_.emplace(
                asio::prefer(executor_, asio::execution::outstanding_work.tracked),
                asio::prefer(io_executor_, asio::execution::outstanding_work.tracked));
    }

    /// Delivers the result: takes the handler out, frees the state when this
    /// was the last reference, then invokes the handler.
    void complete() {
        sync_waiter_refs();
        machine_.completed();
        const std::error_code ec = machine_.error();
        if (report_)
            *report_ = machine_.report();
        if (outer_slot_.is_connected()) {
            // clear() keeps the slot pointing at the caller's signal, which
            // the handler may free while this state lives on (a wake-up still
            // queued): forget the slot too, so ~run_op leaves it alone.
            outer_slot_.clear();
            outer_slot_ = asio::cancellation_slot();
        }
        if (machine_.default_values())
            values_ = std::tuple<Ts...>();
        rearm(); // the machine wants no wake-up any more
        sleep_work_.reset();
        Handler handler(std::move(handler_));
        std::tuple<Ts...> values(std::move(values_));
        drop_ref_and_unlock();
        std::apply([&](Ts&... v) { std::move(handler)(ec, std::move(v)...); }, values);
    }

    /// Drops one reference and unlocks; the last one frees the state.
    void drop_ref_and_unlock() noexcept {
        const bool last = --refs_ == 0;
        lock_.unlock();
        if (!last)
            return;
        state_allocator alloc(recycler::state_from(allocator_));
        this->~run_op();
        std::allocator_traits<state_allocator>::deallocate(alloc, this, 1);
    }

    ~run_op() {
        if (outer_slot_.is_connected())
            outer_slot_.clear();
    }

    // ---- state ------------------------------------------------------------------

    enum class entry_state : std::uint8_t { idle, queued, firing };

    Handler handler_;
    Op op_;
    executor_type executor_;
    IoExecutor io_executor_;
    [[no_unique_address]] allocator_type allocator_;
    service_type* service_;
    call_report* report_;
    fault_plan* faults_;
    machine_type machine_;
    std::tuple<Ts...> values_;
    struct no_waiter {};
    /// What the driver keeps per attempt slot: the slot's cancellation, a
    /// completion that arrived while the slot was busy, its waiter.
    struct slot_objects {
        asio::cancellation_signal signal;
        std::optional<std::tuple<std::error_code, std::tuple<Ts...>>> parked;
        [[no_unique_address]] std::conditional_t<Chain::enabled, slot_waiter, no_waiter> waiter;
    };
    /// Built as far as the machine's slots (open_slot): most calls use one.
    slot_array<slot_objects, slots> slots_;
    asio::cancellation_slot outer_slot_;
    template <class Executor>
    using tracked_t = std::decay_t<decltype(asio::prefer(
        std::declval<const Executor&>(), asio::execution::outstanding_work.tracked))>;
    std::optional<std::pair<tracked_t<executor_type>, tracked_t<IoExecutor>>> sleep_work_;
    time_point armed_ = time_point::max();
    spinlock lock_;
    int refs_ = 0;        ///< guarded by lock_
    int waiter_refs_ = 0; ///< of refs_, those of slots waiting for admission
    int parked_ = 0;      ///< completions parked on busy slots, guarded by lock_
    entry_state entry_ = entry_state::idle;
};

} // namespace keel::detail
