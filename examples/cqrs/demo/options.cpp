#include "options.hpp"

#include <common/runtime.hpp>

#include <sstream>
#include <stdexcept>

namespace cqrs::demo {

namespace {

constexpr std::pair<fault, const char*> fault_names[] = {
    {fault::broker, "broker"},         {fault::pg_restart, "pg-restart"},
    {fault::payment, "payment"},       {fault::projector_kill, "projector-kill"},
    {fault::relay_kill, "relay-kill"},
};

std::set<fault> parse_faults(const std::string& list) {
    std::set<fault> out;
    if (list == "none" || list.empty())
        return out;
    if (list == "all") {
        for (const auto& [f, name] : fault_names)
            out.insert(f);
        return out;
    }
    std::istringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        bool found = false;
        for (const auto& [f, name] : fault_names)
            if (item == name) {
                out.insert(f);
                found = true;
            }
        if (!found)
            throw std::invalid_argument("--faults: unknown fault '" + item +
                                        "' (broker, pg-restart, payment, projector-kill, "
                                        "relay-kill, all, none)");
    }
    return out;
}

} // namespace

std::string to_string(fault f) {
    for (const auto& [value, name] : fault_names)
        if (value == f)
            return name;
    return "?";
}

std::string usage() {
    return "usage: cqrs-demo [flags]\n"
           "\n"
           "Starts an embedded Kafka (keel-kafka-mock), a throwaway PostgreSQL and the\n"
           "CQRS example's services, drives orders through the write model while\n"
           "injecting faults, waits for the read model to catch up and checks it against\n"
           "the event store. The last line is `consistency: OK (N orders, M events)`\n"
           "(exit 0) or `consistency: FAILED (...)` (exit 1).\n"
           "\n"
           "  --orders N              orders to drive (default 2000)\n"
           "  --concurrency C         order flows in flight (default 16)\n"
           "  --faults LIST           comma-separated: broker, pg-restart, payment,\n"
           "                          projector-kill, relay-kill; `all` (the default) or `none`\n"
           "  --kafka BOOTSTRAP       use this Kafka instead of starting keel-kafka-mock\n"
           "                          (broker faults are then skipped); topics orders.events\n"
           "                          (4 partitions) and orders.events.dlq are created if\n"
           "                          missing\n"
           "  --pg CONNINFO           use this PostgreSQL server instead of starting one;\n"
           "                          databases cqrs_events and cqrs_read are created if\n"
           "                          missing (pg-restart is then skipped); the check covers\n"
           "                          every order there, earlier runs' too\n"
           "  --event-store-dsn DSN   the write model's database (instead of --pg's)\n"
           "  --read-model-dsn DSN    the read model's database (instead of --pg's)\n"
           "  --bin-dir DIR           where the service executables are (default: this build\n"
           "                          tree's examples/cqrs/<part>/ and tools/keel-kafka-mock/)\n"
           "  --config FILE           keel policies (default $CQRS_CONFIG, else the source\n"
           "                          tree's config-examples/cqrs.yaml)\n"
           "  --seed N                the orders' random choices (default 1)\n"
           "  --work-dir DIR          logs of every process (default: a new temp dir, removed\n"
           "                          after a successful run)\n"
           "  --keep                  keep the work dir after a successful run\n"
           "  --report FILE           the run in pictures, one HTML file (default: report.html\n"
           "                          in the work dir, kept when the rest is removed)\n"
           "  --timeout SECONDS       how long the read model may take to catch up (default 120)\n"
           "  --occupy-port-of NAME   hold service NAME's first port while it starts, as a\n"
           "                          parallel test may: it must move to fresh ports and be\n"
           "                          reached there (a test of the demo itself)\n";
}

options parse(int argc, char** argv, bool& help) {
    const cqrs::flags f(argc, argv);
    help = f.has("help");
    options o;
    if (help)
        return o;
    f.check_known({"orders", "concurrency", "faults", "kafka", "pg", "event-store-dsn",
                   "read-model-dsn", "bin-dir", "config", "seed", "work-dir", "timeout", "keep",
                   "report", "occupy-port-of", "help"});
    o.orders = static_cast<int>(f.get_int("orders", o.orders));
    o.concurrency = static_cast<int>(f.get_int("concurrency", o.concurrency));
    if (o.orders < 1 || o.orders > 1'000'000)
        throw std::invalid_argument("--orders: expected 1..1000000");
    if (o.concurrency < 1 || o.concurrency > 256)
        throw std::invalid_argument("--concurrency: expected 1..256");
    o.faults = parse_faults(f.get("faults", "all"));
    o.kafka = f.get("kafka");
    o.pg = f.get("pg");
    o.event_store_dsn = f.get("event-store-dsn");
    o.read_model_dsn = f.get("read-model-dsn");
    if (o.event_store_dsn.empty() != o.read_model_dsn.empty())
        throw std::invalid_argument("--event-store-dsn and --read-model-dsn go together");
    o.bin_dir = f.get("bin-dir");
    o.config = f.get("config");
    const long seed = f.get_int("seed", 1);
    if (seed < 0)
        throw std::invalid_argument("--seed: expected a number >= 0");
    o.seed = static_cast<std::uint64_t>(seed);
    o.work_dir = f.get("work-dir");
    o.keep = f.has("keep");
    o.report = f.get("report");
    o.occupy_port_of = f.get("occupy-port-of");
    const long timeout = f.get_int("timeout", 120);
    if (timeout < 1)
        throw std::invalid_argument("--timeout: expected seconds >= 1");
    o.timeout = std::chrono::seconds(timeout);
    return o;
}

} // namespace cqrs::demo
