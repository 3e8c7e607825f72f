// The simulated dependency: names to the wrappers' real error codes, the
// log-normal latency, and which attempts fail.
#include <keel/fault.hpp>

#include "dependency_model.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace keel::sim {
namespace {

using namespace std::chrono_literals;

fault_class class_of(std::string_view name) {
    std::string why;
    const std::optional<named_error> e = error_from_name(name, why);
    EXPECT_TRUE(e) << name << ": " << why;
    return e ? classify(e->code) : fault_class::cancelled;
}

TEST(sim_dependency, names_map_to_the_wrappers_codes_and_their_classes) {
    EXPECT_EQ(class_of("connection_refused"), fault_class::transient);
    EXPECT_EQ(class_of("connection_reset"), fault_class::transient);
    EXPECT_EQ(class_of("http_503"), fault_class::throttled);
    EXPECT_EQ(class_of("http_429"), fault_class::throttled);
    EXPECT_EQ(class_of("http_500"), fault_class::transient);
    EXPECT_EQ(class_of("http_404"), fault_class::permanent);
    EXPECT_EQ(class_of("pg_40001"), fault_class::transient);
    EXPECT_EQ(class_of("pg_57p01"), fault_class::transient); // SQLSTATE letters either case
    EXPECT_EQ(class_of("pg_23505"), fault_class::permanent);
    EXPECT_EQ(class_of("kafka_not_leader_for_partition"), fault_class::transient);
    EXPECT_EQ(class_of("kafka_msg_timed_out"), fault_class::timeout); // librdkafka's _MSG_TIMED_OUT
    EXPECT_EQ(class_of("kafka__msg_timed_out"), fault_class::timeout);
    EXPECT_EQ(class_of("kafka_msg_size_too_large"), fault_class::permanent);
}

TEST(sim_dependency, bad_names_say_why) {
    std::string why;
    EXPECT_FALSE(error_from_name("http_200", why));
    EXPECT_NE(why.find("400 to 599"), std::string::npos) << why;
    EXPECT_FALSE(error_from_name("pg_4001", why));
    EXPECT_NE(why.find("five characters"), std::string::npos) << why;
    EXPECT_FALSE(error_from_name("kafka_no_such_error", why));
    EXPECT_NE(why.find("no error named"), std::string::npos) << why;
    EXPECT_FALSE(error_from_name("connection_refussed", why));
    EXPECT_TRUE(why.empty()) << "an unknown name is the caller's to report: " << why;
}

TEST(sim_dependency, log_normal_latency_has_the_median_and_p99_asked_for) {
    const latency_model model{20ms, 200ms};
    random_source random(42);
    std::vector<nanos> draws;
    for (int i = 0; i < 100'000; ++i)
        draws.push_back(model.draw(random));
    std::sort(draws.begin(), draws.end());
    const double median = static_cast<double>(draws[50'000].count()) / 1e6;
    const double p99 = static_cast<double>(draws[99'000].count()) / 1e6;
    EXPECT_NEAR(median, 20.0, 0.5);
    EXPECT_NEAR(p99, 200.0, 10.0);
    EXPECT_GT(draws.front(), 0ns);

    const latency_model fixed{15ms, std::nullopt};
    random_source untouched(1);
    EXPECT_EQ(fixed.draw(untouched), 15ms);
    EXPECT_EQ(untouched.next(), random_source(1).next()) << "a fixed latency draws nothing";
}

TEST(sim_dependency, first_n_attempts_fail_and_rates_fail_that_share) {
    behaviour_window w;
    w.result.what = result_model::kind::error;
    std::string why;
    w.result.error = *error_from_name("http_503", why);
    w.result.first = 2;
    w.result.retry_after = 1s;
    random_source random(1);
    EXPECT_TRUE(answer(w, 1, random).error);
    EXPECT_EQ(answer(w, 2, random).retry_after, nanos(1s));
    EXPECT_FALSE(answer(w, 3, random).error);
    EXPECT_EQ(answer(w, 3, random).name, "ok");

    w.result.first.reset();
    w.result.rate = 0.25;
    int failed = 0;
    for (int i = 0; i < 10'000; ++i)
        failed += answer(w, 1, random).error ? 1 : 0;
    EXPECT_NEAR(failed, 2500, 150);

    w.result.what = result_model::kind::hang;
    w.result.rate = 1.0;
    const attempt_answer hung = answer(w, 1, random);
    EXPECT_TRUE(hung.hangs);
    EXPECT_EQ(hung.name, "hang");
}

TEST(sim_dependency, an_attempt_follows_the_window_it_starts_in) {
    std::vector<behaviour_window> windows(3);
    windows[0].until = 10s;
    windows[0].latency.median = 1ms;
    windows[1].until = 20s;
    windows[1].latency.median = 2ms;
    windows[2].latency.median = 3ms;
    EXPECT_EQ(window_at(windows, 0s).latency.median, 1ms);
    EXPECT_EQ(window_at(windows, 10s - 1ns).latency.median, 1ms);
    EXPECT_EQ(window_at(windows, 10s).latency.median, 2ms);
    EXPECT_EQ(window_at(windows, 1h).latency.median, 3ms);
    windows[2].until = 30s; // the last window lasts for ever all the same
    EXPECT_EQ(window_at(windows, 1h).latency.median, 3ms);
}

} // namespace
} // namespace keel::sim
