// cqrs-projector: a member of the consumer group that keeps the read model
// (order_view, applied_events) up to date with the order events on Kafka.
// Replicas share the topic's partitions; any of them may be killed at any
// moment: an offset is committed only after its event's transaction
// committed, and the transaction skips an event already applied, so every
// event lands in the read model exactly once.
#include <keel/fault.hpp>
#include <keel/kafka/processor.hpp>
#include <keel/kafka/service.hpp>
#include <keel/pg/service.hpp>

#include "common/runtime.hpp"
#include "common/schema.hpp"
#include "projection.hpp"
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <system_error>

namespace {

namespace kk = keel::kafka;
using processor = kk::processor<keel::config::configured_pipeline>;
using namespace std::chrono_literals;

constexpr const char* usage = "usage: cqrs-projector [flags]\n"
                              "  --topic T             events to project (default orders.events)\n"
                              "  --group G             consumer group (default cqrs-projector)\n"
                              "  --dead-letter-topic D where unprojectable events go "
                              "(default orders.events.dlq)\n";

/// The group member: one consumer and the processor that drains it. When the
/// processor stops by itself (the dead-letter produce failed, or the consumer
/// hit an error it cannot recover from) the member leaves the group and joins
/// again, so the group hands it its partitions from their last commits
/// instead of the process limping on past an uncommitted message.
class projector {
public:
    projector(cqrs::runtime& rt, const cqrs::flags& flags)
        : rt_(rt), topic_(flags.get("topic", "orders.events")),
          group_(flags.get("group", "cqrs-projector")),
          dead_letter_topic_(flags.get("dead-letter-topic", "orders.events.dlq")),
          kafka_(rt.io().get_executor(), rt.policies(), "events-consumer"),
          db_(rt.io().get_executor(), rt.policies(), "read-model"), tick_(rt.io()),
          deadline_(rt.io()) {
        auto& family = prometheus::BuildCounter()
                           .Name("cqrs_projector_events_total")
                           .Help("Order events handled by this projector, by result")
                           .Register(*rt.metrics().registry());
        applied_ = &family.Add({{"result", "applied"}});
        duplicates_ = &family.Add({{"result", "duplicate"}});
        dead_letters_ = &family.Add({{"result", "dead_letter"}});
    }

    /// Applies the read model's schema, then joins the group.
    void start() {
        rt_.on_shutdown([this] { shut_down(); });
        prepare();
    }

    int exit_code() const noexcept { return exit_code_; }

private:
    /// The read model may be down or restarting when the projector starts:
    /// keep trying what may succeed, give up on what will not (a bad DSN,
    /// no permission), so a supervisor sees the exit.
    void prepare() {
        asio::co_spawn(rt_.io(), cqrs::apply_schema(db_, cqrs::schema::read_model),
                       [this](std::exception_ptr failed) {
                           if (stopping_)
                               return rt_.stop();
                           if (failed && !retry_schema(failed)) {
                               exit_code_ = 1;
                               return rt_.stop();
                           }
                           if (failed) {
                               tick_.expires_after(2s);
                               return tick_.async_wait([this](std::error_code ec) {
                                   if (!ec && !stopping_)
                                       prepare();
                               });
                           }
                           rt_.log("schema ready; joining group " + group_ + " on " + topic_ +
                                   " (dead letters to " + dead_letter_topic_ + ")");
                           join();
                           tick();
                       });
    }

    bool retry_schema(std::exception_ptr failed) {
        try {
            std::rethrow_exception(failed);
        } catch (const std::system_error& e) {
            const bool again = keel::classify(e.code()) != keel::fault_class::permanent;
            rt_.log(std::string("cannot apply the read model's schema: ") + e.what() +
                    (again ? "; trying again in 2 s" : ""));
            return again;
        } catch (const std::exception& e) {
            rt_.log(std::string("cannot apply the read model's schema: ") + e.what());
        }
        return false;
    }

    void join() {
        consumer_ = std::make_unique<kk::consumer>(rt_.io().get_executor(),
                                                   kafka_.consumer_options_for(group_));
        consumer_->subscribe({topic_});
        positions_.clear();
        dead_lettered_seen_ = 0;
        loop_ = processor::start(
            *consumer_, kafka_.pipeline(), kafka_.client(), dead_letter_topic_,
            [this](const kk::message& m, const keel::attempt& a,
                   std::function<void(std::error_code)> done) { handle(m, a, std::move(done)); },
            [this](std::error_code ec) { stopped(ec); });
    }

    void handle(const kk::message& m, const keel::attempt& a,
                std::function<void(std::error_code)> done) {
        note_position(m);
        cqrs::projector::event_message event;
        try {
            event = cqrs::projector::parse(m);
        } catch (const std::exception& e) {
            rt_.log(where(m) + ": " + e.what() + "; dead-lettering it");
            return done(make_error_code(cqrs::projector::errc::bad_event));
        }
        // The coroutine owns its copy: a timed-out attempt's transaction may
        // still be running when the processor has moved on to the next message.
        asio::co_spawn(
            rt_.io(), cqrs::projector::project(db_, std::move(event), rt_.name()),
            [this, attempt = a.number(), last = a.is_last(), at = where(m),
             done = std::move(done)](std::exception_ptr ep, cqrs::projector::projection_result r) {
                if (ep) // out of memory, say: whatever happened, it was not applied for sure
                    r.error = make_error_code(cqrs::projector::errc::commit_unknown);
                if (!r.error) {
                    if (r.result == cqrs::projector::outcome::applied)
                        applied_->Increment();
                    else
                        duplicates_->Increment();
                } else if (attempt == 1 || last ||
                           keel::classify(r.error) == keel::fault_class::permanent) {
                    // First and last word of a retried failure; the metrics
                    // count the attempts in between.
                    rt_.log(at + " (attempt " + std::to_string(attempt) + "): " + r.detail);
                }
                done(r.error);
            });
    }

