#include "sim_timer.hpp"

#include <asio/error.hpp>
#include <asio/post.hpp>

#include <algorithm>

namespace keel::sim {

sim_timer::sim_timer(asio::any_io_executor executor, timer_queue* queue)
    : queue_(queue), id_(queue_->add_timer(this)), executor_(std::move(executor)) {}

sim_timer::~sim_timer() {
    queue_->remove_timer(id_);
}

void sim_timer::expires_at(time_point at) {
    if (waiting_)
        finish(asio::error::operation_aborted);
    expiry_ = at;
}

void sim_timer::start_wait(std::function<void(const std::error_code&)> handler) {
    if (waiting_)
        finish(asio::error::operation_aborted);
    waiting_ = std::move(handler);
    work_ = asio::prefer(executor_, asio::execution::outstanding_work.tracked);
    queue_->schedule_timer(id_, ++generation_, std::max(expiry_, clock_type::now()));
}

void sim_timer::fire(std::uint32_t generation) {
    if (waiting_ && generation == generation_)
        finish({});
}

void sim_timer::finish(const std::error_code& ec) {
    asio::post(executor_, [handler = std::move(waiting_), ec] { handler(ec); });
    waiting_ = nullptr;
    work_ = asio::any_io_executor();
}

} // namespace keel::sim
