// The per-context deadline queue's bookkeeping of the io_context's work: an
// armed timer with no deadline behind it stops counting as work, and every
// such discount is given back, however the queue is re-armed meanwhile.
#include <keel/detail/deadline_service.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

namespace keel::detail {
namespace {

using service_type = deadline_service<asio::steady_timer>;

void nothing(deadline_entry&) noexcept {}

deadline_entry entry_at(std::chrono::steady_clock::duration from_now) {
    deadline_entry e;
    e.deadline = service_type::ticks(std::chrono::steady_clock::now() + from_now);
    e.expire = &nothing;
    e.abandon = &nothing;
    return e;
}

TEST(deadline_service, a_wait_re_armed_earlier_after_its_discount_keeps_the_work_count) {
    // One thread, as a service's loop: posts from a handler count as the
    // thread's private work, so a count taken off too often stops run() at
    // once. Calls with a long deadline, then a short one, each finishing in
    // time, as a dependency's calls with two timeouts do.
    asio::io_context io{1};
    service_type& service = service_type::of(io.get_executor());
    deadline_entry late = entry_at(std::chrono::seconds(10));
    deadline_entry early = entry_at(std::chrono::milliseconds(10));
    int steps = 0;
    std::function<void()> step = [&] {
        if (++steps < 5)
            asio::post(io, step);
    };
    asio::post(io, [&] {
        ASSERT_TRUE(service.schedule(late));  // arms the timer at +10 s
        ASSERT_TRUE(service.cancel(late));    // nothing queued: the wait stops counting
        ASSERT_TRUE(service.schedule(early)); // re-armed earlier: the old wait is aborted
        ASSERT_TRUE(service.cancel(early));   // nothing queued again
        asio::post(io, step);
    });
    io.run();
    EXPECT_EQ(steps, 5) << "run() returned with handlers still queued";
}

} // namespace
} // namespace keel::detail
