// Appends entries to ferry.changes. The capture triggers run as whichever role
// writes the tracked table; that role has no privilege on ferry.changes, so
// the entry is written directly through the table access method (as
// PostgreSQL's own catalog code does) rather than through an INSERT statement.
// This also keeps a trigger call far cheaper than planning and executing SQL.
#pragma once

#include "pg_headers.hpp"

#include <cstdint>
#include <optional>

namespace ferry::pg {

// The most positions one nextval() of ferry.changes_position_seq reserves.
// The sequence steps by this much (sql/ferry--0.12--0.13.sql), and
// ferry.read_changes() counts on no block being longer: never change it.
constexpr int64 kPositionsPerBlock = 1000;

enum class ChangeOp : char { insert = 'I', update = 'U', remove = 'D', truncate = 'T' };

struct Change {
    Oid table;  // the tracked table (the root of a partition tree)
    ChangeOp op;
    std::optional<Datum> key;      // jsonb
    std::optional<Datum> new_row;  // jsonb
    std::optional<int64_t> old_hash;
};

// An index of ferry.changes, with what inserting into it needs.
struct LogIndex {
    Oid oid;
    bool unique;
    bool brin;
    IndexInfo* info;  // lives until the end of the transaction
};

// Writes the changes of one statement: ferry.changes and its indexes are
// opened once, and the transaction id, origin and time are read once. Call
// finish() when done; after an error the transaction's abort releases what
// it holds, as for any PostgreSQL code that raises with relations open.
//
// Positions are reserved in blocks of up to kPositionsPerBlock: one nextval()
// per block instead of one per entry (see next_position()).
//
// A statement expected to log more than one change buffers its entries and
// writes them with heap_multi_insert(): one page lock and one WAL record per
// heap page instead of per entry. The buffered entries are part of the
// statement, written before finish() returns and so before the trigger does;
// nothing reads the log in between.
class ChangeLogWriter {
  public:
    explicit ChangeLogWriter(int64_t expected_changes = 1);
    void append(const Change& change);
    void finish();

  private:
    int64 next_position();
    void write_now(HeapTuple entry, const Datum* values, const bool* nulls);
    void buffer(HeapTuple entry);
    void write_buffered();
    void insert_index_entries(ItemPointer tid, const Datum* values, const bool* nulls);
    bool brin_entry_redundant(int index, const Datum* key_values, const bool* key_nulls,
                              BlockNumber block);

    Relation log_ = nullptr;
    int index_count_ = 0;
    LogIndex index_targets_[8] = {};
    Relation indexes_[8] = {};
    // The heap block of the previous entry, and each BRIN index's key for it
    // (see brin_entry_redundant).
    BlockNumber previous_block_ = InvalidBlockNumber;
    Datum previous_keys_[8][INDEX_MAX_KEYS] = {};
    bool previous_nulls_[8][INDEX_MAX_KEYS] = {};
    Oid position_seq_ = InvalidOid;
    // The rest of the block of positions this writer reserved last.
    int64 block_next_ = 0;
    int64 block_left_ = 0;
    Datum xid_ = 0;
    Datum changed_at_ = 0;
    const char* origin_ = nullptr;
    // Entries waiting for heap_multi_insert (only when batching): the
    // tuples live in batch_context_, which is reset after each write; the
    // slots that hand them over, in the writer's own context.
    bool batching_ = false;
    MemoryContext batch_context_ = nullptr;
    TupleTableSlot** batch_slots_ = nullptr;
    int batch_slot_count_ = 0;
    int batch_count_ = 0;
    Size batch_bytes_ = 0;
};

// One change on its own (TRUNCATE).
void append_change(const Change& change);

// The session's ferry.origin setting: the peer whose changes are being
// applied, or nullptr for local writes.
const char* current_origin();

// Defines ferry.origin and the cache invalidation of ferry's own relations.
void define_change_log_settings();

}  // namespace ferry::pg
