#include <keel/config/section_reader.hpp>
#include <keel/http/service.hpp>

#include <stdexcept>

namespace keel::http {

namespace {

constexpr std::string_view connection_keys[] = {"base_url", "headers", "tls", "deadline_headers",
                                                "max_connections_per_host"};
constexpr std::string_view tls_keys[] = {"verify", "ca_file", "client_cert", "client_key"};

void read_tls(config::section_reader& r, const config::value& v, const std::string& path,
              tls_options& out) {
    r.entries(v, path, tls_keys,
              [&](const std::string& name, const config::value& item, const std::string& key) {
                  if (name == "verify") {
                      if (auto b = r.boolean(item, key))
                          out.verify = *b;
                  } else if (auto text = r.scalar(item, key, "a file path")) {
                      (name == "ca_file"       ? out.ca_file
                       : name == "client_cert" ? out.client_cert
                                               : out.client_key) = *text;
                  }
              });
}

void read_base_url(config::section_reader& r, const config::value& v, const std::string& key,
                   std::string& out) {
    auto url = r.scalar(v, key, "a URL (http://host:port)");
    if (!url)
        return;
    if (!url->starts_with("http://") && !url->starts_with("https://"))
        r.error(v, key, "expected a URL starting with http:// or https://, got \"" + *url + "\"");
    else
        out = url->ends_with("/") ? url->substr(0, url->size() - 1) : *url;
}

} // namespace

client_options options_from(const config::dependency& dep) {
    client_options out;
    config::section_reader r(dep, config::dependency_kind::http, "keel::http::service");
    r.entries(r.section(), r.base(), connection_keys,
              [&](const std::string& name, const config::value& v, const std::string& key) {
                  if (name == "base_url") {
                      read_base_url(r, v, key, out.base_url);
                  } else if (name == "headers") {
                      // Any header name: a map of names to values.
                      if (r.any_map(v, key, "a map of header names to values"))
                          for (const auto& [h, hv] : v.entries())
                              if (auto text = r.scalar(hv, config::join(key, h), "a header value"))
                                  out.default_headers.emplace_back(h, *text);
                  } else if (name == "tls") {
                      read_tls(r, v, key, out.tls);
                  } else if (name == "deadline_headers") {
                      if (auto b = r.boolean(v, key))
                          out.deadline_headers = *b;
                  } else if (auto n = r.whole_number(v, key, 0)) { // max_connections_per_host
                      out.max_connections_per_host = static_cast<long>(*n);
                  }
              });
    r.throw_if_errors();
    return out;
}

} // namespace keel::http
