// Over 600 lines: edit distance, ${VAR} substitution, the scalar readers, the
// schema and the merge checks share one file until issue 20 splits it by concern.
// Validation and merging: from the positioned tree to a document, collecting
// every problem rather than stopping at the first.
#include <keel/config/document.hpp>
#include <keel/duration.hpp>

#include "tree.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace keel::config {

namespace {

using detail::node;
using std::chrono::nanoseconds;
using names = std::span<const std::string_view>;

constexpr std::string_view top_keys[] = {"version", "defaults", "profiles", "dependencies",
                                         "metrics"};
constexpr std::string_view layer_keys[] = {"retry", "timeout"};
constexpr std::string_view dependency_keys[] = {"kind", "extends", "retry", "timeout",
                                                "connection"};
/// The most attempts a file may ask for (the first call included).
constexpr long long max_attempts_limit = 1000;

constexpr std::string_view retry_keys[] = {"max_attempts", "backoff", "retry_on", "retry_after"};
constexpr std::string_view backoff_keys[] = {"kind", "initial", "multiplier",
                                             "step", "max",     "jitter"};
constexpr std::string_view retry_after_keys[] = {"honor", "max"};
constexpr std::string_view timeout_keys[] = {"connect", "exchange", "total"};
constexpr std::string_view backoff_kinds[] = {"constant", "linear", "exponential"};
constexpr std::string_view jitter_kinds[] = {"none", "full", "equal", "decorrelated"};
constexpr std::string_view fault_classes[] = {"transient", "timeout",   "throttled",
                                              "permanent", "cancelled", "rejected"};
constexpr std::string_view dependency_kinds[] = {"postgres", "kafka", "http", "generic"};
constexpr std::string_view metrics_keys[] = {"enabled", "listen", "path", "buckets"};
constexpr std::string_view bucket_keys[] = {"call", "attempt"};

std::size_t levenshtein(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const bool same = a[i - 1] == b[j - 1];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// "unknown WHAT 'x' (did you mean 'y'?); expected one of: a, b": the
/// closest valid name within distance 2 is suggested.
template <class Names>
std::string unknown(std::string_view what, std::string_view got, const Names& valid) {
    std::string out = "unknown " + std::string(what) + " '" + std::string(got) + "'";
    std::string_view best;
    std::size_t best_distance = 3;
    for (std::string_view name : valid) {
        const std::size_t d = levenshtein(got, name);
        if (d < best_distance) {
            best_distance = d;
            best = name;
        }
    }
    if (!best.empty())
        out += " (did you mean '" + std::string(best) + "'?)";
    if (std::empty(valid)) {
        return out;
    }
    out += "; expected one of: ";
    bool first = true;
    for (std::string_view name : valid) {
        if (!first)
            out += ", ";
        out += name;
        first = false;
    }
    return out;
}

std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string describe(const node& n) {
    switch (n.kind) {
    case node::type::null:
        return "an empty value";
    case node::type::map:
        return "a map";
    case node::type::sequence:
        return "a sequence";
    case node::type::scalar:
        return "\"" + n.text + "\"";
    }
    return "?";
}

/// One setting of a layer (defaults, a profile, a dependency's own keys),
/// remembering where it was written for errors found after merging.
template <class T>
struct setting {
    std::optional<T> value;
    std::string path;
    int line = 0, column = 0; ///< of the key
    int layer = 0;            ///< 0 built-in, then defaults, profiles, own keys in merge order
};

struct layer {
    setting<int> max_attempts;
    setting<backoff_kind> kind;
    setting<nanoseconds> initial;
    setting<double> multiplier;
    setting<nanoseconds> step;
    setting<nanoseconds> backoff_max;
    setting<jitter_kind> jitter;
    setting<fault_set> retry_on;
    setting<bool> honor;
    setting<nanoseconds> retry_after_max;
    setting<nanoseconds> connect;
    setting<nanoseconds> exchange;
    setting<nanoseconds> total;

    template <class F>
    void each(layer& other, F f) {
        f(max_attempts, other.max_attempts);
        f(kind, other.kind);
        f(initial, other.initial);
        f(multiplier, other.multiplier);
        f(step, other.step);
        f(backoff_max, other.backoff_max);
        f(jitter, other.jitter);
        f(retry_on, other.retry_on);
        f(honor, other.honor);
        f(retry_after_max, other.retry_after_max);
        f(connect, other.connect);
        f(exchange, other.exchange);
        f(total, other.total);
    }

    /// Key by key: what `top` sets replaces what is here.
    void overlay(layer top, int rank) {
        each(top, [rank](auto& mine, auto& theirs) {
            if (theirs.value) {
                mine = std::move(theirs);
                mine.layer = rank;
            }
        });
    }

    pipeline_policy apply() const {
        pipeline_policy p;
        auto set = [](auto& out, const auto& s) {
            if (s.value)
                out = *s.value;
        };
        set(p.retry.max_attempts, max_attempts);
        set(p.retry.backoff.kind, kind);
        set(p.retry.backoff.initial, initial);
        set(p.retry.backoff.multiplier, multiplier);
        set(p.retry.backoff.step, step);
        set(p.retry.backoff.max, backoff_max);
        set(p.retry.backoff.jitter, jitter);
        set(p.retry.retry_on, retry_on);
        set(p.retry.retry_after.honor, honor);
        set(p.retry.retry_after.max, retry_after_max);
        set(p.timeout.connect, connect);
        set(p.timeout.exchange, exchange);
        set(p.timeout.total, total);
        return p;
    }
};

class loader {
public:
    loader(std::string file, const load_options& options, std::vector<diagnostic>& errors)
        : file_(std::move(file)), options_(options), errors_(errors) {}

    std::optional<document> run(node& root);

private:
    void read_metrics(const node& n, metrics_settings& out);
    std::optional<std::vector<double>> buckets(const node& n, const std::string& path);

    // --- diagnostics ---------------------------------------------------------

    void error(int line, int column, const std::string& path, const std::string& message) {
        diagnostic d;
        d.where = position{file_, line, column};
        d.key_path = path;
        d.message = path.empty() ? message : path + ": " + message;
        errors_.push_back(std::move(d));
    }
    void error(const node& at, const std::string& path, const std::string& message) {
        error(at.line, at.column, path, message);
    }
    position where(const node& n) const { return position{file_, n.line, n.column}; }

    // --- ${VAR} substitution -------------------------------------------------

    std::optional<std::string> lookup(const std::string& name) const {
        if (options_.env)
            return options_.env(name);
        if (const char* v = std::getenv(name.c_str()))
            return std::string(v);
        return std::nullopt;
    }

    /// Substitutes every value scalar under `n` (keys stay literal: they are
    /// names the rest of the file refers to).
    void substitute(node& n, const std::string& path) {
        switch (n.kind) {
        case node::type::scalar:
            substitute_scalar(n, path);
            break;
        case node::type::map:
            for (auto& [k, v] : n.entries)
                substitute(v, join(path, k.text));
            break;
        case node::type::sequence:
            for (std::size_t i = 0; i < n.items.size(); ++i)
                substitute(n.items[i], path + "[" + std::to_string(i) + "]");
            break;
        case node::type::null:
            break;
        }
    }

    void substitute_scalar(node& n, const std::string& path) {
        const std::string& in = n.text;
        if (in.find('$') == std::string::npos)
            return;
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
                error(n, path,
                      "unterminated \"${\" in \"" + in + "\" (write $${ for a literal ${)");
                n.invalid = true;
                return;
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
                error(n, path,
                      "invalid environment variable name \"" + name + "\" in \"${" + body + "}\"");
                n.invalid = true;
                return;
            }
            std::optional<std::string> got = lookup(name);
            if (sep != std::string::npos) {
                // Like the shell's ${VAR:-default}: unset or empty takes the default.
                if (!got || got->empty())
                    got = body.substr(sep + 2);
            } else if (!got) {
                error(n, path,
                      "environment variable " + name + " is not set and \"${" + name +
                          "}\" has no default (write ${" + name + ":-default})");
                n.invalid = true;
                return;
            }
            out += *got;
            i = close + 1;
        }
        n.text = std::move(out);
    }

