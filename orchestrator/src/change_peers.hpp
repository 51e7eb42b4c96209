// The two ends of an incremental sync link (docs/incremental-sync.md): a
// reader of the source's committed changes, and an applier that writes a
// batch's net effect on the target, conflicts checked, together with the
// link's checkpoint in one transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ferry/change_set.hpp"
#include "sync_peers.hpp"

namespace ferry::cli {

struct ChangeBatch {
    // In the source's commit order; Change::table is the table's identity
    // in the source (SyncSource::identify).
    std::vector<changes::Change> changes;
    std::string cursor;    // JSON: where the next batch starts
    bool complete = true;  // nothing more was committed when it was read
};

// A sync link's consumer at its source (docs/incremental-sync.md#consumers):
// the peer it feeds and the tables it reads. Named after both, so that two
// links into one peer acknowledge, and hold the log, each for itself.
struct LinkConsumer {
    std::string name;
    std::string peer;              // the target's peer id
    std::set<std::string> tables;  // identities at the source (SyncSource::identify)
};
LinkConsumer link_consumer(const std::string& target_peer, std::set<std::string> tables);

class ChangeReader {
  public:
    virtual ~ChangeReader() = default;
    virtual const std::string& peer_id() const = 0;
    // Until a consumer acknowledges, the source's purge keeps every change.
    virtual void register_consumer(const LinkConsumer& consumer) = 0;
    // Committed changes after `cursor`, at most about max_changes. Changes
    // whose origin is echo_origin (the target's own, coming back) are marked
    // as echoes; changes of tables outside `tables` (identities) are passed
    // over: the cursor moves past them.
    virtual ChangeBatch read(const std::string& cursor, size_t max_changes,
                             const std::string& echo_origin,
                             const std::set<std::string>& tables) = 0;
    virtual void acknowledge(const std::string& consumer, const std::string& cursor) = 0;
    // The consumers of `peer` that read every table (from ferry 0.5), which
    // acknowledgements no longer move (docs/incremental-sync.md#consumers).
    virtual std::vector<std::string> consumers_of_every_table(const std::string& peer) = 0;
    // Removes the changes every consumer has acknowledged; returns how many.
    virtual uint64_t purge() = 0;
};

// What applying did, over a run.
struct ApplyCounts {
    uint64_t changes = 0;  // captured changes read
    uint64_t inserted = 0;
    uint64_t updated = 0;
    uint64_t deleted = 0;
    uint64_t unchanged = 0;  // the target already had the result
    uint64_t conflicts = 0;
    uint64_t kept_by_target = 0;  // conflicts settled for the target (or left open)
};

struct LinkRules {
    changes::Policy policy = changes::Policy::source_wins;
    std::string source_peer;  // peer ids: the conflicts' `peer`, latest-wins ties
    std::string target_peer;
};

// The rows of one table that a batch writes, once conflicts are settled.
struct TablePlan {
    bool truncate = false;  // every row goes first
    std::vector<const changes::NetChange*> upserts;
    std::vector<const changes::NetChange*> deletes;
};

// A local writer changed the target's rows between judging a batch and
// locking them (or a deadlock or serialization failure with one): the
// batch is rolled back and judged again.
class TargetChangedWhileApplying : public Error {
  public:
    using Error::Error;
};

class ChangeApplier {
  public:
    virtual ~ChangeApplier() = default;
    virtual const std::string& peer_id() const = 0;
    // The link's checkpoint (job, scope): begins it and returns its cursor,
    // nullopt when it has none yet (or `restart` forgets it).
    virtual std::optional<std::string> begin_link(const std::string& job, const std::string& scope,
                                                  bool restart) = 0;
    virtual void fail_link(const std::string& job, const std::string& scope,
                           const std::string& error) = 0;
    // The scopes of the job's checkpoints here, the one last attempted
    // first (for run_scope()).
    virtual std::vector<std::string> checkpoint_scopes(const std::string& job) = 0;
    // The newest completed full sync from source_peer whose tables include
    // all of `tables` (this peer's names): the source's change cursor where
    // the copy ended (where the link starts), and this peer's own cursor
    // when the copy began (where the other direction starts).
    struct Copy {
        std::string source_cursor;
        std::optional<std::string> own_cursor;
        std::optional<std::string> filters;  // JSON text; none before ferry 0.7
    };
    virtual std::optional<Copy> last_full_sync(const std::string& source_peer,
                                               const std::vector<std::string>& tables) = 0;

