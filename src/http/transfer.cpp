// Transfer setup of keel::http::client: the easy-handle options every
// request shares (make_easy), those of one request (prepare, set_url),
// curl's data callbacks, and reading back what curl reports about a finished
// transfer for outcome.cpp to decide on.
#include "transfer.hpp"

#include <keel/detail/block_cache.hpp>
#include <keel/http/error.hpp>

#include "outcome.hpp"
#include "text.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

namespace keel::http::detail {

easy_handle make_easy(const client_options& options, bool proxy_environment,
                      curl_closesocket_callback close_socket, void* close_data) {
    CURL* easy = curl_easy_init();
    if (!easy)
        return {};
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (!proxy_environment) {
        // curl reads the proxy environment (no_proxy, NO_PROXY, then
        // http_proxy or <scheme>_proxy, all_proxy, ALL_PROXY) on every
        // transfer: ~1.6k instructions per request in getenv. With
        // none of it set when the client was made, "no proxy" says the
        // same once.
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, close_data);
    const tls_options& tls = options.tls;
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L);
    if (!tls.ca_file.empty())
        curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.c_str());
    if (!tls.client_cert.empty())
        curl_easy_setopt(easy, CURLOPT_SSLCERT, tls.client_cert.c_str());
    if (!tls.client_key.empty())
        curl_easy_setopt(easy, CURLOPT_SSLKEY, tls.client_key.c_str());
    easy_handle handle;
    handle.curl = easy;
    return handle;
}

void destroy(const easy_handle& easy) noexcept {
    curl_easy_cleanup(easy.curl);
    curl_url_cleanup(easy.parsed_url); // after the handle that pointed at it
}

