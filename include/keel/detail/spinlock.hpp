// A tiny lock for the deadline queue: its critical sections are a heap push
// or erase, far shorter than a futex round trip.
#pragma once

#include <atomic>
#include <thread>

namespace keel::detail {

class spinlock {
public:
    void lock() noexcept {
        for (;;) {
            if (!locked_.exchange(true, std::memory_order_acquire))
                return;
            for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
                if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
                    __builtin_ia32_pause();
#endif
                } else {
                    // The holder was preempted: let it run.
                    std::this_thread::yield();
                }
            }
        }
    }

    void unlock() noexcept {
        locked_.store(false, std::memory_order_release);
    }

private:
    std::atomic<bool> locked_{false};
};

} // namespace keel::detail
