// ferry's own tables in a SQLite database (docs/sqlite.md lists them).
#pragma once

#include <optional>

#include "database.hpp"

namespace ferry::sqlite {

// The version of the ferry_ tables this extension creates and expects.
inline constexpr int kSchemaVersion = 8;

// The version of the ferry_ tables in this database (0 if unrecorded);
// nullopt when ferry is not installed.
std::optional<int> installed_schema_version(sqlite3* db);

// Creates the ferry_ tables and views, or checks that the ones there are of
// kSchemaVersion. Idempotent; runs in a savepoint.
void install_schema(sqlite3* db);

// Throws a clear error unless the ferry_ tables are installed.
void require_schema(sqlite3* db);

}  // namespace ferry::sqlite
