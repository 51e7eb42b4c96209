-- state: consumers, acknowledgements and purge; ferry_status; checkpoints;
-- leases; sessions. Times are never printed, only whether they are set and
-- how they compare.
.headers on
.mode list
.nullvalue NULL

SELECT ferry_init();
CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT);
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
SELECT ferry_track('orders'), ferry_track('customers');
INSERT INTO orders VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO customers VALUES (1, 'ann');
UPDATE orders SET item = 'bb' WHERE id = 2;
DELETE FROM orders WHERE id = 3;
SELECT position, table_name, op FROM ferry_changes ORDER BY position;

-- ==== ferry_status without consumers: one row per tracked table, every change pending
SELECT table_name, peer, pending_changes, oldest_pending_at IS NOT NULL AS has_oldest,
       lag_seconds >= 0 AS lag_not_negative, last_sync_at, open_conflicts
FROM ferry_status ORDER BY table_name, peer;

-- ==== purge without consumers removes nothing
SELECT ferry_purge();
SELECT count(*) AS changes FROM ferry_changes;

-- ==== consumers
SELECT ferry_register_consumer('hub');
SELECT ferry_register_consumer('hub');
SELECT ferry_register_consumer('');
SELECT ferry_register_consumer(NULL);
SELECT name, acked_position, acked_at, registered_at IS NOT NULL AS registered FROM ferry_consumers;
-- a consumer that has not acknowledged anything holds every change
SELECT ferry_purge();
SELECT count(*) AS changes FROM ferry_changes;
-- positions beyond the log, negative ones and non-integers are refused
SELECT ferry_ack('hub', 7);
SELECT ferry_ack('hub', -1);
SELECT ferry_ack('hub', 'three');
SELECT ferry_ack('hub', 2.5);
SELECT ferry_ack('', 1);
SELECT ferry_ack('hub');
SELECT name, acked_position FROM ferry_consumers;
SELECT ferry_ack('hub', 3);
SELECT name, acked_position, acked_at IS NOT NULL AS has_acked_at FROM ferry_consumers;
SELECT table_name, peer, pending_changes, last_sync_at IS NOT NULL AS has_last_sync
FROM ferry_status ORDER BY table_name, peer;

-- ==== with two consumers, purge removes what both acknowledged (the smaller position)
SELECT ferry_register_consumer('laptop');
SELECT ferry_purge();
SELECT ferry_ack('laptop', 2);
SELECT table_name, peer, pending_changes FROM ferry_status ORDER BY table_name, peer;
SELECT ferry_purge();
SELECT position, table_name, op FROM ferry_changes ORDER BY position;
SELECT ferry_purge();
-- acknowledging directly registers a consumer
SELECT ferry_ack('phone', 6);
SELECT name, acked_position FROM ferry_consumers ORDER BY name;
SELECT ferry_ack('laptop', 6);
SELECT ferry_purge();
-- the newest change always stays: positions continue from it
SELECT position, table_name, op FROM ferry_changes ORDER BY position;
SELECT ferry_ack('hub', 6);
SELECT ferry_purge();
SELECT table_name, peer, pending_changes, oldest_pending_at IS NULL AS nothing_pending,
       lag_seconds
FROM ferry_status ORDER BY table_name, peer;
INSERT INTO orders VALUES (4, 'd');
SELECT position, table_name, op FROM ferry_changes ORDER BY position;
SELECT table_name, peer, pending_changes, oldest_pending_at IS NOT NULL AS has_oldest,
       lag_seconds >= 0 AS lag_not_negative
FROM ferry_status ORDER BY table_name, peer;

-- ==== ferry_drop_consumer: its acknowledgement no longer holds changes back
SELECT ferry_drop_consumer('hub');
SELECT ferry_drop_consumer('hub');
SELECT ferry_drop_consumer('no such consumer');
SELECT ferry_ack('laptop', 7);
SELECT ferry_purge();
SELECT ferry_ack('phone', 7);
INSERT INTO orders VALUES (5, 'e');
SELECT ferry_purge();
SELECT position, table_name, op FROM ferry_changes ORDER BY position;
SELECT name, acked_position FROM ferry_consumers ORDER BY name;

