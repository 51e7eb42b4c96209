// The two sides of a full sync (docs/full-sync.md). A source reads its tables
// in one consistent snapshot and streams their rows; a target writes them,
// one table at a time, writing only rows that differ, with its checkpoint in
// the same transaction as the data.
//
// Rows travel as PostgreSQL's COPY text lines (PostgreSQL to PostgreSQL, never
// decoded) or as SQLite statement rows (from a SQLite source); each writer
// takes both.
#pragma once

#include "sqlite_api.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "diff_peer.hpp"
#include "ferry/canonical.hpp"
#include "peer_tables.hpp"

namespace ferry::cli {

// Where a row stream goes.
class RowSink {
  public:
    virtual ~RowSink() = default;
    // The source's column names, in the order of every row's values, and
    // their PostgreSQL types (empty for a SQLite source). Called once, first.
    virtual void columns(const std::vector<std::string>& names,
                         const std::vector<std::string>& pg_types) = 0;
    // Complete COPY text lines, each ending in '\n'.
    virtual void copy_lines(std::string_view lines, uint64_t rows) = 0;
    // One row of a SQLite statement, its values in the order of columns().
    virtual void sqlite_row(sqlite3_stmt* row) = 0;
};

struct SyncTable {
    PeerTable source;
    PeerTable target;
    Param filter;  // --where condition, applied on both sides
};

class SyncSource {
  public:
    virtual ~SyncSource() = default;
    virtual const std::string& name() const = 0;
    virtual void require_ferry() = 0;
    virtual std::vector<std::string> tracked_tables() = 0;
    virtual PeerTable describe(const std::string& table) = 0;
    virtual std::string identify(const std::string& table) = 0;
    // Opens the snapshot every read and hash of this run sees. Returns what
    // the target records so that an incremental sync starts exactly where
    // the copy ended: {"snapshot": ..., "cursor": ...} as JSON text.
    virtual std::string begin_snapshot() = 0;
    virtual void end_snapshot() = 0;
    // The tables `read` will be asked for in this snapshot, in order: a
    // source may read several at a time.
    virtual void plan_reads(const std::vector<SyncTable>&) {}
    virtual void read(const SyncTable& table, RowSink& sink) = 0;
    // --method diff: only the rows with these keys (JSON, as this peer's
    // ferry.bucket_rows prints them), in the same snapshot. Keys of rows
    // that are gone are skipped.
    virtual void read_keys(const SyncTable& table, const std::vector<std::string>& keys,
                           RowSink& sink) = 0;
    // Bucket hashes of the snapshot, for --method diff (after begin_snapshot).
    virtual DiffPeer& hashes() = 0;
    virtual canonical::TableDigest table_hash(const SyncTable& table) = 0;
    // A digest of the table's rows (as filtered) for comparing this source
    // with itself later, not with another peer: in PostgreSQL the count and
    // sum of ferry.row_hash over the rows the filter selects, which an index
    // on the filter's column makes cheap (docs/scheduling.md#fleets).
    virtual std::string own_digest(const SyncTable& table) = 0;
    // The tables whose capture a schema change broke, each with what to do
    // (SQLite, which has no DDL triggers: docs/sqlite.md#schema-changes);
    // PostgreSQL refuses such changes, so never any there.
    virtual std::vector<std::pair<std::string, std::string>> broken_capture(
        const std::vector<SyncTable>&) {
        return {};
    }
};

// What writing one table did.
struct TableCounts {
    uint64_t source_rows = 0;     // rows read from the source
    uint64_t inserted = 0;        // new on the target
    uint64_t updated = 0;         // differed, rewritten
    uint64_t deleted = 0;         // --delete-missing
    uint64_t only_on_target = 0;  // kept (no --delete-missing)
    uint64_t unchanged() const { return source_rows - inserted - updated; }
};

// --method diff: the rows written are only those that are new or differ, so
// the writer is told what it cannot see for itself.
struct PartialWrite {
    uint64_t source_rows = 0;  // rows of the table in the source
    // Keys (JSON, as the target's ferry.bucket_rows prints them) of the rows
    // only the target has: deleted with --delete-missing, counted otherwise.
    std::vector<std::string> target_only_keys;
};

struct WriteOptions {
    std::string origin;  // the source peer: its rows are not sent back to it
    std::string job;     // the run's checkpoint: job and scope
    std::string scope;
    std::string checkpoint;       // the run's position while writing this table, JSON text
    std::string checkpoint_done;  // and once it is written
    uint64_t done_before = 0;     // rows of the run written before this table
    uint64_t expected_rows = 0;   // the source's estimate of this table's rows, 0 if unknown
    bool delete_missing = false;
    // --delete-missing on a table that a foreign key references: the rows to
    // delete are only noted (and counted), and SyncTarget::delete_noted()
    // deletes them once every table of the run is written, children first.
    bool delete_later = false;
    bool dry_run = false;         // roll back at the end
    uint64_t batch_rows = 50000;  // SQLite: rows per transaction
    std::optional<PartialWrite> partial;
    // Called between batches, outside any write transaction of a SQLite
    // target: progress, leases, cancel. Throws to stop.
    std::function<void(uint64_t rows_done, uint64_t bytes_done)> tick;
};

class TableWriter : public RowSink {
  public:
    // Writes what remains, the checkpoint, and commits (rolls back when dry).
    virtual TableCounts finish() = 0;
};

class SyncTarget {
  public:
    virtual ~SyncTarget() = default;
    virtual const std::string& name() const = 0;
    virtual void require_ferry() = 0;
    virtual PeerTable describe(const std::string& table) = 0;
    virtual std::string identify(const std::string& table) = 0;
    // The tables in an order that writes parents before the tables whose
    // foreign keys reference them.
    virtual std::vector<SyncTable> parents_first(std::vector<SyncTable> tables) = 0;

