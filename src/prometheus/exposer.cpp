#include <keel/internal/listen_address.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include <netdb.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace keel::prometheus {

namespace {

/// Why `host:port` cannot be listened on, found by trying it ourselves:
/// civetweb only says that it failed.
std::string why_not_listen(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
        return std::string("cannot resolve the host: ") + ::gai_strerror(rc);
    std::string why = "no usable address";
    for (addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            why = std::strerror(errno);
            continue;
        }
        const int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        const bool bound = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0;
        why = bound ? "civetweb refused the address (it takes numeric addresses only)"
                    : std::strerror(errno);
        ::close(fd);
        if (!bound)
            break;
    }
    ::freeaddrinfo(found);
    return why;
}

} // namespace

exposer::exposer(std::string_view listen, std::string path) : path_(std::move(path)) {
    std::uint16_t port = 0;
    std::string why;
    if (!keel::internal::split_listen_address(listen, host_, port, &why))
        throw std::invalid_argument("keel::prometheus: cannot listen on \"" + std::string(listen) +
                                    "\": " + why);
    if (path_.empty() || path_.front() != '/')
        throw std::invalid_argument(
            "keel::prometheus: the metrics path must start with '/', got \"" + path_ + "\"");
    // civetweb wants a numeric address; "localhost" is the one name people
    // write.
    if (host_ == "localhost")
        host_ = "127.0.0.1";
    const bool v6 = host_.find(':') != std::string::npos;
    const std::string address = (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port);
    try {
        server_ = std::make_unique<::prometheus::Exposer>(address, 2);
    } catch (const std::exception&) {
        // civetweb's message only says that it failed: find out why.
        throw std::runtime_error("keel::prometheus: cannot listen on " + address + ": " +
                                 why_not_listen(host_, port));
    }
}

exposer::exposer(const metrics& source, std::string_view listen, std::string path)
    : exposer(listen, std::move(path)) {
    add(source);
}

exposer::~exposer() = default;

void exposer::add(std::weak_ptr<::prometheus::Collectable> collectable) {
    server_->RegisterCollectable(collectable, path_);
}

void exposer::add(const metrics& source) {
    // The hook first: the exposer collects in order, so every scrape
    // publishes the per-thread counts before it reads the registry (a
    // registry of the user's does not publish by itself).
    add(source.publishing_hook());
    add(std::weak_ptr<::prometheus::Collectable>(source.registry()));
}

std::uint16_t exposer::port() const {
    const std::vector<int> ports = server_->GetListeningPorts();
    return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

std::string exposer::url() const {
    const bool v6 = host_.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port()) + path_;
}

} // namespace keel::prometheus