    // --- shapes and scalars --------------------------------------------------

    /// Reports unknown keys of a map (a null value counts as an empty map).
    bool expect_map(const node& n, const std::string& path, names valid) {
        if (n.kind == node::type::null)
            return true;
        if (n.kind != node::type::map) {
            if (!n.invalid)
                error(n, path, "expected a map, got " + describe(n));
            return false;
        }
        for (const auto& [k, v] : n.entries)
            if (std::find(valid.begin(), valid.end(), k.text) == valid.end()) {
                std::string message = unknown("key", k.text, valid);
                if (k.text == "<<")
                    message += " (YAML merge keys are not supported: use profiles and extends)";
                error(k, join(path, k.text), message);
            }
        return true;
    }

    /// The text of a scalar, or nullopt after reporting what it was instead.
    std::optional<std::string> scalar(const node& n, const std::string& path,
                                      std::string_view expected) {
        if (n.invalid)
            return std::nullopt;
        if (n.kind != node::type::scalar) {
            error(n, path, "expected " + std::string(expected) + ", got " + describe(n));
            return std::nullopt;
        }
        return n.text;
    }

    std::optional<nanoseconds> duration(const node& n, const std::string& path,
                                        bool allow_unlimited, bool positive) {
        auto text = scalar(n, path, "a duration (e.g. 250ms)");
        if (!text)
            return std::nullopt;
        if (*text == "unlimited") {
            if (allow_unlimited)
                return unlimited;
            error(n, path, "cannot be unlimited");
            return std::nullopt;
        }
        std::string why;
        auto d = parse_duration(*text, &why);
        if (!d) {
            error(n, path, why);
            return std::nullopt;
        }
        if (positive && *d == nanoseconds::zero()) {
            error(n, path, "a timeout must be positive (write 'unlimited' for no deadline)");
            return std::nullopt;
        }
        return d;
    }

