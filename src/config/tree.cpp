// Over 400 lines: one libyaml event loop and the positioned tree it builds, read together.
#include "tree.hpp"

#include <yaml.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <tuple>
#include <unordered_map>

namespace keel::config::detail {

namespace {

// Aliases copy the anchored subtree; this bounds the copies so that a
// "billion laughs" file fails with an error instead of exhausting memory.
constexpr std::size_t max_nodes = 1'000'000;

// Collections nested deeper than this are refused: the tree and the loader
// recurse over it. yaml-cpp (the previous parser) stopped near 660 levels.
constexpr std::size_t max_depth = 500;

std::size_t count_nodes(const node& n) {
    std::size_t count = 1;
    for (const auto& [k, v] : n.entries)
        count += count_nodes(k) + count_nodes(v);
    for (const node& item : n.items)
        count += count_nodes(item);
    return count;
}

/// 1-based line and column from libyaml's marks. libyaml counts columns in
/// characters; diagnostics count bytes (as yaml-cpp did), which differs only
/// on lines holding non-ASCII text.
class locator {
public:
    explicit locator(std::string_view text)
        : text_(text), ascii_(std::all_of(text.begin(), text.end(), [](char c) {
              return static_cast<unsigned char>(c) < 0x80;
          })) {}

    std::pair<int, int> at(const yaml_mark_t& mark) {
        const int line = static_cast<int>(mark.line) + 1;
        if (ascii_)
            return {line, static_cast<int>(mark.column) + 1};
        starts();
        if (mark.line >= line_starts_.size())
            return {line, static_cast<int>(mark.column) + 1};
        std::size_t i = line_starts_[mark.line];
        for (std::size_t chars = 0; chars < mark.column && i < text_.size(); ++chars)
            i += width(static_cast<unsigned char>(text_[i]));
        return {line, static_cast<int>(i - line_starts_[mark.line]) + 1};
    }

    /// For reader errors, which libyaml places by byte offset only.
    std::pair<int, int> at_offset(std::size_t offset) {
        starts();
        offset = std::min(offset, text_.size());
        const auto after = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
        const std::size_t line = static_cast<std::size_t>(after - line_starts_.begin()) - 1;
        return {static_cast<int>(line) + 1, static_cast<int>(offset - line_starts_[line]) + 1};
    }

private:
    static std::size_t width(unsigned char lead) {
        return lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    }

    /// Line starts as libyaml breaks lines: CR LF, CR, LF, NEL, LS and PS.
    void starts() {
        if (!line_starts_.empty())
            return;
        line_starts_.push_back(0);
        for (std::size_t i = 0; i < text_.size(); ++i) {
            const char c = text_[i];
            if (c == '\r' && i + 1 < text_.size() && text_[i + 1] == '\n')
                ++i;
            else if (c == '\xC2' && i + 1 < text_.size() && text_[i + 1] == '\x85')
                ++i;
            else if (c == '\xE2' && i + 2 < text_.size() && text_[i + 1] == '\x80' &&
                     (text_[i + 2] == '\xA8' || text_[i + 2] == '\xA9'))
                i += 2;
            else if (c != '\r' && c != '\n')
                continue;
            line_starts_.push_back(i + 1);
        }
    }

    std::string_view text_;
    bool ascii_;
    std::vector<std::size_t> line_starts_;
};

/// Owns a libyaml parser.
struct parser_handle {
    yaml_parser_t parser;
    bool ok;
    explicit parser_handle(std::string_view text) : ok(yaml_parser_initialize(&parser) != 0) {
        if (!ok)
            return;
        yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                     text.size());
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    }
    ~parser_handle() {
        if (ok)
            yaml_parser_delete(&parser);
    }
    parser_handle(const parser_handle&) = delete;
    parser_handle& operator=(const parser_handle&) = delete;
};

/// Owns one libyaml event.
struct event_handle {
    yaml_event_t event;
    bool filled = false;
    event_handle() = default;
    ~event_handle() { reset(); }
    void reset() {
        if (filled)
            yaml_event_delete(&event);
        filled = false;
    }
    event_handle(const event_handle&) = delete;
    event_handle& operator=(const event_handle&) = delete;
};

/// Like yaml-cpp, a plain untagged "~", "null", "Null", "NULL" or empty
/// scalar is null; quoted or tagged, it is the text.
bool is_null(const yaml_event_t& e) {
    if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || e.data.scalar.tag != nullptr)
        return false;
    const std::string_view v(reinterpret_cast<const char*>(e.data.scalar.value),
                             e.data.scalar.length);
    return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

std::string anchor_of(const yaml_char_t* anchor) {
    return anchor ? std::string(reinterpret_cast<const char*>(anchor)) : std::string();
}

/// Stops the build: the diagnostic is already recorded.
struct stop {};

class tree_builder {
public:
    tree_builder(const std::string& file, std::vector<diagnostic>& errors, locator& where)
        : file_(file), errors_(errors), where_(where) {}

