// The leases a full sync or a restore holds on its target's tables: one
// "sync TABLE" lease per table, shared by every job that writes it, so that
// two writers of a table never run at once (docs/full-sync.md).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sync_peers.hpp"

namespace ferry::cli {

std::string this_host();

// A holder named "ferry VERB (pid N on HOST)" that was a ferry process on
// this machine and is not running any more (killed, crashed): its lease
// need not wait out its time to live.
bool holder_is_gone(const std::string& holder);

class TableLeases {
  public:
    // The holder is named "ferry VERB (pid N on HOST)", which lets a later
    // run on this machine see that it is gone.
    TableLeases(SyncTarget& target, const std::string& verb, int ttl_seconds);
    ~TableLeases() { release(); }
    TableLeases(const TableLeases&) = delete;
    TableLeases& operator=(const TableLeases&) = delete;

    // All or none: throws Error(locked) naming the holder of the first one
    // held, having released those it took. A lease whose holder was a ferry
    // process of this machine that no longer runs is taken over (`note` is
    // told).
    void take(const std::vector<SyncTable>& tables,
              const std::function<void(const std::string&)>& note);
    // Every third of their time to live: renews them; throws Error(locked)
    // if one was lost while the run stalled.
    void keep();
    // Lets go of the leases no other TableLeases of this process holds:
    // the members of a fleet run in threads, under one holder name.
    void release() noexcept;

    const std::string& holder() const { return holder_; }

  private:
    // Both with the shared leases' mutex held (table_leases.cpp).
    void count_taken(const std::string& lease);
    void release_counted() noexcept;
    // Of `leases`, those no TableLeases of this process holds.
    void release_unshared(const std::vector<std::string>& leases) noexcept;

    SyncTarget& target_;
    std::string holder_;
    int ttl_seconds_;
    std::vector<std::string> held_;
    std::chrono::steady_clock::time_point renewed_;
};

}  // namespace ferry::cli
