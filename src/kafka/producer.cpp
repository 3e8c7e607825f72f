// Over 400 lines: one bridge; queue drain, produces and transactions share one state.
// The producer's bridge: librdkafka reports deliveries and errors as events
// on its main queue; the queue signals an eventfd that the loop watches;
// each wake-up drains the queue, then completes the produces it reported
// (never inside a librdkafka call). A mutex guards the client instance, the
// produces waiting for room and the closed flag; completions race through
// shared_completion::finish().
#include <keel/kafka/producer.hpp>

#include "client_base.hpp"
#include <asio/bind_executor.hpp>
#include <asio/error.hpp>
#include <asio/strand.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <vector>

namespace keel::kafka {

namespace detail {

using keel::detail::operation_pool;
using keel::detail::upcall;

namespace {

/// One librdkafka client. A fatal error replaces it with a new one; the old
/// one keeps draining its reports until it has none left, then is destroyed
/// on the worker thread.
struct instance {
    rd_kafka_t* rk = nullptr;
    rd_kafka_queue_t* queue = nullptr;
    std::unique_ptr<queue_signal> signal;
    std::uint64_t generation = 0; ///< which client this is (1, then 2 after a rebuild...)
    bool retiring = false;

    ~instance() {
        if (queue)
            rd_kafka_queue_destroy(queue);
        if (rk)
            rd_kafka_destroy(rk);
        // signal: released on the loop by now (or the loop is gone), closed here.
    }
};

/// A produce waiting for room in librdkafka's queue: it owns a copy.
struct waiting_produce {
    produce_operation* op;
    std::string topic;
    std::string key;
    std::string value;
    header_list headers;
    bool has_headers;
};

struct report {
    produce_operation* op;
    rd_kafka_resp_err_t err;
    delivery where;
};

} // namespace

class producer_impl : public std::enable_shared_from_this<producer_impl> {
public:
    producer_impl(const asio::any_io_executor& executor, producer_options options)
        : strand_(asio::make_strand(executor)), options_(std::move(options)) {
        current_ = make_instance();
        pool_ = operation_pool::make(reusable_operations(current_->rk));
    }

    ~producer_impl() { pool_->release_owner(); }

    operation_pool* pool() const noexcept { return pool_; }

    void start() { watch(current_); }

    const producer_options& options() const noexcept { return options_; }
    std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
    std::size_t rebuilds() const noexcept { return rebuilds_.load(std::memory_order_relaxed); }

    void produce(const produce_args& args, produce_operation* op) {
        rd_kafka_resp_err_t err;
        {
            std::lock_guard lock(mutex_);
            if (closed_) {
                err = RD_KAFKA_RESP_ERR__DESTROY;
            } else if (!waiting_.empty()) {
                wait_for_room(args, op); // behind the others: order is kept
                return;
            } else {
                // Counted before librdkafka has it: its report may come first.
                in_flight_.fetch_add(1, std::memory_order_relaxed);
                err = hand_over(*current_, args, op);
                if (!err)
                    return;
                in_flight_.fetch_sub(1, std::memory_order_relaxed);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    wait_for_room(args, op);
                    return;
                }
            }
        }
        // Refused at once (too large, unknown topic, bad argument): never
        // complete inside the initiating function.
        const std::error_code ec = err == RD_KAFKA_RESP_ERR__DESTROY
                                       ? std::error_code(asio::error::operation_aborted)
                                       : make_error_code(err);
        op->finish(upcall::post, ec, delivery{});
    }

    void cancel(produce_operation* op) {
        bool was_waiting = false;
        {
            std::lock_guard lock(mutex_);
            for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
                if (it->op == op) {
                    waiting_.erase(it);
                    was_waiting = true;
                    break;
                }
        }
        if (was_waiting) {
            // Never sent: the queue's reference is ours to finish with.
            in_flight_.fetch_sub(1, std::memory_order_relaxed);
        } else {
            // Handed to librdkafka, it stays there (its report, later, finds
            // the operation finished): finish with a reference of our own.
            op->add_ref();
        }
        op->finish(upcall::post, asio::error::operation_aborted, delivery{});
    }

    void transaction(transaction_step step, void_operation* op) {
        worker_.post([self = shared_from_this(), step, op] { self->run_step(step, op); });
    }

