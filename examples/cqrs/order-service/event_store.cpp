#include "event_store.hpp"

#include <keel/pg/error.hpp>
#include <keel/pg/service.hpp>

#include "commands.hpp"
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace cqrs::orders {

namespace {

constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// Snapshot first (the row whose type is NULL), then the events after it, in
// one statement: one round trip, and one MVCC snapshot, so the pair agrees.
constexpr const char* load_sql = R"sql(
WITH s AS (SELECT version, state FROM snapshots WHERE order_id = $1)
SELECT version, NULL::text AS type, state AS data FROM s
UNION ALL
SELECT version, type, data FROM events
 WHERE order_id = $1 AND version > COALESCE((SELECT version FROM s), 0)
ORDER BY version)sql";

// The outbox row takes the event row's own created_at, so the relay's
// created_at_us header is the event's time, to the microsecond.
constexpr const char* append_sql = R"sql(
WITH e AS (
  INSERT INTO events (order_id, version, type, data) VALUES ($1, $2, $3, $4::jsonb)
  RETURNING order_id, version, created_at)
INSERT INTO outbox (order_id, version, payload, created_at)
SELECT order_id, version, $5::jsonb, created_at FROM e)sql";

// Snapshots only move forward: a slow writer never replaces a newer one.
constexpr const char* snapshot_sql = R"sql(
INSERT INTO snapshots (order_id, version, state) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state
 WHERE snapshots.version < EXCLUDED.version)sql";

/// What the attempts of one append share (all on the service's one loop).
struct append_job {
    std::vector<event> events;
    std::optional<order_state> snapshot;
    /// The transaction id of the latest attempt, once its body has sent
    /// every statement: if its COMMIT is lost, txid_status() tells.
    long long txid = 0;
    bool body_finished = false;
    /// The server's message for the last statement it refused.
    std::string server_error;
};

asio::awaitable<keel::pg::result> run(keel::pg::transaction& tx, append_job& job,
                                      keel::pg::statement s) {
    auto [ec, rows] = co_await tx.async_query(std::move(s), tuple_awaitable);
    if (ec) {
        if (!rows.error_message().empty())
            job.server_error = std::string(rows.error_message());
        throw std::system_error(ec);
    }
    co_return rows;
}

// Every statement is a named local: g++ 12 mishandles temporaries that live
// across a co_await (they are destroyed twice), so none is made in one.
asio::awaitable<void> append_body(keel::pg::transaction& tx, std::shared_ptr<append_job> job) {
    job->body_finished = false;
    job->txid = 0;
    keel::pg::statement begin("SELECT txid_current()");
    const auto xid = co_await run(tx, *job, std::move(begin));
    const long long txid = xid.get<std::int64_t>(0, 0);
    for (const event& e : job->events) {
        keel::pg::statement insert(append_sql, e.order_id, e.version, e.type, e.data.dump(),
                                   to_json(e).dump());
        co_await run(tx, *job, std::move(insert));
    }
    if (job->snapshot) {
        keel::pg::statement upsert(snapshot_sql, job->snapshot->order_id, job->snapshot->version,
                                   to_json(*job->snapshot).dump());
        co_await run(tx, *job, std::move(upsert));
    }
    job->txid = txid;
    job->body_finished = true;
}

} // namespace

std::string describe_failure(const std::error_code& ec, const keel::call_report& report,
                             const std::string& detail) {
    std::string message = ec.message();
    if (!detail.empty()) {
        // libpq's messages span lines ("...refused\n\tIs the server running"):
        // one line in a log and a JSON message reads better.
        message += ": ";
        bool blank = true;
        for (char c : detail) {
            const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
            if (!space || !blank)
                message += space ? ' ' : c;
            blank = space;
        }
        while (!message.empty() && message.back() == ' ')
            message.pop_back();
    }
    if (report.last_operation_error && report.last_operation_error != ec)
        message += "; last error: " + report.last_operation_error.message();
    if (report.attempts > 1)
        message += " (after " + std::to_string(report.attempts) + " attempts)";
    return message;
}

