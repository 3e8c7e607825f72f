#include <keel/config/section_reader.hpp>
#include <keel/kafka/service.hpp>

#include <librdkafka/rdkafka.h>

#include <memory>
#include <stdexcept>

namespace keel::kafka {

namespace {

connection_settings read_connection(const config::dependency& dep) {
    config::section_reader r(dep, config::dependency_kind::kafka, "keel::kafka::service");
    const std::string& base = r.base();
    connection_settings out;
    const config::value& c = dep.connection;
    if (c.kind() == config::value::type::map) {
        // One scratch configuration checks every property as librdkafka will.
        std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> scratch(
            rd_kafka_conf_new(), &rd_kafka_conf_destroy);
        for (const auto& [name, v] : c.entries()) {
            const std::string key = base + "." + name;
            if (name == "bootstrap_servers") {
                if (v.kind() != config::value::type::scalar || v.scalar().empty())
                    r.error(v, key, "expected host:port[,host:port...]");
                else
                    out.bootstrap_servers = v.scalar();
            } else if (name == "properties") {
                if (v.kind() == config::value::type::map) {
                    for (const auto& [p, pv] : v.entries()) {
                        const std::string pkey = key + "." + p;
                        if (pv.kind() != config::value::type::scalar) {
                            r.error(pv, pkey, "expected a value (librdkafka property)");
                            continue;
                        }
                        char why[512] = "";
                        if (rd_kafka_conf_set(scratch.get(), p.c_str(), pv.scalar().c_str(), why,
                                              sizeof why) != RD_KAFKA_CONF_OK)
                            r.error(pv, pkey, std::string("librdkafka: ") + why);
                        else
                            out.properties.emplace_back(p, pv.scalar());
                    }
                } else if (v.kind() != config::value::type::null) {
                    r.error(v, key, "expected a map of librdkafka properties");
                }
            } else {
                r.error(v, key,
                        "unknown key '" + name +
                            "'; expected one of: bootstrap_servers, properties");
            }
        }
    } else if (c.kind() != config::value::type::null) {
        r.error(c, base, "expected a map");
    }
    if (r.errors().empty() && out.bootstrap_servers.empty())
        r.error(c.kind() == config::value::type::null ? dep.where : c.where(),
                base + ".bootstrap_servers", "missing (the cluster to connect to, host:port)");
    r.throw_if_errors();
    return out;
}

} // namespace

producer_options options_from(const config::dependency& dep) {
    connection_settings c = read_connection(dep);
    producer_options o;
    o.bootstrap_servers = std::move(c.bootstrap_servers);
    o.properties = std::move(c.properties);
    return o;
}

consumer_options consumer_options_from(const config::dependency& dep, std::string group_id) {
    connection_settings c = read_connection(dep);
    consumer_options o;
    o.bootstrap_servers = std::move(c.bootstrap_servers);
    o.properties = std::move(c.properties);
    o.group_id = std::move(group_id);
    return o;
}

producer_options producer_options_from(const config::dependency& dep) {
    return options_from(dep);
}

connection_settings connection_from(const config::dependency& dep) {
    return read_connection(dep);
}

service::service(executor_type executor, config::registry& policies, std::string_view dependency)
    : dependency_service(std::move(executor), policies, dependency, options_from),
      connection_(policies.read_dependency(dependency, read_connection)) {}

consumer_options service::consumer_options_for(std::string group_id) const {
    consumer_options o;
    o.bootstrap_servers = connection_.bootstrap_servers;
    o.properties = connection_.properties;
    o.group_id = std::move(group_id);
    return o;
}

} // namespace keel::kafka
