// Child processes of the demo: started with fork/exec, dying with the demo
// (PR_SET_PDEATHSIG), stopped by PID and reaped. Never by name: other
// instances of the same executables may be running on this machine.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cqrs::demo {

/// A free TCP port on 127.0.0.1 (bound and released: a small race, which the
/// readiness check turns into a clear error).
std::uint16_t free_port();

/// Listens on 127.0.0.1:`port` for as long as it lives, so that nothing
/// else can: the collision a parallel test may cause, made on purpose.
class port_holder {
public:
    explicit port_holder(std::uint16_t port);
    ~port_holder();
    port_holder(const port_holder&) = delete;
    port_holder& operator=(const port_holder&) = delete;

private:
    int fd_;
};

struct spawn_options {
    std::vector<std::string> argv; ///< argv[0]: the executable's path
    std::string log;               ///< stdout and stderr (unless piped) go here, appended
    bool pipe_stdin = false;       ///< keep a pipe to the child's stdin
    bool pipe_stdout = false;      ///< read the child's stdout (stderr still to the log)
};

class child {
public:
    child() = default;
    /// Starts it. Must be called from the thread that outlives the child
    /// (PR_SET_PDEATHSIG fires when the *thread* that forked it ends): the
    /// demo's main thread. Throws std::runtime_error.
    explicit child(spawn_options options);
    ~child();
    child(child&& other) noexcept;
    child& operator=(child&& other) noexcept;
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const noexcept { return pid_; }
    const std::string& log() const noexcept { return options_.log; }
    const spawn_options& options() const noexcept { return options_; }
    /// Whether it has not exited (reaps it if it has; `status()` then says how).
    bool running();
    std::string status() const { return status_; }

    /// SIGTERM, without waiting (stop() waits).
    void terminate();
    /// SIGTERM, then SIGKILL after `grace`; reaps. Returns how it ended.
    std::string stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
    /// SIGKILL now (a crash, for fault injection); reaps.
    void kill_now();

    /// One line of its stdout (without '\n'), or nullopt after `timeout` or
    /// at end of file.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    /// Writes `line` + '\n' to its stdin; false if the pipe is closed.
    bool write_line(const std::string& line);
    void close_stdin();

private:
    void reap(int wstatus);
    void close_fds();

    spawn_options options_;
    pid_t pid_ = -1;
    /// SIGTERM sent once: a second one could land after the child removed
    /// its handler on the way out, and kill a clean shutdown.
    bool terminated_ = false;
    int in_ = -1;  ///< our end of its stdin
    int out_ = -1; ///< our end of its stdout
    std::string buffer_;
    std::string status_ = "not started";
};

/// The last `lines` lines of a log file ("" if unreadable).
std::string tail(const std::string& path, int lines);

} // namespace cqrs::demo
