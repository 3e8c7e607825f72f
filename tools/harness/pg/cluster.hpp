// A throwaway PostgreSQL 15 cluster for keel::pg's tests: initdb once per
// test binary (as an unprivileged user: initdb and postgres refuse root),
// each cluster a copy of that template in a temp dir, on a free loopback
// port with its own Unix socket dir and fsync off; ready when PQping says
// so; stopped by PID, and killed with the test process if that dies first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace keel::test::pg {

class cluster {
public:
    /// Starts a new cluster; `settings`: extra `-c name=value` options.
    explicit cluster(std::vector<std::string> settings = {});
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    /// "host=127.0.0.1 port=N user=postgres dbname=postgres" plus `extra`.
    std::string dsn(const std::string& extra = {}) const;

    /// Stops like `pg_ctl stop -m immediate` (SIGQUIT): no checkpoint, every
    /// backend killed at once. Returns when the postmaster has exited.
    void stop_immediately();
    /// Starts it again on the same data and port; returns when it accepts
    /// connections (after crash recovery). The server is killed when the
    /// thread that started it ends (PR_SET_PDEATHSIG): start it from a thread
    /// that outlives it, such as the test's main thread.
    void start();

    /// Runs `sql` on a new blocking libpq connection (setup and checks
    /// only); throws std::runtime_error with the server's message on error.
    /// Returns the first column of the first row ("" when none).
    std::string exec(const std::string& sql) const;

private:
    void spawn();
    void wait_ready();
    void stop(int signal);

    std::string root_;
    std::string data_;
    std::string sockets_;
    std::vector<std::string> settings_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A blocking connection for tests (holding locks, looking at
/// pg_stat_activity) that the pool under test does not see.
class session {
public:
    explicit session(const std::string& dsn);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    /// As cluster::exec, on this connection.
    std::string exec(const std::string& sql);
    int backend_pid() const;

private:
    void* conn_ = nullptr; // PGconn*
};

} // namespace keel::test::pg