    std::optional<long long> integer(const node& n, const std::string& path) {
        auto text = scalar(n, path, "an integer");
        if (!text)
            return std::nullopt;
        long long v = 0;
        const char* first = text->data();
        const char* last = first + text->size();
        auto [end, ec] = std::from_chars(first, last, v);
        if (ec == std::errc::result_out_of_range) {
            error(n, path, "integer \"" + *text + "\" is out of range");
            return std::nullopt;
        }
        if (ec != std::errc() || end != last) {
            error(n, path, "expected an integer, got \"" + *text + "\"");
            return std::nullopt;
        }
        return v;
    }

    std::optional<double> number(const node& n, const std::string& path) {
        auto text = scalar(n, path, "a number");
        if (!text)
            return std::nullopt;
        double v = 0;
        const char* first = text->data();
        const char* last = first + text->size();
        auto [end, ec] = std::from_chars(first, last, v);
        if (ec != std::errc() || end != last || !std::isfinite(v)) {
            error(n, path, "expected a number, got \"" + *text + "\"");
            return std::nullopt;
        }
        return v;
    }

    std::optional<bool> boolean(const node& n, const std::string& path) {
        auto text = scalar(n, path, "a boolean (true or false)");
        if (!text)
            return std::nullopt;
        // YAML 1.2's spellings only: "yes"/"on" are YAML 1.1 and a common
        // source of surprise.
        if (*text == "true" || *text == "True" || *text == "TRUE")
            return true;
        if (*text == "false" || *text == "False" || *text == "FALSE")
            return false;
        error(n, path, "expected a boolean (true or false), got \"" + *text + "\"");
        return std::nullopt;
    }

    /// The index of the scalar's value in `valid`.
    std::optional<std::size_t> choice(const node& n, const std::string& path, std::string_view what,
                                      names valid) {
        std::string expected = "one of: ";
        for (std::size_t i = 0; i < valid.size(); ++i)
            expected.append(i ? ", " : "").append(valid[i]);
        auto text = scalar(n, path, expected);
        if (!text)
            return std::nullopt;
        std::size_t i = 0;
        for (std::string_view name : valid) {
            if (name == *text)
                return i;
            ++i;
        }
        error(n, path, unknown(what, *text, valid));
        return std::nullopt;
    }

