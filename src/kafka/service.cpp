#include <keel/kafka/service.hpp>

#include <librdkafka/rdkafka.h>

#include <memory>
#include <stdexcept>

namespace keel::kafka {

namespace {

config::diagnostic at(const config::value& v, const std::string& key, const std::string& message) {
    config::diagnostic d;
    d.where = v.where();
    d.key_path = key;
    d.message = key + ": " + message;
    return d;
}

} // namespace

connection_settings connection_from(const config::dependency& dep) {
    if (dep.kind != config::dependency_kind::kafka) {
        config::diagnostic d;
        d.where = dep.where;
        d.key_path = "dependencies." + dep.name;
        d.message = d.key_path + ": is kind " + std::string(config::to_string(dep.kind)) +
                    ", not kafka (keel::kafka::service needs kind: kafka)";
        throw config::config_error({d});
    }
    const std::string base = "dependencies." + dep.name + ".connection";
    std::vector<config::diagnostic> errors;
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
                    errors.push_back(at(v, key, "expected host:port[,host:port...]"));
                else
                    out.bootstrap_servers = v.scalar();
            } else if (name == "properties") {
                if (v.kind() == config::value::type::map) {
                    for (const auto& [p, pv] : v.entries()) {
                        const std::string pkey = key + "." + p;
                        if (pv.kind() != config::value::type::scalar) {
                            errors.push_back(
                                at(pv, pkey, "expected a value (librdkafka property)"));
                            continue;
                        }
                        char why[512] = "";
                        if (rd_kafka_conf_set(scratch.get(), p.c_str(), pv.scalar().c_str(), why,
                                              sizeof why) != RD_KAFKA_CONF_OK)
                            errors.push_back(at(pv, pkey, std::string("librdkafka: ") + why));
                        else
                            out.properties.emplace_back(p, pv.scalar());
                    }
                } else if (v.kind() != config::value::type::null) {
                    errors.push_back(at(v, key, "expected a map of librdkafka properties"));
                }
            } else {
                errors.push_back(at(v, key,
                                    "unknown key '" + name +
                                        "'; expected one of: bootstrap_servers, properties"));
            }
        }
    } else if (c.kind() != config::value::type::null) {
        errors.push_back(at(c, base, "expected a map"));
    }
    if (errors.empty() && out.bootstrap_servers.empty()) {
        config::diagnostic d;
        d.where = c.kind() == config::value::type::null ? dep.where : c.where();
        d.key_path = base + ".bootstrap_servers";
        d.message = d.key_path + ": missing (the cluster to connect to, host:port)";
        errors.push_back(std::move(d));
    }
    if (!errors.empty())
        throw config::config_error(std::move(errors));
    return out;
}

producer_options producer_options_from(const config::dependency& dep) {
    connection_settings c = connection_from(dep);
    producer_options o;
    o.bootstrap_servers = std::move(c.bootstrap_servers);
    o.properties = std::move(c.properties);
    return o;
}

consumer_options consumer_options_from(const config::dependency& dep, std::string group_id) {
    connection_settings c = connection_from(dep);
    consumer_options o;
    o.bootstrap_servers = std::move(c.bootstrap_servers);
    o.properties = std::move(c.properties);
    o.group_id = std::move(group_id);
    return o;
}

namespace {

connection_settings settings_of(config::registry& policies, std::string_view name) {
    policies.pipeline(name); // throws std::out_of_range naming the declared ones
    const std::shared_ptr<const config::document> doc = policies.current();
    const config::dependency* dep = doc->find(name);
    if (!dep)
        throw std::out_of_range("keel::kafka: unknown dependency '" + std::string(name) + "'");
    return connection_from(*dep);
}

producer_options producer_options_of(const connection_settings& c) {
    producer_options o;
    o.bootstrap_servers = c.bootstrap_servers;
    o.properties = c.properties;
    return o;
}

} // namespace

service::service(executor_type executor, config::registry& policies, std::string_view dependency)
    : pipeline_(&policies.pipeline(dependency)), connection_(settings_of(policies, dependency)),
      producer_(executor, producer_options_of(connection_)) {}

consumer_options service::consumer_options_for(std::string group_id) const {
    consumer_options o;
    o.bootstrap_servers = connection_.bootstrap_servers;
    o.properties = connection_.properties;
    o.group_id = std::move(group_id);
    return o;
}

} // namespace keel::kafka
