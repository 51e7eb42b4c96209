// What the CLI needs to know about a SQLite peer: the counterpart of
// peer_tables.hpp for PostgreSQL.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "peer_tables.hpp"
#include "sql_text.hpp"
#include "sqlite_connection.hpp"

namespace ferry::cli {

// Fails with a hint to run ferry init unless ferry's tables are in the file.
void require_sqlite_ferry(SqliteConnection& db);

// The table a SQL-written name means (sqlite_table_name), with its columns,
// key and row count; PeerTable::name is the table's name as stored.
PeerTable describe_sqlite_table(SqliteConnection& db, const std::string& table);

// A SQLite table name written as in SQL: as it is when it is a plain lower
// case identifier, double-quoted otherwise (as PostgreSQL prints regclass).
std::string sql_written_name(const std::string& name);

// Tracked tables, written as in SQL ("Order Lines").
std::vector<std::string> sqlite_tracked_tables(SqliteConnection& db);

// The scopes of a job's checkpoints in ferry_checkpoints, the one last
// attempted first.
std::vector<std::string> sqlite_checkpoint_scopes(SqliteConnection& db, const std::string& job);

// Applications store UUID keys in upper case too (Apple's
// UUID().uuidString does). ferry reads 'A0…' and 'a0…' in a column declared
// UUID as one UUID (docs/sqlite.md), but SQLite's primary key compares them
// as written: a row ferry writes under the other spelling would be a second
// row. This finds how a target table spells a key it holds, so that the
// write goes to that row.
class UuidKeySpelling {
  public:
    // The table's key columns, named in the order the caller gives their
    // values, and the spellings its UUIDs have now (one scan of the key).
    UuidKeySpelling(SqliteConnection& db, const std::string& table,
                    const std::vector<std::string>& key_columns);

    // Whether the key has a UUID column and the table holds UUIDs in some
    // case (else nothing to find: a copy into an empty table, say).
    bool applies() const { return !uuid_.empty() && (upper_held_ || lower_held_); }

    // The key's values as text, in the constructor's order: nullopt when the table holds
    // no row under another spelling of them (the values as given may well be
    // there), else the spelling it holds, its UUIDs in upper or lower case.
    std::optional<std::vector<std::string>> held_spelling(const std::vector<std::string>& key);

  private:
    bool held(const std::vector<std::string>& key);

    SqliteConnection& db_;
    std::vector<bool> uuid_;  // per key column; empty when none is a UUID
    // Whether any key held when this was made spells a UUID in upper (or
    // lower) case: the look-ups are only made where another spelling can be.
    bool upper_held_ = false;
    bool lower_held_ = false;
    StatementPtr exists_;
};

}  // namespace ferry::cli