    template <class T>
    void record(setting<T>& s, std::optional<T> v, const node& key, const std::string& path) {
        if (!v)
            return;
        s.value = std::move(v);
        s.path = path;
        s.line = key.line;
        s.column = key.column;
    }

    // --- the schema ------------------------------------------------------------

    /// `retry:` and `timeout:` of defaults, a profile or a dependency.
    void read_layer(const node& map, const std::string& path, layer& out) {
        for (const auto& [k, v] : map.entries) {
            if (k.text == "retry")
                read_retry(v, join(path, "retry"), out);
            else if (k.text == "timeout")
                read_timeout(v, join(path, "timeout"), out);
        }
    }

    void read_retry(const node& n, const std::string& path, layer& out) {
        if (!expect_map(n, path, retry_keys))
            return;
        for (const auto& [k, v] : n.entries) {
            const std::string p = join(path, k.text);
            if (k.text == "max_attempts") {
                auto count = integer(v, p);
                if (count && *count < 1) {
                    error(v, p,
                          "must be >= 1 (the first call included), got " + std::to_string(*count));
                } else if (count && *count > max_attempts_limit) {
                    // Each attempt is a call the dependency must absorb: a
                    // number this large is a typo, not a policy.
                    error(v, p,
                          "must be <= " + std::to_string(max_attempts_limit) + ", got " + v.text);
                } else if (count) {
                    record(out.max_attempts, std::optional<int>(static_cast<int>(*count)), k, p);
                }
            } else if (k.text == "backoff") {
                read_backoff(v, p, out);
            } else if (k.text == "retry_on") {
                read_retry_on(v, p, k, out);
            } else if (k.text == "retry_after") {
                if (!expect_map(v, p, retry_after_keys))
                    continue;
                for (const auto& [rk, rv] : v.entries) {
                    const std::string rp = join(p, rk.text);
                    if (rk.text == "honor")
                        record(out.honor, boolean(rv, rp), rk, rp);
                    else if (rk.text == "max")
                        record(out.retry_after_max, duration(rv, rp, true, false), rk, rp);
                }
            }
        }
    }

    void read_backoff(const node& n, const std::string& path, layer& out) {
        if (!expect_map(n, path, backoff_keys))
            return;
        for (const auto& [k, v] : n.entries) {
            const std::string p = join(path, k.text);
            if (k.text == "kind") {
                if (auto i = choice(v, p, "backoff kind", backoff_kinds))
                    record(out.kind, std::optional(static_cast<backoff_kind>(*i)), k, p);
            } else if (k.text == "initial") {
                // An unlimited first delay would sleep forever: not a policy.
                record(out.initial, duration(v, p, false, false), k, p);
            } else if (k.text == "step") {
                record(out.step, duration(v, p, false, false), k, p);
            } else if (k.text == "max") {
                record(out.backoff_max, duration(v, p, true, false), k, p);
            } else if (k.text == "multiplier") {
                auto m = number(v, p);
                if (m && *m < 1.0) {
                    std::ostringstream s;
                    s << *m;
                    error(v, p, "must be >= 1, got " + s.str());
                } else {
                    record(out.multiplier, m, k, p);
                }
            } else if (k.text == "jitter") {
                if (auto i = choice(v, p, "jitter", jitter_kinds))
                    record(out.jitter, std::optional(static_cast<jitter_kind>(*i)), k, p);
            }
        }
    }