bool transfer::prepare(easy_handle&& handle, std::error_code& why) {
    handle_ = std::move(handle);
    easy_ = handle_.curl;
    CURL* easy = easy_;
    const client_options& o = owner_->options();
    // The URL only when it differs from the handle's last one: curl
    // copies it (an allocation and a free) and parses it per transfer
    // anyway.
    const std::string& url = request_.url;
    const bool relative = !url.empty() && url.front() == '/' && !o.base_url.empty();
    const bool same_url = relative ? handle_.url.size() == o.base_url.size() + url.size() &&
                                         handle_.url.starts_with(o.base_url) &&
                                         handle_.url.ends_with(url)
                                   : handle_.url == url;
    if (!same_url && !set_url(relative ? o.base_url : std::string_view(), url, why))
        return false;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
    if (!handle_.callbacks_set) {
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &transfer::on_body);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &transfer::on_header);
        handle_.callbacks_set = true;
    }

    // The method: back to a plain GET first (HTTPGET also clears NOBODY
    // and UPLOAD), then what this request needs.
    const std::string_view method = request_.method;
    const bool has_body =
        !request_.body.empty() || is(method, "POST") || is(method, "PUT") || is(method, "PATCH");
    // A plain GET on a handle whose last request was one too: nothing
    // to change.
    const bool plain_get = is(method, "GET") && !has_body;
    if (!(plain_get && handle_.plain_get)) {
        // (POSTFIELDS, even null, makes the method POST: HTTPGET goes last.)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
        curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, static_cast<curl_seek_callback>(nullptr));
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    handle_.plain_get = plain_get;
    if (is(method, "HEAD"))
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else if (!is(method, "GET") && !is(method, "POST"))
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
    else if (is(method, "GET") && has_body)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "GET"); // a body would make it a POST
    if (has_body && !is(method, "HEAD")) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request_.body.size()));
        if (is_idempotent(request_)) {
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_.body.data());
        } else {
            // libcurl resends a request by itself when a reused connection
            // dies before the response, rewinding the body first. A body
            // it reads through us cannot be rewound: the transfer fails
            // instead of sending a non-idempotent request twice.
            curl_easy_setopt(easy, CURLOPT_READFUNCTION, &transfer::read_body);
            curl_easy_setopt(easy, CURLOPT_READDATA, this);
            curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &transfer::refuse_rewind);
            curl_easy_setopt(easy, CURLOPT_SEEKDATA, this);
        }
    }

    // Headers: the client's list as it is, unless this request adds some.
    const bool deadline_headers = o.deadline_headers && options_.attempt;
    const curl_slist* defaults = owner_->default_headers(has_body && !is(method, "HEAD"));
    if (request_.headers.empty() && !deadline_headers) {
        if (handle_.shared_headers != defaults)
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, defaults);
        handle_.shared_headers = defaults;
    } else {
        const auto add_header = [this](const std::string& line) {
            curl_slist* next = curl_slist_append(headers_, line.c_str());
            if (next)
                headers_ = next;
            return next != nullptr;
        };
        bool ok = true;
        for (const curl_slist* h = defaults; h; h = h->next)
            ok = ok && add_header(h->data);
        for (const auto& [name, value] : request_.headers)
            ok = ok && add_header(name + ": " + value);
        if (deadline_headers) {
            ok = ok && add_header("X-Keel-Attempt: " + std::to_string(options_.attempt->number()));
            if (auto left = keel::attempt::time_left(options_.attempt->exchange_deadline()))
                ok = ok &&
                     add_header(
                         "X-Keel-Deadline-Ms: " +
                         std::to_string(
                             std::chrono::duration_cast<std::chrono::milliseconds>(*left).count()));
        }
        if (!ok) {
            why = make_error_code(std::errc::not_enough_memory);
            return false;
        }
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
        // Not null, and no shared list (alive as long as the client) has
        // this address: the next request on the handle sets its own.
        handle_.shared_headers = headers_;
    }

    // Deadlines: the attempt's (through a pipeline) or the send's own;
    // 0 means "none" to libcurl.
    std::optional<std::chrono::milliseconds> connect = options_.connect_timeout;
    std::optional<std::chrono::milliseconds> total = options_.timeout;
    const auto ms = [](std::chrono::nanoseconds d) {
        // Round up: a deadline 0.4 ms away is not "no time at all".
        return std::max(std::chrono::milliseconds(1),
                        std::chrono::ceil<std::chrono::milliseconds>(d));
    };
    if (options_.attempt) {
        const auto now = std::chrono::steady_clock::now();
        if (auto left = keel::attempt::time_left(options_.attempt->connect_deadline(), now))
            connect = ms(*left);
        if (auto left = keel::attempt::time_left(options_.attempt->exchange_deadline(), now))
            total = ms(*left);
    }
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(connect ? connect->count() : 0));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(total ? total->count() : 0));
    connect_timeout_ = connect;
    total_timeout_ = total;
    return true;
}

