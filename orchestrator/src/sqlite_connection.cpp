// SQLite peers (see sqlite_connection.hpp).
#include "sqlite_connection.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "extension.hpp"
#include "ferry/error.hpp"

namespace ferry::cli {
namespace {

// Waits for another writer's lock by retrying every millisecond, for
// kSqliteBusyTimeoutMs by the clock. SQLite's own busy timeout sleeps in
// growing steps (up to 100 ms), and a writer that commits batch after batch
// frees the lock only for moments: such a waiter (ferry cancel, another
// sync's session row) could miss every one of them and fail with "database
// is locked". Counting attempts instead of time would wait as much longer
// as each sleep overshoots its millisecond, which a busy machine makes 50 %.
int retry_every_millisecond(void* wait_started, int attempts) {
    auto& started = *static_cast<std::chrono::steady_clock::time_point*>(wait_started);
    auto now = std::chrono::steady_clock::now();
    if (attempts == 0)
        started = now;  // a new wait
    else if (now - started >= std::chrono::milliseconds(kSqliteBusyTimeoutMs))
        return 0;
    sqlite3_sleep(1);
    return 1;
}

}  // namespace

void let_other_writers_in() {
    sqlite3_sleep(2);
}

SqliteConnection::SqliteConnection(const std::string& path, bool create) : peer_("sqlite:" + path) {
    if (!create && access(path.c_str(), F_OK) != 0)
        throw Error(ErrorKind::not_found, fmt::format("no SQLite database at {}", path), {},
                    fmt::format("Check the path; ferry init sqlite:{} creates a new one.", path));
    sqlite3* raw = nullptr;
    // NOMUTEX: a connection is used by one thread at a time (a diff hands it
    // to a worker and waits), so SQLite's per-call locking is pure cost.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK)
        throw Error(ErrorKind::connection,
                    fmt::format("cannot open {}: {}", peer_,
                                raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_busy_handler(raw, retry_every_millisecond, wait_started_.get());
    char* message = nullptr;
    if (sqlite::register_ferry(raw, &message) != SQLITE_OK) {
        std::string text = message ? message : "cannot register ferry's functions";
        sqlite3_free(message);
        throw Error(ErrorKind::internal, text);
    }
}

std::vector<std::string> SqliteConnection::texts(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
    std::vector<std::string> texts;
    for (const auto& row : query(sql, params))
        texts.push_back(row.at(0).value_or(""));
    return texts;
}

std::vector<SqliteRow> SqliteConnection::query(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
    sqlite3_stmt* raw = nullptr;
    auto fail = [&](const char* doing) {
        return Error(ErrorKind::invalid_input,
                     fmt::format("{} in {}: {}", doing, peer_, sqlite3_errmsg(db_.get())));
    };
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
        throw fail("cannot prepare a statement");
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    for (size_t i = 0; i < params.size(); i++) {
        if (params[i])
            sqlite3_bind_text64(raw, static_cast<int>(i + 1), params[i]->data(), params[i]->size(),
                                SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    std::vector<SqliteRow> rows;
    // In WAL mode a statement that reads and then writes (ferry_ack() and
    // the other state functions) fails at once with SQLITE_BUSY when another
    // writer committed since its read began: the busy handler cannot help,
    // as its snapshot is stale. Outside an explicit transaction nothing of
    // the failed attempt remains, so it is run again, for as long as the
    // busy timeout.
    bool own_transaction = sqlite3_get_autocommit(db_.get()) != 0;
    auto started = std::chrono::steady_clock::now();
    while (true) {
        int rc = sqlite3_step(raw);
        if (rc == SQLITE_DONE)
            break;
        if ((rc & 0xff) == SQLITE_BUSY && own_transaction && rows.empty() &&
            sqlite3_get_autocommit(db_.get()) &&
            std::chrono::steady_clock::now() - started <
                std::chrono::milliseconds(kSqliteBusyTimeoutMs)) {
            sqlite3_reset(raw);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            continue;
        }
        if (rc != SQLITE_ROW) {
            // Errors of ferry's functions carry their DETAIL and HINT lines.
            std::string message = sqlite3_errmsg(db_.get());
            std::string detail, hint;
            if (auto at = message.find("\nHINT:  "); at != std::string::npos) {
                hint = message.substr(at + 8);
                message.erase(at);
            }
            if (auto at = message.find("\nDETAIL:  "); at != std::string::npos) {
                detail = message.substr(at + 10);
                message.erase(at);
            }
            if (rc == SQLITE_BUSY)
                throw SqliteBusy(ErrorKind::locked, fmt::format("{} (in {})", message, peer_),
                                 detail, hint);
            throw Error(ErrorKind::invalid_input, fmt::format("{} (in {})", message, peer_), detail,
                        hint);
        }
        SqliteRow row;
        for (int c = 0; c < sqlite3_column_count(raw); c++) {
            const unsigned char* text = sqlite3_column_text(raw, c);
            if (text)
                row.emplace_back(
                    std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(raw, c)));
            else
                row.emplace_back(std::nullopt);
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::optional<std::string> other_live_holder(SqliteConnection& db, const std::string& lease,
                                             const std::string& holder) {
    // expires_at is written as strftime('%Y-%m-%dT%H:%M:%fZ') by the
    // extension (ferry_try_lock), so text order is time order.
    auto rows = db.query(
        "SELECT holder FROM ferry_locks WHERE name = ?1 AND holder <> ?2 AND expires_at > "
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        {lease, holder});
    if (rows.empty())
        return std::nullopt;
    return rows.at(0).at(0).value_or("another holder");
}

std::string sqlite_table_name(const std::string& sql_name) {
    std::string part;
    bool quoted = false;
    for (size_t i = 0; i < sql_name.size(); i++) {
        char c = sql_name[i];
        if (quoted) {
            if (c == '"' && i + 1 < sql_name.size() && sql_name[i + 1] == '"') {
                part += '"';
                i++;
            } else if (c == '"') {
                quoted = false;
            } else {
                part += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == '.') {
            part.clear();  // a schema: only the last part names the table
        } else {
            part += c;
        }
    }
    return part;
}

std::string sqlite_table_name(SqliteConnection& db, const std::string& name) {
    auto exact =
        db.query("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?1", {name});
    return exact.empty() ? sqlite_table_name(name) : name;
}

}  // namespace ferry::cli