-- ==== checkpoints
SELECT json_remove(ferry_checkpoint_begin('copy orders', 'orders', 1000), '$.last_attempt_at') AS checkpoint;
SELECT json_extract(ferry_checkpoint_begin('copy orders', 'orders'), '$.last_attempt_at') IS NOT NULL AS has_last_attempt;
SELECT json_type(ferry_checkpoint_begin('copy orders', 'orders')) AS type;
SELECT ferry_checkpoint_resume_point('copy orders', 'orders');
SELECT ferry_checkpoint_advance('copy orders', 'orders', '{"after_id": 250}', 250);
SELECT ferry_checkpoint_advance('copy orders', 'orders', '{"after_id": 500}', 500);
SELECT ferry_checkpoint_resume_point('copy orders', 'orders');
SELECT job, scope, status, position, total, done, last_completed_at, last_error
FROM ferry_checkpoints;
-- failing keeps the position: the next attempt resumes from it
SELECT ferry_checkpoint_fail('copy orders', 'orders', 'connection lost');
SELECT job, scope, status, position, done, last_error FROM ferry_checkpoints;
SELECT ferry_checkpoint_resume_point('copy orders', 'orders');
SELECT ferry_checkpoint_advance('copy orders', 'orders', '{"after_id": 750}', 750);
SELECT json_remove(ferry_checkpoint_begin('copy orders', 'orders'), '$.last_attempt_at') AS checkpoint;
SELECT ferry_checkpoint_advance('copy orders', 'orders', '{"after_id": 750}', 750);
-- completing
SELECT ferry_checkpoint_complete('copy orders', 'orders');
SELECT status, position, total, done, last_completed_at IS NOT NULL AS has_completed, last_error
FROM ferry_checkpoints;
SELECT ferry_checkpoint_resume_point('copy orders', 'orders', '1 hour') AS within_an_hour,
       ferry_checkpoint_resume_point('copy orders', 'orders', 3600) AS within_3600_seconds,
       ferry_checkpoint_resume_point('copy orders', 'orders', '00:05:00') AS within_5_minutes;
-- completed longer ago than the threshold (a microsecond), or without a threshold: start over
SELECT ferry_checkpoint_resume_point('copy orders', 'orders', 0.000001) AS within_a_microsecond,
       ferry_checkpoint_resume_point('copy orders', 'orders') AS no_threshold;
-- a completed checkpoint is not running: it cannot advance
SELECT ferry_checkpoint_advance('copy orders', 'orders', '{"after_id": 800}', 800);
-- beginning a completed checkpoint starts from nothing
SELECT json_remove(ferry_checkpoint_begin('copy orders', 'orders'), '$.last_attempt_at', '$.last_completed_at') AS checkpoint;
SELECT ferry_checkpoint_advance('copy orders', 'orders', '42', 42);
-- restart => 1 starts from nothing even while running
SELECT json_remove(ferry_checkpoint_begin('copy orders', 'orders', 2000, 1), '$.last_attempt_at', '$.last_completed_at') AS checkpoint;
-- a scope defaults to ''; jobs and scopes are separate checkpoints
SELECT json_remove(ferry_checkpoint_begin('sync'), '$.last_attempt_at') AS checkpoint;
SELECT ferry_checkpoint_advance('sync', '', '[1, "a"]', 1);
SELECT ferry_checkpoint_resume_point('sync');
SELECT ferry_checkpoint_resume_point('sync', 'other scope');
SELECT ferry_checkpoint_resume_point('no such job');
SELECT job, scope, status, position, done FROM ferry_checkpoints ORDER BY job, scope;
-- errors
SELECT ferry_checkpoint_advance('no such job', '', '1', 1);
SELECT ferry_checkpoint_advance('sync', '', 'not json', 2);
SELECT ferry_checkpoint_advance('sync', '', '{"after_id": ', 2);
SELECT ferry_checkpoint_advance('sync', '', '2', 'two');
SELECT ferry_checkpoint_complete('no such job');
SELECT ferry_checkpoint_fail('no such job', '', 'x');
SELECT ferry_checkpoint_begin('');
SELECT ferry_checkpoint_begin(NULL);
SELECT ferry_checkpoint_begin('sync', '', 'many');
SELECT ferry_checkpoint_resume_point('sync', '', 'soon');
SELECT ferry_checkpoint_resume_point('sync', '', '-1 hour');
SELECT job, scope, status, position, done FROM ferry_checkpoints ORDER BY job, scope;

