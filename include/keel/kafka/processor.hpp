// keel::kafka::processor: the consumer's processing loop -- receive, run the
// handler under a pipeline, commit only after it succeeded, dead-letter what
// still fails.
#pragma once

#include <keel/attempt.hpp>
#include <keel/fault.hpp>
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/observer.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::kafka {

/// The application's work on one message: call `done` once, with an error
/// to have the attempt retried under the pipeline's policy (its fault class
/// decides). It may call `done` later, from any thread. When an attempt
/// times out, its `done` is ignored and the handler runs again: make it
/// idempotent (at-least-once).
using message_handler = std::function<void(const message&, const keel::attempt&,
                                           std::function<void(std::error_code)> done)>;

/// The headers a dead-lettered message gets, besides its own.
namespace dead_letter_header {
inline constexpr const char* error_code = "keel.error.code";         ///< "10"
inline constexpr const char* error_category = "keel.error.category"; ///< "keel.kafka"
inline constexpr const char* error_message = "keel.error.message";
inline constexpr const char* fault = "keel.error.fault"; ///< "permanent", "transient", ...
inline constexpr const char* attempts = "keel.attempts";
inline constexpr const char* source_topic = "keel.source.topic";
inline constexpr const char* source_partition = "keel.source.partition";
inline constexpr const char* source_offset = "keel.source.offset";
} // namespace dead_letter_header

/// At-least-once processing of one consumer's messages, one at a time:
///
///   receive -> handler under `pipeline` -> success: commit
///                                       -> failure: produce to the dead-letter
///                                          topic (error in the headers), then commit
///
/// An offset is committed only once its message was handled or safely
/// dead-lettered; a crash in between means the message is processed again.
/// If the dead-letter produce fails, the loop stops without committing.
/// Everything runs on the consumer's executor.
template <class Pipeline>
class processor : public std::enable_shared_from_this<processor<Pipeline>> {
public:
    static_assert(std::is_same_v<typename Pipeline::attempt_type, keel::attempt>,
                  "keel::kafka runs on the steady clock: use a pipeline with a steady_timer");

    /// Starts processing. `on_stopped(ec)` runs once when the loop ends:
    /// operation_aborted after stop(), or the error that ended it. The
    /// consumer, pipeline and producer must outlive the loop.
    static std::shared_ptr<processor> start(consumer& source, Pipeline& pipeline,
                                            producer& dead_letters, std::string dead_letter_topic,
                                            message_handler handler,
                                            std::function<void(std::error_code)> on_stopped = {}) {
        std::shared_ptr<processor> p(new processor(source, pipeline, dead_letters,
                                                   std::move(dead_letter_topic), std::move(handler),
                                                   std::move(on_stopped)));
        asio::post(source.get_executor(), [p] { p->receive_next(); });
        return p;
    }

    /// Ends the loop once the message in hand (if any) is committed or
    /// dead-lettered; a receive that waits ends at once. Thread-safe.
    void stop() {
        asio::post(source_.get_executor(), [self = this->shared_from_this()] {
            self->stopping_ = true;
            self->stop_receive_.emit(asio::cancellation_type::terminal);
        });
    }

    std::size_t handled() const noexcept { return handled_.load(); }
    std::size_t dead_lettered() const noexcept { return dead_lettered_.load(); }
    std::size_t commit_failures() const noexcept { return commit_failures_.load(); }
    bool stopped() const noexcept { return stopped_.load(); }

private:
    processor(consumer& source, Pipeline& pipeline, producer& dead_letters, std::string topic,
              message_handler handler, std::function<void(std::error_code)> on_stopped)
        : source_(source), pipeline_(pipeline), dead_letters_(dead_letters),
          dead_letter_topic_(std::move(topic)), handler_(std::move(handler)),
          on_stopped_(std::move(on_stopped)) {}

    void finish(std::error_code ec) {
        stopped_ = true;
        if (auto f = std::move(on_stopped_))
            f(ec);
    }

    void receive_next() {
        if (stopping_)
            return finish(asio::error::operation_aborted);
        source_.async_receive(asio::bind_cancellation_slot(
            stop_receive_.slot(), [self = this->shared_from_this()](std::error_code ec, message m) {
                if (ec)
                    return self->finish(ec);
                self->current_ = std::move(m);
                self->handle();
            }));
    }

    /// One attempt of the handler: completes once, on the first of `done`
    /// or a cancellation by the pipeline (its per-attempt timeout).
    template <class Handler>
    struct attempt_state {
        explicit attempt_state(Handler&& h) : handler(std::move(h)) {}
        void complete(std::error_code ec) {
            if (finished.exchange(true))
                return;
            auto executor = asio::get_associated_executor(handler);
            asio::post(executor, [h = std::move(handler), ec]() mutable {
                auto slot = asio::get_associated_cancellation_slot(h);
                if (slot.is_connected())
                    slot.clear();
                std::move(h)(ec);
            });
        }
        Handler handler;
        std::atomic<bool> finished{false};
    };

    void handle() {
        auto self = this->shared_from_this();
        pipeline_.template async_run<void(std::error_code)>(
            [self](const keel::attempt& a, auto&& token) {
                return asio::async_initiate<decltype(token), void(std::error_code)>(
                    [self, &a](auto handler) {
                        using state_type = attempt_state<decltype(handler)>;
                        auto slot = asio::get_associated_cancellation_slot(handler);
                        auto state = std::make_shared<state_type>(std::move(handler));
                        if (slot.is_connected())
                            slot.assign([state](asio::cancellation_type) {
                                state->complete(asio::error::operation_aborted);
                            });
                        self->handler_(self->current_, a,
                                       [state](std::error_code ec) { state->complete(ec); });
                    },
                    token);
            },
            report_,
            [self](std::error_code ec) {
                if (!ec) {
                    ++self->handled_;
                    return self->commit();
                }
                self->dead_letter(ec);
            });
    }

    void dead_letter(std::error_code ec) {
        header_list headers = current_.headers;
        headers.emplace_back(dead_letter_header::error_code, std::to_string(ec.value()));
        headers.emplace_back(dead_letter_header::error_category, ec.category().name());
        headers.emplace_back(dead_letter_header::error_message, ec.message());
        headers.emplace_back(dead_letter_header::fault, std::string(to_string(keel::classify(ec))));
        headers.emplace_back(dead_letter_header::attempts, std::to_string(report_.attempts));
        headers.emplace_back(dead_letter_header::source_topic, current_.topic);
        headers.emplace_back(dead_letter_header::source_partition,
                             std::to_string(current_.partition));
        headers.emplace_back(dead_letter_header::source_offset, std::to_string(current_.offset));
        dead_letters_.async_produce(
            dead_letter_topic_, current_.key, current_.value, headers,
            [self = this->shared_from_this()](std::error_code produce_error, delivery) {
                if (produce_error) // not committed: it is received again after a restart
                    return self->finish(produce_error);
                ++self->dead_lettered_;
                self->commit();
            });
    }

    void commit() {
        source_.async_commit(current_, [self = this->shared_from_this()](std::error_code ec) {
            // A failed commit only means the message may be processed again.
            if (ec)
                ++self->commit_failures_;
            self->receive_next();
        });
    }

    consumer& source_;
    Pipeline& pipeline_;
    producer& dead_letters_;
    std::string dead_letter_topic_;
    message_handler handler_;
    std::function<void(std::error_code)> on_stopped_;

    // On the consumer's executor:
    asio::cancellation_signal stop_receive_;
    bool stopping_ = false;
    message current_;
    keel::call_report report_;

    std::atomic<std::size_t> handled_{0};
    std::atomic<std::size_t> dead_lettered_{0};
    std::atomic<std::size_t> commit_failures_{0};
    std::atomic<bool> stopped_{false};
};

} // namespace keel::kafka
