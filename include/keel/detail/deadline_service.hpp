// One deadline queue per execution context: every keel timeout and retry
// sleep on that context is an entry here, and a single Asio timer is armed at
// the earliest deadline. Adding a deadline later than the armed one (the
// common case: equal timeouts started one after another) and removing one
// (the common case: the operation finished in time) touch no kernel timer.
#pragma once

#include <keel/detail/deadline_heap.hpp>
#include <keel/detail/executor_target.hpp>
#include <keel/detail/spinlock.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <type_traits>

namespace keel::detail {

template <class Timer>
class deadline_service final : public asio::execution_context::service {
public:
    using clock_type = typename Timer::clock_type;
    using time_point = typename clock_type::time_point;
    static_assert(std::is_same_v<typename clock_type::duration, std::chrono::nanoseconds>,
                  "keel deadlines count in nanoseconds: use a clock with a nanosecond duration");

    static inline asio::execution_context::id id;

    explicit deadline_service(asio::execution_context& context)
        : asio::execution_context::service(context) {}

    /// The deadline service of `executor`'s context, its timer bound on first use.
    template <class Executor>
    static deadline_service& of(const Executor& executor) {
        auto& context = asio::query(executor, asio::execution::context);
        auto& service = asio::use_service<deadline_service>(context);
        service.bind(executor);
        return service;
    }

    static std::int64_t ticks(time_point t) noexcept { return t.time_since_epoch().count(); }

    /// Queues `entry` (whose deadline is set). Returns false after shutdown.
    bool schedule(deadline_entry& entry) {
        std::lock_guard lock(lock_);
        if (shut_down_)
            return false;
        heap_.push(entry);
        if (entry.deadline < armed_)
            arm(entry.deadline);
        return true;
    }

    /// Removes `entry` if it is still queued. False means it already expired
    /// (its expire callback runs or ran) or was never queued.
    bool cancel(deadline_entry& entry) noexcept {
        bool discount = false;
        {
            std::lock_guard lock(lock_);
            if (!entry.queued())
                return false;
            heap_.erase(entry);
            // The timer stays armed: when it fires early it finds nothing due
            // and re-arms at the new earliest deadline. That is one wake-up
            // instead of a kernel timer update per finished call.
            discount = heap_.empty() && armed_ != no_deadline && discounted_ != generation_ &&
                       io_executor_ && io_executor_->running_in_this_thread();
            if (discount)
                discounted_ = generation_;
        }
        // An armed timer with nothing behind it would keep io_context::run()
        // from returning until it fires. The calls that need the queue keep
        // their context busy themselves (their operation, or a work guard
        // while they sleep), so the idle timer stops counting as work. Safe
        // only inside a handler of this context: that handler still counts,
        // so the count cannot reach zero here.
        if (discount)
            io_executor_->on_work_finished();
        return true;
    }

    std::size_t queued() noexcept {
        std::lock_guard lock(lock_);
        return heap_.size();
    }

private:
    template <class Executor>
    void bind(const Executor& executor) {
        std::lock_guard lock(lock_);
        if (timer_ || shut_down_)
            return;
        // Prefer the context's own executor: a timer bound to the first
        // caller's strand would serialise every expiry behind that strand.
        auto plain = without_strand(executor);
        if constexpr (std::is_same_v<decltype(plain), asio::any_io_executor>) {
            if (auto* io = target_if<asio::io_context::executor_type>(plain))
                io_executor_.emplace(*io);
        } else if constexpr (std::is_same_v<decltype(plain), asio::io_context::executor_type>) {
            io_executor_.emplace(plain);
        }
        timer_.emplace(std::move(plain));
    }

    template <class Executor>
    static auto without_strand(const Executor& executor) {
        if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
            using io_executor = asio::io_context::executor_type;
            if (auto* io = target_if<io_executor>(executor))
                return asio::any_io_executor(*io);
            if (auto* strand = target_if<asio::strand<io_executor>>(executor))
                return asio::any_io_executor(strand->get_inner_executor());
            return executor;
        } else if constexpr (is_strand<Executor>::value) {
            return without_strand(executor.get_inner_executor());
        } else {
            return executor;
        }
    }

    template <class T>
    struct is_strand : std::false_type {};
    template <class Inner>
    struct is_strand<asio::strand<Inner>> : std::true_type {};

    void arm(std::int64_t deadline) {
        if (discounted_ != 0 && discounted_ == generation_) {
            // The wait being replaced stopped counting as work, and its
            // handler, now of an old generation, cannot tell: give the
            // count back here. (One discount slot for two waits lost a unit
            // for good, and run() returned with calls still in flight.)
            discounted_ = 0;
            io_executor_->on_work_started();
        }
        armed_ = deadline;
        const unsigned generation = ++generation_ == 0 ? ++generation_ : generation_;
        timer_->expires_at(time_point(std::chrono::nanoseconds(deadline)));
        timer_->async_wait(
            [this, generation](const std::error_code& ec) { on_timer(ec, generation); });
    }

    void on_timer(const std::error_code& ec, unsigned generation) {
        deadline_entry* expired = nullptr;
        {
            std::lock_guard lock(lock_);
            if (generation == discounted_) {
                // Give back the work count taken off in cancel(): the scheduler
                // drops one when this handler returns.
                discounted_ = 0;
                io_executor_->on_work_started();
            }
            if (ec == asio::error::operation_aborted || generation != generation_ || shut_down_)
                return; // re-armed meanwhile: a newer wait owns the timer
            armed_ = no_deadline;
            expired = heap_.pop_expired(ticks(clock_type::now()));
            if (!heap_.empty())
                arm(heap_.top()->deadline);
        }
        while (expired) {
            deadline_entry* next = expired->next_expired; // expire may free the entry
            expired->expire(*expired);
            expired = next;
        }
    }

    void shutdown() override {
        deadline_entry* abandoned = nullptr;
        {
            std::lock_guard lock(lock_);
            shut_down_ = true;
            ++generation_;
            abandoned = heap_.take_all();
        }
        // Destroyed here, while the timer's own service still exists.
        timer_.reset();
        while (abandoned) {
            deadline_entry* next = abandoned->next_expired;
            abandoned->abandon(*abandoned);
            abandoned = next;
        }
    }

    static constexpr std::int64_t no_deadline = std::numeric_limits<std::int64_t>::max();

    spinlock lock_;
    deadline_heap heap_;
    std::optional<Timer> timer_;
    std::optional<asio::io_context::executor_type> io_executor_;
    std::int64_t armed_ = no_deadline;
    unsigned generation_ = 0;
    unsigned discounted_ = 0; ///< the generation whose wait no longer counts as work
    bool shut_down_ = false;
};

} // namespace keel::detail