    std::optional<node> root;

    void on_alias(const yaml_event_t& e) {
        const std::string name = anchor_of(e.data.alias.anchor);
        auto found = anchors_.find(name);
        if (found == anchors_.end())
            fail(e.start_mark, "invalid YAML: found undefined alias '" + name + "'");
        nodes_ += found->second.second;
        if (nodes_ > max_nodes)
            too_large(e.start_mark);
        // The copy keeps the anchored node's positions: that is where the
        // text an error would be about is written.
        finish(node(found->second.first), {});
    }

    void on_scalar(const yaml_event_t& e) {
        if (is_null(e)) {
            node n = make(node::type::null, e.start_mark);
            // libyaml marks an empty value in a block map (`key:` and a line
            // break) just after the colon; the key is where the reader should
            // look (and where yaml-cpp's position was moved to).
            if (e.data.scalar.length == 0 && !stack_.empty() && stack_.back().block &&
                stack_.back().key) {
                n.line = stack_.back().key->line;
                n.column = stack_.back().key->column;
            }
            finish(std::move(n), anchor_of(e.data.scalar.anchor));
            return;
        }
        node n = make(node::type::scalar, e.start_mark);
        n.text.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        finish(std::move(n), anchor_of(e.data.scalar.anchor));
    }

    void on_sequence_start(const yaml_event_t& e) {
        open(make(node::type::sequence, e.start_mark), anchor_of(e.data.sequence_start.anchor),
             e.start_mark);
    }

    void on_mapping_start(const yaml_event_t& e) {
        open(make(node::type::map, e.start_mark), anchor_of(e.data.mapping_start.anchor),
             e.start_mark);
        stack_.back().block = e.data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE;
    }

    void close() {
        frame f = std::move(stack_.back());
        stack_.pop_back();
        finish(std::move(f.n), f.anchor);
    }

    [[noreturn]] void fail(const yaml_mark_t& mark, std::string message) {
        diagnostic d;
        const auto [line, column] = where_.at(mark);
        d.where = position{file_, line, column};
        d.message = std::move(message);
        errors_.push_back(std::move(d));
        throw stop{};
    }

private:
    struct frame {
        node n;
        std::string anchor;
        bool block = false;                                ///< maps: block style, not {flow}
        std::string path;                                  ///< key path of this collection
        std::optional<node> key;                           ///< maps: the key waiting for its value
        std::unordered_map<std::string, std::size_t> seen; ///< maps: key -> index in entries
    };

    [[noreturn]] void too_large(const yaml_mark_t& mark) {
        fail(mark, "document too large: more than " + std::to_string(max_nodes) +
                       " nodes (after expanding aliases)");
    }

    node make(node::type kind, const yaml_mark_t& mark) {
        if (++nodes_ > max_nodes)
            too_large(mark);
        node n;
        n.kind = kind;
        std::tie(n.line, n.column) = where_.at(mark);
        return n;
    }

    /// The key path of the node about to be added to the top frame.
    std::string child_path() const {
        if (stack_.empty())
            return {};
        const frame& top = stack_.back();
        std::string segment;
        if (top.n.kind == node::type::sequence)
            return top.path + "[" + std::to_string(top.n.items.size()) + "]";
        if (top.key && top.key->kind == node::type::scalar)
            segment = top.key->text;
        return top.path.empty() ? segment : top.path + "." + segment;
    }

    void open(node n, std::string anchor, const yaml_mark_t& mark) {
        if (stack_.size() >= max_depth)
            fail(mark, "invalid YAML: nested too deeply");
        frame f;
        f.path = child_path();
        f.n = std::move(n);
        f.anchor = std::move(anchor);
        stack_.push_back(std::move(f));
    }

    void error(const node& at, std::string path, std::string message) {
        diagnostic d;
        d.where = position{file_, at.line, at.column};
        d.message = path.empty() ? message : path + ": " + message;
        d.key_path = std::move(path);
        errors_.push_back(std::move(d));
    }

