// keel::kafka::producer: publishes to Kafka with librdkafka, its delivery
// reports brought to the Asio loop through an eventfd (no poll thread).
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/initiate_call.hpp>
#include <keel/detail/io_object.hpp>
#include <keel/detail/shared_completion.hpp>
#include <keel/kafka/error.hpp>
#include <keel/kafka/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::kafka {

struct producer_options {
    /// "host:port,host:port"; keel-kafka-mock prints one for a local cluster.
    std::string bootstrap_servers;
    /// librdkafka properties, applied after keel's defaults (and overriding
    /// them), e.g. {"linger.ms", "5"}, {"message.timeout.ms", "30000"}.
    property_list properties;
    /// enable.idempotence: librdkafka's own retries do not duplicate or
    /// reorder a partition's messages. On by default.
    bool idempotent = true;
    /// Non-empty: a transactional producer (implies idempotence). Use
    /// async_begin_transaction / async_commit_transaction around produces.
    std::string transactional_id;
    /// Bound on each blocking transactional call (init, begin, commit, abort).
    std::chrono::milliseconds transaction_timeout{30000};
};

namespace detail {

class producer_impl;

/// Aborts what is still waiting and destroys the client (blocking).
void shut_down(const std::shared_ptr<producer_impl>& impl);
// A report (librdkafka's thread, or the loop) and a cancellation can race
// to finish a produce: its completion is shared.
using produce_operation = keel::detail::shared_completion<std::error_code, delivery>;
using void_operation = keel::detail::shared_completion<std::error_code>;

struct produce_args {
    std::string_view topic;
    std::string_view key;
    std::string_view value;
    const header_list* headers = nullptr;
};

/// Where the producer's produce operations are allocated.
keel::detail::operation_pool* produce_pool(const std::shared_ptr<producer_impl>& impl);

/// Hands `op` (and its reference) to the producer: to librdkafka, to the
/// queue of produces waiting for room, or straight to a failure.
void start_produce(const std::shared_ptr<producer_impl>& impl, const produce_args& args,
                   produce_operation* op);
/// Ends the wait of `op` with operation_aborted if it is still waiting.
void cancel_produce(const std::shared_ptr<producer_impl>& impl, produce_operation* op);

enum class transaction_step { begin, commit, abort };
void start_transaction_step(const std::shared_ptr<producer_impl>& impl, transaction_step step,
                            void_operation* op);

} // namespace detail

/// A Kafka producer on an executor. Thread-safe; like an Asio I/O object it
/// must outlive its calls. Destroying it aborts the produces still waiting
/// (operation_aborted; they may still have been delivered) and blocks until
/// librdkafka's threads have stopped.
///
/// What librdkafka does and what keel does: librdkafka batches, retries
/// retriable errors and reconnects on its own until message.timeout.ms
/// (the delivery timeout) expires; a produce completes only with its final
/// outcome. keel's retry policy (async_call) governs what happens after
/// such a final failure: a new produce of the same message, which may
/// duplicate it if the first one reached the broker after all. A produce
/// whose wait was cancelled (or timed out by a pipeline) may still be
/// delivered: consumers must dedupe by an event id they carry in the
/// message, or use a transactional producer.
class producer : public keel::detail::io_object<detail::producer_impl> {
public:
    /// Throws std::invalid_argument naming a property librdkafka refused
    /// (and why), std::runtime_error if librdkafka cannot make the client.
    producer(executor_type executor, producer_options options);

    const producer_options& options() const noexcept;

