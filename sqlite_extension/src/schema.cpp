// The ferry_ tables and views (see schema.hpp, docs/sqlite.md).
#include "schema.hpp"

#include <string>

#include "tracking.hpp"

namespace ferry::sqlite {
namespace {

// Times are ISO 8601 text in UTC with milliseconds, which sort as text;
// ferry_changes.changed_at alone is a julian day number (REAL), which the
// capture triggers can compute per row at a tenth of the cost of formatting.
const char* const kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS ferry_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- The rows an INSERT into a tracked table is about to meet, noted by its
-- BEFORE INSERT trigger: INSERT OR REPLACE removes them without firing
-- DELETE triggers, and the AFTER INSERT trigger logs what became of them.
CREATE TABLE IF NOT EXISTS ferry_replaced (
    table_name  TEXT NOT NULL,
    key         TEXT NOT NULL,    -- JSON object of the primary key columns
    old_row     TEXT NOT NULL,    -- JSON object, as ferry_changes.old_row
    PRIMARY KEY (table_name, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ferry_tracked_tables (
    table_name   TEXT PRIMARY KEY,
    key_columns  TEXT NOT NULL,   -- JSON array, in key order
    columns      TEXT NOT NULL,   -- JSON array: the columns the triggers capture
    options      TEXT NOT NULL DEFAULT '{}',
    tracked_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ferry_changes (
    -- Commit order. Not AUTOINCREMENT, whose sqlite_sequence row would be one
    -- more page written by every transaction; ferry_purge() keeps the newest
    -- change, so the largest position, and with it the next one, never goes back.
    position    INTEGER PRIMARY KEY,
    table_name  TEXT NOT NULL,
    op          TEXT NOT NULL,    -- I, U, D
    key         TEXT NOT NULL,    -- JSON object of the primary key columns
    new_row     TEXT,             -- JSON object (I, U)
    old_row     TEXT,             -- JSON object (U, D): hashed by ferry_row_hash()
    origin      TEXT,             -- the peer ferry applied it for (ferry_set_origin); NULL = local
    changed_at  REAL NOT NULL     -- julian day, UTC
);

CREATE TABLE IF NOT EXISTS ferry_consumers (
    name            TEXT PRIMARY KEY,
    acked_position  INTEGER,      -- NULL = nothing acknowledged yet
    acked_at        TEXT,
    registered_at   TEXT NOT NULL,
    peer            TEXT,         -- the peer it applies changes to
    tables          TEXT          -- JSON array of the tables it reads; NULL = all
);

CREATE TABLE IF NOT EXISTS ferry_checkpoints (
    job                TEXT NOT NULL,
    scope              TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'completed', 'failed')),
    position           TEXT,      -- JSON: where to resume
    total              INTEGER,
    done               INTEGER NOT NULL DEFAULT 0,
    last_attempt_at    TEXT,
    last_completed_at  TEXT,
    last_error         TEXT,
    PRIMARY KEY (job, scope)
);

CREATE TABLE IF NOT EXISTS ferry_locks (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    since       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ferry_sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL CHECK (kind IN ('full', 'incremental', 'diff')),
    direction         TEXT CHECK (direction IN ('pull', 'push', 'both')),
    source            TEXT,
    target            TEXT,
    method            TEXT,
    phase             TEXT,
    bytes_done        INTEGER NOT NULL DEFAULT 0,
    bytes_total       INTEGER,
    rows_done         INTEGER NOT NULL DEFAULT 0,
    rows_total        INTEGER,
    rows_per_second   REAL,
    estimated_finish  TEXT,
    status            TEXT NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    error             TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    started_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    finished_at       TEXT,
    -- The process recording it, as JSON (host, boot, pid_namespace, pid,
    -- start_ticks): a session whose process is gone is closed as failed.
    recorder          TEXT
);
CREATE INDEX IF NOT EXISTS ferry_sessions_running ON ferry_sessions (id)
    WHERE status = 'running';

CREATE TABLE IF NOT EXISTS ferry_conflicts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name   TEXT NOT NULL,
    key          TEXT NOT NULL,
    peer         TEXT NOT NULL,
    local_row    TEXT,
    remote_row   TEXT,
    policy       TEXT NOT NULL,
    resolution   TEXT,
    detected_at  TEXT NOT NULL,
    resolved_at  TEXT
);

CREATE VIEW IF NOT EXISTS ferry_change_log AS
SELECT position, table_name,
       CASE op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' WHEN 'D' THEN 'DELETE' END
           AS operation,
       key, new_row, old_row, origin,
       strftime('%Y-%m-%dT%H:%M:%fZ', changed_at) AS changed_at
FROM ferry_changes;

-- capture_state says whether the triggers still match the table: a column
-- added, dropped or renamed since ferry_track() needs ferry_track() again.
-- So does a trigger of the application's made after ferry's: SQLite runs
-- a table's triggers newest first, so one that writes the row again (an
-- AFTER INSERT filling in a column) would run before ferry's, which would
-- then log the row as it was before, last (sqlite_schema's rowids keep the
-- order in which triggers were made).
CREATE VIEW IF NOT EXISTS ferry_tracked AS
SELECT t.table_name, t.key_columns, t.columns, t.options, t.tracked_at,
       CASE
         WHEN NOT EXISTS (SELECT 1 FROM sqlite_schema s
                          WHERE s.type = 'table' AND s.name = t.table_name)
           THEN 'table missing: run ferry_untrack()'
         WHEN (SELECT count(*) FROM sqlite_schema s
               WHERE s.type = 'trigger' AND s.tbl_name = t.table_name
                 AND s.name IN ('ferry_insert_' || t.table_name, 'ferry_update_' || t.table_name,
                                'ferry_rekey_' || t.table_name, 'ferry_delete_' || t.table_name,
                                'ferry_replace_' || t.table_name,
                                'ferry_replaced_' || t.table_name,
                                'ferry_displace_' || t.table_name,
                                'ferry_displaced_' || t.table_name)) <> 8
           THEN 'triggers missing: run ferry_track() again'
         WHEN (SELECT json_group_array(name)
               FROM (SELECT name FROM pragma_table_xinfo(t.table_name)
                     WHERE hidden IN (0, 2, 3) ORDER BY cid)) <> t.columns
           THEN 'columns changed: run ferry_track() again'
         WHEN EXISTS (SELECT 1 FROM sqlite_schema a
                      WHERE a.type = 'trigger' AND a.tbl_name = t.table_name
                        AND substr(a.name, 1, 6) <> 'ferry_'
                        AND a.rowid > (SELECT min(s.rowid) FROM sqlite_schema s
                                       WHERE s.type = 'trigger' AND s.tbl_name = t.table_name
                                         AND substr(s.name, 1, 6) = 'ferry_'))
           THEN 'a newer trigger runs first: run ferry_track() again'
         ELSE 'capturing'
       END AS capture_state
FROM ferry_tracked_tables t;

-- One row per tracked table and the peer that reads it: is it in sync, how
-- far behind? A table no consumer reads has one row with peer NULL; where
-- two consumers of one peer read a table, the one that acknowledged last
-- speaks for it. Open conflicts that no such row counts (with a peer that
-- only writes here, or on a table not tracked here) get a row of their own
-- per table and peer, with nothing pending.
CREATE VIEW IF NOT EXISTS ferry_status AS
WITH reader AS (
    SELECT t.table_name, coalesce(c.peer, c.name) AS peer, c.acked_position, c.acked_at,
           row_number() OVER (PARTITION BY t.table_name, coalesce(c.peer, c.name)
                              ORDER BY c.acked_at DESC NULLS LAST, c.name) AS choice
    FROM ferry_tracked_tables t
    LEFT JOIN ferry_consumers c
           ON c.tables IS NULL
           OR EXISTS (SELECT 1 FROM json_each(c.tables) j WHERE j.value = t.table_name))
SELECT r.table_name,
       r.peer,
       count(ch.position) AS pending_changes,
       strftime('%Y-%m-%dT%H:%M:%fZ', min(ch.changed_at)) AS oldest_pending_at,
       coalesce(round((julianday('now') - min(ch.changed_at)) * 86400.0, 3), 0.0) AS lag_seconds,
       r.acked_at AS last_sync_at,
       (SELECT count(*) FROM ferry_conflicts f
        WHERE f.table_name = r.table_name AND f.resolved_at IS NULL
          AND (r.peer IS NULL OR f.peer = r.peer)) AS open_conflicts
FROM reader r
LEFT JOIN ferry_changes ch ON ch.table_name = r.table_name
                          AND ch.position > coalesce(r.acked_position, 0)
WHERE r.choice = 1
GROUP BY r.table_name, r.peer
UNION ALL
SELECT f.table_name, f.peer, 0, NULL, 0.0, NULL, count(*)
FROM ferry_conflicts f
WHERE f.resolved_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM ferry_tracked_tables t
                  LEFT JOIN ferry_consumers c
                         ON c.tables IS NULL
                         OR EXISTS (SELECT 1 FROM json_each(c.tables) j
                                    WHERE j.value = t.table_name)
                  WHERE t.table_name = f.table_name
                    AND (c.name IS NULL OR coalesce(c.peer, c.name) = f.peer))
