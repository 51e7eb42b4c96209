// The two syncs as functions, for their commands and for ferry run's jobs:
// a full sync (cmd_full_sync.cpp) and an incremental sync (cmd_sync.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ferry/error.hpp"

namespace ferry::cli {

// Called with the id of each session a sync records, and the peer it is in.
using SessionNotice = std::function<void(const std::string& peer, int64_t id)>;

struct FullSyncOptions {
    std::string from;
    std::string to;
    std::vector<std::string> tables;
    std::vector<std::string> filters;  // TABLE:CONDITION
    std::string method = "dump";
    std::optional<std::string> direction;  // pull or push, relative to the local peer
    bool delete_missing = false;
    bool dry_run = false;
    bool verify = false;
    bool json = false;
    bool quiet = false;
    bool print_report = true;  // the table (or JSON) on stdout at the end
    // Register the target as a consumer of the source's change log (its
    // incremental link starts where the copy ends); off for a target that
    // is only ever copied, which would otherwise hold the log back.
    bool keep_changes = true;
    uint64_t batch_rows = 50000;
    int lease_seconds = 120;
    SessionNotice on_session;
};

struct FullSyncResult {
    uint64_t rows_written = 0;  // inserted, updated and deleted
    bool verified = true;
};

// Exit code: exit_ok, or exit_differences when --verify found a difference.
int run_full_sync(const FullSyncOptions& options, FullSyncResult* result = nullptr);

struct SyncOptions {
    std::string from;
    std::string to;
    std::vector<std::string> tables;
    std::vector<std::string> filters;  // TABLE:CONDITION
    std::string policy;          // empty: the link's recorded one (source-wins for a new link)
    bool change_policy = false;  // a --policy other than the link's is made the link's
    bool both = false;
    bool restart = false;
    // One-way, before reading any change: when the tables (as filtered)
    // hash alike on both peers in one snapshot of the source, the link's
    // checkpoint moves to that snapshot's cursor and nothing else happens.
    bool settle_when_equal = false;
    size_t batch_changes = 10000;
    int lease_seconds = 120;
    bool json = false;
    bool quiet = false;
    bool print_report = true;
    SessionNotice on_session;
};

struct SyncResult {
    uint64_t changes = 0;  // read from the source(s)
    uint64_t written = 0;  // inserted, updated and deleted on the target(s)
    uint64_t conflicts = 0;
    bool settled_equal = false;  // settle_when_equal found the peers equal
    std::string consumer;        // the (last) link's consumer at its source
    std::string settled_hash;    // settled: the source's digests, "rows:hex,..." per table
    std::string settled_cursor;  // settled: where the checkpoint moved
    // With `both`: the error that stopped a direction (the other ran).
    std::optional<Error> failure;
};

// A link that has no checkpoint and no full sync to start from.
class NoStartingPoint : public Error {
  public:
    using Error::Error;
};

int run_sync(const SyncOptions& options, SyncResult* result = nullptr);

}  // namespace ferry::cli