    /// Produces one message (librdkafka copies the data before the
    /// initiation returns).
    ///
    /// Completion signature: `void(std::error_code, delivery)`, once
    /// librdkafka reports the final outcome.
    ///
    /// Errors: none with the partition and offset; a kafka_category() error
    /// (e.g. _MSG_TIMED_OUT after message.timeout.ms, MSG_SIZE_TOO_LARGE,
    /// TOPIC_AUTHORIZATION_FAILED, _FATAL after which the producer has been
    /// rebuilt); operation_aborted when cancelled or when the producer is
    /// destroyed first (the message may still have been delivered).
    ///
    /// Backpressure: when librdkafka's queue is full (queue.buffering.max.*)
    /// the produce waits for room, in order; it does not fail.
    ///
    /// Per-operation cancellation: terminal, partial and total alike end the
    /// wait at once with operation_aborted. What it leaves behind: a message
    /// still waiting for room is never sent; one already handed to
    /// librdkafka cannot be recalled and may still be delivered (its report
    /// is then ignored): consumers dedupe by an event id.
    ///
    /// Lifetimes: the producer must outlive the call; topic, key, value and
    /// headers are copied before the initiation returns (with a deferred
    /// token, keep them valid until it is initiated).
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_produce(std::string_view topic, std::string_view key, std::string_view value,
                       const header_list& headers,
                       Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, delivery)>(
            initiate_produce{{this}}, token, detail::produce_args{topic, key, value, &headers});
    }

    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_produce(std::string_view topic, std::string_view key, std::string_view value,
                       Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, delivery)>(
            initiate_produce{{this}}, token, detail::produce_args{topic, key, value, nullptr});
    }

    /// Produces through `pipeline`: after a final failure the policy decides
    /// whether to produce again (a retry may duplicate a message whose
    /// outcome was unknown, e.g. _MSG_TIMED_OUT).
    ///
    /// Completion signature, errors and per-operation cancellation: those of
    /// async_produce for each attempt, with what pipeline::async_run adds
    /// (deadlines, local refusals with nothing produced, cancellation
    /// between attempts); the last attempt's delivery. An attempt's exchange
    /// timeout is a terminal cancellation of its wait, not of the message.
    /// What a cancellation leaves behind: every attempt handed to librdkafka
    /// may still be delivered.
    ///
    /// Lifetimes: the producer and the pipeline must outlive the call; the
    /// message is moved in and kept until the call completes.
    template <class Pipeline, class Token = asio::default_completion_token_t<executor_type>>
    auto async_call(Pipeline&& pipeline, std::string topic, std::string key, std::string value,
                    header_list headers = {},
                    Token&& token = asio::default_completion_token_t<executor_type>()) {
        // The pipeline keeps this factory, and the message in it, until the
        // call completes. It declares no idempotent(): a produce is never
        // hedged (two at once would append the message twice).
        return pipeline.template async_run<void(std::error_code, delivery)>(
            produce_attempts{this, std::move(topic), std::move(key), std::move(value),
                             std::move(headers)},
            std::forward<Token>(token));
    }

    /// Transactions (transactional_id set). Each step is a blocking librdkafka
    /// call run on the producer's worker thread, never on the loop. begin
    /// initialises the transactional producer first when needed. commit
    /// flushes the transaction's messages first.
    ///
    /// Completion signature: `void(std::error_code)`.
    ///
    /// Errors: a kafka_category() error; on commit it means abort (then
    /// begin again); a fatal one rebuilds the producer (_FATAL), except
    /// _FENCED (a newer instance with the same transactional_id
    /// initialised): a fenced producer stays fenced, every later step
    /// failing with _FENCED, since a new client would fence that newer
    /// instance in turn. operation_aborted when the producer is destroyed
    /// first.
    ///
    /// Per-operation cancellation: none (the cancellation slot is not
    /// used): a blocking librdkafka call cannot be interrupted; bound it
    /// with producer_options::transaction_timeout.
    ///
    /// Lifetimes: the producer must outlive the call.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto
    async_begin_transaction(Token&& token = asio::default_completion_token_t<executor_type>()) {
        return transaction_step(detail::transaction_step::begin, std::forward<Token>(token));
    }
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto
    async_commit_transaction(Token&& token = asio::default_completion_token_t<executor_type>()) {
        return transaction_step(detail::transaction_step::commit, std::forward<Token>(token));
    }
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto
    async_abort_transaction(Token&& token = asio::default_completion_token_t<executor_type>()) {
        return transaction_step(detail::transaction_step::abort, std::forward<Token>(token));
    }

    /// Messages handed to librdkafka or waiting for room, not yet reported.
    std::size_t in_flight() const noexcept;
    /// How many times a fatal error made the producer rebuild its client.
    std::size_t rebuilds() const noexcept;

private:
    /// async_call's attempts: each produces the message the call keeps.
    struct produce_attempts {
        producer* self;
        std::string topic;
        std::string key;
        std::string value;
        header_list headers;

        /// A generic injected error as a produce reports that failure.
        std::error_code fault_error(std::error_code generic) const {
            return kafka::fault_error(generic);
        }
        template <class Attempt, class Token>
        auto operator()(const Attempt&, Token&& token) const {
            return self->async_produce(topic, key, value, headers, std::forward<Token>(token));
        }
    };

    struct initiate_produce : initiation<producer> {
        template <class Handler>
        void operator()(Handler&& handler, const detail::produce_args& args) const {
            keel::detail::initiate_call<keel::detail::shared_completion, std::error_code, delivery>(
                std::forward<Handler>(handler), self->executor_,
                [&](auto op) {
                    return keel::detail::make_shared_call<&detail::cancel_produce>(
                        self->impl_, std::move(op), [&](detail::produce_operation* started) {
                            detail::start_produce(self->impl_, args, started);
                        });
                },
                self->pool_);
        }
    };

    template <class Token>
    auto transaction_step(detail::transaction_step step, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [this, step](auto&& handler) {
                detail::start_transaction_step(
                    impl_, step,
                    keel::detail::make_completion<keel::detail::shared_completion, std::error_code>(
                        std::forward<decltype(handler)>(handler), executor_)
                        .release());
            },
            token);
    }

    /// The produces' memory (owned by impl_): reused, not one heap
    /// allocation per message.
    keel::detail::operation_pool* pool_;
};

} // namespace keel::kafka
