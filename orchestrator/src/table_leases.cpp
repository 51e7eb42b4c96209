// Table leases on a sync target (see table_leases.hpp).
#include "table_leases.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "ferry/error.hpp"

namespace ferry::cli {

std::string this_host() {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return host;
}

namespace {

// `text` as one word for a POSIX shell, for commands a hint suggests.
std::string shell_quoted(const std::string& text) {
    std::string quoted = "'";
    for (char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

}  // namespace

bool holder_is_gone(const std::string& holder) {
    pid_t pid = 0;
    char host[256] = "";
    if (std::sscanf(holder.c_str(), "ferry %*[a-z-] (pid %d on %255[^)])", &pid, host) != 2 ||
        host != this_host() || pid <= 0)
        return false;
    return ::kill(pid, 0) != 0 && errno == ESRCH;
}

TableLeases::TableLeases(SyncTarget& target, const std::string& verb, int ttl_seconds)
    : target_(target),
      holder_(fmt::format("ferry {} (pid {} on {})", verb, getpid(), this_host())),
      ttl_seconds_(ttl_seconds) {}

void TableLeases::take(const std::vector<SyncTable>& tables,
                       const std::function<void(const std::string&)>& note) {
    std::vector<std::string> leases;
    for (const auto& table : tables)
        leases.push_back("sync " + table.target.name);
    std::vector<std::optional<std::string>> holders =
        target_.try_lock_all(leases, holder_, ttl_seconds_);
    for (size_t i = 0; i < leases.size(); i++)
        if (!holders[i])
            held_.push_back(leases[i]);
    for (size_t i = 0; i < leases.size(); i++) {
        if (!holders[i])
            continue;
        const std::string& lease = leases[i];
        std::optional<std::string> holder = holders[i];
        if (holder_is_gone(*holder)) {
            note(fmt::format("taking over lease \"{}\" from {}, which is no longer running", lease,
                             *holder));
            // Only while the dead holder still has it: another ferry that
            // took it over first keeps it.
            target_.unlock(lease, *holder);
            holder = target_.try_lock(lease, holder_, ttl_seconds_);
        }
        if (holder) {
            release();
            throw Error(ErrorKind::locked,
                        fmt::format("{} in {} is being synced by {}", tables[i].target.name,
                                    target_.name(), *holder),
                        fmt::format("Lease \"{}\" is held; nothing was written.", lease),
                        fmt::format("Wait for it to finish. If that holder is gone, its lease "
                                    "expires by itself (ferry.locks says when), or clear it now "
                                    "with: ferry unlock {} --peer {}",
                                    shell_quoted(lease), shell_quoted(target_.name())));
        }
        held_.push_back(lease);
    }
    renewed_ = std::chrono::steady_clock::now();
}

void TableLeases::keep() {
    auto now = std::chrono::steady_clock::now();
    if (held_.empty() || now - renewed_ < std::chrono::seconds(ttl_seconds_ / 3))
        return;
    renewed_ = now;
    std::vector<std::optional<std::string>> holders =
        target_.try_lock_all(held_, holder_, ttl_seconds_);
    for (size_t i = 0; i < held_.size(); i++)
        if (holders[i])
            throw Error(ErrorKind::locked,
                        fmt::format("lease \"{}\" was lost to {}", held_[i], *holders[i]),
                        "It expired while this run was stalled, and another job took it.",
                        "Run it again; it writes only what is still missing or different.");
}

void TableLeases::release() noexcept {
    if (held_.empty())
        return;
    try {
        target_.unlock_all(held_, holder_);
    } catch (...) {
        // They expire by themselves.
    }
    held_.clear();
}

}  // namespace ferry::cli
