// The two databases of the CQRS example, as SQL: one statement per entry
// (libpq's extended protocol runs one at a time). Each service applies the
// schema it uses when it starts, in one transaction whose first statement
// takes an advisory lock, so two replicas starting together do not race on
// CREATE TABLE; every statement is idempotent (IF NOT EXISTS).
#pragma once

#include <string_view>

namespace cqrs::schema {

/// The write model's database: the event store (no "orders" table: an order
/// is its events), snapshots, and the transactional outbox with the relay's
/// batches. Used by the order service, the outbox relay and the demo's check.
inline constexpr std::string_view event_store[] = {
    R"sql(SELECT pg_advisory_xact_lock(7242001))sql",
    R"sql(CREATE TABLE IF NOT EXISTS events (
    order_id   text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    type       text        NOT NULL,
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (order_id, version)      -- optimistic concurrency: one writer per version
))sql",
    R"sql(CREATE TABLE IF NOT EXISTS snapshots (
    order_id text    PRIMARY KEY,
    version  integer NOT NULL,
    state    jsonb   NOT NULL            -- cqrs::to_json(order_state)
))sql",
    R"sql(CREATE TABLE IF NOT EXISTS relay_batches (
    id           bigserial   PRIMARY KEY,
    state        text        NOT NULL CHECK (state IN ('in_flight', 'published')),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
))sql",
    R"sql(CREATE TABLE IF NOT EXISTS outbox (
    id         bigserial   PRIMARY KEY,
    order_id   text        NOT NULL,
    version    integer     NOT NULL,
    payload    jsonb       NOT NULL,     -- cqrs::to_json(event), the Kafka message value
    created_at timestamptz NOT NULL,     -- the event's created_at
    batch_id   bigint      REFERENCES relay_batches (id),
    UNIQUE (order_id, version)
))sql",
    R"sql(CREATE INDEX IF NOT EXISTS outbox_unbatched ON outbox (id) WHERE batch_id IS NULL)sql",
};

/// The read model's own database: the projection and the record of every
/// event applied to it (its primary key makes a second application of the
/// same event fail instead of counting twice).
inline constexpr std::string_view read_model[] = {
    R"sql(SELECT pg_advisory_xact_lock(7242002))sql",
    R"sql(CREATE TABLE IF NOT EXISTS order_view (
    order_id      text        PRIMARY KEY,
    customer      text        NOT NULL,
    status        text        NOT NULL,
    total_cents   bigint      NOT NULL,
    item_count    integer     NOT NULL,
    payment_id    text        NOT NULL,
    cancel_reason text        NOT NULL,
    version       integer     NOT NULL,
    state         jsonb       NOT NULL,  -- cqrs::to_json(order_state)
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
))sql",
    R"sql(CREATE INDEX IF NOT EXISTS order_view_status ON order_view (status, order_id))sql",
    R"sql(CREATE INDEX IF NOT EXISTS order_view_customer ON order_view (customer, order_id))sql",
    R"sql(CREATE TABLE IF NOT EXISTS applied_events (
    order_id         text        NOT NULL,
    version          integer     NOT NULL,
    event_created_at timestamptz NOT NULL,  -- from the message's created_at header
    applied_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by       text        NOT NULL,  -- the projector replica
    PRIMARY KEY (order_id, version)
))sql",
};

} // namespace cqrs::schema
