// Table leases on a sync target (see table_leases.hpp).
#include "table_leases.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>

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

// The table leases this process holds, and how many TableLeases hold each.
// The members of a fleet of sources run in threads of one process, under
// one holder name, and write the same tables of the hub: a member that is
// done must not let a lease go while another one still writes under it.
// The mutex is held across the statements that take, renew and release, so
// that no lease is released in the database while another member counts it.
struct SharedLeases {
    std::mutex mutex;
    std::map<std::string, int> users;  // by shared_lease_key()
};

SharedLeases& shared_leases() {
    static SharedLeases leases;
    return leases;
}

std::string shared_lease_key(const SyncTarget& target, const std::string& holder,
                             const std::string& lease) {
    return target.name() + '\n' + holder + '\n' + lease;
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
    std::lock_guard<std::mutex> guard(shared_leases().mutex);
    std::vector<std::string> leases;
    for (const auto& table : tables)
        leases.push_back("sync " + table.target.name);
    std::vector<std::optional<std::string>> holders;
    try {
        holders = target_.try_lock_all(leases, holder_, ttl_seconds_);
    } catch (...) {
        release_unshared(leases);  // those taken would wait out their time to live
        throw;
    }
    for (size_t i = 0; i < leases.size(); i++)
        if (!holders[i])
            count_taken(leases[i]);
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
            release_counted();
            throw Error(ErrorKind::locked,
                        fmt::format("{} in {} is being synced by {}", tables[i].target.name,
                                    target_.name(), *holder),
                        fmt::format("Lease \"{}\" is held; nothing was written.", lease),
                        fmt::format("Wait for it to finish. If that holder is gone, its lease "
                                    "expires by itself (ferry.locks says when), or clear it now "
                                    "with: ferry unlock {} --peer {}",
                                    shell_quoted(lease), shell_quoted(target_.name())));
        }
        count_taken(lease);
    }
    renewed_ = std::chrono::steady_clock::now();
}

void TableLeases::keep() {
    auto now = std::chrono::steady_clock::now();
    if (held_.empty() || now - renewed_ < std::chrono::seconds(ttl_seconds_ / 3))
        return;
    renewed_ = now;
    std::lock_guard<std::mutex> guard(shared_leases().mutex);
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
    std::lock_guard<std::mutex> guard(shared_leases().mutex);
    release_counted();
}

void TableLeases::count_taken(const std::string& lease) {
    held_.push_back(lease);
    shared_leases().users[shared_lease_key(target_, holder_, lease)]++;
}

void TableLeases::release_unshared(const std::vector<std::string>& leases) noexcept {
    try {
        std::vector<std::string> unshared;
        for (const auto& lease : leases)
            if (shared_leases().users.count(shared_lease_key(target_, holder_, lease)) == 0)
                unshared.push_back(lease);
        if (!unshared.empty())
            target_.unlock_all(unshared, holder_);
    } catch (...) {
        // They expire by themselves.
    }
}

void TableLeases::release_counted() noexcept {
    try {
        for (const auto& lease : held_) {
            auto user = shared_leases().users.find(shared_lease_key(target_, holder_, lease));
            if (user != shared_leases().users.end() && --user->second == 0)
                shared_leases().users.erase(user);
        }
    } catch (...) {
        // A lease still counted is not let go: it expires by itself.
    }
    release_unshared(held_);
    held_.clear();
}

}  // namespace ferry::cli
