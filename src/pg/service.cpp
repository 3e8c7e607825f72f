#include <keel/config/section_reader.hpp>
#include <keel/pg/service.hpp>

#include <stdexcept>

namespace keel::pg {

namespace {

constexpr std::string_view connection_keys[] = {"dsn", "pool_size", "cancel_grace"};

} // namespace

pool_options options_from(const config::dependency& dep) {
    config::section_reader r(dep, config::dependency_kind::postgres, "keel::pg::service");
    pool_options out;
    const config::value& c = r.section();
    bool has_dsn = false;
    r.entries(c, r.base(), connection_keys,
              [&](const std::string& name, const config::value& v, const std::string& key) {
                  if (name == "dsn") {
                      if (auto text = r.scalar(v, key, "a libpq connection string or URI")) {
                          if (text->empty())
                              r.error(v, key, "must not be empty");
                          out.dsn = *text;
                          has_dsn = true;
                      }
                  } else if (name == "pool_size") {
                      if (auto n = r.whole_number(v, key, 1))
                          out.size = static_cast<std::size_t>(*n);
                  } else if (auto d = r.duration(v, key)) { // cancel_grace
                      out.cancel_grace = std::chrono::ceil<std::chrono::milliseconds>(*d);
                  }
              });
    // A section of the wrong shape is reported as such, not as lacking a dsn.
    if (!has_dsn && c.kind() != config::value::type::scalar &&
        c.kind() != config::value::type::sequence)
        r.error(r.where(), config::join(r.base(), "dsn"),
                "is required (a libpq connection string or URI)");
    r.throw_if_errors();
    return out;
}

} // namespace keel::pg
