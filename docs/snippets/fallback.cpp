// The C++ blocks of docs/fallback.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/fallback.hpp>
#include <keel/keel.hpp>
#include <keel/last_good.hpp>

#include <asio/async_result.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace fallback_docs {

/// A price lookup: one attempt completes with the price in cents.
struct price_lookup {
    asio::io_context* io;
    std::string sku;
    template <class Token>
    auto operator()(const keel::attempt&, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code, int)>(
            [this](auto handler) {
                asio::post(*io, [h = std::move(handler)]() mutable {
                    std::move(h)(std::error_code(), 1999);
                });
            },
            token);
    }
};

[[maybe_unused]] void default_value(asio::io_context& io, keel::pipeline& prices) {
    // [snippet:default]
    // A default: "price unavailable" (-1) instead of an error page. The
    // fallback is an asynchronous operation with the call's signature.
    auto unavailable = [](const keel::fallback_context& failed, auto&& token) {
        return asio::async_initiate<decltype(token), void(std::error_code, int)>(
            [](auto handler) { std::move(handler)(std::error_code(), -1); }, token);
    };
    keel::call_report report;
    prices.async_run(keel::with_fallback(price_lookup{&io, "sku-42"}, unavailable), report,
                     [&report](std::error_code ec, int cents) {
                         if (report.outcome == keel::call_outcome::fallback) {
                             // report.original_error: why the dependency did not answer
                         }
                     });
    // [end]
}

[[maybe_unused]] void cached(asio::io_context& io, keel::pipeline& prices) {
    // [snippet:cached]
    // Stale-if-error: the last good price of each SKU, for up to a minute.
    static keel::last_good_cache<std::string, int> last_prices(std::chrono::seconds(60));
    static keel::stale_mark mark; // per call, like a call_report
    prices.async_run(
        keel::with_fallback(price_lookup{&io, "sku-42"}, last_prices.fallback("sku-42", &mark)),
        [](std::error_code ec, int cents) {
            if (!ec && !mark.stale)
                last_prices.remember("sku-42", cents); // a fresh answer: keep it
            // mark.stale: the answer is mark.age old
        });
    // [end]
}

[[maybe_unused]] void alternative(asio::io_context& io, keel::pipeline& prices,
                                  keel::pipeline& replica) {
    // [snippet:alternative]
    // An alternative dependency: the read replica, with its own policy and
    // the time the call has left.
    auto from_replica = [&io, &replica](const keel::fallback_context& failed, auto&& token) {
        return replica.async_run(price_lookup{&io, "sku-42"}, std::forward<decltype(token)>(token));
    };
    prices.async_run(keel::with_fallback(price_lookup{&io, "sku-42"}, from_replica,
                                         {keel::fault_class::rejected, keel::fault_class::timeout}),
                     [](std::error_code ec, int cents) {});
    // [end]
}

} // namespace fallback_docs
