// Where keel runs a C library's blocking calls off the Asio loop: libpq's
// PQcancel (it opens a connection of its own and waits for the server) and
// librdkafka's transactional calls, close and destroy. One mechanism for both
// wrappers, so that they start, order and stop such calls alike.
//
// Internal: not installed, reached only by keel's own targets (their PRIVATE
// include path src/internal).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace keel::detail {

/// One thread that runs the jobs posted to it in order. The thread starts
/// with the first job: an object that never blocks (a pool whose statements
/// are never cancelled) costs no thread.
class blocking_worker {
public:
    blocking_worker() = default;
    ~blocking_worker() { stop(); }
    blocking_worker(const blocking_worker&) = delete;
    blocking_worker& operator=(const blocking_worker&) = delete;

    /// Queues `job`. After stop() no thread starts: a job posted then runs
    /// only if the thread is still draining the queue.
    void post(std::function<void()> job) {
        std::lock_guard lock(state_->mutex);
        if (!thread_.joinable() && !state_->stopping)
            thread_ = std::thread([s = state_] { run(s); });
        state_->jobs.push_back(std::move(job));
        state_->wake.notify_one();
    }

    /// Runs the jobs already posted, then joins. From the worker thread
    /// itself (the last owner released inside a job) it detaches instead:
    /// the thread keeps the queue alive and ends after that job.
    void stop() {
        {
            std::lock_guard lock(state_->mutex);
            state_->stopping = true;
            state_->wake.notify_one();
        }
        if (!thread_.joinable())
            return;
        if (thread_.get_id() == std::this_thread::get_id())
            thread_.detach();
        else
            thread_.join();
    }

private:
    // Shared with the thread: a detached worker outlives this object.
    struct state {
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<std::function<void()>> jobs;
        bool stopping = false;
    };

    static void run(const std::shared_ptr<state>& s) {
        std::unique_lock lock(s->mutex);
        for (;;) {
            s->wake.wait(lock, [&] { return s->stopping || !s->jobs.empty(); });
            if (s->jobs.empty())
                return;
            auto job = std::move(s->jobs.front());
            s->jobs.pop_front();
            lock.unlock();
            job();
            job = nullptr; // release what the job held before waiting again
            lock.lock();
        }
    }

    std::shared_ptr<state> state_ = std::make_shared<state>();
    std::thread thread_;
};

} // namespace keel::detail