    /// Aborts what is pending and destroys the client (blocking).
    void close() {
        std::vector<report> aborted;
        std::deque<waiting_produce> waiting;
        std::vector<std::shared_ptr<instance>> instances;
        {
            std::lock_guard lock(mutex_);
            if (closed_)
                return;
            closed_ = true;
            waiting.swap(waiting_);
            instances = retiring_;
            instances.push_back(current_);
        }
        worker_.stop(); // a transactional call in progress finishes first
        for (auto& in : instances) {
            // Purged messages come back as reports at once; the others
            // (in flight on a dead connection) within message.timeout.ms at
            // most, bounded here: their produces are aborted either way.
            rd_kafka_purge(in->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            for (int rounds = 0; rd_kafka_outq_len(in->rk) > 0 && rounds < 50; ++rounds)
                collect(*in, 100, aborted);
            collect(*in, 0, aborted);
            rd_kafka_queue_destroy(in->queue);
            in->queue = nullptr;
            rd_kafka_destroy(in->rk);
            in->rk = nullptr;
            // The eventfd's watcher is released on the loop; the eventfd is
            // closed when the last holder lets go of the instance.
            asio::post(strand_, [in] { in->signal->fd().release(); });
        }
        for (auto& w : waiting)
            aborted.push_back({w.op, RD_KAFKA_RESP_ERR__DESTROY, {}});
        for (auto& r : aborted) {
            // A delivery already reported stays a delivery; anything else
            // ends here, its outcome unknown.
            r.op->finish(upcall::post,
                         r.err ? std::error_code(asio::error::operation_aborted)
                               : std::error_code(),
                         r.err ? delivery{} : r.where);
        }
    }

private:
    std::shared_ptr<instance> make_instance() {
        property_list defaults;
        defaults.emplace_back("enable.idempotence", options_.idempotent ? "true" : "false");
        if (!options_.transactional_id.empty())
            defaults.emplace_back("transactional.id", options_.transactional_id);
        rd_kafka_conf_t* conf =
            make_conf(options_.bootstrap_servers, defaults, options_.properties);
        // Delivery reports and errors as events on the main queue: no
        // callbacks run inside librdkafka, the loop drains the queue.
        rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
        auto in = std::make_shared<instance>();
        in->generation = ++generations_;
        in->signal = std::make_unique<queue_signal>(strand_);
        in->rk = make_client(RD_KAFKA_PRODUCER, conf);
        in->queue = rd_kafka_queue_get_main(in->rk);
        in->signal->attach(in->queue);
        return in;
    }

    /// At most as many produces as librdkafka may queue are in flight
    /// (plus those waiting for room, which are rare): keep that many blocks.
    static std::size_t reusable_operations(rd_kafka_t* rk) {
        char value[32];
        std::size_t size = sizeof value;
        if (rd_kafka_conf_get(rd_kafka_conf(rk), "queue.buffering.max.messages", value, &size) !=
            RD_KAFKA_CONF_OK)
            return 0;
        return std::strtoull(value, nullptr, 10);
    }

    static rd_kafka_resp_err_t hand_over(instance& in, const produce_args& args,
                                         produce_operation* op) {
        // Topic and header names must be NUL-terminated; Kafka topic names
        // have at most 249 characters.
        char topic[256];
        if (args.topic.empty() || args.topic.size() >= sizeof topic)
            return RD_KAFKA_RESP_ERR__INVALID_ARG;
        args.topic.copy(topic, args.topic.size());
        topic[args.topic.size()] = '\0';

        std::array<rd_kafka_vu_t, 8> fixed;
        std::vector<rd_kafka_vu_t> grown;
        const std::size_t header_count = args.headers ? args.headers->size() : 0;
        rd_kafka_vu_t* vus = fixed.data();
        if (header_count + 5 > fixed.size()) {
            grown.resize(header_count + 5);
            vus = grown.data();
        }
        std::size_t n = 0;
        vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[n++].u.cstr = topic;
        if (!args.key.empty()) { // an empty key is no key: the partitioner spreads them
            vus[n].vtype = RD_KAFKA_VTYPE_KEY;
            vus[n].u.mem.ptr = const_cast<char*>(args.key.data());
            vus[n++].u.mem.size = args.key.size();
        }
        vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[n].u.mem.ptr = const_cast<char*>(args.value.data());
        vus[n++].u.mem.size = args.value.size();
        vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
        vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
        vus[n++].u.ptr = op;
        for (std::size_t i = 0; i < header_count; ++i) {
            const auto& [name, value] = (*args.headers)[i];
            vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
            vus[n].u.header.name = name.c_str();
            vus[n].u.header.val = value.data();
            vus[n++].u.header.size = static_cast<ssize_t>(value.size());
        }
        rd_kafka_error_t* error = rd_kafka_produceva(in.rk, vus, n);
        if (!error)
            return RD_KAFKA_RESP_ERR_NO_ERROR;
        const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
        return err;
    }

    /// Under mutex_: queues a copy of the message until librdkafka has room.
    void wait_for_room(const produce_args& args, produce_operation* op) {
        waiting_.push_back(waiting_produce{
            op, std::string(args.topic), std::string(args.key), std::string(args.value),
            args.headers ? *args.headers : header_list{}, args.headers != nullptr});
        in_flight_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Under mutex_: hands waiting produces to librdkafka while it has room.
    void hand_over_waiting(std::vector<report>& failed) {
        while (!waiting_.empty()) {
            waiting_produce& w = waiting_.front();
            const produce_args args{w.topic, w.key, w.value, w.has_headers ? &w.headers : nullptr};
            const rd_kafka_resp_err_t err = hand_over(*current_, args, w.op);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return;
            if (err) {
                in_flight_.fetch_sub(1, std::memory_order_relaxed);
                failed.push_back({w.op, err, {}});
            }
            waiting_.pop_front();
        }
    }

    /// Starts watching `in`'s eventfd, and drains its queue once: librdkafka
    /// signals only when its queue turns non-empty, and the client may have
    /// queued events (connection errors) before the eventfd was attached --
    /// then no signal would ever come.
    void watch(const std::shared_ptr<instance>& in) {
        arm(in);
        asio::post(strand_, [self = shared_from_this(), in] { self->on_signal(in); });
    }

    void arm(const std::shared_ptr<instance>& in) {
        in->signal->fd().wait_readable([self = shared_from_this(), in](std::error_code ec) {
            if (!ec)
                self->on_signal(in);
        });
    }

    /// Takes the reports on `in`'s queue (waiting up to `wait_ms` for the
    /// first). Returns whether an error event said the client is dead.
    static bool collect(instance& in, int wait_ms, std::vector<report>& out) {
        bool fatal = false;
        while (rd_kafka_event_t* ev = rd_kafka_queue_poll(in.queue, wait_ms)) {
            wait_ms = 0;
            switch (rd_kafka_event_type(ev)) {
            case RD_KAFKA_EVENT_DR: {
                const rd_kafka_message_t* batch[256];
                std::size_t got;
                while ((got = rd_kafka_event_message_array(ev, batch, 256)) > 0)
                    for (std::size_t i = 0; i < got; ++i)
                        out.push_back({static_cast<produce_operation*>(batch[i]->_private),
                                       batch[i]->err,
                                       delivery{batch[i]->partition, batch[i]->offset}});
                break;
            }
            case RD_KAFKA_EVENT_ERROR:
                fatal = fatal || rd_kafka_event_error_is_fatal(ev);
                break;
            default:
                break;
            }
            rd_kafka_event_destroy(ev);
        }
        return fatal;
    }

    /// On the loop: `in`'s eventfd was signalled.
    void on_signal(const std::shared_ptr<instance>& in) {
        reports_.clear();
        std::vector<report> failed;
        {
            std::lock_guard lock(mutex_);
            if (closed_ || !in->rk)
                return; // closed, or retired since this was queued
            // Wait again before draining: Asio's epoll reactor is
            // edge-triggered, so a signal that came between the drain and a
            // later wait would be lost -- and librdkafka signals only when
            // its queue turns non-empty. An extra wake-up costs nothing.
            arm(in);
            in->signal->reset();
            const bool fatal = collect(*in, 0, reports_);
            in_flight_.fetch_sub(reports_.size(), std::memory_order_relaxed);
            if (fatal && !in->retiring && !fenced(*in))
                rebuild(in);
            if (in->retiring && rd_kafka_outq_len(in->rk) == 0)
                retire(in); // ends the wait just started
            hand_over_waiting(failed);
        }
        // Completions last, outside the lock and outside librdkafka: a handler
        // may produce again or destroy the producer.
        const auto finish = [](const report& r, upcall how) {
            std::error_code ec;
            if (r.err)
                ec = make_error_code(r.err);
            r.op->finish(how, ec, r.err ? delivery{} : r.where);
        };
        for (const report& r : reports_)
            finish(r, upcall::dispatch);
        for (const report& r : failed)
            finish(r, upcall::post);
    }

    /// A transactional client fenced by a newer instance with the same
    /// transactional.id. It is not rebuilt: the new client's
    /// init_transactions would fence that newer instance in turn (a zombie
    /// winning). Every later step fails with _FENCED instead.
    bool fenced(instance& in) const {
        if (options_.transactional_id.empty())
            return false;
        char why[256];
        return rd_kafka_fatal_error(in.rk, why, sizeof why) == RD_KAFKA_RESP_ERR__FENCED;
    }

    /// Under mutex_, on the loop: `old` hit a fatal error; a new client takes
    /// over and the old one's messages are purged (reported as _PURGE_*).
    void rebuild(const std::shared_ptr<instance>& old) {
        std::shared_ptr<instance> fresh;
        try {
            fresh = make_instance();
        } catch (const std::exception&) {
            return; // cannot happen with options that worked once; keep the old one
        }
        old->retiring = true;
        rd_kafka_purge(old->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                    RD_KAFKA_PURGE_F_NON_BLOCKING);
        retiring_.push_back(old);
        current_ = fresh;
        watch(fresh);
        rebuilds_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Under mutex_, on the loop: a retired client has nothing left to
    /// report; it is destroyed off the loop (rd_kafka_destroy blocks).
    void retire(const std::shared_ptr<instance>& in) {
        in->signal->fd().release();
        std::erase(retiring_, in);
        // The client itself is handed over: the last reference to `in` may
        // well drop on the loop (the wait just armed holds one).
        worker_.post([rk = std::exchange(in->rk, nullptr),
                      queue = std::exchange(in->queue, nullptr),
                      signal = std::shared_ptr<queue_signal>(std::move(in->signal))] {
            rd_kafka_queue_destroy(queue);
            rd_kafka_destroy(rk);
            // `signal` closes the eventfd now that nothing writes to it.
        });
    }

    void run_step(transaction_step step, void_operation* op) {
        std::shared_ptr<instance> in;
        {
            std::lock_guard lock(mutex_);
            if (!closed_)
                in = current_;
        }
        std::error_code ec = asio::error::operation_aborted;
        if (in) {
            const int timeout = static_cast<int>(options_.transaction_timeout.count());
            rd_kafka_error_t* error = nullptr;
            switch (step) {
            case transaction_step::begin:
                if (initialised_ != in->generation) {
                    error = rd_kafka_init_transactions(in->rk, timeout);
                    if (!error)
                        initialised_ = in->generation;
                }
                if (!error)
                    error = rd_kafka_begin_transaction(in->rk);
                break;
            case transaction_step::commit:
                error = rd_kafka_commit_transaction(in->rk, timeout);
                break;
            case transaction_step::abort:
                error = rd_kafka_abort_transaction(in->rk, timeout);
                break;
            }
            ec = {};
            if (error) {
                ec = make_error_code(rd_kafka_error_code(error));
                if (rd_kafka_error_is_fatal(error))
                    ec = make_error_code(fenced(*in) ? RD_KAFKA_RESP_ERR__FENCED
                                                     : RD_KAFKA_RESP_ERR__FATAL);
                rd_kafka_error_destroy(error);
            }
        }
        op->finish(upcall::post, ec);
    }

    asio::strand<asio::any_io_executor> strand_;
    producer_options options_;
    operation_pool* pool_ = nullptr;
    blocking_worker worker_;

    std::mutex mutex_; ///< guards what follows
    std::shared_ptr<instance> current_;
    std::vector<std::shared_ptr<instance>> retiring_;
    std::deque<waiting_produce> waiting_;
    bool closed_ = false;

    std::vector<report> reports_;   ///< on the loop only: reused between wake-ups
    std::uint64_t generations_ = 0; ///< under mutex_ (or in the constructor)
    std::uint64_t initialised_ = 0; ///< on the worker only: the client init_transactions ran on
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> rebuilds_{0};
};

operation_pool* produce_pool(const std::shared_ptr<producer_impl>& impl) {
    return impl->pool();
}

void shut_down(const std::shared_ptr<producer_impl>& impl) {
    impl->close();
}

void start_produce(const std::shared_ptr<producer_impl>& impl, const produce_args& args,
                   produce_operation* op) {
    impl->produce(args, op);
}

void cancel_produce(const std::shared_ptr<producer_impl>& impl, produce_operation* op) {
    impl->cancel(op);
}

void start_transaction_step(const std::shared_ptr<producer_impl>& impl, transaction_step step,
                            void_operation* op) {
    impl->transaction(step, op);
}

} // namespace detail

producer::producer(executor_type executor, producer_options options)
    : io_object(executor, std::move(options)), pool_(detail::produce_pool(impl_)) {
    impl_->start();
}

const producer_options& producer::options() const noexcept {
    return impl_->options();
}
std::size_t producer::in_flight() const noexcept {
    return impl_->in_flight();
}
std::size_t producer::rebuilds() const noexcept {
    return impl_->rebuilds();
}

} // namespace keel::kafka
