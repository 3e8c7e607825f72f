#include "relay.hpp"

#include <keel/kafka/error.hpp>
#include <keel/kafka/service.hpp>
#include <keel/pg/statement.hpp>

#include "common/schema.hpp"
#include "domain/order.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

namespace cqrs::relay {

namespace {

using asio::use_awaitable;
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(use_awaitable);

keel::kafka::producer_options producer_options_for(runtime& rt, std::string_view name) {
    rt.policies().pipeline(name); // throws std::out_of_range naming the declared ones
    const std::shared_ptr<const keel::config::document> doc = rt.policies().current();
    const keel::config::dependency* dep = doc->find(name);
    if (!dep)
        throw std::out_of_range("unknown dependency '" + std::string(name) + "'");
    return keel::kafka::options_from(*dep); // config_error for a bad section
}

std::string what(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

/// The message value: cqrs::to_json(event), compact, whatever spacing and key
/// order jsonb gave the stored payload. A payload that is not an event (it
/// never should be) still goes out, compacted, rather than blocking the
/// outbox behind it.
std::string message_value(std::string_view payload) {
    const nlohmann::json j = nlohmann::json::parse(payload);
    try {
        return cqrs::to_json(cqrs::event_from_json(j)).dump();
    } catch (const std::invalid_argument&) {
        return j.dump();
    }
}

/// Kafka fenced this relay: a newer one with the same transactional.id
/// initialised since. keel's producer then stays fenced; so must we.
bool is_fenced(const std::error_code& ec) {
    return ec == keel::kafka::make_error_code(RD_KAFKA_RESP_ERR__FENCED);
}

} // namespace

outbox_relay::outbox_relay(runtime& rt, relay_options options)
    : rt_(rt), options_(std::move(options)),
      db_(rt.io().get_executor(), rt.policies(), "outbox-db"),
      kafka_policy_(rt.policies().pipeline("outbox-kafka")),
      producer_options_(producer_options_for(rt, "outbox-kafka")), wait_timer_(rt.io()),
      stats_timer_(rt.io()) {
    // keel::kafka::service makes a plain (idempotent) producer from the
    // dependency; a transactional one needs producer_options, so the relay
    // builds its producer from the same connection section and runs it
    // under the same dependency's pipeline.
    producer_options_.transactional_id = options_.transactional_id;
    // Each blocking transactional call (init, commit, abort) well inside the
    // policy's exchange timeout, so an attempt ends by itself, committed or
    // aborted, before keel would stop waiting for it.
    producer_options_.transaction_timeout = std::chrono::seconds(10);
    producer_ = std::make_unique<keel::kafka::producer>(rt.io().get_executor(), producer_options_);

    scan_options_.bootstrap_servers = producer_options_.bootstrap_servers;
    scan_options_.properties = producer_options_.properties;
    scan_options_.topic = options_.topic;
    // A batch puts at most --batch messages in one partition; a few batches'
    // worth reaches past the aborted attempts of the last one.
    scan_options_.window = std::max<std::int64_t>(4 * options_.batch, 1000);
}

outbox_relay::~outbox_relay() = default;

void outbox_relay::stop() {
    stopping_ = true;
    wait_timer_.cancel();
    stats_timer_.cancel();
    if (publishing_) // ends a retry's backoff at once; an attempt runs to its end
        publish_cancel_.emit(asio::cancellation_type::terminal);
}

asio::awaitable<void> outbox_relay::run() {
    rt_.log("start: topic " + options_.topic + ", transactional.id " + options_.transactional_id +
            ", batch " + std::to_string(options_.batch) + ", poll " +
            std::to_string(options_.poll.count()) + " ms, kafka " +
            producer_options_.bootstrap_servers);
    asio::co_spawn(rt_.io(), report_progress(), asio::detached);

    // Each step below is retried by its keel policy; one that still fails is
    // logged and tried again after a pause, until it works or we stop.
    // (No co_await inside a catch block: C++ forbids it, hence `failure`.)
    bool schema_applied = false;
    bool fenced = false;
    bool need_recovery = true;
    while (!stopping_) {
        std::string failure;
        std::optional<std::int64_t> claimed;
        try {
            if (!schema_applied) {
                co_await cqrs::apply_schema(db_, cqrs::schema::event_store);
                schema_applied = true;
            }
            if (!fenced) {
                co_await fence();
                fenced = true;
                if (stopping_)
                    continue; // fenced by a newer relay meanwhile
            }
            if (need_recovery) {
                co_await recover();
                need_recovery = false;
                continue;
            }
        } catch (const std::exception& e) {
            failure = std::string(!schema_applied ? "applying the schema"
                                  : !fenced       ? "fencing"
                                                  : "recovery") +
                      " failed: " + e.what();
        }
        if (failure.empty()) {
            try {
                claimed = co_await claim();
            } catch (const std::exception& e) {
                // Its commit may have happened (the connection broke on the
                // way): a batch we do not know of may be in_flight. Recovery
                // finds it.
                failure = std::string("claiming a batch failed: ") + e.what();
                need_recovery = true;
            }
        }
        if (failure.empty() && claimed) {
            try {
                co_await deliver(co_await load(*claimed));
            } catch (const std::exception& e) {
                // The batch stays in_flight: recovery decides from the topic.
                failure = "batch " + std::to_string(*claimed) + " not finished: " + e.what();
                need_recovery = true;
            }
        }
        if (!failure.empty()) {
            rt_.log(failure + "; again in " + std::to_string(options_.pause.count()) + " ms");
            co_await sleep(options_.pause);
        } else if (!claimed) {
            co_await sleep(options_.poll); // the outbox is empty: look again soon
        }
    }
    rt_.log("shutdown: " + std::to_string(batches_) + " batches, " + std::to_string(events_) +
            " events relayed; recoveries: " + std::to_string(recovered_published_) +
            " found published, " + std::to_string(recovered_again_) + " published again; " +
            std::to_string(failed_attempts_) + " failed Kafka attempts");
    // Close the producer here, on the running loop: its close posts the
    // release of its queue watchers, which must run before the loop stops
    // (destroyed with the loop's queue instead, they crashed at exit).
    rebuilt_ += producer_->rebuilds();
    producer_.reset();
    if (fenced_)
        throw std::runtime_error("fenced: a newer relay with transactional.id " +
                                 options_.transactional_id +
                                 " took over (it resolves the batch left in flight)");
}

asio::awaitable<void> outbox_relay::fence() {
    // init_transactions (in the first begin) with our transactional.id bumps
    // the producer epoch: a predecessor still alive is fenced, and the
    // transaction it left open is finished by the coordinator (aborted, or
    // committed if its commit had been received). Only after that does the
    // tail of the topic say what was published.
    auto [ec] = co_await producer_->async_begin_transaction(as_tuple_awaitable);
    if (!ec)
        std::tie(ec) = co_await producer_->async_abort_transaction(as_tuple_awaitable);
    if (is_fenced(ec)) {
        // Another relay started after us: it is the one to run.
        fenced_ = true;
        stop();
        co_return;
    }
    if (ec) {
        // A producer that cannot begin is replaced rather than trusted.
        rebuild_producer();
        throw std::system_error(ec, "Kafka init_transactions (fencing " +
                                        options_.transactional_id + ")");
    }
    rt_.log("fenced earlier producers of transactional.id " + options_.transactional_id);
}

asio::awaitable<void> outbox_relay::recover() {
    const keel::pg::result in_flight = co_await db_.async_query(
        keel::pg::idempotent("SELECT id FROM relay_batches WHERE state = 'in_flight' ORDER BY id"),
        use_awaitable);
    // One at most (the next batch is claimed only after the previous one was
    // marked), but nothing here depends on it.
    for (int i = 0; i < in_flight.rows() && !stopping_; ++i) {
        const batch b = co_await load(in_flight.get<std::int64_t>(i, 0));
        const std::set<std::int64_t> seen = co_await scan_tail(b.id);
        const batch missing = missing_from(b, seen);
        const std::string counted = std::to_string(b.rows.size() - missing.rows.size()) + " of " +
                                    std::to_string(b.rows.size()) + " events in the topic";
        if (missing.rows.empty()) {
            rt_.log("recovery: batch " + std::to_string(b.id) + ": " + counted +
                    ", marked published");
            co_await mark_published(b.id);
            ++recovered_published_;
        } else {
            rt_.log("recovery: batch " + std::to_string(b.id) + ": " + counted +
                    ", publishing the other " + std::to_string(missing.rows.size()));
            ++recovered_again_;
            co_await deliver(missing);
        }
    }
}

batch outbox_relay::missing_from(const batch& b, const std::set<std::int64_t>& seen) {
    // Some but not all of a batch is seen only where aborted messages are
    // (librdkafka's mock cluster; on Kafka a read_committed reader sees a
    // transaction whole or not at all). What is seen there is what every
    // consumer gets, so publishing just the rest keeps each event once.
    // The seen ones are a prefix of the batch in each partition (an
    // idempotent producer appends in order), so the rest keeps the order.
    batch missing;
    missing.id = b.id;
    for (const outbox_row& row : b.rows)
        if (!seen.count(row.id))
            missing.rows.push_back(row);
    return missing;
}

asio::awaitable<std::optional<std::int64_t>> outbox_relay::claim() {
    // One statement, so one transaction: pick the oldest unbatched rows, make
    // a batch for them if there are any, and stamp them with it. Rows are
    // picked by `batch_id IS NULL`, not above a high-water id: bigserial ids
    // are taken at insert but become visible at commit, so a lower id can
    // appear after a higher one was relayed. Not idempotent (a second run
    // makes a second batch): keel does not resend it after a lost connection,
    // and run() then looks for an in_flight batch it does not know of.
    const keel::pg::result r = co_await db_.async_query(keel::pg::statement(
                                                            R"sql(WITH picked AS (
    SELECT id FROM outbox WHERE batch_id IS NULL ORDER BY id LIMIT $1 FOR UPDATE
), made AS (
    INSERT INTO relay_batches (state) SELECT 'in_flight' WHERE EXISTS (SELECT 1 FROM picked)
    RETURNING id
), stamped AS (
    UPDATE outbox SET batch_id = made.id FROM made WHERE outbox.id IN (SELECT id FROM picked)
    RETURNING outbox.id
)
SELECT made.id, (SELECT count(*) FROM stamped) FROM made)sql",
                                                            options_.batch),
                                                        use_awaitable);
    if (r.rows() == 0)
        co_return std::nullopt;
    co_return r.get<std::int64_t>(0, 0);
}

