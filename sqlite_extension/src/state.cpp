// Coordination state in ferry_ tables (see state.hpp). Each function checks
// its arguments, then runs its statements in one savepoint.
#include "state.hpp"

#include <nlohmann/json.hpp>

#include "process_identity.hpp"
#include "schema.hpp"

namespace ferry::sqlite {
namespace {

const std::string kNow = kNowSql;

// strftime modifier for "now plus `seconds`".
std::string now_plus(double seconds) {
    return "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '" + std::to_string(seconds) + " seconds')";
}

std::string required_name(const Args& args, int i, const char* name) {
    std::string value = args.text(i, name);
    if (value.empty())
        throw ferry::Error(ErrorKind::invalid_input, std::string(name) + " must be named");
    return value;
}

std::string json_argument(const Args& args, int i, const char* name) {
    std::string value = args.text(i, name);
    if (nlohmann::json::parse(value, nullptr, false).is_discarded())
        throw ferry::Error(ErrorKind::invalid_input,
                           std::string(name) + " must be JSON text, not \"" + value + "\"");
    return value;
}

int64_t changes(sqlite3* db) {
    return sqlite3_changes64(db);
}

// ---- installation -------------------------------------------------------

void init(const Call& call, const Args&, Result& result) {
    install_schema(call.db);
    result.integer(kSchemaVersion);
}

// ---- consumers and purge --------------------------------------------------

// ferry_register_consumer(consumer [, peer, tables]): until it acknowledges,
// purge keeps everything. A sync link's consumer names the peer it feeds
// and the tables it reads (a JSON array); one named alone reads them all.
void register_consumer(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string consumer = required_name(args, 0, "consumer");
    std::optional<std::string> tables;
    if (args.has(2)) {
        tables = json_argument(args, 2, "tables");
        if (!nlohmann::json::parse(*tables).is_array())
            throw ferry::Error(ErrorKind::invalid_input, "tables must be a JSON array of names", "",
                               "Pass e.g. '[\"orders\",\"customers\"]'.");
    }
    Statement add(call.db,
                  "INSERT INTO ferry_consumers (name, peer, tables, registered_at) "
                  "VALUES (?1, ?2, ?3, " +
                      kNow +
                      ") ON CONFLICT (name) DO UPDATE SET peer = coalesce(excluded.peer, "
                      "peer), tables = coalesce(excluded.tables, tables), registered_at = CASE "
                      "WHEN excluded.tables IS NULL THEN registered_at ELSE "
                      "excluded.registered_at END");
    add.bind(1, consumer);
    if (args.has(1))
        add.bind(2, args.text(1, "peer"));
    if (tables)
        add.bind(3, *tables);
    add.run();
    result.null();
}

// Drops the consumers of a peer that others of the same peer make
// redundant: each still-tracked table such a consumer reads is read by
// another consumer of the peer that has acknowledged something and was
// registered after it (so two never drop each other); one that never
// acknowledged (a full sync's hold) is covered by any acknowledged one.
// The consumer acknowledging now is running and stays. As
// ferry._drop_superseded() in PostgreSQL (docs/incremental-sync.md#consumers).
void drop_superseded(sqlite3* db, const std::string& acking) {
    Statement drop(db, R"sql(
WITH mine AS (SELECT peer FROM ferry_consumers WHERE name = ?1 AND peer IS NOT NULL),
     reads AS (SELECT c.name, c.registered_at, j.value AS table_name
               FROM ferry_consumers c, json_each(c.tables) j, mine
               WHERE c.peer = mine.peer AND c.tables IS NOT NULL
                 AND c.acked_position IS NOT NULL)
DELETE FROM ferry_consumers
WHERE name <> ?1 AND peer = (SELECT peer FROM mine)
  AND EXISTS (SELECT 1 FROM reads r WHERE r.name <> ferry_consumers.name)
  AND NOT EXISTS (
      SELECT 1 FROM ferry_tracked_tables t
      WHERE (ferry_consumers.tables IS NULL
             OR EXISTS (SELECT 1 FROM json_each(ferry_consumers.tables) j
                        WHERE j.value = t.table_name))
        AND NOT EXISTS (SELECT 1 FROM reads r
                        WHERE r.name <> ferry_consumers.name AND r.table_name = t.table_name
                          AND (ferry_consumers.acked_position IS NULL
                               OR (r.registered_at, r.name) >
                                  (ferry_consumers.registered_at, ferry_consumers.name)))))sql");
    drop.bind(1, acking).run();
}

void drop_consumer(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    Statement drop(call.db, "DELETE FROM ferry_consumers WHERE name = ?1");
    drop.bind(1, args.text(0, "consumer")).run();
    result.boolean(changes(call.db) > 0);
}

// ferry_ack(consumer, position): the consumer has applied every change up to
// and including position. In SQLite positions are in commit order (writers
// are serialized), so a position is a complete cursor.
void ack(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string consumer = required_name(args, 0, "consumer");
    int64_t position = args.integer(1, "position");
    Statement reached(call.db, "SELECT coalesce(max(position), 0) FROM ferry_changes");
    reached.step();
    if (position < 0 || position > reached.integer(0))
        throw ferry::Error(
            ErrorKind::invalid_input, "cannot acknowledge position " + std::to_string(position),
            "The change log has reached position " + std::to_string(reached.integer(0)) + ".",
            "Acknowledge the position of the last change you applied.");
    // Going back could only re-read changes already purged: a consumer that
    // starts over is dropped and registered again.
    Statement previous(call.db, "SELECT acked_position FROM ferry_consumers WHERE name = ?1");
    previous.bind(1, consumer);
    if (previous.step() && !previous.is_null(0) && previous.integer(0) > position)
        throw ferry::Error(ErrorKind::invalid_input,
                           "cannot acknowledge position " + std::to_string(position),
                           "Consumer \"" + consumer + "\" has acknowledged position " +
                               std::to_string(previous.integer(0)) + " already.",
                           "To start over, run ferry_drop_consumer() and register it again.");
    Statement record(call.db,
                     "INSERT INTO ferry_consumers (name, acked_position, acked_at, registered_at) "
                     "VALUES (?1, ?2, " +
                         kNow + ", " + kNow +
                         ") ON CONFLICT (name) DO UPDATE SET acked_position = "
                         "excluded.acked_position, acked_at = excluded.acked_at");
    record.bind(1, consumer).bind(2, position).run();
    drop_superseded(call.db, consumer);
    result.null();
}

// ferry_purge() removes the changes every registered consumer has
// acknowledged, and returns how many. Without consumers it removes nothing.
// The newest change always stays: positions come from max(position) + 1, and
// must never go back to one a consumer has already seen.
void purge(const Call& call, const Args&, Result& result) {
    require_schema(call.db);
    Statement purge(
        call.db,
        "DELETE FROM ferry_changes WHERE position <= (SELECT CASE WHEN count(*) > 0 "
        "AND count(acked_position) = count(*) THEN min(acked_position) ELSE 0 END "
        "FROM ferry_consumers) AND position < (SELECT max(position) FROM ferry_changes)");
    purge.run();
    result.integer(changes(call.db));
}

// ---- checkpoints ----------------------------------------------------------

std::string checkpoint_json(sqlite3* db, const std::string& job, const std::string& scope) {
    Statement row(db,
                  "SELECT json_object('job', job, 'scope', scope, 'status', status, 'position', "
                  "json(position), 'total', total, 'done', done, 'last_attempt_at', "
                  "last_attempt_at, 'last_completed_at', last_completed_at, 'last_error', "
                  "last_error) FROM ferry_checkpoints WHERE job = ?1 AND scope = ?2");
    row.bind(1, job).bind(2, scope);
    if (!row.step())
        throw ferry::Error(ErrorKind::not_found,
                           "no checkpoint \"" + job + "\" scope \"" + scope + "\"");
    return row.text(0);
}

std::string scope_argument(const Args& args, int i) {
    return args.has(i) ? args.text(i, "scope") : std::string();
}

// ferry_checkpoint_begin(job [, scope, total, restart]) → the checkpoint as JSON.
void checkpoint_begin(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string job = required_name(args, 0, "job");
    std::string scope = scope_argument(args, 1);
    std::optional<int64_t> total = args.optional_integer(2, "total");
    bool restart = args.has(3) && args.integer(3, "restart") != 0;
    Statement begin(call.db,
                    "INSERT INTO ferry_checkpoints AS c (job, scope, status, total, "
                    "last_attempt_at) VALUES (?1, ?2, 'running', ?3, " +
                        kNow +
                        ") ON CONFLICT (job, scope) DO UPDATE SET status = 'running', "
                        "total = coalesce(excluded.total, c.total), "
                        "last_attempt_at = excluded.last_attempt_at, "
                        "position = CASE WHEN ?4 OR c.status = 'completed' THEN NULL ELSE "
                        "c.position END, "
                        "done = CASE WHEN ?4 OR c.status = 'completed' THEN 0 ELSE c.done END");
    begin.bind(1, job).bind(2, scope).bind(4, static_cast<int64_t>(restart));
    if (total)
        begin.bind(3, *total);
    begin.run();
    result.json(checkpoint_json(call.db, job, scope));
}

void require_updated(sqlite3* db, const std::string& message, const std::string& hint = {}) {
    if (changes(db) == 0)
        throw ferry::Error(ErrorKind::conflict, message, "", hint);
}

void checkpoint_advance(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string job = args.text(0, "job");
    std::string scope = scope_argument(args, 1);
    Statement advance(call.db,
                      "UPDATE ferry_checkpoints SET position = ?3, done = ?4 "
                      "WHERE job = ?1 AND scope = ?2 AND status = 'running'");
    advance.bind(1, job)
        .bind(2, scope)
        .bind(3, json_argument(args, 2, "position"))
        .bind(4, args.integer(3, "done"))
        .run();
    require_updated(call.db, "checkpoint \"" + job + "\" scope \"" + scope + "\" is not running",
                    "Call ferry_checkpoint_begin() first.");
    result.null();
}

void checkpoint_complete(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string job = args.text(0, "job");
    std::string scope = scope_argument(args, 1);
    Statement complete(
        call.db, "UPDATE ferry_checkpoints SET status = 'completed', last_completed_at = " + kNow +
                     ", last_error = NULL, done = coalesce(total, done) "
                     "WHERE job = ?1 AND scope = ?2");
    complete.bind(1, job).bind(2, scope).run();
    require_updated(call.db, "no checkpoint \"" + job + "\" scope \"" + scope + "\"");
    result.null();
}

void checkpoint_fail(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string job = args.text(0, "job");
    std::string scope = scope_argument(args, 1);
    Statement fail(call.db,
                   "UPDATE ferry_checkpoints SET status = 'failed', last_error = ?3 "
                   "WHERE job = ?1 AND scope = ?2");
    fail.bind(1, job).bind(2, scope).bind(3, args.optional_text(2)).run();
    require_updated(call.db, "no checkpoint \"" + job + "\" scope \"" + scope + "\"");
    result.null();
}

// ferry_checkpoint_resume_point(job [, scope, fresh_within]) →
// {"action": "fresh" | "resume" | "start", "position": …, "done": n}.
void checkpoint_resume_point(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string job = args.text(0, "job");
    std::string scope = scope_argument(args, 1);
    std::optional<double> fresh_within;
    if (args.has(2))
        fresh_within = args.seconds(2, "fresh_within");
    Statement point(
        call.db,
        "SELECT json_object("
        " 'action', coalesce(CASE WHEN c.status = 'completed' AND ?3 IS NOT NULL"
        "     AND c.last_completed_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ?3 || "
        "' seconds') THEN 'fresh'"
        "   WHEN c.status IN ('running', 'failed') AND c.position IS NOT NULL THEN 'resume'"
        "   END, 'start'),"
        " 'position', CASE WHEN c.status IN ('running', 'failed') THEN json(c.position) END,"
        " 'done', CASE WHEN c.status IN ('running', 'failed') AND c.position IS NOT NULL"
        "   THEN c.done ELSE 0 END)"
        " FROM (SELECT 1) one LEFT JOIN ferry_checkpoints c ON c.job = ?1 AND c.scope = ?2");
    point.bind(1, job).bind(2, scope);
    if (fresh_within)
        point.bind(3, *fresh_within);
    point.step();
    result.json(point.text(0));
}

// ---- leases ---------------------------------------------------------------

// ferry_try_lock(name, holder, ttl) → 1 when holder now has the lease. A
// lease is a row: it outlives its holder's process and expires by itself.
void try_lock(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string name = required_name(args, 0, "lease");
    std::string holder = required_name(args, 1, "lease holder");
    double ttl = args.seconds(2, "ttl");
    if (!(ttl > 0))
        throw ferry::Error(ErrorKind::invalid_input, "lease time to live must be positive");
    Statement take(
        call.db, "INSERT INTO ferry_locks AS l (name, holder, since, expires_at) VALUES (?1, ?2, " +
                     kNow + ", " + now_plus(ttl) +
                     ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                     "since = CASE WHEN l.holder = excluded.holder THEN l.since ELSE "
                     "excluded.since END, expires_at = excluded.expires_at "
                     "WHERE l.holder = excluded.holder OR l.expires_at <= " +
                     kNow);
    take.bind(1, name).bind(2, holder).run();
    result.boolean(changes(call.db) > 0);
}

void unlock(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::string holder = args.has(1) ? args.text(1, "holder") : std::string();
    if (holder.empty())
        throw ferry::Error(ErrorKind::invalid_input, "lease holder must be named", "",
                           "To release another holder's lease, run ferry_force_unlock(name).");
    Statement release(call.db, "DELETE FROM ferry_locks WHERE name = ?1 AND holder = ?2");
    release.bind(1, args.text(0, "lease")).bind(2, holder).run();
    result.boolean(changes(call.db) > 0);
}

void force_unlock(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    Statement release(call.db, "DELETE FROM ferry_locks WHERE name = ?1");
    release.bind(1, args.text(0, "lease")).run();
    result.boolean(changes(call.db) > 0);
}

// ---- sessions -------------------------------------------------------------

void check_choice(const std::optional<std::string>& value,
                  std::initializer_list<const char*> allowed, const char* what, bool nullable) {
    if (!value && nullable)
        return;
    for (const char* choice : allowed)
        if (value && *value == choice)
            return;
    std::string list;
    for (const char* choice : allowed)
        list += (list.empty() ? "" : ", ") + std::string(choice);
    throw ferry::Error(
        ErrorKind::invalid_input,
        std::string("invalid session ") + what + " \"" + value.value_or("NULL") + "\"", "",
        "Use " + list + (nullable ? " or NULL." : "."));
}

// The recorder column's JSON for this process, or NULL where it cannot be
// told (the session is then never closed for it).
std::optional<std::string> recorder_json(const std::optional<ProcessIdentity>& self) {
    if (!self)
        return std::nullopt;
    return nlohmann::json{{"host", self->host},
                          {"boot", self->boot},
                          {"pid_namespace", self->pid_namespace},
                          {"pid", self->pid},
                          {"start_ticks", std::to_string(self->start_ticks)}}
        .dump();
}

// Closes as failed the running sessions whose recording process is gone,
// as this process (`self`) sees it; returns how many. Sessions recorded on
// another machine are left alone.
int64_t close_abandoned(sqlite3* db, const std::optional<ProcessIdentity>& self) {
    if (!self)
        return 0;
    Statement running(db,
                      "SELECT id, json_extract(recorder, '$.host'), json_extract(recorder, "
                      "'$.boot'), json_extract(recorder, '$.pid_namespace'), "
                      "json_extract(recorder, '$.pid'), json_extract(recorder, '$.start_ticks') "
                      "FROM ferry_sessions WHERE status = 'running' AND json_valid(recorder)");
    std::vector<int64_t> gone;
    while (running.step()) {
        ProcessIdentity recorded;
        recorded.host = running.optional_text(1).value_or("");
        recorded.boot = running.optional_text(2).value_or("");
        recorded.pid_namespace = running.optional_text(3).value_or("");
        recorded.pid = running.integer(4);
        try {
            recorded.start_ticks = std::stoull(running.optional_text(5).value_or(""));
        } catch (const std::exception&) {
            continue;
        }
        if (still_running(recorded, *self) == false)
            gone.push_back(running.integer(0));
    }
    Statement close(db,
                    "UPDATE ferry_sessions SET status = 'failed', error = 'abandoned: the ferry "
                    "process that ran it stopped without finishing it (that process is gone; "
                    "recorder shows which it was)', finished_at = " +
                        kNow + ", updated_at = " + kNow +
                        ", estimated_finish = NULL WHERE id = ?1 AND status = 'running'");
    for (int64_t id : gone) {
        close.bind(1, id).run();
        close.reset();
    }
    return static_cast<int64_t>(gone.size());
}

// ferry_session_start(kind, direction, source, target [, method]) → id.
// Closes the sessions of processes that died first.
void session_start(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    std::optional<std::string> kind = args.optional_text(0);
    std::optional<std::string> direction = args.optional_text(1);
    check_choice(kind, {"full", "incremental", "diff"}, "kind", false);
    check_choice(direction, {"pull", "push", "both"}, "direction", true);
    std::optional<ProcessIdentity> self = this_process();
    close_abandoned(call.db, self);
    Statement start(call.db,
                    "INSERT INTO ferry_sessions (kind, direction, source, target, method, "
                    "started_at, updated_at, recorder) VALUES (?1, ?2, ?3, ?4, ?5, " +
                        kNow + ", " + kNow + ", ?6)");
    start.bind(1, kind)
        .bind(2, direction)
        .bind(3, args.optional_text(2))
        .bind(4, args.optional_text(3))
        .bind(5, args.optional_text(4))
        .bind(6, recorder_json(self))
        .run();
    result.integer(sqlite3_last_insert_rowid(call.db));
}

// ferry_close_abandoned_sessions() → how many sessions it closed.
void close_abandoned_sessions(const Call& call, const Args&, Result& result) {
    require_schema(call.db);
    result.integer(close_abandoned(call.db, this_process()));
}

// ferry_session_progress(id, phase, rows_done [, rows_total, bytes_done,
// bytes_total]) → 1 when a cancel has been requested.
void session_progress(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    Statement progress(
        call.db,
        "UPDATE ferry_sessions SET phase = ?2, rows_done = ?3, rows_total = ?4, "
        "bytes_done = coalesce(?5, 0), bytes_total = ?6, "
        "rows_per_second = ?3 / nullif((julianday('now') - julianday(started_at)) * 86400.0, 0), "
        "estimated_finish = CASE WHEN ?4 IS NOT NULL AND ?3 > 0 THEN "
        "strftime('%Y-%m-%dT%H:%M:%fZ', "
        "julianday('now') + (julianday('now') - julianday(started_at)) * (?4 - ?3) / (?3 * 1.0)) "
        "END, updated_at = " +
            kNow + " WHERE id = ?1 AND status = 'running' RETURNING cancel_requested");
    progress.bind(1, args.integer(0, "id"))
        .bind(2, args.optional_text(1))
        .bind(3, args.integer(2, "rows_done"));
    if (auto total = args.optional_integer(3, "rows_total"))
        progress.bind(4, *total);
    if (auto bytes = args.optional_integer(4, "bytes_done"))
        progress.bind(5, *bytes);
    if (auto bytes_total = args.optional_integer(5, "bytes_total"))
        progress.bind(6, *bytes_total);
    if (!progress.step()) {
        result.null();
        return;
    }
    result.boolean(progress.integer(0) != 0);
}

void session_finish(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    int64_t id = args.integer(0, "id");
    std::optional<std::string> status = args.optional_text(1);
    check_choice(status, {"succeeded", "failed", "cancelled"}, "status", false);
    Statement finish(call.db, "UPDATE ferry_sessions SET status = ?2, error = ?3, finished_at = " +
                                  kNow + ", updated_at = " + kNow +
                                  ", estimated_finish = NULL WHERE id = ?1 AND status = 'running'");
    finish.bind(1, id).bind(2, status).bind(3, args.optional_text(2)).run();
    require_updated(call.db, "session " + std::to_string(id) + " is not running");
    result.null();
}

void cancel(const Call& call, const Args& args, Result& result) {
    require_schema(call.db);
    Statement ask(call.db,
                  "UPDATE ferry_sessions SET cancel_requested = 1 WHERE id = ?1 AND status = "
                  "'running'");
    ask.bind(1, args.integer(0, "id")).run();
    result.boolean(changes(call.db) > 0);
}

void version(const Call&, const Args&, Result& result) {
    result.text(FERRY_VERSION);
}

}  // namespace

void add_state_functions(std::vector<FunctionSpec>& specs) {
    const int writes = SQLITE_DIRECTONLY;
    specs.insert(specs.end(),
                 {
                     {"ferry_version", 0, 0, version, SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS},
                     {"ferry_init", 0, 0, init, writes},
                     {"ferry_register_consumer", 1, 3, register_consumer, writes},
                     {"ferry_drop_consumer", 1, 1, drop_consumer, writes},
                     {"ferry_ack", 2, 2, ack, writes},
                     {"ferry_purge", 0, 0, purge, writes},
                     {"ferry_checkpoint_begin", 1, 4, checkpoint_begin, writes},
                     {"ferry_checkpoint_advance", 4, 4, checkpoint_advance, writes},
                     {"ferry_checkpoint_complete", 1, 2, checkpoint_complete, writes},
                     {"ferry_checkpoint_fail", 3, 3, checkpoint_fail, writes},
                     {"ferry_checkpoint_resume_point", 1, 3, checkpoint_resume_point, writes},
                     {"ferry_try_lock", 3, 3, try_lock, writes},
                     {"ferry_unlock", 2, 2, unlock, writes},
                     {"ferry_force_unlock", 1, 1, force_unlock, writes},
                     {"ferry_session_start", 4, 5, session_start, writes},
                     {"ferry_session_progress", 3, 6, session_progress, writes},
                     {"ferry_session_finish", 2, 3, session_finish, writes},
                     {"ferry_cancel", 1, 1, cancel, writes},
                     {"ferry_close_abandoned_sessions", 0, 0, close_abandoned_sessions, writes},
                 });
}

}  // namespace ferry::sqlite
