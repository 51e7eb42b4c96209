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

void append_change(const Change& change);

// The session's ferry.origin setting: the peer whose changes are being
// applied, or nullptr for local writes.
const char* current_origin();

// Defines ferry.origin and the cache invalidation of ferry's own relations.
void define_change_log_settings();

}  // namespace ferry::pg