    void read_retry_on(const node& n, const std::string& path, const node& key, layer& out) {
        if (n.kind != node::type::sequence) {
            if (!n.invalid)
                error(n, path,
                      "expected a sequence of fault classes (e.g. [transient, timeout]), "
                      "got " +
                          describe(n));
            return;
        }
        fault_set set;
        bool ok = true;
        for (std::size_t i = 0; i < n.items.size(); ++i) {
            auto c = choice(n.items[i], path + "[" + std::to_string(i) + "]", "fault class",
                            fault_classes);
            if (c)
                set.insert(static_cast<fault_class>(*c));
            else
                ok = false;
        }
        if (ok)
            record(out.retry_on, std::optional(set), key, path);
    }

    void read_timeout(const node& n, const std::string& path, layer& out) {
        if (!expect_map(n, path, timeout_keys))
            return;
        for (const auto& [k, v] : n.entries) {
            const std::string p = join(path, k.text);
            if (k.text == "connect")
                record(out.connect, duration(v, p, true, true), k, p);
            else if (k.text == "exchange")
                record(out.exchange, duration(v, p, true, true), k, p);
            else if (k.text == "total")
                record(out.total, duration(v, p, true, true), k, p);
        }
    }

    value to_value(const node& n) const {
        switch (n.kind) {
        case node::type::scalar:
            return value::make_scalar(n.text, where(n));
        case node::type::map: {
            std::vector<std::pair<std::string, value>> entries;
            entries.reserve(n.entries.size());
            for (const auto& [k, v] : n.entries)
                entries.emplace_back(k.text, to_value(v));
            return value::make_map(std::move(entries), where(n));
        }
        case node::type::sequence: {
            std::vector<value> items;
            items.reserve(n.items.size());
            for (const node& item : n.items)
                items.push_back(to_value(item));
            return value::make_sequence(std::move(items), where(n));
        }
        case node::type::null:
            break;
        }
        return value::make_null(where(n));
    }

    // --- checks after merging ------------------------------------------------

    /// `a` must not be longer than `b` (e.g. exchange and total). The error
    /// points at whichever of the two was written in the later layer: the
    /// one the user most likely just changed.
    /// True when the rule is broken (reported here or, for settings that all
    /// come from defaults, by the check of defaults).
    bool check_order(const setting<nanoseconds>& a, std::string_view a_name,
                     const setting<nanoseconds>& b, std::string_view b_name,
                     const std::string& dependency) {
        if (!a.value || !b.value || *a.value == unlimited || *b.value == unlimited ||
            *a.value <= *b.value)
            return false;
        if (!dependency.empty() && std::max(a.layer, b.layer) <= 1)
            return true;
        const auto from = [](const setting<nanoseconds>& s) {
            return s.path + " at " + std::to_string(s.line) + ":" + std::to_string(s.column);
        };
        const std::string a_text = format_duration(*a.value);
        const std::string b_text = format_duration(*b.value);
        const setting<nanoseconds>& at = b.layer > a.layer ? b : a;
        std::string message =
            b.layer > a.layer ? std::string(b_name) + " (" + b_text + ") is shorter than " +
                                    std::string(a_name) + " (" + a_text + ", from " + from(a) + ")"
                              : std::string(a_name) + " (" + a_text + ") is longer than " +
                                    std::string(b_name) + " (" + b_text + ", from " + from(b) + ")";
        if (!dependency.empty() && at.path.rfind("dependencies." + dependency + ".", 0) != 0)
            message += " in dependency '" + dependency + "'";
        error(at.line, at.column, at.path, message);
        return true;
    }

