#include <keel/config/section_reader.hpp>
#include <keel/kafka/service.hpp>

#include <librdkafka/rdkafka.h>

#include <memory>
#include <stdexcept>

namespace keel::kafka {

namespace {

constexpr std::string_view connection_keys[] = {"bootstrap_servers", "properties"};

/// Each property is tried on `scratch`, so that an unknown name or a bad
/// value is reported with its position.
void read_properties(config::section_reader& r, const config::value& v, const std::string& path,
                     rd_kafka_conf_t& scratch, property_list& out) {
    for (const auto& [name, item] : v.entries()) {
        const std::string key = config::join(path, name);
        auto text = r.scalar(item, key, "a value (librdkafka property)");
        if (!text)
            continue;
        char why[512] = "";
        if (rd_kafka_conf_set(&scratch, name.c_str(), text->c_str(), why, sizeof why) !=
            RD_KAFKA_CONF_OK)
            r.error(item, key, std::string("librdkafka: ") + why);
        else
            out.emplace_back(name, *text);
    }
}

connection_settings read_connection(const config::dependency& dep) {
    config::section_reader r(dep, config::dependency_kind::kafka, "keel::kafka::service");
    connection_settings out;
    // One scratch configuration checks every property as librdkafka will.
    std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> scratch(
        rd_kafka_conf_new(), &rd_kafka_conf_destroy);
    r.entries(r.section(), r.base(), connection_keys,
              [&](const std::string& name, const config::value& v, const std::string& key) {
                  if (name == "bootstrap_servers") {
                      auto servers = r.scalar(v, key, "host:port[,host:port...]");
                      if (servers && servers->empty())
                          r.error(v, key, "expected host:port[,host:port...], got \"\"");
                      else if (servers)
                          out.bootstrap_servers = *servers;
                  } else if (r.any_map(v, key, "a map of librdkafka properties")) {
                      read_properties(r, v, key, *scratch, out.properties);
                  }
              });
    if (r.errors().empty() && out.bootstrap_servers.empty())
        r.error(r.where(), config::join(r.base(), "bootstrap_servers"),
                "missing (the cluster to connect to, host:port)");
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