GROUP BY f.table_name, f.peer;
)sql";

// True when `table` exists without `column` (a file of version 0 may lack
// the table, which kSchemaSql then makes whole).
bool lacks_column(sqlite3* db, const char* table, const char* column) {
    Statement exists(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    if (!exists.bind(1, table).step())
        return false;
    Statement found(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
    return !found.bind(1, table).bind(2, column).step();
}

// What changed since an older version, applied before kSchemaSql creates
// whatever is missing. Version 2: a consumer per sync link, naming its peer
// and tables (docs/sqlite.md#consumers); a version 1 consumer was its peer.
// Version 3: the triggers that capture INSERT OR REPLACE, and ferry_tracked
// counting them (the triggers are made again after kSchemaSql). Version 4:
// the triggers that capture UPDATE OR REPLACE, likewise. Version 5:
// ferry_status counts every open conflict. Version 6: the triggers no
// longer log row -1 as replaced by an insert that lets SQLite choose the
// rowid, log a key's change of case under NOCASE as a new key, and take an
// `INTEGER PRIMARY KEY DESC` (not the rowid) for any value. Version 7:
// ferry_tracked reports an application's trigger made after ferry's (a file
// made at version 6 by an early build kept a view without that check).
// Version 8: ferry_sessions records the process that runs each session.
void upgrade_from(sqlite3* db, int version) {
    if (version == 1)
        exec(db, R"sql(
ALTER TABLE ferry_consumers ADD COLUMN peer TEXT;
ALTER TABLE ferry_consumers ADD COLUMN tables TEXT;
UPDATE ferry_consumers SET peer = name;
DROP VIEW IF EXISTS ferry_status;
)sql");
    if (version <= 3)
        exec(db, "DROP VIEW IF EXISTS ferry_tracked;");
    if (version <= 4)
        exec(db, "DROP VIEW IF EXISTS ferry_status;");
    if (version <= 6)
        exec(db, "DROP VIEW IF EXISTS ferry_tracked;");
    if (version <= 7 && lacks_column(db, "ferry_sessions", "recorder"))
        exec(db, "ALTER TABLE ferry_sessions ADD COLUMN recorder TEXT;");
}

}  // namespace

std::optional<int> installed_schema_version(sqlite3* db) {
    Statement check(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'ferry_meta'");
    if (!check.step())
        return std::nullopt;
    Statement version(db, "SELECT value FROM ferry_meta WHERE key = 'schema_version'");
    return version.step() ? static_cast<int>(version.integer(0)) : 0;
}

void install_schema(sqlite3* db) {
    std::optional<int> installed = installed_schema_version(db);
    if (installed == kSchemaVersion)
        return;
    if (installed > kSchemaVersion)
        throw ferry::Error(ErrorKind::unsupported,
                           "this database has ferry tables of version " +
                               std::to_string(*installed) + ", newer than this extension (" +
                               std::to_string(kSchemaVersion) + ")",
                           "", "Load a newer build of the ferry extension.");
    Savepoint savepoint(db);
    if (installed)
        upgrade_from(db, *installed);
    exec(db, kSchemaSql);
    if (installed && *installed < 6)
        refresh_sound_triggers(db);
    Statement set(db,
                  "INSERT INTO ferry_meta (key, value) VALUES ('schema_version', ?1) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    set.bind(1, static_cast<int64_t>(kSchemaVersion)).run();
    savepoint.release();
}

void require_schema(sqlite3* db) {
    std::optional<int> installed = installed_schema_version(db);
    if (!installed)
        throw ferry::Error(ErrorKind::not_found, "ferry is not installed in this database", "",
                           "Run SELECT ferry_init(); or ferry init sqlite:PATH.");
    if (*installed != kSchemaVersion)
        throw ferry::Error(ErrorKind::unsupported,
                           "this database has ferry tables of version " +
                               std::to_string(*installed) + "; this extension uses version " +
                               std::to_string(kSchemaVersion),
                           "", "Run SELECT ferry_init(); to upgrade them.");
}

}  // namespace ferry::sqlite