    /// The semantics of keel::validate, as diagnostics with positions.
    void check(const layer& merged, const std::string& dependency, const position& at,
               const std::string& path) {
        bool broken = check_order(merged.exchange, "timeout.exchange", merged.total,
                                  "timeout.total", dependency);
        broken |= check_order(merged.connect, "timeout.connect", merged.total, "timeout.total",
                              dependency);
        // The built-in backoff.max (5s) counts too: an initial above it is an
        // error even if the file never wrote a max.
        setting<nanoseconds> initial = merged.initial;
        setting<nanoseconds> cap = merged.backoff_max;
        if (!cap.value) {
            cap.value = backoff_policy{}.max;
            cap.path = "the built-in retry.backoff.max";
        }
        const bool from_defaults = std::max(initial.layer, cap.layer) <= 1;
        const bool too_long =
            initial.value && *initial.value > *cap.value && *cap.value != unlimited;
        broken |= too_long;
        if (too_long && !(from_defaults && !dependency.empty())) {
            const setting<nanoseconds>& blame =
                cap.line > 0 && cap.layer > initial.layer ? cap : initial;
            std::string message =
                &blame == &initial
                    ? "retry.backoff.initial (" + format_duration(*initial.value) +
                          ") is longer than retry.backoff.max (" + format_duration(*cap.value) +
                          (cap.line > 0 ? ", from " + cap.path + " at " + std::to_string(cap.line) +
                                              ":" + std::to_string(cap.column)
                                        : ", " + cap.path) +
                          ")"
                    : "retry.backoff.max (" + format_duration(*cap.value) +
                          ") is shorter than retry.backoff.initial (" +
                          format_duration(*initial.value) + ", from " + initial.path + " at " +
                          std::to_string(initial.line) + ":" + std::to_string(initial.column) + ")";
            if (!dependency.empty() && blame.path.rfind("dependencies." + dependency + ".", 0) != 0)
                message += " in dependency '" + dependency + "'";
            error(blame.line, blame.column, blame.path, message);
        }
        if (broken)
            return;
        // A safety net: every rule of keel::validate is checked above, so
        // this only fires if the core grows a rule the loader lacks.
        try {
            validate(merged.apply());
        } catch (const std::invalid_argument& e) {
            error(at.line, at.column, path, e.what());
        }
    }

    std::string file_;
    const load_options& options_;
    std::vector<diagnostic>& errors_;
};

std::optional<document> loader::run(node& root) {
    if (root.kind != node::type::map) {
        error(root, "",
              "expected a map with 'version: 1' and 'dependencies:', got " + describe(root));
        return std::nullopt;
    }
    substitute(root, "");
    expect_map(root, "", top_keys);

    document doc;
    doc.source = file_;

    // version
    if (const node* v = root.find("version")) {
        auto number = integer(*v, "version");
        if (number && *number != 1)
            error(*v, "version",
                  "unsupported version " + std::to_string(*number) +
                      " (this keel reads version 1)");
    } else {
        error(root, "version", "missing (the file must start with 'version: 1')");
    }

    // defaults
    layer defaults;
    if (const node* d = root.find("defaults")) {
        if (expect_map(*d, "defaults", layer_keys))
            read_layer(*d, "defaults", defaults);
    }
    layer base;
    base.overlay(defaults, 1);
    if (const node* d = root.find("defaults"))
        check(base, "", where(*d), "defaults");
    doc.defaults = base.apply();

    // profiles: read once, so an error inside one is reported once.
    std::vector<std::pair<std::string, layer>> profiles;
    std::vector<std::string_view> profile_names;
    if (const node* p = root.find("profiles")) {
        if (p->kind == node::type::map) {
            for (const auto& [k, v] : p->entries) {
                const std::string path = join("profiles", k.text);
                layer l;
                if (expect_map(v, path, layer_keys))
                    read_layer(v, path, l);
                profiles.emplace_back(k.text, std::move(l));
            }
        } else if (p->kind != node::type::null && !p->invalid) {
            error(*p, "profiles", "expected a map of profile names, got " + describe(*p));
        }
    }
    for (const auto& [name, l] : profiles)
        profile_names.push_back(name);

    // dependencies
    if (const node* deps = root.find("dependencies")) {
        if (deps->kind == node::type::map) {
            for (const auto& [k, v] : deps->entries) {
                const std::string path = join("dependencies", k.text);
                dependency dep;
                dep.name = k.text;
                dep.where = where(k);
                layer merged = base;
                int rank = 2;
                bool ok = expect_map(v, path, dependency_keys);
                if (k.text.empty())
                    error(k, path, "a dependency needs a name");
                if (const node* kind = ok ? v.find("kind") : nullptr) {
                    if (auto i =
                            choice(*kind, join(path, "kind"), "dependency kind", dependency_kinds))
                        dep.kind = static_cast<dependency_kind>(*i);
                }
                if (const node* ext = ok ? v.find("extends") : nullptr) {
                    const std::string ep = join(path, "extends");
                    std::vector<const node*> names_used;
                    if (ext->kind == node::type::scalar && !ext->invalid)
                        names_used.push_back(ext); // one profile may be written bare
                    else if (ext->kind == node::type::sequence)
                        for (const node& item : ext->items)
                            names_used.push_back(&item);
                    else if (!ext->invalid)
                        error(*ext, ep,
                              "expected a sequence of profile names, got " + describe(*ext));
                    for (std::size_t i = 0; i < names_used.size(); ++i) {
                        const std::string ip = ext->kind == node::type::sequence
                                                   ? ep + "[" + std::to_string(i) + "]"
                                                   : ep;
                        auto name = scalar(*names_used[i], ip, "a profile name");
                        if (!name)
                            continue;
                        auto found = std::find_if(profiles.begin(), profiles.end(),
                                                  [&](const auto& p) { return p.first == *name; });
                        if (found == profiles.end()) {
                            error(*names_used[i], ip,
                                  profiles.empty() ? "unknown profile '" + *name +
                                                         "' (the file defines no profiles)"
                                                   : unknown("profile", *name, profile_names));
                            continue;
                        }
                        dep.extends.push_back(*name);
                        merged.overlay(found->second, rank++);
                    }
                }
                if (ok) {
                    layer own;
                    read_layer(v, path, own);
                    merged.overlay(std::move(own), rank);
                    if (const node* c = v.find("connection"))
                        dep.connection = to_value(*c);
                    else
                        dep.connection = value::make_null(dep.where);
                }
                check(merged, dep.name, dep.where, path);
                dep.policy = merged.apply();
                doc.dependencies.push_back(std::move(dep));
            }
        } else if (deps->kind != node::type::null && !deps->invalid) {
            error(*deps, "dependencies",
                  "expected a map of dependency names, got " + describe(*deps));
        }
    }

    doc.metrics.where = position{file_, 1, 1};
    doc.metrics.listen_where = doc.metrics.where;
    if (const node* m = root.find("metrics"))
        read_metrics(*m, doc.metrics);
    return doc;
}

