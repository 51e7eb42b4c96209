// Small pieces of SQL that the sync commands build for both engines, and
// prepared SQLite statements that finalize themselves.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ferry/error.hpp"
#include "sqlite_api.hpp"
#include "sqlite_connection.hpp"

namespace ferry::cli {

// "a", "b" quoted, comma-separated, each after `prefix` ("s.").
std::string join_quoted(const std::vector<std::string>& names, const std::string& prefix = "");

// "a.k1 IS b.k1 AND a.k2 IS b.k2" (SQLite) or with = (PostgreSQL keys are
// never NULL).
std::string key_match(const std::vector<std::string>& keys, const std::string& a,
                      const std::string& b, const char* op);

// `items` (JSON texts) as JSON arrays of at most `per_array` items each.
std::vector<std::string> json_arrays(const std::vector<std::string>& items, size_t per_array);

struct FinalizeStatement {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// Throws Error(invalid_input) with SQLite's message, naming the peer.
StatementPtr prepare(SqliteConnection& db, const std::string& sql);

// A write refused by a UNIQUE constraint or the primary key.
class UniqueViolation : public Error {
  public:
    using Error::Error;
};

// Steps once (a row or the end) and resets; a failure throws, a constraint
// failure as Error(conflict), a UNIQUE one as UniqueViolation.
void step_done(SqliteConnection& db, sqlite3_stmt* statement);

}  // namespace ferry::cli