asio::awaitable<batch> outbox_relay::load(std::int64_t batch_id) {
    const keel::pg::result r =
        co_await db_.async_query(keel::pg::idempotent(
                                     R"sql(SELECT id, order_id, payload::text, payload->>'type',
       (extract(epoch FROM created_at) * 1000000)::bigint
FROM outbox WHERE batch_id = $1 ORDER BY id)sql",
                                     batch_id),
                                 use_awaitable);
    batch b;
    b.id = batch_id;
    b.rows.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
        outbox_row row;
        row.id = r.get<std::int64_t>(i, 0);
        row.order_id = r.get<std::string>(i, 1);
        row.value = message_value(r.text(i, 2));
        row.type = std::string(r.text(i, 3));
        row.created_at_us = r.get<std::int64_t>(i, 4);
        b.rows.push_back(std::move(row));
    }
    co_return b;
}

asio::awaitable<void> outbox_relay::deliver(const batch& b) {
    // The same batch (same id, same rows) until Kafka has it: an aborted
    // transaction left nothing a read_committed consumer sees.
    while (true) {
        const std::error_code ec = co_await publish(b);
        if (!ec)
            break;
        if (stopping_) {
            rt_.log("shutdown: batch " + std::to_string(b.id) +
                    " abandoned (its transaction was aborted; it stays in_flight and the "
                    "next start resolves it)");
            co_return;
        }
        if (is_fenced(ec)) {
            // A new client would fence the newer relay in turn: stop instead.
            rt_.log("batch " + std::to_string(b.id) +
                    ": fenced by a newer relay with the same transactional.id; stopping (the "
                    "batch stays in_flight for it)");
            fenced_ = true;
            stop();
            co_return;
        }
        rt_.log("batch " + std::to_string(b.id) + ": Kafka failed past the outbox-kafka policy (" +
                ec.message() + "; last: " + last_error_ + "); new producer, again in " +
                std::to_string(options_.pause.count()) + " ms");
        // What keel did not fix by retrying, a fresh client may (it fences
        // the old one with a new epoch).
        rebuild_producer();
        co_await sleep(options_.pause);
        if (stopping_)
            co_return;
    }
    ++batches_;
    events_ += b.rows.size();
    // Published: marking it is idempotent, so retried until it sticks; if we
    // stop first, recovery finds it in the topic and marks it then.
    while (true) {
        try {
            co_await mark_published(b.id);
            co_return;
        } catch (const std::exception& e) {
            if (stopping_) {
                rt_.log("shutdown: batch " + std::to_string(b.id) + " published but not marked (" +
                        e.what() + "); the next start marks it");
                co_return;
            }
            rt_.log("marking batch " + std::to_string(b.id) + " published failed, again in " +
                    std::to_string(options_.pause.count()) + " ms: " + e.what());
        }
        co_await sleep(options_.pause);
    }
}