void loader::read_metrics(const node& n, metrics_settings& out) {
    out.where = where(n);
    out.listen_where = out.where;
    if (!expect_map(n, "metrics", metrics_keys))
        return;
    for (const auto& [k, v] : n.entries) {
        const std::string p = join("metrics", k.text);
        if (k.text == "enabled") {
            if (auto b = boolean(v, p))
                out.enabled = *b;
        } else if (k.text == "listen") {
            auto text = scalar(v, p, "host:port (e.g. 127.0.0.1:9464)");
            if (!text)
                continue;
            std::string host, why;
            std::uint16_t port = 0;
            if (!split_listen_address(*text, host, port, &why)) {
                error(v, p, why);
                continue;
            }
            out.listen = *text;
            out.listen_where = where(v);
        } else if (k.text == "path") {
            auto text = scalar(v, p, "a URL path (e.g. /metrics)");
            if (!text)
                continue;
            if (text->empty() || text->front() != '/' ||
                text->find_first_of(" ?#\t") != std::string::npos) {
                error(v, p,
                      "expected a URL path starting with '/' (e.g. /metrics), got \"" + *text +
                          "\"");
                continue;
            }
            out.path = *text;
        } else if (k.text == "buckets") {
            if (v.kind == node::type::sequence) {
                // One list for both histograms.
                if (auto b = buckets(v, p)) {
                    out.call_buckets = *b;
                    out.attempt_buckets = std::move(*b);
                }
            } else if (v.kind == node::type::map) {
                expect_map(v, p, bucket_keys);
                for (const auto& [bk, bv] : v.entries) {
                    if (bk.text == "call") {
                        if (auto b = buckets(bv, join(p, "call")))
                            out.call_buckets = std::move(*b);
                    } else if (bk.text == "attempt") {
                        if (auto b = buckets(bv, join(p, "attempt")))
                            out.attempt_buckets = std::move(*b);
                    }
                }
            } else if (!v.invalid) {
                error(v, p,
                      "expected a sequence of durations (e.g. [5ms, 50ms, 500ms]) or a map "
                      "with call and attempt, got " +
                          describe(v));
            }
        }
    }
}