/// Gives the handle `base` + `url`, parsed as curl parses a URL string
/// (a missing scheme guessed, any scheme let through to fail later as
/// unsupported), both as the string (which curl keeps for a proxy's
/// request line) and as the parsed URL it uses. False and `why` if the
/// URL is malformed: the error curl would have given the transfer.
bool transfer::set_url(std::string_view base, std::string_view url, std::error_code& why) {
    CURL* easy = handle_.curl;
    handle_.url.assign(base).append(url);
    if (!handle_.parsed_url && !(handle_.parsed_url = curl_url())) {
        handle_.url.clear();
        why = make_error_code(std::errc::not_enough_memory);
        return false;
    }
    // Cleared first: a URL handle that holds one resolves the next as
    // relative to it (a redirect), where curl parses each URL alone.
    curl_url_set(handle_.parsed_url, CURLUPART_URL, nullptr, 0);
    const CURLUcode parsed = curl_url_set(handle_.parsed_url, CURLUPART_URL, handle_.url.c_str(),
                                          CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
    if (parsed != CURLUE_OK ||
        curl_easy_setopt(easy, CURLOPT_URL, handle_.url.c_str()) != CURLE_OK) {
        // Neither is trusted now: the next request sets both again.
        handle_.url.clear();
        curl_easy_setopt(easy, CURLOPT_CURLU, static_cast<CURLU*>(nullptr));
        why = parsed == CURLUE_OUT_OF_MEMORY || parsed == CURLUE_OK
                  ? make_error_code(std::errc::not_enough_memory)
                  : std::error_code(CURLE_URL_MALFORMAT, curl_category());
        return false;
    }
    curl_easy_setopt(easy, CURLOPT_CURLU, handle_.parsed_url);
    return true;
}

/// On loop(), after curl finished the transfer (or it was aborted): its

std::error_code transfer::outcome(CURLcode rc, std::error_code forced) {
    finished_ = true;
    // The facts are read only where they can change the outcome: each
    // curl_easy_getinfo is a call, and most transfers succeed.
    transfer_facts facts;
    facts.result = rc;
    facts.forced = forced;
    if (easy_) {
        facts.read = true;
        long status = 0;
        curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
        facts.status = static_cast<int>(status);
        response_.status = facts.status;
        if (reads_progress(facts.status)) {
            curl_easy_getinfo(easy_, CURLINFO_REQUEST_SIZE, &facts.request_size);
            curl_easy_getinfo(easy_, CURLINFO_PRETRANSFER_TIME_T, &facts.pretransfer_us);
        }
        if (!forced && keeps_os_errno(rc))
            curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &facts.os_errno);
        if (options_.attempt && advises_delay(facts.status) &&
            curl_easy_getinfo(easy_, CURLINFO_RETRY_AFTER, &facts.retry_after_s) != CURLE_OK)
            facts.retry_after_s = 0;
        facts.rewind_refused = rewind_refused_;
        facts.connect_timeout = connect_timeout_;
        facts.total_timeout = total_timeout_;
    }
    const transfer_outcome out = outcome_of(facts);
    if (options_.attempt) {
        if (out.retry_after)
            options_.attempt->feedback().retry_after(*out.retry_after);
        // Any failure leaves the verdict unknown: an error status says
        // nothing of what the server did before it answered.
        if (out.error)
            options_.attempt->feedback().outcome_unknown_if(
                {.may_have_reached = out.may_have_reached,
                 .verdict_unknown = true,
                 .idempotent = is_idempotent(request_)});
    }
    return out.error;
}

std::size_t transfer::read_body(char* out, std::size_t size, std::size_t count, void* self) {
    auto& t = *static_cast<transfer*>(self);
    const std::size_t n = std::min(size * count, t.request_.body.size() - t.body_sent_);
    std::memcpy(out, t.request_.body.data() + t.body_sent_, n);
    t.body_sent_ += n;
    return n;
}

int transfer::refuse_rewind(void* self, curl_off_t, int) {
    static_cast<transfer*>(self)->rewind_refused_ = true;
    return CURL_SEEKFUNC_FAIL;
}

std::size_t transfer::on_body(char* data, std::size_t size, std::size_t count, void* self) {
    auto& t = *static_cast<transfer*>(self);
    t.response_.body.append(data, size * count);
    return size * count;
}

std::size_t transfer::on_header(char* data, std::size_t size, std::size_t count, void* self) {
    auto& t = *static_cast<transfer*>(self);
    const std::string_view line(data, size * count);
    if (starts_with(line, "HTTP/"))
        t.response_.headers.clear(); // a new response (after 100 Continue)
    else
        t.response_.headers.add_line(line);
    return size * count;
}

std::shared_ptr<keel::detail::call_handle>
make_transfer(const std::shared_ptr<client_impl>& client, request* owned, const request* borrowed,
              const send_options& options, keel::detail::completion_ptr<send_completion> done) {
    // From the thread's block cache: with one call started per completion,
    // the last transfer's memory is usually there.
    return std::allocate_shared<transfer>(keel::detail::cached_allocator<transfer>(), client, owned,
                                          borrowed, options, std::move(done));
}

} // namespace keel::http::detail