    // Leases, on a connection of their own: nullopt when taken, else the holder.
    virtual std::optional<std::string> try_lock(const std::string& lease, const std::string& holder,
                                                int ttl_seconds) = 0;
    virtual void unlock(const std::string& lease, const std::string& holder) = 0;
    // The same for many leases, in one round trip where the engine allows
    // it; the result has one entry per lease, in their order. One that
    // throws may have taken some of them (TableLeases lets them go).
    virtual std::vector<std::optional<std::string>> try_lock_all(
        const std::vector<std::string>& leases, const std::string& holder, int ttl_seconds);
    virtual void unlock_all(const std::vector<std::string>& leases, const std::string& holder);

    // The run's checkpoint: begins it and returns its position as JSON text
    // (null when starting over).
    virtual std::optional<std::string> begin_run(const std::string& job, const std::string& scope,
                                                 uint64_t total) = 0;
    virtual void complete_run(const std::string& job, const std::string& scope) = 0;
    // This peer's own change-log cursor now (JSON text): a full sync records
    // it, so that the other direction of a two-way link starts with the
    // target's changes made from then on (docs/incremental-sync.md).
    virtual std::string change_cursor() = 0;
    virtual void fail_run(const std::string& job, const std::string& scope,
                          const std::string& error) = 0;
    // The scopes of the job's checkpoints here, the one last attempted
    // first (for run_scope()).
    virtual std::vector<std::string> checkpoint_scopes(const std::string& job) = 0;

    virtual std::unique_ptr<TableWriter> open_writer(const SyncTable& table,
                                                     const WriteOptions& options) = 0;
    virtual canonical::TableDigest table_hash(const SyncTable& table) = 0;

    // --delete-missing across foreign keys (later_deletes.hpp): whether a
    // foreign key references `table` (its own, or another table's), and
    // whether `table` has one to another table. Neither on SQLite, whose
    // foreign keys ferry's connections leave unenforced.
    struct ForeignKeys {
        bool referenced = false;
        bool references_other = false;
    };
    virtual ForeignKeys foreign_keys(const SyncTable& table) = 0;
    // Deletes the rows the writers of `tables` noted (WriteOptions::
    // delete_later), in that order (children first), and advances the run's
    // checkpoint to options.checkpoint_done, in one transaction. Refuses to
    // delete a row that a row outside the deletions still references through
    // an ON DELETE CASCADE or SET NULL / SET DEFAULT key, which would change
    // rows the run has just written. Returns the rows deleted, per table.
    virtual std::vector<uint64_t> delete_noted(const std::vector<SyncTable>& tables,
                                               const WriteOptions& options) = 0;
};

std::unique_ptr<SyncSource> open_sync_source(const std::string& peer);

// The error for a row (`what`: "a row of t", "a change to t") with NULL in
// its primary key `column`. SQLite lets a rowid table's PRIMARY KEY hold
// NULL, and an upsert never matches NULL: such a row would be inserted
// again on every run, so it is refused.
Error null_key_error(const std::string& what, const std::string& column);

// The tables of a sync: `names`, or every table the source tracks, each
// checked on both sides (same columns and key) before anything is written,
// with all problems reported at once; `filters` are --where options
// (TABLE:CONDITION). Parents come before the tables that reference them.
// `verb` names the command in hints.
std::vector<SyncTable> plan_sync_tables(SyncSource& source, SyncTarget& target,
                                        std::vector<std::string> names,
                                        const std::vector<std::string>& filters,
                                        const std::string& verb);
std::unique_ptr<SyncTarget> open_sync_target(const std::string& peer);

// The tables a checkpoint's scope names (comma-separated; a comma inside
// a quoted name is part of it).
std::set<std::string> scope_tables(const std::string& scope);

// A run's scope, which with its job names its checkpoint: the target's
// table names, sorted, each once, comma-separated, so that one set of
// tables is one checkpoint however --tables lists it. `existing` are the
// scopes of the job's checkpoints, the one last attempted first: an older
// ferry kept the order of --tables, and could leave several checkpoints of
// one set (`a,b` and `b,a`). The last attempted of them is used as it is,
// sorted or not: it is where the link stands now (its consumer at the
// source was acknowledged there), the others are stale.
std::string run_scope(const std::vector<SyncTable>& tables,
                      const std::vector<std::string>& existing);

// The --where conditions of a run, {"target table": "condition"} for the
// filtered tables only: what a full sync's and a link's checkpoint record,
// so that a run with other filters is caught
// (docs/incremental-sync.md#row-filters).
nlohmann::json filters_by_table(const std::vector<SyncTable>& tables);

// Table digests as one text, "name=digest,..." sorted by name, which
// compares alike however the tables were ordered.
std::string digests_text(std::vector<std::pair<std::string, std::string>> digests);

// SyncSource::identify() of each table the source tracks, but those that no
// longer exist (a SQLite table dropped while tracked, which ferry status
// reports): they are no table of any run.
std::set<std::string> tracked_identities(SyncSource& source);

// The tables as the source alone describes them (target = source), with
// the filters applied: for hashing the source's side of many links at once.
std::vector<SyncTable> plan_source_tables(SyncSource& source, std::vector<std::string> names,
                                          const std::vector<std::string>& filters);

}  // namespace ferry::cli