    /// Logs where this member starts reading a partition: at its assignment,
    /// and again when a rebalance moves it back to the last commit.
    void note_position(const kk::message& m) {
        auto [it, fresh] = positions_.try_emplace(m.partition, m.offset);
        if (fresh || (m.offset != it->second && m.offset != it->second + 1))
            rt_.log("reading " + m.topic + "[" + std::to_string(m.partition) + "] from offset " +
                    std::to_string(m.offset));
        it->second = m.offset;
    }

    static std::string where(const kk::message& m) {
        return m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset) +
               " key " + m.key;
    }

    void stopped(std::error_code ec) {
        count_dead_letters();
        commit_failures_ += loop_->commit_failures();
        if (!stopping_)
            rt_.log("processing stopped: " + ec.message() + "; leaving the group to rejoin");
        consumer_->async_close([this](std::error_code closed) {
            if (closed)
                rt_.log("leaving the group: " + closed.message());
            if (stopping_) {
                rt_.log("left the group; " + totals());
                return rt_.stop();
            }
            // The next tick rejoins: the cluster (what failed) gets a moment.
            rejoin_pending_ = true;
        });
    }

    void shut_down() {
        stopping_ = true;
        if (!loop_ || rejoin_pending_)
            return rt_.stop(); // still applying the schema, or out of the group
        // The processor finishes the message in hand, then stopped() leaves
        // the group and stops the loop. A message stuck in retries (the read
        // model down) is not worth waiting for: it was not committed, so the
        // group gives it to another member, and the consumer's destructor
        // leaves the group.
        if (!loop_->stopped())
            loop_->stop();
        deadline_.expires_after(5s);
        deadline_.async_wait([this](std::error_code ec) {
            if (ec)
                return;
            rt_.log("the message in hand is still not done after 5 s; leaving it uncommitted");
            rt_.stop();
        });
    }

    /// Once a second: dead letters (the processor counts them), a pending
    /// rejoin; every fifth: a progress line when something happened.
    void tick() {
        tick_.expires_after(1s);
        tick_.async_wait([this](std::error_code ec) {
            if (ec || stopping_)
                return;
            count_dead_letters();
            if (rejoin_pending_) {
                rejoin_pending_ = false;
                join();
            }
            if (++ticks_ % 5 == 0) {
                const double applied = applied_->Value();
                const double duplicates = duplicates_->Value();
                if (applied != last_applied_ || duplicates != last_duplicates_)
                    rt_.log(totals() + " (" +
                            std::to_string(static_cast<long>((applied - last_applied_) / 5)) +
                            " applied/s)");
                last_applied_ = applied;
                last_duplicates_ = duplicates;
            }
            tick();
        });
    }

    void count_dead_letters() {
        if (!loop_)
            return;
        const std::size_t now = loop_->dead_lettered();
        if (now > dead_lettered_seen_) {
            dead_letters_->Increment(static_cast<double>(now - dead_lettered_seen_));
            rt_.log(std::to_string(now - dead_lettered_seen_) + " event(s) dead-lettered to " +
                    dead_letter_topic_);
            dead_lettered_seen_ = now;
        }
    }

    std::string totals() const {
        // Failed commits (a rebalance under way) are why duplicates follow.
        return "applied " + std::to_string(static_cast<long>(applied_->Value())) +
               ", duplicates skipped " + std::to_string(static_cast<long>(duplicates_->Value())) +
               ", dead letters " + std::to_string(static_cast<long>(dead_letters_->Value())) +
               ", failed commits " +
               std::to_string(commit_failures_ +
                              (loop_ && !loop_->stopped() ? loop_->commit_failures() : 0));
    }

    cqrs::runtime& rt_;
    std::string topic_;
    std::string group_;
    std::string dead_letter_topic_;
    kk::service kafka_; // its producer sends the dead letters
    keel::pg::service db_;
    std::unique_ptr<kk::consumer> consumer_;
    std::shared_ptr<processor> loop_;
    asio::steady_timer tick_;
    asio::steady_timer deadline_;

    prometheus::Counter* applied_ = nullptr;
    prometheus::Counter* duplicates_ = nullptr;
    prometheus::Counter* dead_letters_ = nullptr;
    std::map<std::int32_t, std::int64_t> positions_; // partition -> last offset handled
    std::size_t dead_lettered_seen_ = 0;
    std::size_t commit_failures_ = 0; // of the processors before the current one
    long ticks_ = 0;
    double last_applied_ = 0;
    double last_duplicates_ = 0;
    bool stopping_ = false;
    bool rejoin_pending_ = false;
    int exit_code_ = 0;
};

} // namespace

int main(int argc, char** argv) {
    try {
        const cqrs::flags flags(argc, argv);
        if (flags.has("help")) {
            std::printf("%s%.*s", usage, static_cast<int>(cqrs::usage_common().size()),
                        cqrs::usage_common().data());
            return 0;
        }
        flags.check_known({"topic", "group", "dead-letter-topic", "help"});
        cqrs::projector::register_classifier();
        cqrs::runtime rt("cqrs-projector", flags);
        projector member(rt, flags);
        rt.log("started; /metrics on port " + std::to_string(rt.metrics_port()));
        member.start();
        rt.run();
        return member.exit_code();
    } catch (const std::invalid_argument& e) { // the command line
        std::fprintf(stderr, "cqrs-projector: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqrs-projector: %s\n", e.what());
        return 1;
    }
}