asio::awaitable<std::error_code> outbox_relay::publish(const batch& b) {
    // One pipeline call per batch, one Kafka transaction per attempt: the
    // outbox-kafka policy decides how often and how long to try.
    publishing_ = true;
    auto [ec] = co_await kafka_policy_.async_run<void(std::error_code)>(
        [this, &b](const keel::attempt& a, auto&& token) {
            return asio::async_initiate<decltype(token), void(std::error_code)>(
                [this, &b, number = a.number()](auto handler) {
                    // The attempt ignores the pipeline's cancellation on
                    // purpose: it always ends with its transaction committed
                    // or aborted, and reports success if it committed, which
                    // keel then never retries.
                    asio::co_spawn(rt_.io(), attempt(b, number),
                                   [this, handler = std::move(handler)](
                                       std::exception_ptr e, std::error_code ec) mutable {
                                       if (e) {
                                           last_error_ = what(e);
                                           ec = std::make_error_code(std::errc::io_error);
                                       }
                                       std::move(handler)(ec);
                                   });
                },
                token);
        },
        asio::bind_cancellation_slot(publish_cancel_.slot(), as_tuple_awaitable));
    publishing_ = false;
    publish_cancel_.slot().clear();
    co_return ec;
}

asio::awaitable<std::error_code> outbox_relay::attempt(const batch& b, int number) {
    keel::kafka::producer& p = *producer_;
    const std::string name = "batch " + std::to_string(b.id) + " attempt " + std::to_string(number);
    auto failed = [&](std::string_view step, std::error_code ec) {
        ++failed_attempts_;
        look_before_publishing_ = true;
        last_error_ = std::string(step) + ": " + ec.message();
        rt_.log(name + ": " + last_error_ + " (transaction aborted)");
    };

    if (auto [ec] = co_await p.async_begin_transaction(as_tuple_awaitable); ec) {
        // A transaction left needing an abort refuses begin: abort it now.
        co_await p.async_abort_transaction(as_tuple_awaitable);
        failed("begin", ec);
        co_return ec;
    }
    // After a failed attempt, what it got out may be in the topic: a commit
    // that failed may have gone through, and librdkafka's mock cluster shows
    // even an aborted attempt's messages. This begin has settled the old
    // transaction, so the topic's tail says what is there; only the rest is
    // published.
    batch rest;
    const batch* to_publish = &b;
    if (look_before_publishing_) {
        std::optional<std::set<std::int64_t>> seen;
        std::string scan_failure;
        try {
            seen = co_await scan_tail(b.id);
        } catch (const std::exception& e) {
            scan_failure = e.what();
        }
        if (!seen) {
            co_await p.async_abort_transaction(as_tuple_awaitable);
            failed("reading the topic's tail: " + scan_failure,
                   std::make_error_code(std::errc::io_error));
            co_return std::make_error_code(std::errc::io_error);
        }
        look_before_publishing_ = false;
        rest = missing_from(b, *seen);
        if (rest.rows.empty()) {
            co_await p.async_abort_transaction(as_tuple_awaitable);
            rt_.log(name + ": all " + std::to_string(b.rows.size()) +
                    " events are in the topic already (the last attempt got them out); not "
                    "published again");
            co_return std::error_code();
        }
        if (rest.rows.size() < b.rows.size())
            rt_.log(name + ": " + std::to_string(b.rows.size() - rest.rows.size()) + " of " +
                    std::to_string(b.rows.size()) +
                    " events are in the topic already; publishing the other " +
                    std::to_string(rest.rows.size()));
        to_publish = &rest;
    }
    if (const std::error_code ec = co_await produce_all(*to_publish)) {
        co_await p.async_abort_transaction(as_tuple_awaitable);
        failed("produce", ec);
        co_return ec;
    }
    if (auto [ec] = co_await p.async_commit_transaction(as_tuple_awaitable); ec) {
        co_await p.async_abort_transaction(as_tuple_awaitable);
        failed("commit", ec);
        co_return ec;
    }
    co_return std::error_code();
}

