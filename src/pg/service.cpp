#include <keel/config/section_reader.hpp>
#include <keel/pg/service.hpp>

#include <charconv>
#include <stdexcept>

namespace keel::pg {

namespace {

constexpr std::string_view known_keys[] = {"dsn", "pool_size", "cancel_grace"};

} // namespace

pool_options options_from(const config::dependency& dep) {
    config::section_reader r(dep, config::dependency_kind::postgres, "keel::pg::service");
    pool_options out;
    const config::value& c = dep.connection;
    bool has_dsn = false;
    if (c.kind() == config::value::type::map) {
        for (const auto& [name, v] : c.entries()) {
            const std::string key = r.base() + "." + name;
            if (name == "dsn") {
                if (auto text = r.scalar(v, key, "a libpq connection string or URI")) {
                    if (text->empty())
                        r.error(v.where(), key, "must not be empty");
                    out.dsn = *text;
                    has_dsn = true;
                }
            } else if (name == "pool_size") {
                if (auto text = r.scalar(v, key, "a whole number >= 1")) {
                    std::size_t n = 0;
                    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
                    if (ec != std::errc() || end != text->data() + text->size() || n < 1)
                        r.error(v.where(), key,
                                "expected a whole number >= 1, got \"" + *text + "\"");
                    else
                        out.size = n;
                }
            } else if (name == "cancel_grace") {
                if (auto text = r.scalar(v, key, "a duration (e.g. 2s)")) {
                    std::string why;
                    if (auto d = config::parse_duration(*text, &why))
                        out.cancel_grace = std::chrono::ceil<std::chrono::milliseconds>(*d);
                    else
                        r.error(v.where(), key, why);
                }
            } else {
                std::string list;
                for (std::string_view k : known_keys)
                    list += (list.empty() ? "" : ", ") + std::string(k);
                r.error(v.where(), key, "unknown key '" + name + "'; expected one of: " + list);
            }
        }
    } else if (c.kind() != config::value::type::null) {
        r.error(c.where(), r.base(), "expected a map");
    }
    if (!has_dsn && c.kind() != config::value::type::scalar &&
        c.kind() != config::value::type::sequence)
        r.error(c.kind() == config::value::type::null ? dep.where : c.where(), r.base() + ".dsn",
                "is required (a libpq connection string or URI)");
    r.throw_if_errors();
    return out;
}

} // namespace keel::pg
