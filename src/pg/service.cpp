#include <keel/pg/service.hpp>

#include <charconv>
#include <stdexcept>

namespace keel::pg {

namespace {

/// Collects positioned errors about one connection section.
class reader {
public:
    explicit reader(const config::dependency& dep)
        : base_("dependencies." + dep.name + ".connection") {}

    void error(const config::position& where, const std::string& key, const std::string& message) {
        config::diagnostic d;
        d.where = where;
        d.key_path = key;
        d.message = key + ": " + message;
        errors_.push_back(std::move(d));
    }

    const std::string& base() const { return base_; }
    std::vector<config::diagnostic>& errors() { return errors_; }

    std::optional<std::string> scalar(const config::value& v, const std::string& key,
                                      const char* expected) {
        if (v.kind() != config::value::type::scalar) {
            error(v.where(), key, std::string("expected ") + expected);
            return std::nullopt;
        }
        return v.scalar();
    }

private:
    std::string base_;
    std::vector<config::diagnostic> errors_;
};

constexpr std::string_view known_keys[] = {"dsn", "pool_size", "cancel_grace"};

} // namespace

pool_options options_from(const config::dependency& dep) {
    if (dep.kind != config::dependency_kind::postgres) {
        config::diagnostic d;
        d.where = dep.where;
        d.key_path = "dependencies." + dep.name;
        d.message = d.key_path + ": is kind " + std::string(config::to_string(dep.kind)) +
                    ", not postgres (keel::pg::service needs kind: postgres)";
        throw config::config_error({d});
    }
    pool_options out;
    reader r(dep);
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
    if (!r.errors().empty())
        throw config::config_error(std::move(r.errors()));
    return out;
}

namespace {

pool_options options_of(config::registry& policies, std::string_view name) {
    policies.pipeline(name); // throws std::out_of_range naming the declared ones
    const std::shared_ptr<const config::document> doc = policies.current();
    const config::dependency* dep = doc->find(name);
    if (!dep)
        throw std::out_of_range("keel::pg: unknown dependency '" + std::string(name) + "'");
    return options_from(*dep);
}

} // namespace

service::service(executor_type executor, config::registry& policies, std::string_view dependency)
    : pipeline_(&policies.pipeline(dependency)), pool_(executor, options_of(policies, dependency)) {
}

} // namespace keel::pg
