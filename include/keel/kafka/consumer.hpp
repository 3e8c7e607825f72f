// keel::kafka::consumer: a consumer group member whose messages and offset
// commits reach the Asio loop through an eventfd (no poll thread).
#pragma once

#include <keel/detail/initiate_call.hpp>
#include <keel/detail/io_object.hpp>
#include <keel/detail/shared_completion.hpp>
#include <keel/kafka/error.hpp>
#include <keel/kafka/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace keel::kafka {

struct consumer_options {
    std::string bootstrap_servers;
    /// group.id: members of one group share the topic's partitions.
    std::string group_id;
    /// librdkafka properties, applied after keel's defaults (and overriding
    /// them). keel's defaults: enable.auto.commit=false (commits are the
    /// application's: async_commit), auto.offset.reset=earliest.
    property_list properties;
};

namespace detail {

class consumer_impl;

/// Leaves the group now unless async_close did (blocking).
void shut_down(const std::shared_ptr<consumer_impl>& impl);
// A message (the loop) and a cancellation can race to finish a receive: its
// completion is shared.
using receive_operation = keel::detail::shared_completion<std::error_code, message>;
using void_operation = keel::detail::shared_completion<std::error_code>;

void start_receive(const std::shared_ptr<consumer_impl>& impl, receive_operation* op);
void cancel_receive(const std::shared_ptr<consumer_impl>& impl, receive_operation* op);
void start_commit(const std::shared_ptr<consumer_impl>& impl, const std::string& topic,
                  std::int32_t partition, std::int64_t offset, void_operation* op);
void start_close(const std::shared_ptr<consumer_impl>& impl, void_operation* op);

} // namespace detail

/// A consumer group member on an executor. Thread-safe; like an Asio I/O
/// object it must outlive its calls. Offsets are committed only by
/// async_commit: what was received but not committed is received again
/// (by this member or another) after a rebalance or a restart --
/// at-least-once. The destructor leaves the group if async_close did not
/// (blocking: prefer async_close).
class consumer : public keel::detail::io_object<detail::consumer_impl> {
public:
    /// Throws std::invalid_argument naming a property librdkafka refused.
    consumer(executor_type executor, consumer_options options);

    /// Joins the group for `topics` (replacing an earlier subscription).
    /// Partitions are assigned as async_receive runs. Throws std::system_error
    /// (kafka_category()) if librdkafka refuses.
    void subscribe(const std::vector<std::string>& topics);

    /// Receives the next message. Several receives may wait; they are
    /// served in order.
    ///
    /// Completion signature: `void(std::error_code, message)`.
    ///
    /// Errors: operation_aborted (cancelled, or the consumer closed); a
    /// kafka_category() error librdkafka cannot recover from (e.g.
    /// TOPIC_AUTHORIZATION_FAILED, _FATAL). Transport errors are not
    /// reported: librdkafka reconnects by itself.
    ///
    /// Per-operation cancellation: terminal, partial and total alike end the
    /// wait at once with operation_aborted. What it leaves behind: nothing;
    /// no message is lost (it goes to the next receive).
    ///
    /// Lifetimes: the consumer must outlive the call.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_receive(Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code, message)>(
            [this](auto&& handler) {
                keel::detail::initiate_call<keel::detail::shared_completion, std::error_code,
                                            message>(
                    std::forward<decltype(handler)>(handler), executor_, [&](auto op) {
                        return keel::detail::make_shared_call<&detail::cancel_receive>(
                            impl_, std::move(op), [&](detail::receive_operation* started) {
                                detail::start_receive(impl_, started);
                            });
                    });
            },
            token);
    }

    /// Commits `m`'s offset (the next to read in its partition is m.offset+1)
    /// for the group, when the group coordinator answered.
    ///
    /// Completion signature: `void(std::error_code)`.
    ///
    /// Errors: a kafka_category() error from librdkafka or the group
    /// coordinator (e.g. after the partition was lost to a rebalance);
    /// operation_aborted once the consumer is closing.
    ///
    /// Per-operation cancellation: none (the cancellation slot is not used):
    /// a commit handed to librdkafka cannot be recalled.
    ///
    /// Lifetimes: the consumer must outlive the call; `m` is copied (its
    /// topic, partition and offset) before the initiation returns.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_commit(const message& m,
                      Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [this, topic = m.topic, partition = m.partition, offset = m.offset](auto&& handler) {
                detail::start_commit(
                    impl_, topic, partition, offset,
                    keel::detail::make_completion<keel::detail::shared_completion, std::error_code>(
                        std::forward<decltype(handler)>(handler), executor_)
                        .release());
            },
            token);
    }

    /// Leaves the group (its partitions go to the other members at once),
    /// on a worker thread: rd_kafka_consumer_close blocks. Waiting receives
    /// end with operation_aborted.
    ///
    /// Completion signature: `void(std::error_code)`; no error (closing an
    /// already closed consumer succeeds at once).
    ///
    /// Per-operation cancellation: none (the cancellation slot is not used).
    ///
    /// Lifetimes: the consumer must outlive the call.
    template <class Token = asio::default_completion_token_t<executor_type>>
    auto async_close(Token&& token = asio::default_completion_token_t<executor_type>()) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [this](auto&& handler) {
                detail::start_close(
                    impl_,
                    keel::detail::make_completion<keel::detail::shared_completion, std::error_code>(
                        std::forward<decltype(handler)>(handler), executor_)
                        .release());
            },
            token);
    }
};

} // namespace keel::kafka
