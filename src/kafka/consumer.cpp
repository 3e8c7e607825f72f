// The consumer's bridge: the consumer queue (messages, rebalances) and a
// queue of our own for commit results both signal one eventfd that the loop
// watches. A wake-up serves the waiting receives and the commit results,
// then completes them outside librdkafka. Messages are taken from
// librdkafka only for a receive that waits, so its prefetch limits stay the
// consumer's backpressure.
#include <keel/fault.hpp>
#include <keel/kafka/consumer.hpp>

#include "client_base.hpp"
#include <asio/error.hpp>
#include <asio/strand.hpp>

#include <deque>
#include <mutex>
#include <vector>

namespace keel::kafka {

namespace detail {

using keel::detail::upcall;

namespace {

message copy_out(const rd_kafka_message_t& m) {
    message out;
    if (m.rkt)
        out.topic = rd_kafka_topic_name(m.rkt);
    out.partition = m.partition;
    out.offset = m.offset;
    if (m.key)
        out.key.assign(static_cast<const char*>(m.key), m.key_len);
    if (m.payload)
        out.value.assign(static_cast<const char*>(m.payload), m.len);
    rd_kafka_timestamp_type_t type;
    out.timestamp_ms = rd_kafka_message_timestamp(&m, &type);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
        const char* name;
        const void* value;
        std::size_t size;
        for (std::size_t i = 0; !rd_kafka_header_get_all(headers, i, &name, &value, &size); ++i)
            out.headers.emplace_back(
                name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
    return out;
}

struct received {
    receive_operation* op;
    std::error_code ec;
    message m;
};

struct committed {
    void_operation* op;
    std::error_code ec;
};

} // namespace

class consumer_impl : public std::enable_shared_from_this<consumer_impl> {
public:
    consumer_impl(const asio::any_io_executor& executor, consumer_options options)
        : strand_(asio::make_strand(executor)), options_(std::move(options)) {
        property_list defaults{{"enable.auto.commit", "false"},
                               {"auto.offset.reset", "earliest"},
                               {"enable.partition.eof", "false"}};
        if (!options_.group_id.empty())
            defaults.emplace_back("group.id", options_.group_id);
        rd_kafka_conf_t* conf =
            make_conf(options_.bootstrap_servers, defaults, options_.properties);
        signal_ = std::make_unique<queue_signal>(strand_);
        rk_ = make_client(RD_KAFKA_CONSUMER, conf);
        // Everything the client reports comes through the consumer queue.
        rd_kafka_poll_set_consumer(rk_);
        consumer_queue_ = rd_kafka_queue_get_consumer(rk_);
        commit_queue_ = rd_kafka_queue_new(rk_);
        signal_->attach(consumer_queue_);
        signal_->attach(commit_queue_);
    }

    ~consumer_impl() {
        if (commit_queue_)
            rd_kafka_queue_destroy(commit_queue_);
        if (consumer_queue_)
            rd_kafka_queue_destroy(consumer_queue_);
        if (rk_)
            rd_kafka_destroy(rk_);
    }

    /// Starts watching the eventfd and serves once: librdkafka signals only
    /// when a queue turns non-empty, and the client may have queued events
    /// before the eventfd was attached -- then no signal would ever come.
    void start() {
        arm();
        asio::post(strand_, [self = shared_from_this()] { self->on_signal(); });
    }

    void subscribe(const std::vector<std::string>& topics) {
        rd_kafka_topic_partition_list_t* list =
            rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
        for (const auto& t : topics)
            rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err;
        {
            std::lock_guard lock(mutex_);
            err = closing_ ? RD_KAFKA_RESP_ERR__DESTROY : rd_kafka_subscribe(rk_, list);
        }
        rd_kafka_topic_partition_list_destroy(list);
        if (err)
            throw std::system_error(make_error_code(err), "keel::kafka: subscribe");
    }

    void receive(receive_operation* op) {
        std::vector<received> done;
        std::vector<committed> commits;
        {
            std::lock_guard lock(mutex_);
            if (closing_) {
                done.push_back({op, asio::error::operation_aborted, {}});
            } else {
                receivers_.push_back(op);
                serve(done, commits);
            }
        }
        finish(done, commits, upcall::post); // inside the initiating function
    }

    void cancel(receive_operation* op) {
        bool found = false;
        {
            std::lock_guard lock(mutex_);
            for (auto it = receivers_.begin(); it != receivers_.end(); ++it)
                if (*it == op) {
                    receivers_.erase(it);
                    found = true;
                    break;
                }
        }
        if (!found)
            return; // completed already
        op->finish(upcall::post, asio::error::operation_aborted, message{});
    }

    void commit(const std::string& topic, std::int32_t partition, std::int64_t offset,
                void_operation* op) {
        rd_kafka_resp_err_t err;
        {
            std::lock_guard lock(mutex_);
            if (closing_) {
                err = RD_KAFKA_RESP_ERR__DESTROY;
            } else {
                rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset =
                    offset + 1;
                // The result comes back as an event on commit_queue_, with
                // `op` as its opaque (no callback runs inside librdkafka).
                err = rd_kafka_commit_queue(rk_, list, commit_queue_, nullptr, op);
                rd_kafka_topic_partition_list_destroy(list);
            }
        }
        if (!err)
            return;
        const std::error_code ec = err == RD_KAFKA_RESP_ERR__DESTROY
                                       ? std::error_code(asio::error::operation_aborted)
                                       : make_error_code(err);
        op->finish(upcall::post, ec);
    }

