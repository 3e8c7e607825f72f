#include "report_fixture.hpp"

#include <cmath>

namespace cqrs::demo {

timeline fixture_timeline() {
    timeline t;
    t.title = "cqrs-demo: fixture timeline";
    t.phases = {{"payment", "payment stub: 503s, stalls, resets", 10, 25},
                {"broker", "kafka mock: error 0 19,19,19", 18, 18.2},
                {"pg-restart", "PostgreSQL crash and restart", 30, 33.5},
                {"relay-kill", "outbox-relay killed", 45, 46}};
    double orders = 0, pay_attempts = 0, pay_retries = 0, store_attempts = 0, store_retries = 0,
           open_rejections = 0, full_rejections = 0;
    for (int i = 0; i <= 120; ++i) {
        const double at = i * 0.5;
        const bool payment_fault = at >= 10 && at < 25;
        const bool pg_down = at >= 30 && at < 33.5;
        timeline_sample s;
        s.at = at;
        orders += pg_down ? 0 : (payment_fault ? 8 : 20);
        s.orders_done = orders;
        if (!pg_down) {
            s.lag_p50_ms = 40 + 10 * std::sin(at);
            s.lag_p99_ms = (at > 33.5 && at < 40 ? 900.0 : 150.0) + 5 * i % 7;
        }
        auto& pay = s.dependencies["payments"];
        pay_attempts += payment_fault ? 30 : 12;
        pay_retries += payment_fault ? 14 : 1;
        const bool open = at >= 11 && at < 24;
        open_rejections += open ? 6 : 0;
        full_rejections += payment_fault ? 2 : 0;
        pay.attempts = pay_attempts;
        pay.retries = pay_retries;
        pay.rejections = {{"circuit_open", open_rejections}, {"bulkhead_full", full_rejections}};
        pay.circuit = open ? (i % 6 == 0 ? "half_open" : "open") : "closed";
        pay.has_bulkhead = true;
        pay.limit = payment_fault ? 4 : 8 + (i % 3);
        pay.in_flight = payment_fault ? 4 : 3 + i % 4;
        auto& store = s.dependencies["event-store"];
        store_attempts += pg_down ? 40 : 25;
        store.attempts = store_attempts;
        store_retries += pg_down ? 3 : 0;
        store.retries = store_retries;
        store.circuit = "closed";
        auto& odd = s.dependencies["a<b&\"c\""];
        odd.attempts = i;
        t.samples.push_back(std::move(s));
    }
    return t;
}

} // namespace cqrs::demo