-- ==== leases
SELECT ferry_try_lock('nightly', 'worker-1', 60);
SELECT name, holder, since IS NOT NULL AS has_since, expires_at > since AS expires_later FROM ferry_locks;
-- another holder is refused while the lease is live; the holder renews it
SELECT ferry_try_lock('nightly', 'worker-2', 60);
CREATE TEMP TABLE first_lease AS SELECT since, expires_at FROM ferry_locks WHERE name = 'nightly';
SELECT ferry_try_lock('nightly', 'worker-1', '5 minutes');
SELECT l.holder, l.since = f.since AS same_since, l.expires_at > f.expires_at AS extended
FROM ferry_locks l, first_lease f;
-- an expired lease can be taken over (expires_at put into the past by hand)
UPDATE ferry_locks SET since = '2000-01-01T00:00:00.000Z', expires_at = '2000-01-01T00:01:00.000Z'
WHERE name = 'nightly';
SELECT ferry_try_lock('nightly', 'worker-2', '30 seconds');
SELECT holder, since > '2000-01-01T00:00:00.000Z' AS new_since, expires_at > since AS expires_later
FROM ferry_locks;
SELECT ferry_try_lock('nightly', 'worker-1', 60);
-- unlocking needs the holder; force_unlock does not
SELECT ferry_unlock('nightly', 'worker-1');
SELECT ferry_unlock('nightly', '');
SELECT ferry_unlock('nightly', NULL);
SELECT ferry_unlock('nightly', 'worker-2');
SELECT ferry_unlock('nightly', 'worker-2');
SELECT count(*) AS leases FROM ferry_locks;
SELECT ferry_try_lock('nightly', 'worker-1', 60);
SELECT ferry_force_unlock('nightly');
SELECT ferry_force_unlock('nightly');
SELECT ferry_try_lock('nightly', 'worker-2', 60);
SELECT name, holder FROM ferry_locks;
-- leases are independent of each other
SELECT ferry_try_lock('weekly', 'worker-1', 60);
SELECT name, holder FROM ferry_locks ORDER BY name;
-- bad ttl and names
SELECT ferry_try_lock('other', 'worker-1', 0);
SELECT ferry_try_lock('other', 'worker-1', -5);
SELECT ferry_try_lock('other', 'worker-1', '-5 minutes');
SELECT ferry_try_lock('other', 'worker-1', 'forever');
SELECT ferry_try_lock('other', 'worker-1', NULL);
SELECT ferry_try_lock('other', 'worker-1', x'00');
SELECT ferry_try_lock('other', '', 60);
SELECT ferry_try_lock('', 'worker-1', 60);
SELECT ferry_try_lock('other', 'worker-1');
SELECT name, holder FROM ferry_locks ORDER BY name;

-- ==== sessions
SELECT ferry_session_start('full', 'pull', 'pg:hub', 'sqlite:site.db', 'copy');
SELECT ferry_session_start('incremental', 'both', 'sqlite:a.db', 'sqlite:b.db');
SELECT ferry_session_start('diff', NULL, NULL, NULL);
SELECT id, kind, direction, source, target, method, phase, status, cancel_requested,
       started_at IS NOT NULL AS has_started, finished_at
