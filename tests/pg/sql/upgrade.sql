-- ferry 0.5 -> 0.6: a 0.5 consumer (one per peer) becomes a consumer of
-- every table for the peer it is named after, and goes once that peer's
-- links, each over its own tables, have acknowledged under 0.6.
CREATE EXTENSION ferry VERSION '0.5';
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY);
SELECT ferry.track('a'), ferry.track('b');
INSERT INTO a VALUES (1);
SELECT ferry.ack('site', c.cursor) FROM ferry.read_changes(NULL, 10) c ORDER BY c.position DESC LIMIT 1;
SELECT has_function_privilege('public', 'ferry.table_hash(regclass, text)', 'EXECUTE') AS public_hashes_in_0_5;
ALTER EXTENSION ferry UPDATE TO '0.6';
SELECT name, peer, tables, cursor IS NOT NULL AS acked FROM ferry.consumers;
SELECT table_name, peer, pending_changes FROM ferry.status ORDER BY table_name::text;
SELECT has_function_privilege('public', 'ferry.table_hash(regclass, text)', 'EXECUTE') AS public_hashes;
INSERT INTO b VALUES (1);
SELECT ferry.register_consumer('site/a', 'site', ARRAY['a']::regclass[]);
SELECT ferry.ack('site/a', c.cursor) FROM ferry.read_changes(NULL, 10) c ORDER BY c.position DESC LIMIT 1;
SELECT name FROM ferry.consumers ORDER BY name;  -- b is read by site alone
SELECT ferry.register_consumer('site/b', 'site', ARRAY['b']::regclass[]);
SELECT ferry.ack('site/b', c.cursor) FROM ferry.read_changes(NULL, 10) c ORDER BY c.position DESC LIMIT 1;
SELECT name FROM ferry.consumers ORDER BY name;
SELECT table_name, peer, pending_changes FROM ferry.status ORDER BY table_name::text;
-- 0.6 -> 0.7: the guard against DETACH PARTITION ... CONCURRENTLY
ALTER EXTENSION ferry UPDATE TO '0.7';
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger ORDER BY evtname;
-- 0.7 -> 0.8: ferry.status counts the open conflicts of a peer that does
-- not read this database
INSERT INTO ferry.conflicts (table_name, key, peer, policy) VALUES ('a', '{"id": 1}', 'upstream', 'manual');
SELECT table_name, peer, open_conflicts FROM ferry.status ORDER BY table_name::text, peer;
ALTER EXTENSION ferry UPDATE TO '0.8';
SELECT table_name, peer, open_conflicts FROM ferry.status ORDER BY table_name::text, peer;
-- 0.8 -> 0.9: ferry.is_current_transaction(xid), whether a row version was
-- written by the calling transaction or one of its subtransactions
ALTER EXTENSION ferry UPDATE TO '0.9';
CREATE TABLE written (id int PRIMARY KEY);
INSERT INTO written VALUES (1);
BEGIN;
INSERT INTO written VALUES (2);
SAVEPOINT inner_write;
INSERT INTO written VALUES (3);
RELEASE SAVEPOINT inner_write;
SAVEPOINT undone;
UPDATE written SET id = 4 WHERE id = 1;
ROLLBACK TO SAVEPOINT undone;
SELECT id, ferry.is_current_transaction(xmin) AS written_here FROM written ORDER BY id;
COMMIT;
SELECT id, ferry.is_current_transaction(xmin) AS written_here FROM written ORDER BY id;
SELECT has_function_privilege('public', 'ferry.is_current_transaction(xid)', 'EXECUTE') AS public_may_call;
-- 0.9 -> 0.10: ferry.keep_change_times(regclass, jsonb) gives the log rows
-- this transaction wrote for a peer's changes the times they were made at
-- that peer; nothing else of the log
ALTER EXTENSION ferry UPDATE TO '0.10';
CREATE TABLE timed (id int PRIMARY KEY, v text);
SELECT ferry.track('timed');
INSERT INTO timed VALUES (1, 'before');  -- another transaction's
BEGIN;
SELECT ferry.keep_change_times('timed', '[[{"id": 1}, 0]]');  -- no origin: refused
ROLLBACK;
BEGIN;
SELECT ferry.set_origin('peer-x');
INSERT INTO timed VALUES (2, 'applied'), (3, 'applied');
UPDATE timed SET v = 'applied' WHERE id = 1;
SELECT set_config('ferry.origin', '', true);
INSERT INTO timed VALUES (4, 'local');  -- this transaction's, but not the peer's
SELECT ferry.set_origin('peer-x');
SELECT ferry.keep_change_times('timed', '[[{"id": 1}, 1700000000], [{"id": 2}, 1700000001.5],
    [{"id": 4}, 1700000002], [{"id": 9}, 1700000003]]') AS kept;
