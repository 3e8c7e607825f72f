// What keel::pg::result shares: libpq's PGresult (freed with the last copy),
// or only a message when the failure came without one. Private: libpq stays
// out of the public headers.
#pragma once

#include <keel/detail/block_cache.hpp>
#include <keel/pg/result.hpp>

#include <libpq-fe.h>

#include <string>

namespace keel::pg::detail {

struct result_data {
    PGresult* res = nullptr;
    std::string message; ///< when res is null: why there is no answer

    result_data() = default;
    result_data(const result_data&) = delete;
    result_data& operator=(const result_data&) = delete;
    ~result_data() {
        if (res)
            PQclear(res);
    }
};

/// Takes ownership of `res` (may be null, with a `message`).
inline result make_result(PGresult* res, std::string message = {}) {
    // From the thread's block cache, as the query that produced it.
    auto data = std::allocate_shared<result_data>(keel::detail::cached_allocator<result_data>());
    data->res = res;
    data->message = std::move(message);
    return result(std::move(data));
}

} // namespace keel::pg::detail
