// A SQLite peer for the CLI: the database file opened with ferry's SQLite
// extension linked in (no .load needed), WAL and a busy timeout, so that the
// CLI waits for other writers instead of failing with "database is locked".
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/error.hpp"
#include "sqlite_api.hpp"

namespace ferry::cli {

using SqliteRow = std::vector<std::optional<std::string>>;

class SqliteConnection {
  public:
    // Opens sqlite:PATH. Without create, a missing file is an error (a typo
    // must not create an empty peer).
    SqliteConnection(const std::string& path, bool create);

    // Runs one statement with text parameters ($1 → ?1); all result values as text.
    std::vector<SqliteRow> query(const std::string& sql,
                                 const std::vector<std::optional<std::string>>& params = {});
    void execute(const std::string& sql,
                 const std::vector<std::optional<std::string>>& params = {}) {
        query(sql, params);
    }
    // The first column of every row (NULL as an empty string).
    std::vector<std::string> texts(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params = {});

    sqlite3* handle() const { return db_.get(); }
    const std::string& peer() const { return peer_; }

  private:
    struct Close {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    std::unique_ptr<sqlite3, Close> db_;
    std::string peer_;
    // When the busy handler's current wait began; on the heap, so that the
    // handler's pointer to it survives a move of the connection.
    std::unique_ptr<std::chrono::steady_clock::time_point> wait_started_ =
        std::make_unique<std::chrono::steady_clock::time_point>();
};

// Who holds `lease` in a SQLite peer, when that is not `holder` and the lease
// has not expired. A read: in WAL mode it never waits for a writer, so a
// second ferry learns at once that a lease is taken, and by whom, instead
// of waiting for the first one's write transaction to take the lease itself.
std::optional<std::string> other_live_holder(SqliteConnection& db, const std::string& lease,
                                             const std::string& holder);

// How long the CLI waits for another writer's transaction (docs/sqlite.md).
inline constexpr int kSqliteBusyTimeoutMs = 30000;

// Another writer held a SQLite peer's lock for longer than that ("database
// is locked", exit 4): ferry follow waits and tries again.
class SqliteBusy : public Error {
  public:
    using Error::Error;
};

// A pause between two write transactions of a long run, long enough for a
// writer waiting on the lock (retrying every millisecond) to take its turn.
void let_other_writers_in();

// The table a name written as in SQL ("public"."Orders", orders) means in a
// SQLite peer: the last part, unquoted. SQLite has no schemas; a PostgreSQL
// schema name is ignored so that one --tables list serves both engines.
std::string sqlite_table_name(const std::string& sql_name);

// The same for a name that may also be one ferry already resolved (a
// PeerTable's name is the table's own name, quotes and all): a table of
// exactly that name wins, so that resolving twice gives the same table.
std::string sqlite_table_name(SqliteConnection& db, const std::string& name);

}  // namespace ferry::cli
