// Deadline arithmetic and the heap behind the per-context deadline queue.
#include <keel/detail/deadline_heap.hpp>
#include <keel/duration.hpp>
#include <keel/testing/manual_clock.hpp>
#include <keel/timeout.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace keel {
namespace {

using namespace std::chrono_literals;
using clock = keel::testing::manual_clock;
using tp = clock::time_point;

TEST(deadlines, saturate_instead_of_overflowing) {
    const tp start(1000s);
    EXPECT_EQ(deadline_after(start, 1s), tp(1001s));
    EXPECT_EQ(deadline_after(start, unlimited), tp::max());
    EXPECT_EQ(deadline_after(start, std::chrono::nanoseconds::max() - 1ns), tp::max());
    EXPECT_EQ(deadline_after(tp::max(), 1s), tp::max());
}

TEST(deadlines, exchange_and_connect_never_outlive_the_total) {
    timeout_policy p;
    p.connect = 1s;
    p.exchange = 5s;
    const tp start(100s);
    auto d = deadlines_for(p, start, tp(103s));
    EXPECT_EQ(d.connect, tp(101s));
    EXPECT_EQ(d.exchange, tp(103s));
    EXPECT_EQ(d.total, tp(103s));
    d = deadlines_for(p, start, tp(100s + 500ms));
    EXPECT_EQ(d.connect, tp(100s + 500ms));
    timeout_policy none;
    d = deadlines_for(none, start, tp::max());
    EXPECT_EQ(d.connect, tp::max());
    EXPECT_EQ(d.exchange, tp::max());
}

TEST(durations, format_exactly_and_compactly) {
    EXPECT_EQ(format_duration(0ns), "0s");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(90s), "1m30s");
    EXPECT_EQ(format_duration(1500ms), "1s500ms");
    EXPECT_EQ(format_duration(2h + 1us), "2h1us");
    EXPECT_EQ(format_duration(-3s), "-3s");
    EXPECT_EQ(format_duration(unlimited), "unlimited");
}

TEST(deadline_heap, pops_in_deadline_order_and_erases_anywhere) {
    std::mt19937 rng(5);
    std::vector<detail::deadline_entry> entries(500);
    detail::deadline_heap heap;
    for (auto& e : entries) {
        e.deadline = static_cast<std::int64_t>(rng() % 1000);
        heap.push(e);
    }
    // erase every third entry, wherever it sits
    std::vector<std::int64_t> kept;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i % 3 == 0) {
            ASSERT_TRUE(entries[i].queued());
            heap.erase(entries[i]);
            EXPECT_FALSE(entries[i].queued());
        } else {
            kept.push_back(entries[i].deadline);
        }
    }
    std::sort(kept.begin(), kept.end());
    ASSERT_EQ(heap.size(), kept.size());
    std::vector<std::int64_t> popped;
    for (std::int64_t now = 0; now <= 1000; now += 37) {
        for (auto* e = heap.pop_expired(now); e; e = e->next_expired) {
            EXPECT_LE(e->deadline, now);
            EXPECT_FALSE(e->queued());
            popped.push_back(e->deadline);
        }
        if (heap.top()) {
            EXPECT_GT(heap.top()->deadline, now);
        }
    }
    EXPECT_EQ(popped, kept);
    EXPECT_TRUE(heap.empty());
}

TEST(deadline_heap, take_all_unqueues_everything) {
    std::vector<detail::deadline_entry> entries(10);
    detail::deadline_heap heap;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].deadline = static_cast<std::int64_t>(i);
        heap.push(entries[i]);
    }
    int n = 0;
    for (auto* e = heap.take_all(); e; e = e->next_expired) {
        EXPECT_FALSE(e->queued());
        ++n;
    }
    EXPECT_EQ(n, 10);
    EXPECT_TRUE(heap.empty());
}

} // namespace
} // namespace keel
