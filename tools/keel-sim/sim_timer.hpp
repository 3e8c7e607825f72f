// The timer keel-sim hands to keel's deadline service: every deadline and
// retry sleep of an execution context goes through that service's one timer,
// so making it an event in the simulation's queue lets the manual clock jump
// straight to the next deadline instead of polling for it.
#pragma once

#include <keel/testing/manual_clock.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/execution.hpp>
#include <asio/execution_context.hpp>

#include <cstdint>
#include <functional>
#include <system_error>

namespace keel::sim {

class sim_timer;

/// Where sim_timers queue their waits: the simulation engine.
class timer_queue {
public:
    using time_point = keel::testing::manual_clock::time_point;

    virtual std::uint32_t add_timer(sim_timer* timer) = 0;
    virtual void remove_timer(std::uint32_t id) noexcept = 0;
    /// Call timer `id`'s fire(generation) when the clock reaches `at`.
    virtual void schedule_timer(std::uint32_t id, std::uint32_t generation, time_point at) = 0;

protected:
    ~timer_queue() = default;
};

/// How a timer finds the queue of its context: keel's deadline service makes
/// its timer from an executor alone. Set `target` before the first timer.
class timer_queue_link final : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;
    explicit timer_queue_link(asio::execution_context& context)
        : asio::execution_context::service(context) {}
    timer_queue* target = nullptr;

private:
    void shutdown() override {}
};

/// A timer on the manual clock whose waits are events in a timer_queue.
/// Asio's timer semantics: a new expiry or wait cancels the pending wait
/// (operation_aborted), the handler runs through the timer's executor, and
/// a pending wait counts as work, as keel's deadline service expects.
class sim_timer {
public:
    using clock_type = keel::testing::manual_clock;
    using time_point = clock_type::time_point;

    template <class Executor>
    explicit sim_timer(const Executor& executor)
        : sim_timer(
              asio::any_io_executor(executor),
              asio::use_service<timer_queue_link>(asio::query(executor, asio::execution::context))
                  .target) {}
    ~sim_timer();
    sim_timer(const sim_timer&) = delete;
    sim_timer& operator=(const sim_timer&) = delete;

    void expires_at(time_point at);

    template <class Handler>
    void async_wait(Handler&& handler) {
        start_wait(std::function<void(const std::error_code&)>(std::forward<Handler>(handler)));
    }

    /// The queue's event for wait `generation` is due: complete it, unless
    /// a newer wait replaced it.
    void fire(std::uint32_t generation);

private:
    sim_timer(asio::any_io_executor executor, timer_queue* queue);
    void start_wait(std::function<void(const std::error_code&)> handler);
    void finish(const std::error_code& ec);

    timer_queue* queue_;
    std::uint32_t id_;
    asio::any_io_executor executor_;
    time_point expiry_{};
    std::uint32_t generation_ = 0;
    std::function<void(const std::error_code&)> waiting_;
    asio::any_io_executor work_; ///< tracked while a wait is pending
};

} // namespace keel::sim
