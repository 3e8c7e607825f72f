// A tiny lock for the deadline queue and a call's state: their critical
// sections are a heap push or erase, or one decision of a call, far shorter
// than a futex round trip.
#pragma once

#include <atomic>
#include <thread>

namespace keel::detail {

class spinlock {
public:
    void lock() noexcept {
        if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
            return;
        lock_contended();
    }

    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    [[gnu::noinline]] void lock_contended() noexcept {
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

    std::atomic<bool> locked_{false};
};

} // namespace keel::detail
