#include "tree.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <cstddef>
#include <map>
#include <sstream>
#include <unordered_map>

namespace keel::config::detail {

namespace {

// Aliases copy the anchored subtree; this bounds the copies so that a
// "billion laughs" file fails with an error instead of exhausting memory.
constexpr std::size_t max_nodes = 1'000'000;

struct too_large {
    YAML::Mark mark;
};

std::size_t count_nodes(const node& n) {
    std::size_t count = 1;
    for (const auto& [k, v] : n.entries)
        count += count_nodes(k) + count_nodes(v);
    for (const node& item : n.items)
        count += count_nodes(item);
    return count;
}

class tree_builder final : public YAML::EventHandler {
public:
    tree_builder(const std::string& file, std::vector<diagnostic>& errors)
        : file_(file), errors_(errors) {}

    std::optional<node> root;

    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        node n = make(node::type::null, mark);
        finish(std::move(n), anchor);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        auto found = anchors_.find(anchor);
        if (found == anchors_.end()) {
            finish(make(node::type::null, mark), 0);
            return;
        }
        nodes_ += found->second.second;
        if (nodes_ > max_nodes)
            throw too_large{mark};
        // The copy keeps the anchored node's positions: that is where the
        // text an error would be about is written.
        finish(node(found->second.first), 0);
    }

    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  const std::string& value) override {
        node n = make(node::type::scalar, mark);
        n.text = value;
        finish(std::move(n), anchor);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(make(node::type::sequence, mark), anchor);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(make(node::type::map, mark), anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct frame {
        node n;
        YAML::anchor_t anchor = 0;
        std::string path;                                  ///< key path of this collection
        std::optional<node> key;                           ///< maps: the key waiting for its value
        std::unordered_map<std::string, std::size_t> seen; ///< maps: key -> index in entries
    };

    node make(node::type kind, const YAML::Mark& mark) {
        if (++nodes_ > max_nodes)
            throw too_large{mark};
        node n;
        n.kind = kind;
        n.line = mark.line + 1;
        n.column = mark.column + 1;
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

    void open(node n, YAML::anchor_t anchor) {
        frame f;
        f.path = child_path();
        f.n = std::move(n);
        f.anchor = anchor;
        stack_.push_back(std::move(f));
    }

    void close() {
        frame f = std::move(stack_.back());
        stack_.pop_back();
        finish(std::move(f.n), f.anchor);
    }

    void error(const node& at, std::string path, std::string message) {
        diagnostic d;
        d.where = position{file_, at.line, at.column};
        d.message = path.empty() ? message : path + ": " + message;
        d.key_path = std::move(path);
        errors_.push_back(std::move(d));
    }

    void finish(node n, YAML::anchor_t anchor) {
        if (anchor != 0)
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
        // yaml-cpp marks an empty value (`key:` and a line break) at the next
        // token, often lines below; the key is where the reader should look.
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
    std::vector<frame> stack_;
    std::map<YAML::anchor_t, std::pair<node, std::size_t>> anchors_;
    std::size_t nodes_ = 0;
};

/// Sees whether the stream holds another document, without keeping it.
class document_probe final : public YAML::EventHandler {
public:
    std::optional<YAML::Mark> start;
    void OnDocumentStart(const YAML::Mark& mark) override {
        if (!start)
            start = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

diagnostic at_mark(const std::string& file, const YAML::Mark& mark, std::string message) {
    diagnostic d;
    // yaml-cpp leaves some errors without a mark (-1): point at the start.
    d.where =
        position{file, mark.line < 0 ? 1 : mark.line + 1, mark.column < 0 ? 1 : mark.column + 1};
    d.message = std::move(message);
    return d;
}

} // namespace

std::optional<node> parse_tree(std::string_view text, const std::string& file,
                               std::vector<diagnostic>& errors) {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    tree_builder builder(file, errors);
    try {
        parser.HandleNextDocument(builder);
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp's own message for this is "bad file".
        errors.push_back(at_mark(file, e.mark, "invalid YAML: nested too deeply"));
        return std::nullopt;
    } catch (const YAML::Exception& e) {
        errors.push_back(at_mark(file, e.mark, "invalid YAML: " + e.msg));
        return std::nullopt;
    } catch (const too_large& e) {
        errors.push_back(at_mark(file, e.mark,
                                 "document too large: more than " + std::to_string(max_nodes) +
                                     " nodes (after expanding aliases)"));
        return std::nullopt;
    }
    try {
        document_probe probe;
        if (parser.HandleNextDocument(probe) && probe.start)
            errors.push_back(at_mark(file, *probe.start,
                                     "a configuration file holds one YAML document; "
                                     "a second one starts here"));
    } catch (const YAML::Exception& e) {
        errors.push_back(at_mark(file, e.mark, "invalid YAML: " + e.msg));
    }
    return std::move(builder.root);
}

} // namespace keel::config::detail
