// cqrs-query-service: the read side's HTTP API, served from the read model
// (order_view) that the projectors keep. cpp-httplib answers on its own
// threads; every database call runs on the service's one loop
// (cqrs::run_on_loop), through the read-model-queries policy: short
// deadlines, few retries, and a 503 naming the dependency and the last real
// error rather than a pile of waiting requests.
#include <keel/pg/service.hpp>

#include "common/runtime.hpp"
#include "common/schema.hpp"
#include "domain/order.hpp"
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace {

namespace pg = keel::pg;
using json = nlohmann::json;

constexpr const char* usage = "usage: cqrs-query-service [flags]\n"
                              "  --listen H:P          where the API is served "
                              "(default 127.0.0.1:8082; port 0: any free port)\n";
constexpr const char* dependency = "read-model-queries";
constexpr long max_limit = 500;
constexpr long default_limit = 100;

/// What a query through the pipeline came to.
struct answer {
    std::error_code error;
    std::string why; ///< the last real error (not keel's timeout), for the 503
    int attempts = 0;
    pg::result rows;
};

/// libpq's messages come on several lines ("...refused\n\tIs the server
/// running..."): one line reads better in JSON and logs.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text) {
        const bool space = c == '\n' || c == '\t' || c == ' ';
        if (space && (out.empty() || out.back() == ' '))
            continue;
        out += space ? ' ' : c;
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

/// Runs `s` through the dependency's pipeline, keeping its call_report: when
/// the call ends in a timeout, the report still has what the database said
/// before (refused, starting up, ...), which is what an operator needs.
asio::awaitable<answer> read(pg::service& db, pg::statement s) {
    answer out;
    keel::call_report report;
    auto [ec, rows] = co_await db.async_query(std::move(s), report,
                                              asio::experimental::as_tuple(asio::use_awaitable));
    out.error = ec;
    out.rows = rows;
    out.attempts = report.attempts;
    if (ec) {
        const std::error_code real = report.last_operation_error;
        if (!real) // every attempt was cut short by keel: a stalled database
            out.why = "no answer within the policy (" + ec.message() + ")";
        else
            out.why = real.message();
        if (!rows.error_message().empty())
            out.why += ": " + std::string(rows.error_message());
        if (real && real != ec)
            out.why += " (then " + ec.message() + ")";
        out.why = one_line(out.why);
    }
    co_return out;
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

void bad_request(httplib::Response& res, const std::string& parameter, const std::string& message) {
    send_json(res, 400, {{"error", "bad_request"}, {"parameter", parameter}, {"message", message}});
}

void unavailable(httplib::Response& res, const answer& a) {
    res.set_header("Retry-After", "1");
    send_json(res, 503,
              {{"error", "dependency"},
               {"dependency", dependency},
               {"message", a.why},
               {"attempts", a.attempts}});
}

/// The state column as the JSON it is (jsonb's text form).
json state_of(const pg::result& rows, int row, int column) {
    return json::parse(rows.text(row, column));
}

class query_service {
public:
    query_service(cqrs::runtime& rt, std::string listen)
        : rt_(rt), listen_(std::move(listen)),
          db_(rt.io().get_executor(), rt.policies(), dependency) {
        routes();
        rt_.on_shutdown([this] {
            stopping_ = true;
            if (!thread_.joinable())
                return rt_.stop(); // still applying the schema
            // The server thread then waits for the requests in flight, which
            // need this loop running, and stops the loop when they are done.
            stop_serving();
        });
    }

    /// Applies the schema (idempotent, under an advisory lock, so racing a
    /// projector's start is harmless) so that queries before the first event
    /// find empty tables rather than none; then serves on a thread of its own.
    /// Runs the loop on this thread while it applies the schema. Returns false
    /// when shut down meanwhile; throws when it cannot listen.
    bool start() {
        const auto [host, port] = parse_listen();
        std::exception_ptr failed;
        bool applied = false;
        asio::co_spawn(rt_.io(), cqrs::apply_schema(db_, cqrs::schema::read_model),
                       [&](std::exception_ptr e) {
                           failed = e;
                           applied = true;
                       });
        while (!applied && rt_.io().run_one() != 0) {
        }
        if (!applied || stopping_)
            return false;
        if (failed) {
            // Serve anyway: queries answer 503 naming the read model until it
            // is back (and a projector will have made the tables by then).
            try {
                std::rethrow_exception(failed);
            } catch (const std::exception& e) {
                rt_.log(std::string("cannot apply the read model's schema (serving anyway): ") +
                        e.what());
            }
        }
        const int bound = port == 0 ? server_.bind_to_any_port(host)
                                    : (server_.bind_to_port(host, port) ? port : -1);
        if (bound <= 0)
            throw std::runtime_error("cannot listen on " + listen_);
        rt_.log("serving on " + host + ":" + std::to_string(bound));
        thread_ = std::thread([this] {
            const bool served = server_.listen_after_bind();
            listen_returned_ = true;
            if (!served || !stopping_)
                rt_.log("the HTTP server stopped by itself; shutting down");
            // The requests in flight are answered: nothing needs the loop now.
            asio::post(rt_.io(), [this] { rt_.stop(); });
        });
        return true;
    }

    ~query_service() {
        if (thread_.joinable()) {
            stop_serving();
            thread_.join();
        }
    }

private:
    std::pair<std::string, int> parse_listen() const {
        const auto colon = listen_.rfind(':');
        int port = -1;
        if (colon != std::string::npos) {
            const char* first = listen_.data() + colon + 1;
            const char* last = listen_.data() + listen_.size();
            if (std::from_chars(first, last, port).ptr != last)
                port = -1;
        }
        if (port < 0 || port > 65535)
            throw std::invalid_argument("--listen: expected HOST:PORT, got '" + listen_ + "'");
        return {listen_.substr(0, colon), port};
    }

    /// httplib's stop() does nothing before listen_after_bind() has started
    /// on the server thread, so wait for that (a moment) first.
    void stop_serving() {
        while (!server_.is_running() && !listen_returned_)
            std::this_thread::yield();
        server_.stop();
    }

    void routes() {
        server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
            const answer a = cqrs::run_on_loop(rt_.io(), read(db_, pg::idempotent("SELECT 1")));
            if (a.error)
                return unavailable(res, a);
            res.set_content("ok", "text/plain");
        });
        server_.Get(R"(/orders/([^/]+))",
                    [this](const httplib::Request& req, httplib::Response& res) { one(req, res); });
        server_.Get("/orders", [this](const httplib::Request& req, httplib::Response& res) {
            list(req, res);
        });
        server_.set_exception_handler(
            [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "unknown error";
                try {
                    std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                rt_.log(req.method + " " + req.path + ": " + what);
                send_json(res, 500, {{"error", "internal"}, {"message", what}});
            });
    }

    void one(const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.matches[1];
        const answer a = cqrs::run_on_loop(
            rt_.io(),
            read(db_, pg::idempotent("SELECT state::text, to_char(updated_at AT TIME ZONE 'UTC', "
                                     "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                                     "FROM order_view WHERE order_id = $1",
                                     id)));
        if (a.error)
            return unavailable(res, a);
        if (a.rows.rows() == 0)
            return send_json(res, 404, {{"error", "not_found"}, {"message", "no order " + id}});
        send_json(res, 200, {{"order", state_of(a.rows, 0, 0)}, {"updated_at", a.rows.text(0, 1)}});
    }

    /// Keyset pagination by order_id: `next` is the last id of a full page
    /// when more rows follow, so a client pages with ?after=next.
    void list(const httplib::Request& req, httplib::Response& res) {
        for (const auto& [name, value] : req.params)
            if (name != "status" && name != "customer" && name != "after" && name != "limit")
                return bad_request(res, name,
                                   "unknown parameter '" + name +
                                       "' (known: status, customer, after, limit)");
        std::optional<std::string> status, customer, after;
        if (req.has_param("status")) {
            status = req.get_param_value("status");
            const auto s = cqrs::status_from_string(*status);
            if (!s || *s == cqrs::order_status::none)
                return bad_request(res, "status",
                                   "status must be open, paid or cancelled, got '" + *status + "'");
        }
        if (req.has_param("customer"))
            customer = req.get_param_value("customer");
        if (req.has_param("after"))
            after = req.get_param_value("after");
        long limit = default_limit;
        if (req.has_param("limit")) {
            const std::string text = req.get_param_value("limit");
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
            if (ec != std::errc() || end != text.data() + text.size() || limit < 1 ||
                limit > max_limit)
                return bad_request(res, "limit",
                                   "limit must be a whole number from 1 to " +
                                       std::to_string(max_limit) + ", got '" + text + "'");
        }
        // One row more than asked tells whether there is a next page.
        const answer a = cqrs::run_on_loop(
            rt_.io(), read(db_, pg::idempotent("SELECT state::text, order_id FROM order_view "
                                               "WHERE ($1::text IS NULL OR status = $1) "
                                               "AND ($2::text IS NULL OR customer = $2) "
                                               "AND ($3::text IS NULL OR order_id > $3) "
                                               "ORDER BY order_id LIMIT $4",
                                               status, customer, after, limit + 1)));
        if (a.error)
            return unavailable(res, a);
        json orders = json::array();
        const int shown = std::min<int>(a.rows.rows(), static_cast<int>(limit));
        for (int r = 0; r < shown; ++r)
            orders.push_back(state_of(a.rows, r, 0));
        json next = nullptr;
        if (a.rows.rows() > limit)
            next = a.rows.text(shown - 1, 1);
        send_json(res, 200, {{"orders", std::move(orders)}, {"next", std::move(next)}});
    }

    cqrs::runtime& rt_;
    std::string listen_;
    pg::service db_;
    httplib::Server server_;
    std::thread thread_;
    std::atomic<bool> listen_returned_{false};
    std::atomic<bool> stopping_{false}; // set on the loop's thread, read on the server's
};

} // namespace

int main(int argc, char** argv) {
    try {
        const cqrs::flags flags(argc, argv);
        if (flags.has("help")) {
            std::printf("%s%.*s", usage, static_cast<int>(cqrs::usage_common().size()),
                        cqrs::usage_common().data());
            return 0;
        }
        flags.check_known({"listen", "help"});
        cqrs::runtime rt("cqrs-query-service", flags);
        query_service service(rt, flags.get("listen", "127.0.0.1:8082"));
        if (!service.start())
            return 0; // shut down while starting
        rt.log("started; /metrics on port " + std::to_string(rt.metrics_port()));
        rt.run();
        return 0;
    } catch (const std::invalid_argument& e) { // the command line
        std::fprintf(stderr, "cqrs-query-service: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqrs-query-service: %s\n", e.what());
        return 1;
    }
}
