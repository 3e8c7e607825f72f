#include "substitute.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

namespace keel::config::detail {

struct value_access {
    static void mark(value& v, position key_where, bool reported) {
        v.key_where_ = std::move(key_where);
        v.reported_ = reported;
    }
};

namespace {

class resolver {
public:
    resolver(const std::string& file, const environment& env, reader& out)
        : file_(file), env_(env), out_(out) {}

    value convert(const node& n, const std::string& path) {
        const position at = where(n);
        switch (n.kind) {
        case node::type::scalar: {
            std::optional<std::string> text = substitute(n, path);
            value v = value::make_scalar(text ? std::move(*text) : n.text, at);
            value_access::mark(v, position{}, !text);
            return v;
        }
        case node::type::map: {
            std::vector<std::pair<std::string, value>> entries;
            entries.reserve(n.entries.size());
            for (const auto& [k, item] : n.entries) {
                value v = convert(item, join(path, k.text));
                value_access::mark(v, where(k), v.reported());
                entries.emplace_back(k.text, std::move(v));
            }
            return value::make_map(std::move(entries), at);
        }
        case node::type::sequence: {
            std::vector<value> items;
            items.reserve(n.items.size());
            for (std::size_t i = 0; i < n.items.size(); ++i)
                items.push_back(convert(n.items[i], path + "[" + std::to_string(i) + "]"));
            return value::make_sequence(std::move(items), at);
        }
        case node::type::null:
            break;
        }
        return value::make_null(at);
    }

private:
    position where(const node& n) const { return position{file_, n.line, n.column}; }

    std::optional<std::string> lookup(const std::string& name) const {
        if (env_)
            return env_(name);
        if (const char* v = std::getenv(name.c_str()))
            return std::string(v);
        return std::nullopt;
    }

    /// The scalar's text substituted, or nullopt after reporting why not.
    std::optional<std::string> substitute(const node& n, const std::string& path) {
        const std::string& in = n.text;
        if (in.find('$') == std::string::npos)
            return in;
        std::string out;
        std::size_t i = 0;
        while (i < in.size()) {
            if (in.compare(i, 3, "$${") == 0) { // an escaped, literal "${"
                out += "${";
                i += 3;
                continue;
            }
            if (in.compare(i, 2, "${") != 0) {
                out += in[i++];
                continue;
            }
            const std::size_t close = in.find('}', i + 2);
            if (close == std::string::npos) {
                out_.error(where(n), path,
                           "unterminated \"${\" in \"" + in + "\" (write $${ for a literal ${)");
                return std::nullopt;
            }
            const std::string body = in.substr(i + 2, close - i - 2);
            const std::size_t sep = body.find(":-");
            const std::string name = body.substr(0, sep);
            const bool valid_name =
                !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                });
            if (!valid_name) {
                out_.error(where(n), path,
                           "invalid environment variable name \"" + name + "\" in \"${" + body +
                               "}\"");
                return std::nullopt;
            }
            std::optional<std::string> got = lookup(name);
            if (sep != std::string::npos) {
                // Like the shell's ${VAR:-default}: unset or empty takes the default.
                if (!got || got->empty())
                    got = body.substr(sep + 2);
            } else if (!got) {
                out_.error(where(n), path,
                           "environment variable " + name + " is not set and \"${" + name +
                               "}\" has no default (write ${" + name + ":-default})");
                return std::nullopt;
            }
            out += *got;
            i = close + 1;
        }
        return out;
    }

    const std::string& file_;
    const environment& env_;
    reader& out_;
};

} // namespace

value resolve(const node& root, const std::string& file, const environment& env, reader& out) {
    return resolver(file, env, out).convert(root, "");
}

} // namespace keel::config::detail
