#include <keel/config/section_reader.hpp>
#include <keel/http/service.hpp>

#include <charconv>
#include <stdexcept>

namespace keel::http {

client_options options_from(const config::dependency& dep) {
    client_options out;
    config::section_reader r(dep, config::dependency_kind::http, "keel::http::service");
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
    r.throw_if_errors();
    return out;
}

} // namespace keel::http