/// Histogram bucket bounds: durations, positive and strictly increasing;
/// returned in seconds.
std::optional<std::vector<double>> loader::buckets(const node& n, const std::string& path) {
    if (n.kind != node::type::sequence) {
        if (!n.invalid)
            error(n, path,
                  "expected a sequence of durations (e.g. [5ms, 50ms, 500ms]), got " + describe(n));
        return std::nullopt;
    }
    if (n.items.empty()) {
        error(n, path, "needs at least one bucket bound (leave it out for keel's defaults)");
        return std::nullopt;
    }
    constexpr std::size_t max_buckets = 64;
    if (n.items.size() > max_buckets) {
        error(n, path,
              "at most " + std::to_string(max_buckets) + " buckets (each is a series per " +
                  "dependency), got " + std::to_string(n.items.size()));
        return std::nullopt;
    }
    std::vector<double> out;
    bool ok = true;
    nanoseconds previous{-1};
    std::string previous_text;
    for (std::size_t i = 0; i < n.items.size(); ++i) {
        const node& item = n.items[i];
        const std::string ip = path + "[" + std::to_string(i) + "]";
        auto d = duration(item, ip, false, false);
        if (!d) {
            ok = false;
            continue;
        }
        if (*d == nanoseconds::zero()) {
            error(item, ip, "a bucket bound must be positive, got " + item.text);
            ok = false;
        } else if (*d <= previous) {
            error(item, ip,
                  "bucket bounds must be strictly increasing: " + item.text + " after " +
                      previous_text);
            ok = false;
        }
        previous = *d;
        previous_text = item.text;
        out.push_back(std::chrono::duration<double>(*d).count());
    }
    if (!ok)
        return std::nullopt;
    return out;
}

load_result finish(load_result result) {
    auto& errors = result.errors;
    std::stable_sort(errors.begin(), errors.end(), [](const diagnostic& a, const diagnostic& b) {
        return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    // The same error found twice (e.g. through two dependencies) is one error.
    errors.erase(std::unique(errors.begin(), errors.end(),
                             [](const diagnostic& a, const diagnostic& b) {
                                 return a.where.line == b.where.line &&
                                        a.where.column == b.where.column && a.message == b.message;
                             }),
                 errors.end());
    if (!errors.empty())
        result.doc.reset();
    return result;
}

} // namespace

load_result try_load_string(std::string_view yaml, std::string name, const load_options& options) {
    load_result result;
    std::optional<detail::node> root = detail::parse_tree(yaml, name, result.errors);
    if (!root) {
        if (result.errors.empty()) {
            diagnostic d;
            d.where = position{name, 1, 1};
            d.message = "empty document (a configuration starts with 'version: 1')";
            result.errors.push_back(std::move(d));
        }
        return finish(std::move(result));
    }
    loader l(name, options, result.errors);
    result.doc = l.run(*root);
    return finish(std::move(result));
}

load_result try_load_file(const std::string& path, const load_options& options) {
    const auto unreadable = [&](const std::string& why) {
        load_result result;
        diagnostic d;
        d.where = position{path, 0, 0};
        d.message = "cannot read the configuration file: " + why;
        result.errors.push_back(std::move(d));
        return result;
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
    return try_load_string(text.str(), path, options);
}

document load_string(std::string_view yaml, std::string name, const load_options& options) {
    load_result result = try_load_string(yaml, std::move(name), options);
    if (!result.doc)
        throw config_error(std::move(result.errors));
    return std::move(*result.doc);
}

document load_file(const std::string& path, const load_options& options) {
    load_result result = try_load_file(path, options);
    if (!result.doc)
        throw config_error(std::move(result.errors));
    return std::move(*result.doc);
}

} // namespace keel::config