asio::awaitable<order_state> event_store::load(std::string order_id) {
    keel::call_report report;
    keel::pg::statement read = keel::pg::idempotent(load_sql, order_id);
    auto [ec, rows] = co_await db_.async_query(std::move(read), report, tuple_awaitable);
    if (ec)
        throw dependency_failure("event-store",
                                 describe_failure(ec, report, std::string(rows.error_message())));
    order_state state;
    for (int r = 0; r < rows.rows(); ++r) {
        auto data = nlohmann::json::parse(rows.text(r, 2));
        if (rows.is_null(r, 1)) {
            state = state_from_json(data);
            continue;
        }
        apply(state,
              event{order_id, rows.get<int>(r, 0), rows.get<std::string>(r, 1), std::move(data)});
    }
    if (state.order_id.empty())
        state.order_id = order_id; // a fresh order: decide() names it in refusals
    co_return state;
}

asio::awaitable<append_result> event_store::append(order_state before, std::vector<event> events) {
    auto job = std::make_shared<append_job>();
    const order_state after = replay(events, before);
    if (snapshot_due(before.version, after.version, snapshot_every_))
        job->snapshot = after;
    job->events = std::move(events);

    keel::call_report report;
    keel::pg::transaction_function body = [job](keel::pg::transaction& tx) {
        return append_body(tx, job);
    };
    auto [ec] = co_await db_.async_transaction(std::move(body), keel::pg::isolation::read_committed,
                                               report, tuple_awaitable);
    if (!ec)
        co_return append_result::appended;
    if (ec == keel::pg::sqlstate("23505"))
        co_return append_result::lost_race;
    // Not a refusal from the server: the connection broke or the deadline
    // struck. If that was during COMMIT the transaction may have committed,
    // and appending again would answer 409 for a command that was applied.
    if (ec.category() != keel::pg::sqlstate_category() && job->body_finished && job->txid != 0) {
        const outcome known = co_await outcome_of(job->txid, job->events.front());
        if (log_)
            log_("append to " + before.order_id + " at version " + std::to_string(before.version) +
                 ": " + ec.message() + "; the event store says " +
                 (known == outcome::committed ? "committed"
                  : known == outcome::aborted ? "aborted"
                                              : "still unknown"));
        if (known == outcome::committed)
            co_return append_result::appended;
        if (known == outcome::aborted)
            co_return append_result::rolled_back;
        // Still running: it may commit after we answer, so deciding again
        // could apply the command twice. The client's expected_version tells.
    }
    throw dependency_failure("event-store", describe_failure(ec, report, job->server_error));
}

asio::awaitable<event_store::outcome> event_store::outcome_of(long long txid, const event& first) {
    // txid_status() says whether the transaction is still running ('in
    // progress' while the backend has not yet seen that its client is
    // gone). Its 'committed' is not trusted on its own: after a crash
    // (PostgreSQL restarted with the COMMIT in flight), an id whose WAL was
    // never flushed is handed out again, and txid_status() then reports on
    // the new transaction. So once nothing is in progress, the rows decide:
    // the first event is there, as we wrote it, or it is not.
    for (int round = 0; round < 20; ++round) {
        keel::call_report report;
        keel::pg::statement status_of = keel::pg::idempotent("SELECT txid_status($1)", txid);
        auto [ec, rows] = co_await db_.async_query(std::move(status_of), report, tuple_awaitable);
        if (ec)
            throw dependency_failure(
                "event-store", "the outcome of an append is unknown and could not be checked: " +
                                   describe_failure(ec, report, std::string(rows.error_message())));
        if (rows.rows() == 1 && !rows.is_null(0, 0) && rows.text(0, 0) == "in progress") {
            asio::steady_timer pause(co_await asio::this_coro::executor,
                                     std::chrono::milliseconds(50));
            co_await pause.async_wait(asio::use_awaitable);
            continue;
        }
        keel::pg::statement written = keel::pg::idempotent(
            "SELECT type, data::text FROM events WHERE order_id = $1 AND version = $2",
            first.order_id, first.version);
        auto [read_error, found] =
            co_await db_.async_query(std::move(written), report, tuple_awaitable);
        if (read_error)
            throw dependency_failure(
                "event-store",
                "the outcome of an append is unknown and could not be checked: " +
                    describe_failure(read_error, report, std::string(found.error_message())));
        if (found.rows() == 0)
            co_return outcome::aborted;
        // Another writer's event at this version is a lost race, not ours.
        const bool ours =
            found.text(0, 0) == first.type && nlohmann::json::parse(found.text(0, 1)) == first.data;
        co_return ours ? outcome::committed : outcome::aborted;
    }
    co_return outcome::unknown;
}

} // namespace cqrs::orders
