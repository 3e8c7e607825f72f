// Reading YAML into positioned values, for the loader and for tools that read
// files of their own (keel/config/yaml_file.hpp).
#include <keel/config/section_reader.hpp>
#include <keel/config/yaml_file.hpp>

#include "substitute.hpp"
#include "tree.hpp"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace keel::config {

namespace detail {

std::optional<std::string> read_file(const std::string& path, std::string_view what,
                                     std::vector<diagnostic>& errors) {
    const auto unreadable = [&](const std::string& why) {
        diagnostic d;
        d.where = position{path, 0, 0};
        d.message = "cannot read the " + std::string(what) + ": " + why;
        errors.push_back(std::move(d));
        return std::nullopt;
    };
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return unreadable("it is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return unreadable(std::generic_category().message(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        return unreadable("read error");
    return std::move(text).str();
}

} // namespace detail

std::optional<value> parse_yaml(std::string_view text, const std::string& name,
                                std::vector<diagnostic>& errors, const load_options& options) {
    const std::size_t before = errors.size();
    std::optional<detail::node> root = detail::parse_tree(text, name, errors);
    if (!root) {
        if (errors.size() == before) {
            diagnostic d;
            d.where = position{name, 1, 1};
            d.message = "empty document";
            errors.push_back(std::move(d));
        }
        return std::nullopt;
    }
    reader substitution(errors);
    return detail::resolve(*root, name, options.env, substitution);
}

std::optional<value> parse_yaml_file(const std::string& path, std::vector<diagnostic>& errors,
                                     const load_options& options) {
    const std::optional<std::string> text = detail::read_file(path, "file", errors);
    if (!text)
        return std::nullopt;
    return parse_yaml(*text, path, errors, options);
}

} // namespace keel::config
