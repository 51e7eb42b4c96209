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

enum class ChangeOp : char { insert = 'I', update = 'U', remove = 'D', truncate = 'T' };

struct Change {
    Oid table;  // the tracked table (the root of a partition tree)
    ChangeOp op;
    std::optional<Datum> key;      // jsonb
    std::optional<Datum> new_row;  // jsonb
    std::optional<int64_t> old_hash;
};

// Writes the changes of one statement: ferry.changes and its indexes are
// opened once, and the transaction id, origin and time are read once. Call
// finish() when done; after an error the transaction's abort releases what
// it holds, as for any PostgreSQL code that raises with relations open.
// An index of ferry.changes, with what inserting into it needs.
struct LogIndex {
    Oid oid;
    bool unique;
    bool brin;
    IndexInfo* info;  // lives until the end of the transaction
};

class ChangeLogWriter {
  public:
    ChangeLogWriter();
    void append(const Change& change);
    void finish();

  private:
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
    Datum xid_ = 0;
    Datum changed_at_ = 0;
    const char* origin_ = nullptr;
};

// One change on its own (TRUNCATE).
void append_change(const Change& change);

// The session's ferry.origin setting: the peer whose changes are being
// applied, or nullptr for local writes.
const char* current_origin();

// Defines ferry.origin and the cache invalidation of ferry's own relations.
void define_change_log_settings();

}  // namespace ferry::pg
