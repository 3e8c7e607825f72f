// Test helper for keel::http: a real nginx serving static files on
// 127.0.0.1, for integration tests and benchmarks.
//
// Everything lives in a temp dir (mkdtemp under /tmp): nginx.conf, the
// docroot www/ (with small.txt), pid file, logs and nginx's temp paths.
// nginx runs in the foreground with `master_process off`, so the process we
// fork/exec is the one that serves, and the destructor stops it by its PID.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::test::http {

class nginx {
public:
    /// Starts nginx and returns once `GET /small.txt` answers 200. Throws
    /// std::runtime_error if nginx is not installed, exits, or is not ready
    /// within 10 s (the message carries nginx's error log). With `tls`, it
    /// also serves HTTPS on tls_port() with a self-signed certificate for
    /// 127.0.0.1 made by the openssl command (cert_file()).
    explicit nginx(bool tls = false);
    /// SIGTERM (SIGKILL after 5 s), waits for the process, removes the temp dir.
    ~nginx();
    nginx(const nginx&) = delete;
    nginx& operator=(const nginx&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url(std::string_view path) const; ///< "http://127.0.0.1:PORT" + path
    std::string root() const;                     ///< the docroot (a directory path)
    std::uint16_t tls_port() const { return tls_port_; }
    std::string tls_url(std::string_view path) const; ///< "https://127.0.0.1:TLS_PORT" + path
    std::string cert_file() const;                    ///< PEM of the self-signed certificate
    pid_t pid() const { return pid_; }

    /// Writes `content` to root()/`name` (mode 644); served at "/" + name.
    void add_file(std::string_view name, std::string_view content) const;

    /// The exact content of /small.txt (512 bytes).
    static std::string small_body();

private:
    bool start(); // one attempt on a fresh port; false if nginx exited (e.g. bind failed)
    void stop() noexcept;
    std::string error_log() const;

    std::string dir_;
    bool tls_ = false;
    std::uint16_t tls_port_ = 0;
    std::string binary_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

} // namespace keel::test::http