asio::awaitable<std::error_code> outbox_relay::produce_all(const batch& b) {
    // Every row handed to librdkafka at once, in id order: with idempotence
    // (implied by transactions) a partition keeps that order, and key =
    // order_id puts an order's events in one partition, so they reach it in
    // version order. Then one wait for all the delivery reports.
    struct progress {
        std::size_t left;
        std::error_code first;
    };
    auto state = std::make_shared<progress>(progress{b.rows.size(), {}});
    if (b.rows.empty())
        co_return std::error_code();
    // The initiation captures only references (see scan_tail: g++ 12
    // destroys a by-value capture of an initiation inside co_await twice;
    // ASan caught a shared_ptr captured here freed under its last handler).
    const std::shared_ptr<progress>& shared_state = state;
    auto [ec] = co_await asio::async_initiate<decltype(as_tuple_awaitable), void(std::error_code)>(
        [this, &b, &shared_state](auto handler) {
            const std::shared_ptr<progress> state = shared_state;
            auto done = std::make_shared<decltype(handler)>(std::move(handler));
            const std::string batch_id = std::to_string(b.id);
            for (const outbox_row& row : b.rows) {
                const keel::kafka::header_list headers{
                    {"outbox_id", std::to_string(row.id)},
                    {"relay_batch", batch_id},
                    {"created_at_us", std::to_string(row.created_at_us)},
                    {"event_type", row.type},
                };
                producer_->async_produce(options_.topic, row.order_id, row.value, headers,
                                         [state, done](std::error_code ec, keel::kafka::delivery) {
                                             if (ec && !state->first)
                                                 state->first = ec;
                                             if (--state->left == 0)
                                                 std::move (*done)(state->first);
                                         });
            }
        },
        as_tuple_awaitable);
    co_return ec;
}

