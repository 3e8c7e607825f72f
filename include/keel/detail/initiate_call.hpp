// How keel::http, keel::pg and keel::kafka start a call, in one order: make
// the handler's completion, build the call around it, connect the caller's
// cancellation slot to the call, then start it. The slot is connected before
// the call starts so that no completion (which clears the slot on the
// caller's executor) can race the slot's assignment.
#pragma once

#include <keel/detail/completion.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/cancellation_type.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// A call kept alive by shared ownership (a pg query, an http transfer):
/// the cancellation slot's handler holds a share of it.
class call_handle {
public:
    virtual ~call_handle() = default;
    /// Starts the call; its completion cannot run inside (it is posted).
    virtual void start() = 0;
    /// From the caller's cancellation slot; may come after the call ended
    /// (then it does nothing).
    virtual void cancel(asio::cancellation_type type) = 0;
};

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

/// Starts one call of a wrapper. `prepare(completion_ptr)` builds the call
/// around the handler's completion, without starting it, and returns it:
/// either a std::shared_ptr to a call_handle, or a value with
/// `cancel_handler()` (what the slot is to hold) and `start()`. `Base` and
/// `Values`: the completion's kind (completion or shared_completion) and
/// signature; `pool`: see completion_for::make.
template <template <class...> class Base, class... Values, class Handler, class Prepare>
void initiate_call(Handler&& handler, const asio::any_io_executor& fallback, Prepare&& prepare,
                   operation_pool* pool = nullptr) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto call = std::forward<Prepare>(prepare)(
        make_completion<Base, Values...>(std::forward<Handler>(handler), fallback, pool));
    if constexpr (is_shared_ptr<decltype(call)>::value) {
        if (slot.is_connected())
            slot.assign([call](asio::cancellation_type type) { call->cancel(type); });
        call->start();
    } else {
        if (slot.is_connected())
            slot.assign(call.cancel_handler());
        std::move(call).start();
    }
}

} // namespace keel::detail
