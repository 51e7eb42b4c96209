// The work of one scheduled job (docs/scheduling.md): a full copy, or a
// delta run (the changes of an incremental link, or for a full job a
// re-copy of only what differs, skipped when the table hashes match), for
// one pair of peers or for every member of a fleet.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "job_config.hpp"
#include "sync_commands.hpp"

namespace ferry::cli {

struct WorkResult {
    bool unchanged = false;  // nothing to do: equal hashes, no changes
    uint64_t written = 0;    // rows written on targets
    uint64_t changes = 0;    // changes read
    uint64_t conflicts = 0;
    // Fleets: members run, found unchanged, and failed (value -> error).
    size_t members = 0;
    size_t members_unchanged = 0;
    std::map<std::string, std::string> failed_members;
    bool stopped_by_pause = false;  // fleet members left for later
    // Incremental fleets of targets: what each member last received, by
    // value: {"peer": its peer id, "hash": the hub's digests of its rows},
    // kept in the fleet's record for the next run; and the members found
    // unchanged by it, whose consumers the record's write acknowledges at
    // ack_cursor in the same transaction.
    nlohmann::json fleet_memory = nlohmann::json::object();
    std::vector<std::string> acks;
    std::string ack_cursor;
    // One pair settled equal: its link's consumer and the source's digests.
    std::string settled_consumer;
    std::string settled_hash;
};

// Work that failed or was stopped after writing some rows: what it wrote
// (the batches it committed, the tables a copy finished) rides along.
class WorkStopped : public Error {
  public:
    WorkStopped(const Error& error, WorkResult done) : Error(error), done(std::move(done)) {}
    WorkResult done;
};

struct WorkOptions {
    int lease_seconds = 120;
    size_t parallel = 4;  // fleet members at once
    SessionNotice on_session;
    // Asked between fleet members; true makes the rest wait for a later run.
    std::function<bool()> paused;
    std::function<void(const std::string&)> log;
    // The fleet record's memory from the last run (see WorkResult).
    nlohmann::json fleet_memory = nlohmann::json::object();
};

// Runs `full` (a full copy) or else a delta run. Throws on failure; a fleet
// reports its failed members in the result and throws only when it could
// not list them.
WorkResult run_job_work(const JobSpec& job, bool full, const WorkOptions& options);

// A fleet's member values: the first column of members_query on the other
// peer, or the part of each matching file's name that members_glob's *
// stands for; sorted, without duplicates. Values a peer address cannot
// carry safely are refused.
std::vector<std::string> fleet_members(const JobSpec& job);

}  // namespace ferry::cli
