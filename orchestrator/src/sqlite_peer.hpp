// What the CLI needs to know about a SQLite peer: the counterpart of
// peer_tables.hpp for PostgreSQL.
#pragma once

#include <string>
#include <vector>

#include "peer_tables.hpp"
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

}  // namespace ferry::cli
