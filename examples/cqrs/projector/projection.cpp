#include "projection.hpp"

#include <keel/fault.hpp>
#include <keel/pg/error.hpp>
#include <keel/pg/transaction.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>

namespace cqrs::projector {

namespace {

class category : public std::error_category {
public:
    const char* name() const noexcept override { return "cqrs.projector"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::bad_event:
            return "not a well-formed order event";
        case errc::version_gap:
            return "an earlier event of the order is not applied yet";
        case errc::commit_unknown:
            return "the read model's commit outcome is unknown";
        }
        return "unknown cqrs.projector error";
    }
};

bool classify(const std::error_code& ec, keel::fault_class& out) {
    switch (static_cast<errc>(ec.value())) {
    case errc::bad_event:
        out = keel::fault_class::permanent;
        return true;
    case errc::version_gap:
    case errc::commit_unknown:
        out = keel::fault_class::transient;
        return true;
    }
    return false;
}

std::int64_t parse_int64(std::string_view text, const char* what) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        throw std::invalid_argument(std::string(what) + ": expected a decimal integer, got '" +
                                    std::string(text) + "'");
    return value;
}

int units(const order_state& s) {
    int n = 0;
    for (const auto& [sku, item] : s.items)
        n += item.quantity;
    return n;
}

namespace pg = keel::pg;

// The row's columns from the state: status and customer are what the query
// service filters on; `state` is what it returns and what the demo compares
// with the event store's replay. item_count counts units (sum of quantities).
const char* const insert_view =
    "INSERT INTO order_view (order_id, customer, status, total_cents, item_count, payment_id, "
    "cancel_reason, version, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) "
    "ON CONFLICT (order_id) DO NOTHING";
const char* const update_view =
    "UPDATE order_view SET customer = $2, status = $3, total_cents = $4, item_count = $5, "
    "payment_id = $6, cancel_reason = $7, version = $8, state = $9::jsonb, "
    "updated_at = clock_timestamp() WHERE order_id = $1";

pg::statement view_statement(const char* sql, const order_state& s) {
    return pg::statement(sql, s.order_id, s.customer, to_string(s.status), s.total_cents, units(s),
                         s.payment_id, s.cancel_reason, s.version, to_json(s).dump());
}

[[noreturn]] void fail(errc why, std::string& detail, std::string message) {
    detail = std::move(message);
    throw std::system_error(make_error_code(why), detail);
}

} // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

void register_classifier() {
    keel::register_classifier(error_category(), &classify);
}

event_message parse(const keel::kafka::message& m) {
    event_message out;
    try {
        out.event = event_from_json(nlohmann::json::parse(m.value));
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(std::string("value is not JSON: ") + e.what());
    }
    if (const auto header = keel::kafka::find_header(m.headers, "created_at_us"))
        out.created_at_us = parse_int64(*header, "header created_at_us");
    else if (m.timestamp_ms >= 0)
        out.created_at_us = m.timestamp_ms * 1000;
    return out;
}

asio::awaitable<projection_result> project(keel::pg::service& db, event_message m,
                                           std::string applied_by) {
    using asio::use_awaitable;
    const event& e = m.event;
    projection_result out;
    // Written by the body, which may run once per attempt of the pipeline.
    std::string detail;
    bool gap = false;
    auto body = [&](pg::transaction& tx) -> asio::awaitable<void> {
        out.result = outcome::applied;
        detail.clear();
        gap = false;
        // Normally one pass. The second happens only when the order had no
        // row and another replica inserted it meanwhile (a redelivery after a
        // rebalance): then its row is locked and checked like any other.
        for (int pass = 0;; ++pass) {
            const pg::result row = co_await tx.async_query(
                pg::statement("SELECT version, state::text FROM order_view WHERE order_id = $1 "
                              "FOR UPDATE",
                              e.order_id),
                use_awaitable);
            order_state state;
            const int version = row.rows() == 0 ? 0 : row.get<std::int32_t>(0, 0);
            if (version >= e.version) {
                out.result = outcome::duplicate;
                co_return;
            }
            if (e.version != version + 1) {
                // Not a failure of this transaction (nothing was written, the
                // commit is harmless): retrying it would only spin on the
                // read model. The processor's policy waits for the missing
                // event instead.
                gap = true;
                detail = "order " + e.order_id + ": event version " + std::to_string(e.version) +
                         " arrived, the read model is at version " + std::to_string(version);
                co_return;
            }
            try {
                if (row.rows() != 0)
                    state = state_from_json(nlohmann::json::parse(row.text(0, 1)));
                apply(state, e);
            } catch (const std::exception& x) {
                fail(errc::bad_event, detail,
                     "order " + e.order_id + " version " + std::to_string(e.version) + ": " +
                         x.what());
            }
            if (row.rows() != 0) {
                co_await tx.async_query(view_statement(update_view, state), use_awaitable);
                break;
            }
            const pg::result inserted =
                co_await tx.async_query(view_statement(insert_view, state), use_awaitable);
            if (inserted.affected_rows() == 1)
                break;
            if (pass > 0) // the row vanished again: nobody deletes rows, so this is a bug
                fail(errc::bad_event, detail, "order " + e.order_id + ": order_view row flickers");
        }
        // The exact instant: no detour through floating point.
        co_await tx.async_query(
            pg::statement("INSERT INTO applied_events (order_id, version, event_created_at, "
                          "applied_by) VALUES ($1, $2, COALESCE(timestamptz 'epoch' + $3::bigint "
                          "* interval '1 microsecond', clock_timestamp()), $4)",
                          e.order_id, e.version, m.created_at_us, applied_by),
            use_awaitable);
    };
    try {
        auto [ec] = co_await db.async_transaction(body, pg::isolation::read_committed,
                                                  asio::experimental::as_tuple(use_awaitable));
        if (ec == pg::errc::commit_outcome_unknown)
            ec = make_error_code(errc::commit_unknown);
        else if (!ec && gap)
            ec = make_error_code(errc::version_gap);
        out.error = ec;
    } catch (const std::exception& x) {
        out.error = make_error_code(errc::bad_event);
        detail = x.what();
    }
    if (out.error && detail.empty())
        detail = out.error.message();
    out.detail = std::move(detail);
    co_return out;
}

} // namespace cqrs::projector
