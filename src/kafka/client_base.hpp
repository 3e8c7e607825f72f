// What keel's producer and consumer share about a librdkafka client: its
// configuration, the eventfd its queues signal, and the worker thread for
// librdkafka's blocking calls (keel::detail::blocking_worker, which keel::pg
// uses too).
#pragma once

#include <keel/internal/blocking_worker.hpp>
#include <keel/internal/library_fd.hpp>
#include <keel/kafka/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>

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

/// librdkafka's blocking calls (transactions, closing, destroying a client)
/// run in order, off the loop, on keel's shared worker.
using keel::detail::blocking_worker;

} // namespace keel::kafka::detail
