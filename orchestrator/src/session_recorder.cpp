// ferry.sessions bookkeeping (see session_recorder.hpp).
#include "session_recorder.hpp"

#include <fmt/format.h>

#include "ferry/conninfo.hpp"
#include "ferry/error.hpp"
#include "output.hpp"
#include "pg_connection.hpp"
#include "sqlite_connection.hpp"

namespace ferry::cli {
namespace {

std::optional<std::string> optional_number(std::optional<uint64_t> value) {
    return value ? std::optional<std::string>(std::to_string(*value)) : std::nullopt;
}

}  // namespace

class SessionStore {
  public:
    virtual ~SessionStore() = default;
    virtual const std::string& peer() const = 0;
    // Why sessions cannot be recorded here, if they cannot.
    virtual std::optional<std::string> refusal() = 0;
    virtual int64_t start(const SessionInfo& info) = 0;
    // True when a cancel was requested.
    virtual bool progress(int64_t id, const std::string& phase, uint64_t rows_done,
                          std::optional<uint64_t> rows_total, uint64_t bytes_done) = 0;
    // False when the session was no longer running: another run closed it
    // as abandoned (its recording connection had been lost).
    virtual bool finish(int64_t id, const std::string& status,
                        const std::optional<std::string>& error) = 0;
};

namespace {

class PostgresSessionStore : public SessionStore {
  public:
    explicit PostgresSessionStore(const std::string& peer) : db_(connect_postgres_peer(peer)) {}
    const std::string& peer() const override { return db_.peer(); }
    std::optional<std::string> refusal() override {
        auto allowed = db_.query(
            "SELECT has_function_privilege('ferry.session_start(text,text,text,text,text)', "
            "'EXECUTE') AND has_function_privilege("
            "'ferry.session_progress(bigint,text,bigint,bigint,bigint,bigint)', 'EXECUTE') "
            "AND has_function_privilege('ferry.session_finish(bigint,text,text)', 'EXECUTE')");
        if (allowed.text(0, 0) == "t")
            return std::nullopt;
        return "this role may not call ferry.session_start (see docs/permissions.md)";
    }
    int64_t start(const SessionInfo& info) override {
        auto started =
            db_.query("SELECT ferry.session_start($1, $2, $3, $4, $5)",
                      {info.kind, info.direction, info.source, info.target, info.method});
        return std::stoll(started.text(0, 0));
    }
    bool progress(int64_t id, const std::string& phase, uint64_t rows_done,
                  std::optional<uint64_t> rows_total, uint64_t bytes_done) override {
        auto cancel = db_.query("SELECT ferry.session_progress($1, $2, $3, $4, $5)",
                                {std::to_string(id), phase, std::to_string(rows_done),
                                 optional_number(rows_total), std::to_string(bytes_done)});
        return cancel.rows() > 0 && cancel.text(0, 0) == "t";
    }
    bool finish(int64_t id, const std::string& status,
                const std::optional<std::string>& error) override {
        // Through the function alone: the role may not read ferry.sessions.
        try {
            db_.execute("SELECT ferry.session_finish($1, $2, $3)",
                        {std::to_string(id), status, error});
            return true;
        } catch (const PgError& failed) {
            if (failed.sqlstate() == "55000")  // object_not_in_prerequisite_state: not running
                return false;
            throw;
        }
    }