COMMIT;
SELECT key->>'id' AS id, op, origin, changed_at < '2024-01-01' AS kept_time,
       CASE WHEN changed_at < '2024-01-01' THEN extract(epoch FROM changed_at) END AS at
FROM ferry.changes WHERE relid = 'timed'::regclass ORDER BY position;
SELECT has_function_privilege('public', 'ferry.keep_change_times(regclass, jsonb)', 'EXECUTE')
    AS public_may_call;
-- 0.10 -> 0.11: keep_change_times runs with the caller's rights (the keys
-- are read through the key's types, which may run a domain's code), and
-- gives the same times to the same rows
ALTER EXTENSION ferry UPDATE TO '0.11';
BEGIN;
SELECT ferry.set_origin('peer-x');
UPDATE timed SET v = 'again' WHERE id IN (2, 3);
SELECT ferry.keep_change_times('timed', '[[{"id": 3}, 1600000000], [{"id": 9}, 1600000001]]') AS kept;
COMMIT;
SELECT key->>'id' AS id, op, extract(epoch FROM changed_at) AS at
FROM ferry.changes WHERE relid = 'timed'::regclass AND changed_at < '2021-01-01' ORDER BY position;
SELECT p.proname, p.prosecdef AS definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call
FROM pg_proc p WHERE p.pronamespace = 'ferry'::regnamespace
  AND p.proname IN ('keep_change_times', '_changes_applied_here', '_set_change_times')
ORDER BY 1;
-- 0.11 -> 0.12: a session remembers its recording connection's server
-- process; one started before the upgrade has none and is never closed for it
SELECT ferry.session_start('full', 'pull', 'before', 'upgrade') AS old_session \gset
ALTER EXTENSION ferry UPDATE TO '0.12';
SELECT ferry.session_start('full', 'pull', 'after', 'upgrade') AS new_session \gset
SELECT source, status, backend_pid IS NOT NULL AS has_backend
FROM ferry.sessions WHERE target = 'upgrade' ORDER BY id;
SELECT has_function_privilege('public', 'ferry.close_abandoned_sessions()', 'EXECUTE')
    AS public_may_close;
-- 0.12 -> 0.13: positions are reserved a block of 1,000 at a time (before
-- the upgrade, the new library takes one position per change, as the
-- sequence still steps by 1); a cursor handed out before the upgrade reads
-- every change after it, those logged in blocks too
CREATE TABLE blocks (id int PRIMARY KEY);
SELECT ferry.track('blocks');
INSERT INTO blocks VALUES (1);
SELECT (array_agg(c.cursor))[count(*)] AS before_upgrade FROM ferry.read_changes(NULL, 100000) c \gset
INSERT INTO blocks VALUES (2), (3);
ALTER EXTENSION ferry UPDATE TO '0.13';
INSERT INTO blocks VALUES (4), (5);
INSERT INTO blocks VALUES (6);
SELECT c.key->>'id' AS id, c.position FROM ferry.read_changes(:'before_upgrade', 100) c
WHERE c.operation IS NOT NULL;
SELECT seqincrement, seqcache FROM pg_sequence WHERE seqrelid = 'ferry.changes_position_seq'::regclass;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger WHERE evtname = 'ferry_sequence_guard';
-- 0.13 -> 0.14: the xid BRIN index stops queueing a summarization request
-- with autovacuum per block range; purge() summarizes the new ranges
SELECT reloptions FROM pg_class WHERE oid = 'ferry.changes_xid_idx'::regclass;
ALTER EXTENSION ferry UPDATE TO '0.14';
SELECT reloptions FROM pg_class WHERE oid = 'ferry.changes_xid_idx'::regclass;
SELECT has_function_privilege('public', 'ferry._summarize_log()', 'EXECUTE') AS public_summarizes;
-- 0.14 -> 0.15: loading a table with its indexes built afterwards
SELECT to_regprocedure('ferry.defer_indexes(regclass)') IS NULL AS not_yet;
ALTER EXTENSION ferry UPDATE TO '0.15';
CREATE TABLE loaded (id int PRIMARY KEY);
BEGIN;
SELECT ferry.defer_indexes('loaded');
INSERT INTO loaded SELECT generate_series(1, 100);
SELECT ferry.build_deferred_indexes('loaded');
COMMIT;
SELECT count(*) FROM loaded;
SELECT has_function_privilege('public', 'ferry.defer_indexes(regclass)', 'EXECUTE') AS public_defers,
       has_function_privilege('public', 'ferry.build_deferred_indexes(regclass)', 'EXECUTE') AS public_builds;
