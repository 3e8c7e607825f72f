#include "processes.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace cqrs::demo {

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    const int error = errno;
    ::close(fd);
    if (!ok)
        throw std::runtime_error(std::string("free port: ") + std::strerror(error));
    return ntohs(addr.sin_port);
}

port_holder::port_holder(std::uint16_t port)
    : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0)
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 1) != 0) {
        const int error = errno;
        ::close(fd_);
        throw std::runtime_error("hold port " + std::to_string(port) + ": " + std::strerror(error));
    }
}

port_holder::~port_holder() {
    ::close(fd_);
}

child::child(spawn_options options) : options_(std::move(options)) {
    if (options_.argv.empty())
        throw std::invalid_argument("spawn: no argv");
    if (::access(options_.argv[0].c_str(), X_OK) != 0)
        throw std::runtime_error(options_.argv[0] + ": not an executable (" + std::strerror(errno) +
                                 "); build it, or pass --bin-dir");
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    if ((options_.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) ||
        (options_.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0))
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    // Everything the child needs, made before fork: after it, only
    // async-signal-safe calls (the demo has other threads).
    std::vector<char*> args;
    for (auto& a : options_.argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    const char* log = options_.log.c_str();
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Its own process group: a Ctrl-C at the terminal reaches the demo
        // only, which then stops every child in order.
        ::setpgid(0, 0);
        // The demo ignores SIGPIPE (a control pipe may close); the child
        // starts with the default, as it would from a shell.
        ::signal(SIGPIPE, SIG_DFL);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) // the demo died before prctl
            ::_exit(125);
        const int fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            ::_exit(126);
        ::dup2(in[0] >= 0 ? in[0] : ::open("/dev/null", O_RDONLY), 0);
        ::dup2(out[1] >= 0 ? out[1] : fd, 1);
        ::dup2(fd, 2);
        // No descriptor of the demo's (sockets, pipes of other children)
        // leaks into the child.
        ::close_range(3, ~0U, 0);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    pid_ = pid;
    terminated_ = false;
    status_ = "running";
    if (options_.pipe_stdin) {
        ::close(in[0]);
        in_ = in[1];
    }
    if (options_.pipe_stdout) {
        ::close(out[1]);
        out_ = out[0];
    }
}

child::~child() {
    if (pid_ > 0)
        stop(std::chrono::seconds(2));
    close_fds();
}

child::child(child&& other) noexcept {
    *this = std::move(other);
}

child& child::operator=(child&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0)
            stop(std::chrono::seconds(2));
        close_fds();
        options_ = std::move(other.options_);
        pid_ = std::exchange(other.pid_, -1);
        terminated_ = std::exchange(other.terminated_, false);
        in_ = std::exchange(other.in_, -1);
        out_ = std::exchange(other.out_, -1);
        buffer_ = std::move(other.buffer_);
        status_ = std::move(other.status_);
    }
    return *this;
}

void child::close_fds() {
    if (in_ >= 0)
        ::close(in_);
    if (out_ >= 0)
        ::close(out_);
    in_ = out_ = -1;
}

void child::reap(int wstatus) {
    pid_ = -1;
    if (WIFEXITED(wstatus))
        status_ = "exited with status " + std::to_string(WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        status_ = std::string("killed by signal ") + ::strsignal(WTERMSIG(wstatus));
    else
        status_ = "ended";
}

bool child::running() {
    if (pid_ <= 0)
        return false;
    int wstatus = 0;
    const pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
        reap(wstatus);
        return false;
    }
    return true;
}

void child::terminate() {
    if (pid_ > 0 && !terminated_) {
        ::kill(pid_, SIGTERM);
        terminated_ = true;
    }
}

std::string child::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0)
        return status_;
    terminate();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            int wstatus = 0;
            while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
            }
            reap(wstatus);
            status_ += " (did not stop within the grace period)";
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    close_fds();
    return status_;
}

void child::kill_now() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL);
    int wstatus = 0;
    while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
    }
    reap(wstatus);
    close_fds();
}

std::optional<std::string> child::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        if (out_ < 0)
            return std::nullopt;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return std::nullopt;
        pollfd p{out_, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return std::nullopt;
        char chunk[512];
        const ssize_t n = ::read(out_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return std::nullopt;
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

bool child::write_line(const std::string& line) {
    if (in_ < 0)
        return false;
    const std::string data = line + '\n';
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(in_, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void child::close_stdin() {
    if (in_ >= 0)
        ::close(in_);
    in_ = -1;
}

std::string tail(const std::string& path, int lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    std::string line;
    while (std::getline(in, line)) {
        last.push_back(line);
        if (static_cast<int>(last.size()) > lines)
            last.pop_front();
    }
    std::string out;
    for (const auto& l : last)
        out += "    " + l + '\n';
    return out;
}

} // namespace cqrs::demo
