#include <keel/config/section_reader.hpp>

namespace keel::config {

section_reader::section_reader(const dependency& dep, dependency_kind kind, std::string_view who)
    : base_("dependencies." + dep.name + ".connection") {
    if (dep.kind == kind)
        return;
    diagnostic d;
    d.where = dep.where;
    d.key_path = "dependencies." + dep.name;
    d.message = d.key_path + ": is kind " + std::string(to_string(dep.kind)) + ", not " +
                std::string(to_string(kind)) + " (" + std::string(who) +
                " needs kind: " + std::string(to_string(kind)) + ")";
    throw config_error({d});
}

void section_reader::error(const position& where, const std::string& key,
                           const std::string& message) {
    diagnostic d;
    d.where = where;
    d.key_path = key;
    d.message = key + ": " + message;
    errors_.push_back(std::move(d));
}

std::optional<std::string> section_reader::scalar(const value& v, const std::string& key,
                                                  const char* expected) {
    if (v.kind() != value::type::scalar) {
        error(v, key, std::string("expected ") + expected);
        return std::nullopt;
    }
    return v.scalar();
}

std::optional<bool> section_reader::boolean(const value& v, const std::string& key) {
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

bool section_reader::known(const value& map, const std::string& key,
                           std::initializer_list<std::string_view> keys) {
    if (map.kind() == value::type::null)
        return false;
    if (map.kind() != value::type::map) {
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

void section_reader::throw_if_errors() {
    if (!errors_.empty())
        throw config_error(std::move(errors_));
}

} // namespace keel::config
