#include "nginx.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace keel::test::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string find_binary() {
    if (::access("/usr/sbin/nginx", X_OK) == 0)
        return "/usr/sbin/nginx";
    if (const char* path = std::getenv("PATH")) {
        std::stringstream dirs(path);
        for (std::string dir; std::getline(dirs, dir, ':');) {
            std::string candidate = (dir.empty() ? "." : dir) + "/nginx";
            if (::access(candidate.c_str(), X_OK) == 0)
                return candidate;
        }
    }
    throw std::runtime_error("nginx not found: apt-get install nginx");
}

void write_file(const fs::path& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out)
        throw std::runtime_error("nginx: cannot write " + path.string());
    ::chmod(path.c_str(), 0644);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

// A port that was free a moment ago (bind 127.0.0.1:0, read it, release it).
std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("nginx: socket failed");
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("nginx: cannot pick a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// One blocking `GET /small.txt`; true on a 200.
bool small_txt_ok(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr = loopback(port);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const std::string_view request =
            "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            char buf[1024];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
                reply.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return reply.starts_with("HTTP/1.1 200 ");
}

} // namespace

std::string nginx::small_body() {
    std::string body;
    for (int line = 0; body.size() < 512; ++line) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "keel small.txt line %03d abcdefghijklmnopqrstuvwxyz\n",
                      line);
        body += buf;
    }
    body.resize(512);
    return body;
}

nginx::nginx(bool tls) : tls_(tls) {
    binary_ = find_binary();

    char templ[] = "/tmp/keel-nginx-XXXXXX";
    if (::mkdtemp(templ) == nullptr)
        throw std::runtime_error(std::string("nginx: mkdtemp failed: ") + std::strerror(errno));
    dir_ = templ;
    try {
        ::chmod(dir_.c_str(), 0755);
        for (const char* sub : {"www", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
            fs::create_directory(fs::path(dir_) / sub);
            ::chmod((fs::path(dir_) / sub).c_str(), 0755);
        }
        write_file(fs::path(dir_) / "www" / "small.txt", small_body());
        if (tls_) {
            // A throwaway self-signed certificate for 127.0.0.1 (an IP SAN:
            // libcurl checks the address against it).
            const std::string command =
                "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
                " -addext subjectAltName=IP:127.0.0.1 -keyout " +
                dir_ + "/key.pem -out " + dir_ + "/cert.pem >" + dir_ + "/openssl.log 2>&1";
            if (std::system(command.c_str()) != 0)
                throw std::runtime_error("nginx: openssl could not make a certificate: " +
                                         read_file(fs::path(dir_) / "openssl.log"));
        }

        for (int attempt = 0; attempt < 3; ++attempt)
            if (start())
                return;
        throw std::runtime_error("nginx did not start (3 attempts); error log:\n" + error_log());
    } catch (...) {
        stop();
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
        throw;
    }
}

nginx::~nginx() {
    stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
}

std::string nginx::url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::string nginx::root() const {
    return dir_ + "/www";
}

std::string nginx::tls_url(std::string_view path) const {
    return "https://127.0.0.1:" + std::to_string(tls_port_) + std::string(path);
}

std::string nginx::cert_file() const {
    return dir_ + "/cert.pem";
}

void nginx::add_file(std::string_view name, std::string_view content) const {
    write_file(fs::path(root()) / name, content);
}

std::string nginx::error_log() const {
    return read_file(fs::path(dir_) / "error.log") + read_file(fs::path(dir_) / "stdout.log");
}

bool nginx::start() {
    port_ = free_port();
    if (tls_)
        tls_port_ = free_port();
    const std::string conf = dir_ + "/nginx.conf";
    std::ostringstream c;
    c << "daemon off;\n"
      << "master_process off;\n"
      << "worker_processes 1;\n"
      << "error_log " << dir_ << "/error.log warn;\n"
      << "pid " << dir_ << "/nginx.pid;\n"
      << "events { worker_connections 1024; }\n"
      << "http {\n"
      << "    access_log off;\n"
      << "    default_type text/plain;\n"
      << "    keepalive_requests 100000;\n"
      << "    keepalive_timeout 60s;\n"
      << "    client_body_temp_path " << dir_ << "/client_body;\n"
      << "    proxy_temp_path " << dir_ << "/proxy;\n"
      << "    fastcgi_temp_path " << dir_ << "/fastcgi;\n"
      << "    uwsgi_temp_path " << dir_ << "/uwsgi;\n"
      << "    scgi_temp_path " << dir_ << "/scgi;\n"
      << "    server {\n"
      << "        listen 127.0.0.1:" << port_ << ";\n";
    if (tls_)
        c << "        listen 127.0.0.1:" << tls_port_ << " ssl;\n"
          << "        ssl_certificate " << dir_ << "/cert.pem;\n"
          << "        ssl_certificate_key " << dir_ << "/key.pem;\n";
    c << ""
      << "        root " << dir_ << "/www;\n"
      << "        location / { }\n"
      << "    }\n"
      << "}\n";
    write_file(conf, c.str());

    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls (the test process has other threads).
    const std::string log = dir_ + "/stdout.log";
    const std::string error = dir_ + "/error.log";
    std::vector<std::string> args{binary_, "-p", dir_ + "/", "-c", conf, "-e", error};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error(std::string("nginx: fork failed: ") + std::strerror(errno));
    if (pid_ == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0)
            ::dup2(null, STDIN_FILENO);
        ::close_range(3, ~0U, 0); // no inherited sockets (test servers, clients)
        sigset_t all;
        ::sigemptyset(&all);
        ::sigprocmask(SIG_SETMASK, &all, nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }

    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false; // exited: most likely the port was taken meanwhile
        }
        if (small_txt_ok(port_))
            return true;
        std::this_thread::sleep_for(20ms);
    }
    stop();
    throw std::runtime_error("nginx not ready within 10 s; error log:\n" + error_log());
}

void nginx::stop() noexcept {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
}

} // namespace keel::test::http
