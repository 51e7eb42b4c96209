// Process identity from /proc (see process_identity.hpp).
#include "process_identity.hpp"

#include <fstream>
#include <sstream>

#ifdef __linux__
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#endif

namespace ferry::sqlite {

#ifdef __linux__
namespace {

std::optional<std::string> first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line) || line.empty())
        return std::nullopt;
    return line;
}

std::optional<std::string> link_target(const std::string& path) {
    char buffer[PATH_MAX];
    ssize_t length = readlink(path.c_str(), buffer, sizeof buffer);
    if (length <= 0)
        return std::nullopt;
    return std::string(buffer, static_cast<size_t>(length));
}

// What /proc/PID/stat says of a process: its state (field 3) and start
// time (field 22). The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so fields are counted from its last
// closing one.
struct ProcStat {
    char state = '?';
    uint64_t start_ticks = 0;
};

std::optional<ProcStat> proc_stat(int64_t pid) {
    std::optional<std::string> stat = first_line("/proc/" + std::to_string(pid) + "/stat");
    if (!stat)
        return std::nullopt;
    size_t name_end = stat->rfind(')');
    if (name_end == std::string::npos)
        return std::nullopt;
    std::istringstream fields(stat->substr(name_end + 1));
    ProcStat result;
    std::string field;
    for (int number = 3; number <= 22; ++number) {
        if (!(fields >> field))
            return std::nullopt;
        if (number == 3)
            result.state = field[0];
    }
    try {
        result.start_ticks = std::stoull(field);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    return result;
}

std::optional<std::string> host_name() {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0')
        return std::nullopt;
    return std::string(buffer);
}

}  // namespace

std::optional<ProcessIdentity> this_process() {
    ProcessIdentity self;
    self.pid = getpid();
    auto host = host_name();
    auto boot = first_line("/proc/sys/kernel/random/boot_id");
    auto pid_namespace = link_target("/proc/self/ns/pid");
    auto stat = proc_stat(self.pid);
    if (!host || !boot || !pid_namespace || !stat)
        return std::nullopt;
    self.host = *host;
    self.boot = *boot;
    self.pid_namespace = *pid_namespace;
    self.start_ticks = stat->start_ticks;
    return self;
}

std::optional<bool> still_running(const ProcessIdentity& recorded, const ProcessIdentity& self) {
    if (recorded.host != self.host || recorded.pid_namespace != self.pid_namespace)
        return std::nullopt;
    if (recorded.boot != self.boot)
        return false;  // the machine restarted since
    if (recorded.pid <= 0 || recorded.pid > INT_MAX)
        return std::nullopt;
    if (kill(static_cast<pid_t>(recorded.pid), 0) != 0 && errno == ESRCH)
        return false;
    std::optional<ProcStat> stat = proc_stat(recorded.pid);
    if (!stat)
        return std::nullopt;
    // A zombie has died and only waits for its parent to collect it.
    bool dead = stat->state == 'Z' || stat->state == 'X';
    return !dead && stat->start_ticks == recorded.start_ticks;
}

#else

std::optional<ProcessIdentity> this_process() {
    return std::nullopt;
}

std::optional<bool> still_running(const ProcessIdentity&, const ProcessIdentity&) {
    return std::nullopt;
}

#endif

}  // namespace ferry::sqlite
