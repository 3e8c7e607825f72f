#include "client_base.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

namespace keel::kafka::detail {

namespace {

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
    char why[512] = "";
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::invalid_argument("keel::kafka: property '" + name + "' = '" + value +
                                    "': " + why);
    }
}

} // namespace

rd_kafka_conf_t* make_conf(const std::string& bootstrap_servers, const property_list& defaults,
                           const property_list& properties) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (!bootstrap_servers.empty())
        set(conf, "bootstrap.servers", bootstrap_servers);
    for (const auto& [name, value] : defaults)
        set(conf, name, value);
    for (const auto& [name, value] : properties)
        set(conf, name, value);
    return conf;
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char why[512] = "";
    rd_kafka_t* rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf); // rd_kafka_new takes it only on success
        throw std::runtime_error(std::string("keel::kafka: cannot make the client: ") + why);
    }
    return rk;
}

queue_signal::queue_signal(const asio::any_io_executor& executor) {
    efd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd_ < 0)
        throw std::system_error(errno, std::generic_category(), "keel::kafka: eventfd");
    fd_ = keel::detail::library_fd::make(executor, efd_);
}

queue_signal::~queue_signal() {
    fd_->release();
    ::close(efd_);
}

void queue_signal::attach(rd_kafka_queue_t* queue) {
    // An eventfd takes 8-byte writes only: the payload is a counter of 1.
    static const std::uint64_t one = 1;
    rd_kafka_queue_io_event_enable(queue, efd_, &one, sizeof one);
}

void queue_signal::reset() noexcept {
    std::uint64_t count = 0;
    while (::read(efd_, &count, sizeof count) > 0) {
    }
}

} // namespace keel::kafka::detail
