#include <keel/http/service.hpp>

#include <charconv>
#include <stdexcept>

namespace keel::http {

namespace {

/// Collects positioned errors about one connection section.
class reader {
public:
    explicit reader(const config::dependency& dep)
        : dep_(dep), base_("dependencies." + dep.name + ".connection") {}

    void error(const config::value& at, const std::string& key, const std::string& message) {
        config::diagnostic d;
        d.where = at.where();
        d.key_path = key;
        d.message = key + ": " + message;
        errors_.push_back(std::move(d));
    }

    const std::string& base() const { return base_; }
    std::vector<config::diagnostic>& errors() { return errors_; }

    std::optional<std::string> scalar(const config::value& v, const std::string& key,
                                      const char* expected) {
        if (v.kind() != config::value::type::scalar) {
            error(v, key, std::string("expected ") + expected);
            return std::nullopt;
        }
        return v.scalar();
    }

    std::optional<bool> boolean(const config::value& v, const std::string& key) {
        auto text = scalar(v, key, "a boolean (true or false)");
        if (!text)
            return std::nullopt;
        if (*text == "true")
            return true;
        if (*text == "false")
            return false;
        error(v, key, "expected a boolean (true or false), got \"" + *text + "\"");
        return std::nullopt;
    }

    bool known(const config::value& map, const std::string& key,
               std::initializer_list<std::string_view> keys) {
        if (map.kind() == config::value::type::null)
            return false;
        if (map.kind() != config::value::type::map) {
            error(map, key, "expected a map");
            return false;
        }
        for (const auto& [name, v] : map.entries()) {
            bool found = false;
            for (std::string_view k : keys)
                found = found || k == name;
            if (!found) {
                std::string list;
                for (std::string_view k : keys)
                    list += (list.empty() ? "" : ", ") + std::string(k);
                error(v, key + "." + name, "unknown key '" + name + "'; expected one of: " + list);
            }
        }
        return true;
    }

private:
    const config::dependency& dep_;
    std::string base_;
    std::vector<config::diagnostic> errors_;
};

} // namespace

client_options options_from(const config::dependency& dep) {
    client_options out;
    reader r(dep);
    if (dep.kind != config::dependency_kind::http) {
        config::diagnostic d;
        d.where = dep.where;
        d.key_path = "dependencies." + dep.name;
        d.message = d.key_path + ": is kind " + std::string(config::to_string(dep.kind)) +
                    ", not http (keel::http::service needs kind: http)";
        throw config::config_error({d});
    }
    const config::value& c = dep.connection;
    if (r.known(c, r.base(),
                {"base_url", "headers", "tls", "deadline_headers", "max_connections_per_host"})) {
        for (const auto& [name, v] : c.entries()) {
            const std::string key = r.base() + "." + name;
            if (name == "base_url") {
                if (auto url = r.scalar(v, key, "a URL (http://host:port)")) {
                    if (!url->starts_with("http://") && !url->starts_with("https://"))
                        r.error(v, key,
                                "expected a URL starting with http:// or https://, got \"" + *url +
                                    "\"");
                    else
                        out.base_url = url->ends_with("/") ? url->substr(0, url->size() - 1) : *url;
                }
            } else if (name == "headers") {
                // Any header name: a map of names to values.
                if (v.kind() == config::value::type::map) {
                    for (const auto& [h, hv] : v.entries())
                        if (auto text = r.scalar(hv, key + "." + h, "a header value"))
                            out.default_headers.emplace_back(h, *text);
                } else if (v.kind() != config::value::type::null) {
                    r.error(v, key, "expected a map of header names to values");
                }
            } else if (name == "tls") {
                if (r.known(v, key, {"verify", "ca_file", "client_cert", "client_key"})) {
                    for (const auto& [t, tv] : v.entries()) {
                        const std::string tkey = key + "." + t;
                        if (t == "verify") {
                            if (auto b = r.boolean(tv, tkey))
                                out.tls.verify = *b;
                        } else if (auto text = r.scalar(tv, tkey, "a file path")) {
                            (t == "ca_file"       ? out.tls.ca_file
                             : t == "client_cert" ? out.tls.client_cert
                                                  : out.tls.client_key) = *text;
                        }
                    }
                }
            } else if (name == "deadline_headers") {
                if (auto b = r.boolean(v, key))
                    out.deadline_headers = *b;
            } else if (name == "max_connections_per_host") {
                if (auto text = r.scalar(v, key, "a whole number")) {
                    long n = 0;
                    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
                    if (ec != std::errc() || end != text->data() + text->size() || n < 0)
                        r.error(v, key, "expected a whole number >= 0, got \"" + *text + "\"");
                    else
                        out.max_connections_per_host = n;
                }
            }
        }
    }
    if (!r.errors().empty())
        throw config::config_error(std::move(r.errors()));
    return out;
}

namespace {

client_options options_of(config::registry& policies, std::string_view name) {
    policies.pipeline(name); // throws std::out_of_range naming the declared ones
    const std::shared_ptr<const config::document> doc = policies.current();
    const config::dependency* dep = doc->find(name);
    if (!dep)
        throw std::out_of_range("keel::http: unknown dependency '" + std::string(name) + "'");
    return options_from(*dep);
}

} // namespace

service::service(executor_type executor, config::registry& policies, std::string_view dependency)
    : pipeline_(&policies.pipeline(dependency)),
      client_(executor, options_of(policies, dependency)) {}

} // namespace keel::http