    // One batch: begin, judge and write each table, commit with the cursor.
    virtual void begin(const std::string& origin) = 0;
    // Where the rows given to adapt() come from: a batch read from the
    // source, or the remote row of a conflict this target recorded (which
    // was adapted when it was recorded).
    enum class RowSource { batch, recorded_conflict };
    // Rewrites the JSON values of a batch's rows that the source's engine
    // spells differently from the target's (docs/incremental-sync.md,
    // values between engines); before judge, so that hashes compare alike.
    virtual void adapt(const SyncTable& table, changes::TableChanges& changes,
                       RowSource source) = 0;
    // Checks each row against the target (docs/incremental-sync.md#conflicts),
    // records conflicts, and returns what to write.
    virtual TablePlan judge(const SyncTable& table, const changes::TableChanges& changes,
                            const LinkRules& rules, ApplyCounts& counts) = 0;
    // A truncated table is emptied before anything else of its batch is
    // written (the batch holds only what came after the TRUNCATE).
    virtual void write_truncate(const SyncTable& table, const TablePlan& plan,
                                ApplyCounts& counts) = 0;
    virtual void write_upserts(const SyncTable& table, const TablePlan& plan) = 0;
    // Deletes the plan's rows. With `unless_referenced`, writes nothing and
    // returns false when another table's foreign key still references one
    // of them: the caller deletes them after the upserts, which may move
    // the referencing rows away.
    virtual bool write_deletes(const SyncTable& table, const TablePlan& plan,
                               bool unless_referenced) = 0;
    // After the writes, under latest-wins: the target's log rows of the
    // changes it applied take the times the changes were made at their
    // source, where the target logs the table (a hub whose other peers
    // compare them), instead of the time they were applied.
    virtual void keep_change_times(const SyncTable& table, const changes::TableChanges& changes,
                                   const LinkRules& rules) = 0;
    // Moves the link's checkpoint to `cursor` and commits. Throws
    // Error(locked), writing nothing, when the checkpoint is no longer where
    // begin_link() or the last commit() left it: another run of the link
    // committed meanwhile.
    virtual void commit(const std::string& job, const std::string& scope, const std::string& cursor,
                        uint64_t done) = 0;
    virtual void rollback() noexcept = 0;

    // ferry conflicts --resolve (docs/incremental-sync.md#conflicts): an
    // open conflict of this peer; throws Error(not_found) when there is no
    // such conflict, Error(conflict) when it is already resolved.
    struct OpenConflict {
        std::string table;                      // as SQL writes it
        std::string key;                        // JSON, as the change log holds it
        std::string peer;                       // the peer whose change conflicted
        std::optional<std::string> remote_row;  // nullopt: deleted there
    };
    virtual OpenConflict open_conflict(int64_t id) = 0;
    // Inside begin(): marks it resolved ("local" or "remote"); then
    // commit_resolution() commits whatever the transaction wrote.
    virtual void mark_resolved(int64_t id, const std::string& resolution) = 0;
    virtual void commit_resolution() = 0;
    // The row filter (--where) that the link from source_peer into this
    // peer applies to `table` (this peer's name of it), as its checkpoint
    // records it; nullopt without one.
    virtual std::optional<std::string> link_filter(const std::string& source_peer,
                                                   const std::string& table) = 0;
    // The conflict policies recorded by the links from source_peer into
    // this peer that share a table with `tables` (this peer's names), each
    // as seen from that link's source; empty when none records one
    // (checkpoints written before links recorded their policy).
    virtual std::set<std::string> link_policies(const std::string& source_peer,
                                                const std::vector<std::string>& tables) = 0;
    // Whether each row's final version passes table.filter; empty without one.
    virtual std::vector<bool> rows_in_filter(const SyncTable& table,
                                             const changes::TableChanges& changes) = 0;
};

// Wakes `ferry follow` when a peer may have new changes: PostgreSQL by
// LISTEN ferry_changes (the capture NOTIFYs at commit), SQLite by watching
// PRAGMA data_version, which moves when another connection commits.
class ChangeWaiter {
  public:
    virtual ~ChangeWaiter() = default;
    // True when something may have changed within timeout_ms.
    virtual bool wait(int timeout_ms) = 0;
};

std::unique_ptr<ChangeWaiter> open_change_waiter(const std::string& peer);
std::unique_ptr<ChangeReader> open_change_reader(const std::string& peer);
std::unique_ptr<ChangeApplier> open_change_applier(const std::string& peer);

}  // namespace ferry::cli