    void close_async(void_operation* op) {
        if (!begin_close()) {
            op->finish(upcall::post, std::error_code());
            return;
        }
        worker_.post([self = shared_from_this(), op] {
            self->leave_group();
            op->finish(upcall::post, std::error_code());
        });
    }

    /// From ~consumer: leaves the group now unless async_close did.
    void close_blocking() {
        if (begin_close())
            leave_group();
        worker_.stop();
    }

private:
    /// Stops serving: waiting receives are aborted, the eventfd's watcher is
    /// released on the loop. False if closing had begun already.
    bool begin_close() {
        std::deque<receive_operation*> receivers;
        {
            std::lock_guard lock(mutex_);
            if (closing_)
                return false;
            closing_ = true;
            receivers.swap(receivers_);
        }
        for (receive_operation* op : receivers) {
            op->finish(upcall::post, asio::error::operation_aborted, message{});
        }
        asio::post(strand_, [self = shared_from_this()] { self->signal_->fd().release(); });
        return true;
    }

    /// Blocking: leaves the group (committing nothing: commits are
    /// explicit), then reports the commits still pending.
    void leave_group() {
        rd_kafka_consumer_close(rk_);
        std::vector<received> none;
        std::vector<committed> commits;
        // The commit results librdkafka still had in flight: close waited for them.
        while (rd_kafka_event_t* ev = rd_kafka_queue_poll(commit_queue_, 0))
            take_commit(ev, commits);
        finish(none, commits, upcall::post);
    }

    void arm() {
        signal_->fd().wait_readable([self = shared_from_this()](std::error_code ec) {
            if (!ec)
                self->on_signal();
        });
    }

    void on_signal() {
        std::vector<received> done;
        std::vector<committed> commits;
        {
            std::lock_guard lock(mutex_);
            if (closing_)
                return;
            // Wait again before draining: Asio's epoll reactor is
            // edge-triggered, so a signal between the drain and a later
            // wait would be lost (librdkafka signals only when a queue turns
            // non-empty).
            arm();
            signal_->reset();
            serve(done, commits);
        }
        finish(done, commits, upcall::dispatch);
    }

    static void take_commit(rd_kafka_event_t* ev, std::vector<committed>& out) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
            rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
            if (!err)
                if (const rd_kafka_topic_partition_list_t* list =
                        rd_kafka_event_topic_partition_list(ev))
                    for (int i = 0; i < list->cnt && !err; ++i)
                        err = list->elems[i].err;
            if (auto* op = static_cast<void_operation*>(rd_kafka_event_opaque(ev)))
                out.push_back({op, err ? make_error_code(err) : std::error_code()});
        }
        rd_kafka_event_destroy(ev);
    }

    /// Under mutex_: hands messages to waiting receives, takes commit results.
    void serve(std::vector<received>& done, std::vector<committed>& commits) {
        while (rd_kafka_event_t* ev = rd_kafka_queue_poll(commit_queue_, 0))
            take_commit(ev, commits);
        while (!receivers_.empty()) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 0);
            if (!m)
                break;
            if (m->err) {
                // Transport errors and the like are informational: librdkafka
                // recovers by itself. What it cannot recover from goes to
                // the receive.
                const std::error_code ec = make_error_code(m->err);
                const bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
                if (fatal || keel::classify(ec) == fault_class::permanent) {
                    done.push_back({receivers_.front(), ec, {}});
                    receivers_.pop_front();
                }
            } else {
                done.push_back({receivers_.front(), {}, copy_out(*m)});
                receivers_.pop_front();
            }
            rd_kafka_message_destroy(m);
        }
    }

    static void finish(std::vector<received>& done, std::vector<committed>& commits, upcall how) {
        for (auto& r : done) {
            r.op->finish(how, r.ec, std::move(r.m));
        }
        for (auto& c : commits) {
            c.op->finish(how, c.ec);
        }
    }

    asio::strand<asio::any_io_executor> strand_;
    consumer_options options_;
    std::unique_ptr<queue_signal> signal_;
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_queue_t* consumer_queue_ = nullptr;
    rd_kafka_queue_t* commit_queue_ = nullptr;
    blocking_worker worker_;

    std::mutex mutex_; ///< guards what follows, and calls into rk_ from the loop
    std::deque<receive_operation*> receivers_;
    bool closing_ = false;
};

void shut_down(const std::shared_ptr<consumer_impl>& impl) {
    impl->close_blocking();
}

void start_receive(const std::shared_ptr<consumer_impl>& impl, receive_operation* op) {
    impl->receive(op);
}
void cancel_receive(const std::shared_ptr<consumer_impl>& impl, receive_operation* op) {
    impl->cancel(op);
}
void start_commit(const std::shared_ptr<consumer_impl>& impl, const std::string& topic,
                  std::int32_t partition, std::int64_t offset, void_operation* op) {
    impl->commit(topic, partition, offset, op);
}
void start_close(const std::shared_ptr<consumer_impl>& impl, void_operation* op) {
    impl->close_async(op);
}

} // namespace detail

consumer::consumer(executor_type executor, consumer_options options)
    : io_object(executor, std::move(options)) {
    impl_->start();
}

void consumer::subscribe(const std::vector<std::string>& topics) {
    impl_->subscribe(topics);
}

} // namespace keel::kafka