    void finish(node n, const std::string& anchor) {
        if (!anchor.empty())
            anchors_[anchor] = {n, count_nodes(n)};
        if (stack_.empty()) {
            root = std::move(n);
            return;
        }
        frame& top = stack_.back();
        if (top.n.kind == node::type::sequence) {
            top.n.items.push_back(std::move(n));
            return;
        }
        if (!top.key) {
            top.key = std::move(n);
            return;
        }
        node key = std::move(*top.key);
        top.key.reset();
        // An empty value in a flow map is marked at the next token, maybe
        // lines below (`{a:` and a line break): point at the key instead.
        if (n.kind == node::type::null && n.line > key.line) {
            n.line = key.line;
            n.column = key.column;
        }
        std::string path = top.path.empty() ? key.text : top.path + "." + key.text;
        if (key.kind != node::type::scalar) {
            error(key, top.path, "map keys must be plain strings");
            return;
        }
        auto [it, inserted] = top.seen.emplace(key.text, top.n.entries.size());
        if (!inserted) {
            const node& first = top.n.entries[it->second].first;
            error(key, path,
                  "duplicate key '" + key.text + "' (first defined at " +
                      std::to_string(first.line) + ":" + std::to_string(first.column) + ")");
            return;
        }
        top.n.entries.emplace_back(std::move(key), std::move(n));
    }

    const std::string& file_;
    std::vector<diagnostic>& errors_;
    locator& where_;
    std::vector<frame> stack_;
    std::unordered_map<std::string, std::pair<node, std::size_t>> anchors_;
    std::size_t nodes_ = 0;
};

/// "invalid YAML: <problem> (<context> that starts at L:C)", at the problem.
diagnostic syntax_error(const std::string& file, const yaml_parser_t& parser, locator& where) {
    diagnostic d;
    std::pair<int, int> at{1, 1};
    std::string message = "invalid YAML: ";
    if (parser.error == YAML_MEMORY_ERROR) {
        message += "out of memory";
    } else if (parser.error == YAML_READER_ERROR) {
        // Encoding errors: libyaml gives a byte offset and the bad value.
        at = where.at_offset(parser.problem_offset);
        message += parser.problem ? parser.problem : "cannot read the input";
        if (parser.problem_value != -1) {
            char value[16];
            std::snprintf(value, sizeof value, " (0x%x)",
                          static_cast<unsigned>(parser.problem_value));
            message += value;
        }
    } else {
        at = where.at(parser.problem_mark);
        message += parser.problem ? parser.problem : "syntax error";
        if (parser.context) {
            const auto [line, column] = where.at(parser.context_mark);
            message += std::string(" (") + parser.context + " that starts at " +
                       std::to_string(line) + ":" + std::to_string(column) + ")";
        }
    }
    d.where = position{file, at.first, at.second};
    d.message = std::move(message);
    return d;
}

} // namespace

std::optional<node> parse_tree(std::string_view text, const std::string& file,
                               std::vector<diagnostic>& errors) {
    locator where(text);
    parser_handle handle(text);
    if (!handle.ok) {
        diagnostic d;
        d.where = position{file, 1, 1};
        d.message = "invalid YAML: out of memory";
        errors.push_back(std::move(d));
        return std::nullopt;
    }
    yaml_parser_t& parser = handle.parser;
    tree_builder builder(file, errors, where);
    event_handle event;
    int documents = 0;
    bool first_ended = false; ///< the first document is complete
    try {
        for (;;) {
            event.reset();
            if (!yaml_parser_parse(&parser, &event.event)) {
                errors.push_back(syntax_error(file, parser, where));
                // A complete first document is still worth checking.
                return first_ended ? std::move(builder.root) : std::nullopt;
            }
            event.filled = true;
            const yaml_event_t& e = event.event;
            switch (e.type) {
            case YAML_STREAM_END_EVENT:
                return std::move(builder.root);
            case YAML_DOCUMENT_START_EVENT:
                if (++documents > 1) {
                    const auto [line, column] = where.at(e.start_mark);
                    diagnostic d;
                    d.where = position{file, line, column};
                    d.message = "a configuration file holds one YAML document; "
                                "a second one starts here";
                    errors.push_back(std::move(d));
                    return std::move(builder.root);
                }
                break;
            case YAML_ALIAS_EVENT:
                builder.on_alias(e);
                break;
            case YAML_SCALAR_EVENT:
                builder.on_scalar(e);
                break;
            case YAML_SEQUENCE_START_EVENT:
                builder.on_sequence_start(e);
                break;
            case YAML_MAPPING_START_EVENT:
                builder.on_mapping_start(e);
                break;
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT:
                builder.close();
                break;
            case YAML_DOCUMENT_END_EVENT:
                first_ended = true;
                break;
            case YAML_STREAM_START_EVENT:
            case YAML_NO_EVENT:
                break;
            }
        }
    } catch (const stop&) {
        return std::nullopt;
    }
}

} // namespace keel::config::detail
