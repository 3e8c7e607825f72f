// keel::detail::completion, the one bridge from the wrappers' calls to the
// caller's handler: freed before the upcall, the slot cleared before the
// handler runs, post never inline, dispatch inline on the handler's own
// loop, work on an executor of the handler's own, the caller's allocator,
// and initiate_call's order (the slot is connected before the call starts).
#include <keel/detail/completion.hpp>
#include <keel/detail/initiate_call.hpp>
#include <keel/detail/shared_completion.hpp>

#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <system_error>

namespace {

namespace kd = keel::detail;

struct counts {
    int allocations = 0;
    int deallocations = 0;
};

template <class T>
struct counting_allocator {
    using value_type = T;
    counts* c;
    explicit counting_allocator(counts* to) noexcept : c(to) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& other) noexcept : c(other.c) {}
    T* allocate(std::size_t n) {
        ++c->allocations;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        ++c->deallocations;
        std::allocator<T>().deallocate(p, n);
    }
    template <class U>
    bool operator==(const counting_allocator<U>& other) const noexcept {
        return c == other.c;
    }
};

TEST(completion, posted_never_inline_and_freed_before_the_upcall) {
    asio::io_context context;
    counts memory;
    int calls = 0;
    auto done = kd::make_completion<kd::completion, std::error_code, int>(
        asio::bind_allocator(counting_allocator<void>(&memory),
                             [&](std::error_code ec, int v) {
                                 EXPECT_FALSE(ec);
                                 EXPECT_EQ(v, 7);
                                 // The completion went back before this
                                 // runs, as did whatever carried the upcall.
                                 EXPECT_EQ(memory.allocations, memory.deallocations);
                                 ++calls;
                             }),
        context.get_executor());
    EXPECT_EQ(memory.allocations, 1);
    done.release()->complete(kd::upcall::post, std::error_code(), 7);
    EXPECT_EQ(calls, 0);
    context.run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(memory.allocations, memory.deallocations);
}

TEST(completion, dispatched_runs_at_once_on_the_handlers_loop) {
    asio::io_context context;
    int calls = 0;
    asio::post(context, [&] {
        auto done = kd::make_completion<kd::completion, std::error_code>(
            [&](std::error_code) { ++calls; }, context.get_executor());
        done.release()->complete(kd::upcall::dispatch, std::error_code());
        EXPECT_EQ(calls, 1);
    });
    context.run();
    EXPECT_EQ(calls, 1);
}

TEST(completion, runs_on_the_handlers_own_executor_which_keeps_work) {
    asio::io_context context, elsewhere;
    bool on_elsewhere = false;
    auto done = kd::make_completion<kd::completion, std::error_code>(
        asio::bind_executor(elsewhere,
                            [&](std::error_code) {
                                on_elsewhere = elsewhere.get_executor().running_in_this_thread();
                            }),
        context.get_executor());
    EXPECT_EQ(elsewhere.poll(), 0u);
    EXPECT_FALSE(elsewhere.stopped()); // the completion holds work there
    asio::post(context, [&] { done.release()->complete(kd::upcall::dispatch, std::error_code()); });
    context.run();
    EXPECT_FALSE(on_elsewhere); // not inline on the wrong loop
    elsewhere.run();
    EXPECT_TRUE(on_elsewhere);
}

TEST(completion, the_slot_is_cleared_before_the_handler_runs) {
    asio::io_context context;
    asio::cancellation_signal signal;
    bool had_handler = true;
    kd::initiate_call<kd::completion, std::error_code>(
        asio::bind_cancellation_slot(
            signal.slot(), [&](std::error_code) { had_handler = signal.slot().has_handler(); }),
        context.get_executor(), [&](auto done) {
            struct call {
                kd::completion_ptr<kd::completion<std::error_code>> done;
                asio::cancellation_signal* signal;
                auto cancel_handler() const {
                    return [](asio::cancellation_type) {};
                }
                void start() && {
                    // Connected before the call starts.
                    EXPECT_TRUE(signal->slot().has_handler());
                    done.release()->complete(kd::upcall::post, std::error_code());
                }
            };
            return call{std::move(done), &signal};
        });
    context.run();
    EXPECT_FALSE(had_handler);
}

// A report and a cancellation may both finish a shared completion: the
// handler runs once, and the slot's reference keeps it alive until cleared.
struct owner {
    static void cancel(const std::shared_ptr<owner>&, kd::shared_completion<std::error_code>* c) {
        c->add_ref(); // the canceller's own reference, which finish() drops
        c->finish(kd::upcall::post, asio::error::operation_aborted);
    }
};

TEST(shared_completion, finished_once_whoever_comes_first) {
    asio::io_context context;
    asio::cancellation_signal signal;
    auto keeper = std::make_shared<owner>();
    int calls = 0;
    std::error_code seen;
    kd::shared_completion<std::error_code>* op = nullptr;
    kd::initiate_call<kd::shared_completion, std::error_code>(
        asio::bind_cancellation_slot(signal.slot(),
                                     [&](std::error_code ec) {
                                         ++calls;
                                         seen = ec;
                                     }),
        context.get_executor(), [&](auto done) {
            return kd::make_shared_call<&owner::cancel>(
                keeper, std::move(done),
                [&](kd::shared_completion<std::error_code>* started) { op = started; });
        });
    ASSERT_NE(op, nullptr);
    signal.emit(asio::cancellation_type::terminal);
    op->finish(kd::upcall::post, std::error_code()); // the late report
    context.run();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seen, asio::error::operation_aborted);
}

} // namespace
