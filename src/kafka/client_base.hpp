// What keel's producer and consumer share about a librdkafka client: its
// configuration, the eventfd its queues signal, and a worker thread for
// librdkafka's blocking calls.
#pragma once

#include <keel/detail/library_fd.hpp>
#include <keel/kafka/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <librdkafka/rdkafka.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace keel::kafka::detail {

/// A new rd_kafka_conf_t with `bootstrap_servers`, then `defaults`, then the
/// user's `properties`. Throws std::invalid_argument naming a property
/// librdkafka refused, and why.
rd_kafka_conf_t* make_conf(const std::string& bootstrap_servers, const property_list& defaults,
                           const property_list& properties);

/// rd_kafka_new, or std::runtime_error with librdkafka's reason. Takes `conf`.
rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf);

/// An eventfd that librdkafka writes to when one of the queues it is given
/// becomes non-empty, watched (not owned) by a library_fd on the loop.
class queue_signal {
public:
    /// Throws std::system_error if no eventfd can be made.
    explicit queue_signal(const asio::any_io_executor& executor);
    /// Closes the eventfd; the library_fd must be released by then
    /// (release_on_loop) and no client may still write to it.
    ~queue_signal();
    queue_signal(const queue_signal&) = delete;
    queue_signal& operator=(const queue_signal&) = delete;

    /// Makes `queue` signal this eventfd (the queue must be a final
    /// destination: librdkafka signals only those).
    void attach(rd_kafka_queue_t* queue);
    /// Empties the eventfd's counter, before draining the queues: a message
    /// arriving after that signals again.
    void reset() noexcept;
    keel::detail::library_fd& fd() noexcept { return *fd_; }

private:
    int efd_ = -1;
    std::shared_ptr<keel::detail::library_fd> fd_;
};

/// One thread that runs librdkafka's blocking calls (transactions, closing,
/// destroying a client) in order, off the loop.
class blocking_worker {
public:
    blocking_worker() = default;
    ~blocking_worker() { stop(); }
    blocking_worker(const blocking_worker&) = delete;
    blocking_worker& operator=(const blocking_worker&) = delete;

    void post(std::function<void()> job);
    /// Runs the jobs already posted, then joins. From the worker thread
    /// itself (the last owner released inside a job) it detaches instead.
    void stop();

private:
    // Shared with the thread: a detached worker outlives this object.
    struct state {
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<std::function<void()>> jobs;
        bool stopping = false;
    };
    static void run(const std::shared_ptr<state>& s);

    std::shared_ptr<state> state_ = std::make_shared<state>();
    std::thread thread_;
};

} // namespace keel::kafka::detail
