#include "cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace keel::test::pg {

namespace {

namespace fs = std::filesystem;

const std::string bindir = "/usr/lib/postgresql/15/bin";

/// Who runs initdb and postgres: ourselves, or `nobody` when we are root.
struct runner {
    uid_t uid = 0;
    gid_t gid = 0;
    bool switch_user = false;
};

runner the_runner() {
    runner r;
    if (::geteuid() != 0)
        return r;
    const passwd* pw = ::getpwnam("nobody");
    if (!pw)
        throw std::runtime_error("cluster: running as root and there is no user 'nobody'");
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
    r.switch_user = true;
    return r;
}

void give_to_runner(const std::string& path) {
    const runner r = the_runner();
    if (!r.switch_user)
        return;
    if (::chown(path.c_str(), r.uid, r.gid) != 0)
        throw std::runtime_error("cluster: chown " + path + ": " + std::strerror(errno));
}

/// fork + (setgid, setuid, die with us) + exec; returns the child's PID.
pid_t spawn_as_runner(const std::vector<std::string>& argv, const std::string& log) {
    const runner r = the_runner();
    const pid_t parent = ::getpid();
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error(std::string("cluster: fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec.
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        if (r.switch_user) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(r.gid) != 0 || ::setuid(r.uid) != 0)
                ::_exit(126);
        }
        // After setuid, which clears it: the server dies with the test.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(125);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error(std::string("cluster: free port: ") + std::strerror(errno));
    ::close(fd);
    return ntohs(addr.sin_port);
}

/// The root of all of this binary's clusters and the template data dir,
/// made (initdb, ~1.5 s) by the first cluster.
struct template_dir {
    std::string root;
    std::string data;
};

std::mutex template_mutex;
template_dir* the_template = nullptr;

void remove_template() {
    if (the_template && !std::getenv("KEEL_PG_KEEP_CLUSTER")) {
        std::error_code ignored;
        fs::remove_all(the_template->root, ignored);
    }
}

const template_dir& get_template() {
    std::lock_guard lock(template_mutex);
    if (the_template)
        return *the_template;
    char pattern[] = "/tmp/keel-pg-XXXXXX";
    if (!::mkdtemp(pattern))
        throw std::runtime_error(std::string("cluster: mkdtemp: ") + std::strerror(errno));
    auto* t = new template_dir{pattern, std::string(pattern) + "/template"};
    give_to_runner(t->root);
    const pid_t pid = spawn_as_runner({bindir + "/initdb", "-D", t->data, "-U", "postgres", "-A",
                                       "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
                                      t->root + "/initdb.log");
    const int status = wait_exit(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("cluster: initdb failed (see " + t->root + "/initdb.log)");
    the_template = t;
    std::atexit(remove_template);
    return *t;
}

std::string first_value(PGconn* conn, const std::string& sql) {
    PGresult* res = PQexec(conn, sql.c_str());
    const ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        std::string why = PQresultErrorMessage(res);
        PQclear(res);
        throw std::runtime_error("cluster: " + sql + ": " + why);
    }
    std::string out;
    if (PQntuples(res) > 0 && PQnfields(res) > 0)
        out = PQgetvalue(res, 0, 0);
    PQclear(res);
    return out;
}

} // namespace

cluster::cluster(std::vector<std::string> settings) : settings_(std::move(settings)) {
    const template_dir& t = get_template();
    static int counter = 0;
    root_ = t.root;
    root_ += "/c";
    root_ += std::to_string(++counter);
    data_ = root_ + "/data";
    sockets_ = root_ + "/sockets";
    fs::create_directories(sockets_);
    // A copy keeps the ownership of the template (cp -a): ~0.1 s against
    // initdb's ~1.5 s.
    fs::copy(t.data, data_, fs::copy_options::recursive);
    for (const auto& entry : fs::recursive_directory_iterator(data_))
        give_to_runner(entry.path().string());
    give_to_runner(data_);
    ::chmod(data_.c_str(), 0700);
    give_to_runner(root_);
    give_to_runner(sockets_);
    for (int tries = 0;; ++tries) {
        port_ = free_port();
        try {
            start();
            return;
        } catch (const std::exception&) {
            if (tries == 2)
                throw;
        }
    }
}

cluster::~cluster() {
    stop(SIGINT); // a fast shutdown
    if (std::getenv("KEEL_PG_KEEP_CLUSTER"))
        return;
    std::error_code ignored;
    fs::remove_all(root_, ignored);
}

std::string cluster::dsn(const std::string& extra) const {
    std::string out = "host=127.0.0.1 port=";
    out += std::to_string(port_);
    out += " user=postgres dbname=postgres";
    if (!extra.empty()) {
        out += ' ';
        out += extra;
    }
    return out;
}

void cluster::start() {
    spawn();
    wait_ready();
}

void cluster::spawn() {
    // fsync=off, but synchronous_commit stays on: a commit is acknowledged
    // only once its WAL is written (to the OS), so it survives the immediate
    // stop the tests inflict (a process crash, not a machine crash).
    std::vector<std::string> argv = {bindir + "/postgres",         "-D", data_,       "-p",
                                     std::to_string(port_),        "-k", sockets_,    "-c",
                                     "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                                     "max_connections=40"};
    for (const auto& s : settings_) {
        argv.push_back("-c");
        argv.push_back(s);
    }
    pid_ = spawn_as_runner(argv, root_ + "/postgres.log");
}

void cluster::wait_ready() {
    const std::string conninfo = dsn("connect_timeout=1");
    for (int i = 0; i < 1000; ++i) { // up to ~10 s, recovery included
        if (PQping(conninfo.c_str()) == PQPING_OK)
            return;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("cluster: postgres exited at start (see " + root_ +
                                     "/postgres.log)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("cluster: postgres did not become ready (see " + root_ +
                             "/postgres.log)");
}

void cluster::stop(int signal) {
    if (pid_ <= 0)
        return;
    ::kill(pid_, signal);
    wait_exit(pid_);
    pid_ = -1;
}

void cluster::stop_immediately() {
    stop(SIGQUIT);
}

std::string cluster::exec(const std::string& sql) const {
    session s(dsn());
    return s.exec(sql);
}

session::session(const std::string& dsn) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string why = PQerrorMessage(conn);
        PQfinish(conn);
        throw std::runtime_error("session: " + why);
    }
    // The setup's "does not exist, skipping" notices are not test output.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    conn_ = conn;
}

session::~session() {
    PQfinish(static_cast<PGconn*>(conn_));
}

std::string session::exec(const std::string& sql) {
    return first_value(static_cast<PGconn*>(conn_), sql);
}

int session::backend_pid() const {
    return PQbackendPID(static_cast<PGconn*>(conn_));
}

} // namespace keel::test::pg