asio::awaitable<void> outbox_relay::mark_published(std::int64_t batch_id) {
    co_await db_.async_query(
        keel::pg::idempotent("UPDATE relay_batches SET state = 'published', published_at = "
                             "clock_timestamp() WHERE id = $1 AND state = 'in_flight'",
                             batch_id),
        use_awaitable);
}

asio::awaitable<std::set<std::int64_t>> outbox_relay::scan_tail(std::int64_t batch_id) {
    // librdkafka's blocking calls on the relay's worker thread; the loop
    // goes on (a work guard keeps it alive until the answer is posted back).
    // The initiation captures only pointers and an integer: g++ 12 destroys
    // a by-value capture of an initiation inside co_await twice (a
    // shared_ptr captured here was freed twice; TSan and ASan saw it).
    const tail_scan_options* options = &scan_options_; // the worker is joined before it goes
    asio::io_context* io = &rt_.io();
    asio::thread_pool* worker = &scan_worker_;
    co_return co_await asio::async_initiate<decltype(use_awaitable),
                                            void(std::exception_ptr, std::set<std::int64_t>)>(
        [options, io, worker, batch_id](auto handler) {
            asio::post(*worker, [options, batch_id, handler = std::move(handler),
                                 work = asio::make_work_guard(*io)]() mutable {
                std::exception_ptr error;
                std::set<std::int64_t> found;
                try {
                    found = outbox_ids_of_batch(*options, batch_id);
                } catch (...) {
                    error = std::current_exception();
                }
                asio::post(work.get_executor(), [handler = std::move(handler), error,
                                                 found = std::move(found)]() mutable {
                    std::move(handler)(error, std::move(found));
                });
            });
        },
        use_awaitable);
}

asio::awaitable<void> outbox_relay::sleep(std::chrono::milliseconds d) {
    if (stopping_)
        co_return;
    wait_timer_.expires_after(d);
    co_await wait_timer_.async_wait(as_tuple_awaitable); // cancelled by stop()
}

asio::awaitable<void> outbox_relay::report_progress() {
    std::uint64_t events_before = 0;
    std::uint64_t failed_before = 0;
    auto before = std::chrono::steady_clock::now();
    while (!stopping_) {
        stats_timer_.expires_after(options_.stats_every);
        auto [ec] = co_await stats_timer_.async_wait(as_tuple_awaitable);
        if (ec || stopping_)
            co_return;
        const auto now = std::chrono::steady_clock::now();
        if (events_ == events_before && failed_attempts_ == failed_before) {
            before = now; // idle and healthy: nothing to say
            continue;
        }
        const double seconds = std::chrono::duration<double>(now - before).count();
        const auto rate = static_cast<long long>(
            seconds > 0 ? static_cast<double>(events_ - events_before) / seconds : 0.0);
        rt_.log("relayed " + std::to_string(batches_) + " batches, " + std::to_string(events_) +
                " events (" + std::to_string(rate) + " events/s lately); " +
                std::to_string(failed_attempts_) + " failed Kafka attempts, " +
                std::to_string(rebuilt_ + (producer_ ? producer_->rebuilds() : 0)) +
                " producer rebuilds");
        events_before = events_;
        failed_before = failed_attempts_;
        before = now;
    }
}

void outbox_relay::rebuild_producer() {
    // Blocks the loop while the old client is closed (its worker finishes a
    // transactional call, queued messages are purged): rare, and nothing
    // else of this service needs the loop meanwhile but /metrics.
    rebuilt_ += 1 + producer_->rebuilds();
    producer_.reset();
    producer_ = std::make_unique<keel::kafka::producer>(rt_.io().get_executor(), producer_options_);
}

} // namespace cqrs::relay
