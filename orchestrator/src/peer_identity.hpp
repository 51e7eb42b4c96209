// A peer's id: what links, consumers and origins name it by
// (docs/incremental-sync.md). It is kept in the database, not taken from how
// the CLI reached it, so that one peer is one peer whatever address or
// config name leads to it, and two databases that happen to be reached by
// the same address (dbname=app on two hosts) are never confused.
#pragma once

#include <string>

#include "pg_connection.hpp"
#include "sqlite_connection.hpp"

namespace ferry::cli {

// "pg:SYSTEM_IDENTIFIER:DATABASE_OID": the cluster and the database in it.
std::string postgres_peer_id(PgConnection& db);

// "sqlite:" and 16 random hex digits, made on first use and kept in
// ferry_meta (key peer_id).
std::string sqlite_peer_id(SqliteConnection& db);

}  // namespace ferry::cli