FROM ferry_sessions ORDER BY id;
SELECT ferry_session_progress(1, 'copy orders', 100, 1000, 4096, 40960);
SELECT id, phase, rows_done, rows_total, bytes_done, bytes_total,
       rows_per_second IS NULL OR rows_per_second > 0 AS rate_ok,
       estimated_finish IS NULL OR estimated_finish >= updated_at AS estimate_ok,
       updated_at >= started_at AS updated
FROM ferry_sessions WHERE id = 1;
-- a cancel request: progress returns 1 from then on
SELECT ferry_cancel(1);
SELECT ferry_session_progress(1, 'copy orders', 200, 1000);
SELECT ferry_session_progress(1, 'copy orders', 300, 1000);
SELECT ferry_session_finish(1, 'cancelled', 'cancelled by the DBA');
SELECT id, status, error, cancel_requested, rows_done, finished_at IS NOT NULL AS has_finished,
       estimated_finish
FROM ferry_sessions WHERE id = 1;
-- a finished session takes no progress, no cancel and no second finish
SELECT ferry_session_progress(1, 'copy orders', 400);
SELECT ferry_cancel(1);
SELECT ferry_session_finish(1, 'succeeded');
SELECT ferry_session_progress(2, 'read changes', 10);
SELECT ferry_session_finish(2, 'succeeded');
SELECT ferry_session_finish(3, 'failed', 'peer disappeared');
SELECT id, kind, status, error, rows_done FROM ferry_sessions ORDER BY id;
-- errors
SELECT ferry_session_start('sideways', 'pull', 'a', 'b');
SELECT ferry_session_start(NULL, 'pull', 'a', 'b');
SELECT ferry_session_start('full', 'upward', 'a', 'b');
SELECT ferry_session_start('full', 'pull', 'a');
SELECT ferry_session_start('diff', NULL, NULL, NULL);
SELECT ferry_session_finish(4, 'done');
SELECT ferry_session_finish(4, 'running');
SELECT ferry_session_finish(4, NULL);
SELECT ferry_session_progress(4, 'copy', 'many');
SELECT ferry_session_progress('four', 'copy', 1);
SELECT ferry_session_finish(4, 'succeeded');
SELECT count(*) AS sessions, count(*) FILTER (WHERE status = 'running') AS running FROM ferry_sessions;
-- a session names the process recording it (JSON); one whose process is
-- gone, on this machine, is closed as failed by the next session start
SELECT json_extract(recorder, '$.pid') > 0 AS has_pid,
       json_extract(recorder, '$.host') <> '' AS has_host,
       json_extract(recorder, '$.boot') <> '' AS has_boot,
       json_extract(recorder, '$.pid_namespace') LIKE 'pid:[%]' AS has_pid_namespace,
       CAST(json_extract(recorder, '$.start_ticks') AS INTEGER) > 0 AS has_start
FROM ferry_sessions WHERE id = 4;
CREATE TEMP TABLE me AS SELECT recorder FROM ferry_sessions WHERE id = 4;
INSERT INTO ferry_sessions (kind, source, target, started_at, updated_at, recorder)
SELECT 'full', v.source, 'x', '2026-01-01', '2026-01-01', v.recorder
FROM (SELECT 1 AS n, 'gone' AS source, json_set(recorder, '$.pid', 2147483647) AS recorder FROM me
      UNION ALL SELECT 2, 'pid reused', json_set(recorder, '$.start_ticks', '1') FROM me
      UNION ALL SELECT 3, 'rebooted since', json_set(recorder, '$.boot', 'another boot') FROM me
      UNION ALL SELECT 4, 'another machine',
                       json_set(recorder, '$.host', 'elsewhere', '$.pid', 2147483647) FROM me
      UNION ALL SELECT 5, 'another container',
                       json_set(recorder, '$.pid_namespace', 'pid:[1]', '$.pid', 2147483647) FROM me
      UNION ALL SELECT 6, 'not recorded', NULL
      UNION ALL SELECT 7, 'garbled', 'not json'
      UNION ALL SELECT 8, 'this process', recorder FROM me) v