  private:
    PgConnection db_;
};

// Its own connection to the file: with WAL, its short write transactions
// commit while the work's read transaction keeps its snapshot.
class SqliteSessionStore : public SessionStore {
  public:
    // Session rows are bookkeeping: WAL's NORMAL sync (no fsync per commit)
    // is enough for them, and keeps them from slowing the work they describe.
    explicit SqliteSessionStore(const std::string& path) : db_(path, false) {
        db_.execute("PRAGMA synchronous = NORMAL");
    }
    const std::string& peer() const override { return db_.peer(); }
    std::optional<std::string> refusal() override {
        if (db_.query("SELECT 1 FROM sqlite_schema WHERE name = 'ferry_sessions'").empty())
            return "ferry is not installed there";
        return std::nullopt;
    }
    int64_t start(const SessionInfo& info) override {
        auto started =
            db_.query("SELECT ferry_session_start(?1, ?2, ?3, ?4, ?5)",
                      {info.kind, info.direction, info.source, info.target, info.method});
        return std::stoll(*started.at(0).at(0));
    }
    bool progress(int64_t id, const std::string& phase, uint64_t rows_done,
                  std::optional<uint64_t> rows_total, uint64_t bytes_done) override {
        auto cancel = db_.query("SELECT ferry_session_progress(?1, ?2, ?3, ?4, ?5)",
                                {std::to_string(id), phase, std::to_string(rows_done),
                                 optional_number(rows_total), std::to_string(bytes_done)});
        return !cancel.empty() && cancel[0][0] == std::optional<std::string>("1");
    }
    bool finish(int64_t id, const std::string& status,
                const std::optional<std::string>& error) override {
        return db_.query(
                      "SELECT ferry_session_finish(?1, ?2, ?3) FROM ferry_sessions "
                      "WHERE id = ?1 AND status = 'running'",
                      {std::to_string(id), status, error})
                   .size() == 1;
    }

  private:
    SqliteConnection db_;
};

std::unique_ptr<SessionStore> open_store(const std::string& peer) {
    PeerAddress address = parse_peer(peer);
    if (address.engine == PeerEngine::sqlite)
        return std::make_unique<SqliteSessionStore>(address.target);
    return std::make_unique<PostgresSessionStore>(peer);
}

}  // namespace

SessionRecorder::SessionRecorder(const std::string& peer, const SessionInfo& info)
    : store_(open_store(peer)) {
    try {
        if (auto refused = store_->refusal()) {
            log_line(
                fmt::format("not recorded in the sessions of {}: {}", store_->peer(), *refused));
            store_.reset();
            return;
        }
        id_ = store_->start(info);
    } catch (const Error& e) {
        // e.g. a hot standby or a read-only file, where nothing can be written
        log_line(fmt::format("not recorded in the sessions of {}: {}", store_->peer(), e.what()));
        store_.reset();
    }
}

SessionRecorder::~SessionRecorder() {
    if (!id_)
        return;
    try {
        finish("failed", "interrupted");
    } catch (...) {
        // The connection may be what failed; the row stays 'running' and its
        // updated_at shows when it stopped.
    }
}

void SessionRecorder::progress(const std::string& phase, uint64_t rows_done,
                               std::optional<uint64_t> rows_total, uint64_t bytes_done) {
    if (!id_)
        return;
    if (store_->progress(*id_, phase, rows_done, rows_total, bytes_done))
        throw Error(ErrorKind::conflict, kCancelledMessage,
                    fmt::format("Session {} was cancelled with ferry.cancel().", *id_));
}

void SessionRecorder::finish(const std::string& status, const std::optional<std::string>& error) {
    if (!id_)
        return;
    int64_t id = *id_;
    id_.reset();
    if (!store_->finish(id, status, error))
        log_line(
            fmt::format("session {} in {} had already been closed (as abandoned: its "
                        "connection was lost); it stays so",
                        id, store_->peer()));
}

void SessionRecorder::ended_by(const Error& error) noexcept {
    try {
        if (error.kind() == ErrorKind::conflict && error.what() == std::string(kCancelledMessage))
            finish("cancelled", kCancelledMessage);
        else
            finish("failed", std::string(error.what()));
    } catch (...) {
        // The session's connection may be what failed; see ~SessionRecorder.
    }
}

void record_refused_run(const std::string& peer, const SessionInfo& info,
                        const Error& error) noexcept {
    if (error.kind() == ErrorKind::locked || error.kind() == ErrorKind::connection)
        return;
    try {
        // The detail names the tables and columns: worth keeping for a DBA.
        std::string text = error.detail().empty()
                               ? std::string(error.what())
                               : fmt::format("{}\n{}", error.what(), error.detail());
        SessionRecorder(peer, info).ended_by(Error(error.kind(), text));
    } catch (...) {
        // Recording is a convenience; the error itself is what the caller reports.
    }
}

}  // namespace ferry::cli
