// A completion that two parties may race to finish from different threads:
// a library's report (a librdkafka delivery report on its own thread) and a
// cancellation (on the caller's executor). Reference counted, so that the
// cancellation slot's handler can keep it alive while installed; the first
// finish() completes the handler, the later one only drops its reference.
#pragma once

#include <keel/detail/completion.hpp>

#include <asio/cancellation_type.hpp>

#include <atomic>
#include <memory>
#include <utility>

namespace keel::detail {

/// A completion<Values...> with a reference count and a finished flag.
/// Whoever holds it for completion (the library until its report, a queue
/// of calls waiting for room) holds one reference; a cancellation slot holds
/// another while it is installed (shared_cancellation).
template <class... Values>
class shared_completion : public completion<Values...> {
public:
    shared_completion(const shared_completion&) = delete;
    shared_completion& operator=(const shared_completion&) = delete;

    /// Completes the caller's handler unless someone did already, and drops
    /// the finisher's reference either way.
    void finish(upcall how, Values... values) {
        if (!finished_.exchange(true, std::memory_order_acq_rel))
            this->complete(how, std::move(values)...);
        else
            release();
    }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            this->destroy();
    }
    /// complete() drops one reference before the upcall: the completion is
    /// freed then, unless a cancellation slot still holds it (the upcall
    /// clears the slot first, which frees it).
    void drop() noexcept { release(); }

protected:
    shared_completion() = default;
    ~shared_completion() = default;
    using completion<Values...>::complete; // through finish() only

private:
    std::atomic<int> refs_{1};
    std::atomic<bool> finished_{false};
};

/// What a cancellation slot holds for a shared completion: a reference to it
/// and to its owner (the client), released when the slot is cleared.
/// `Cancel(owner, completion)` ends the call with operation_aborted if it is
/// still waiting.
template <class Owner, class Completion, void (*Cancel)(const std::shared_ptr<Owner>&, Completion*)>
class shared_cancellation {
public:
    shared_cancellation(std::shared_ptr<Owner> owner, Completion* c) noexcept
        : owner_(std::move(owner)), c_(c) {
        c_->add_ref();
    }
    shared_cancellation(shared_cancellation&& other) noexcept
        : owner_(std::move(other.owner_)), c_(std::exchange(other.c_, nullptr)) {}
    shared_cancellation& operator=(shared_cancellation&&) = delete;
    ~shared_cancellation() {
        if (c_)
            c_->release();
    }
    void operator()(asio::cancellation_type) { Cancel(owner_, c_); }

private:
    std::shared_ptr<Owner> owner_;
    Completion* c_;
};

/// A call around a shared completion, for initiate_call(): the slot gets a
/// shared_cancellation (made only when the slot is connected); start() hands
/// the completion, with the caller's reference, to `start`.
template <class Owner, class Completion, void (*Cancel)(const std::shared_ptr<Owner>&, Completion*),
          class Start>
class shared_call {
public:
    shared_call(const std::shared_ptr<Owner>& owner, completion_ptr<Completion> c, Start start)
        : owner_(owner), c_(std::move(c)), start_(std::move(start)) {}

    shared_cancellation<Owner, Completion, Cancel> cancel_handler() const {
        return {owner_, c_.get()};
    }
    void start() && { std::move(start_)(c_.release()); }

private:
    const std::shared_ptr<Owner>& owner_;
    completion_ptr<Completion> c_;
    Start start_;
};

/// shared_call<..., Cancel, Start>, deduced.
template <auto Cancel, class Owner, class Completion, class Start>
shared_call<Owner, Completion, Cancel, Start>
make_shared_call(const std::shared_ptr<Owner>& owner, completion_ptr<Completion> c, Start start) {
    return {owner, std::move(c), std::move(start)};
}

} // namespace keel::detail