ORDER BY v.n;
SELECT ferry_session_start('incremental', 'push', 'live', 'x');
SELECT source, status, finished_at IS NOT NULL AS has_finished, error
FROM ferry_sessions WHERE target = 'x' ORDER BY id;
SELECT ferry_close_abandoned_sessions();

-- ==== functions that write cannot be called from a trigger or a view (SQLITE_DIRECTONLY)
CREATE VIEW purging AS SELECT ferry_purge() AS removed;
SELECT * FROM purging;
CREATE TRIGGER sneaky AFTER INSERT ON customers BEGIN SELECT ferry_force_unlock('weekly'); END;
INSERT INTO customers VALUES (2, 'bob');
SELECT count(*) AS customers FROM customers;
SELECT name, holder FROM ferry_locks ORDER BY name;

-- ==== consumers per sync link (schema version 2): a full sync's hold and two
-- links into one peer, each over its own table; the status view shows one
-- row per table and peer
DROP TRIGGER sneaky;
DELETE FROM ferry_consumers;
SELECT ferry_register_consumer('site/hold', 'site', '["orders","customers"]');
SELECT ferry_register_consumer('site/o', 'site', '["orders"]');
SELECT ferry_register_consumer('site/c', 'site', '["customers"]');
SELECT ferry_register_consumer('site/x', 'site', 'orders');
SELECT ferry_register_consumer('site/x', 'site', '{"orders": 1}');
SELECT name, peer, tables, acked_position FROM ferry_consumers ORDER BY name;
INSERT INTO customers VALUES (3, 'cy');
INSERT INTO orders VALUES (6, 'f');
SELECT ferry_ack('site/o', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;
SELECT ferry_purge() AS purged_while_customers_unread;
SELECT table_name, peer, pending_changes FROM ferry_status ORDER BY table_name, peer;
SELECT ferry_ack('site/c', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;
SELECT ferry_purge() > 0 AS purged;
SELECT table_name, peer, pending_changes FROM ferry_status ORDER BY table_name, peer;
-- a link over both tables replaces the two it covers; another peer's stays
SELECT ferry_register_consumer('other/o', 'other', '["orders"]');
SELECT ferry_register_consumer('site/oc', 'site', '["orders","customers"]');
SELECT ferry_ack('site/oc', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;
-- a table no consumer reads shows up with peer NULL
SELECT ferry_drop_consumer('site/oc');
SELECT table_name, peer FROM ferry_status ORDER BY table_name, peer;

-- open conflicts: a reading peer's are counted in its row; those of a peer
-- that only writes here (a chain upstream -> this -> site), or on a table
-- not tracked here, get a row of their own; resolved ones are not counted
SELECT ferry_register_consumer('site/oc', 'site', '["orders","customers"]');
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO ferry_conflicts (table_name, key, peer, policy, resolution, detected_at, resolved_at)
VALUES ('orders', '{"id":1}', 'site', 'manual', NULL, '2026-11-24T00:00:00Z', NULL),
       ('orders', '{"id":2}', 'upstream', 'manual', NULL, '2026-11-24T00:00:00Z', NULL),
       ('orders', '{"id":3}', 'upstream', 'manual', NULL, '2026-11-24T00:00:00Z', NULL),
       ('orders', '{"id":4}', 'upstream', 'manual', 'local', '2026-11-24T00:00:00Z', '2026-11-24T00:01:00Z'),
       ('notes', '{"id":1}', 'upstream', 'manual', NULL, '2026-11-24T00:00:00Z', NULL),
       ('customers', '{"id":1}', 'other', 'source-wins', 'remote', '2026-11-24T00:00:00Z', '2026-11-24T00:00:00Z');
SELECT table_name, peer, pending_changes, oldest_pending_at IS NULL AS none_pending,
       CASE WHEN pending_changes = 0 THEN lag_seconds = 0.0 END AS no_lag, last_sync_at,
       open_conflicts
FROM ferry_status ORDER BY table_name, peer;
-- without a consumer of orders, its one row (peer NULL) counts them all
SELECT ferry_drop_consumer('other/o');
SELECT ferry_drop_consumer('site/oc');
SELECT table_name, peer, open_conflicts FROM ferry_status ORDER BY table_name, peer;
DELETE FROM ferry_conflicts;
DROP TABLE notes;

-- a link split in two: its old consumer goes once both new links have
-- acknowledged; the new ones never drop each other (times set apart here)
DELETE FROM ferry_consumers;
SELECT ferry_register_consumer('site/oc-old', 'site', '["orders","customers"]');
UPDATE ferry_consumers SET registered_at = '2026-01-01T00:00:00.000Z' WHERE name = 'site/oc-old';
SELECT ferry_ack('site/oc-old', (SELECT max(position) FROM ferry_changes));
SELECT ferry_register_consumer('site/o-new', 'site', '["orders"]');
UPDATE ferry_consumers SET registered_at = '2026-01-02T00:00:00.000Z' WHERE name = 'site/o-new';
SELECT ferry_ack('site/o-new', (SELECT max(position) FROM ferry_changes));
INSERT INTO orders VALUES (9, 'unread by o-new');
INSERT INTO customers VALUES (9, 'newest');
SELECT ferry_register_consumer('site/c-new', 'site', '["customers"]');
SELECT ferry_ack('site/c-new', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;
SELECT ferry_purge() >= 0 AS purged;
SELECT count(*) AS unread_change_kept FROM ferry_changes WHERE table_name = 'orders' AND key = '{"id":9}';
-- registering by name alone keeps a consumer's peer and tables
SELECT ferry_register_consumer('site/o-new');
SELECT peer, tables FROM ferry_consumers WHERE name = 'site/o-new';

-- ==== a version 1 database is upgraded by ferry_init(): its consumers become
-- consumers of every table, for the peer they are named after
DELETE FROM ferry_consumers;
DROP VIEW ferry_status;
ALTER TABLE ferry_consumers DROP COLUMN peer;
ALTER TABLE ferry_consumers DROP COLUMN tables;
CREATE VIEW ferry_status AS SELECT 1 AS version_1;
UPDATE ferry_meta SET value = '1' WHERE key = 'schema_version';
INSERT INTO ferry_consumers (name, acked_position, registered_at) VALUES ('old-peer', 1, 'then');
SELECT ferry_register_consumer('new');
SELECT ferry_init();
SELECT name, peer, tables, acked_position FROM ferry_consumers ORDER BY name;
SELECT table_name, peer FROM ferry_status ORDER BY table_name, peer;
SELECT value AS schema_version FROM ferry_meta WHERE key = 'schema_version';
-- once the peer's links have run, covering every tracked table, it goes
SELECT ferry_register_consumer('old-peer/o', 'old-peer', '["orders"]');
SELECT ferry_ack('old-peer/o', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;
SELECT ferry_register_consumer('old-peer/c', 'old-peer', '["customers"]');
SELECT ferry_ack('old-peer/c', (SELECT max(position) FROM ferry_changes));
SELECT name FROM ferry_consumers ORDER BY name;

-- ==== a version 2 database is upgraded by ferry_init(): the tracked tables
-- get the triggers that capture INSERT OR REPLACE
DROP TRIGGER ferry_replace_orders;
DROP TRIGGER ferry_replaced_orders;
DROP TABLE ferry_replaced;
UPDATE ferry_meta SET value = '2' WHERE key = 'schema_version';
SELECT ferry_init();
SELECT value AS schema_version FROM ferry_meta WHERE key = 'schema_version';
SELECT table_name, capture_state FROM ferry_tracked ORDER BY table_name;
SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'orders' ORDER BY name;
INSERT OR REPLACE INTO orders (id, item) VALUES (9, 'replaced');
SELECT operation, key FROM ferry_change_log ORDER BY position DESC LIMIT 1;

-- ==== a version 3 database is upgraded by ferry_init(): the tracked tables
-- get the triggers that capture UPDATE OR REPLACE
DROP TRIGGER ferry_displace_orders;
DROP TRIGGER ferry_displaced_orders;
UPDATE ferry_meta SET value = '3' WHERE key = 'schema_version';
SELECT ferry_init();
SELECT value AS schema_version FROM ferry_meta WHERE key = 'schema_version';
SELECT table_name, capture_state FROM ferry_tracked ORDER BY table_name;
INSERT INTO orders (id, item) VALUES (10, 'moved');
UPDATE OR REPLACE orders SET id = 10 WHERE id = 9;
SELECT operation, key FROM ferry_change_log ORDER BY position DESC LIMIT 3;

-- ==== a version 4 database is upgraded by ferry_init(): ferry_status counts
-- every open conflict
DROP VIEW ferry_status;
CREATE VIEW ferry_status AS SELECT 4 AS version_4;
UPDATE ferry_meta SET value = '4' WHERE key = 'schema_version';
SELECT ferry_purge();
SELECT ferry_init();
SELECT value AS schema_version FROM ferry_meta WHERE key = 'schema_version';
INSERT INTO ferry_conflicts (table_name, key, peer, policy, detected_at)
VALUES ('orders', '{"id":1}', 'upstream', 'manual', '2026-11-24T00:00:00Z');
SELECT table_name, peer, open_conflicts FROM ferry_status ORDER BY table_name, peer;

-- ==== a version 5 database whose capture was already broken stays reported
-- by the upgrade: a table made again (its triggers gone) and one with an
-- application trigger made after ferry's keep their triggers as they are;
-- a sound table gets the new ones.
CREATE TABLE v5_sound (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE v5_remade (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE v5_stamped (id INTEGER PRIMARY KEY, v TEXT, stamp TEXT);
SELECT ferry_track('v5_sound'), ferry_track('v5_remade'), ferry_track('v5_stamped');
CREATE TABLE v5_remade_new (id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO v5_remade_new SELECT * FROM v5_remade;
DROP TABLE v5_remade;
ALTER TABLE v5_remade_new RENAME TO v5_remade;
CREATE TRIGGER app_stamp AFTER INSERT ON v5_stamped
BEGIN UPDATE v5_stamped SET stamp = 'stamped' WHERE id = new.id; END;
DROP TRIGGER ferry_rekey_v5_sound;
UPDATE ferry_meta SET value = '5' WHERE key = 'schema_version';
SELECT ferry_init();
SELECT table_name, capture_state FROM ferry_tracked WHERE table_name LIKE 'v5%' ORDER BY 1;
SELECT count(*) AS remade_triggers FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'v5_remade';

-- ==== a version 6 database made by an early build has a ferry_tracked
-- without the check for an application trigger: version 7 makes it again
DROP VIEW ferry_tracked;
CREATE VIEW ferry_tracked AS SELECT table_name, 'capturing' AS capture_state FROM ferry_tracked_tables;
UPDATE ferry_meta SET value = '6' WHERE key = 'schema_version';
SELECT ferry_init();
SELECT table_name, capture_state FROM ferry_tracked WHERE table_name = 'v5_stamped';
SELECT ferry_track('v5_stamped');
SELECT table_name, capture_state FROM ferry_tracked WHERE table_name LIKE 'v5%' ORDER BY 1;
