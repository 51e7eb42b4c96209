-- Acknowledgement and retention: purge removes only what every consumer acknowledged
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
CREATE TABLE t (id int PRIMARY KEY);
SELECT ferry.track('t');
INSERT INTO t SELECT generate_series(1, 6);

-- without consumers nothing is purged
SELECT ferry.purge();
SELECT count(*) FROM ferry.changes;

-- a registered consumer that acknowledged nothing holds everything
SELECT ferry.register_consumer('peer-a');
SELECT ferry.register_consumer('peer-b');
SELECT ferry.purge();

-- peer-a has read 4 changes, peer-b 2: only the first 2 can go
-- (the cursor to store is the one on the last row returned)
CREATE FUNCTION last_cursor(after jsonb, max_changes int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT cursor FROM ferry.read_changes(after, max_changes) WITH ORDINALITY AS r
    ORDER BY r.ordinality DESC LIMIT 1
$$;
CREATE TABLE cursors AS
SELECT 'peer-a' AS consumer, last_cursor(NULL, 4) AS cursor
UNION ALL
SELECT 'peer-b', last_cursor(NULL, 2);
SELECT ferry.ack(consumer, cursor) FROM cursors;
SELECT ferry.purge();
SELECT array_agg(key->>'id' ORDER BY position) FROM ferry.changes;
-- a partly consumed log is purged row by row: its pages stay
SELECT pg_relation_size('ferry.changes') > 0 AS pages_kept;
-- purging again removes nothing more
SELECT ferry.purge();

-- the status view shows what each peer still has to read
SELECT table_name, peer, pending_changes, last_sync_at IS NOT NULL AS synced, open_conflicts FROM ferry.status ORDER BY peer;

-- once both are through, everything goes
SELECT ferry.ack('peer-b', last_cursor((SELECT cursor FROM cursors WHERE consumer = 'peer-b'), 100));
SELECT ferry.purge();
SELECT ferry.ack('peer-a', last_cursor((SELECT cursor FROM cursors WHERE consumer = 'peer-a'), 100));
SELECT ferry.purge();
SELECT count(*) FROM ferry.changes;
-- a log every consumer read through is truncated (the file is empty)
SELECT pg_relation_size('ferry.changes') AS log_bytes;
SELECT peer, pending_changes FROM ferry.status ORDER BY peer;

-- but not inside a REPEATABLE READ transaction, whose snapshot could miss
-- a change committed before the lock: there the rows are deleted
INSERT INTO t VALUES (100);
SELECT ferry.ack(name, last_cursor(cursor, 100)) FROM ferry.consumers ORDER BY name;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT ferry.purge();
SELECT pg_relation_size('ferry.changes') > 0 AS pages_kept;
COMMIT;
DELETE FROM t WHERE id = 100;

-- a dropped consumer no longer holds anything back
INSERT INTO t VALUES (7);
SELECT ferry.drop_consumer('peer-a');
SELECT ferry.drop_consumer('nobody');
SELECT ferry.purge();

SELECT ferry.ack('peer-a', NULL);
SELECT ferry.ack('peer-a', '{"acked": "garbage"}');

-- consumers per link (0.6): two links into one peer, each over its own
-- tables, hold the log each for itself; the status view shows one row per
-- table and peer
SELECT ferry.drop_consumer(name) FROM ferry.consumers;
CREATE TABLE u (id int PRIMARY KEY);
SELECT ferry.track('u');
SELECT ferry.register_consumer('site/hold', 'site', ARRAY['t', 'u']::regclass[]);  -- a full sync's
SELECT ferry.register_consumer('site/t', 'site', ARRAY['t']::regclass[]);
SELECT ferry.register_consumer('site/u', 'site', ARRAY['u']::regclass[]);
SELECT name, peer, tables, cursor IS NULL AS unacked FROM ferry.consumers ORDER BY name;
INSERT INTO u VALUES (1);
INSERT INTO t VALUES (8);
-- the link over t acknowledges everything; the hold stays (u is not covered)
SELECT ferry.ack('site/t', last_cursor(NULL, 100));
SELECT name FROM ferry.consumers ORDER BY name;
SELECT ferry.purge();  -- nothing: site/u has acknowledged nothing
SELECT table_name, peer, pending_changes FROM ferry.status ORDER BY table_name::text;
-- the link over u acknowledges: the hold is covered and goes
SELECT ferry.ack('site/u', last_cursor(NULL, 100));
SELECT name FROM ferry.consumers ORDER BY name;
SELECT ferry.purge() > 0 AS purged;
SELECT table_name, peer, pending_changes FROM ferry.status ORDER BY table_name::text;
-- a link over both tables replaces the two it covers; others' stay
SELECT ferry.register_consumer('other/t', 'other', ARRAY['t']::regclass[]);
SELECT ferry.register_consumer('site/tu', 'site', ARRAY['t', 'u']::regclass[]);
SELECT ferry.ack('site/tu', last_cursor(NULL, 100));
SELECT name FROM ferry.consumers ORDER BY name;
-- a table no consumer reads shows up with peer NULL
SELECT ferry.drop_consumer('site/tu');
SELECT table_name, peer FROM ferry.status ORDER BY table_name::text, peer;
-- open conflicts (0.8): a reading peer's are counted in its row; those of a
-- peer that only writes here (a chain upstream -> this -> site), or on a
-- table not tracked here, get a row of their own; resolved ones are not
-- counted
SELECT ferry.register_consumer('site/tu', 'site', ARRAY['t', 'u']::regclass[]);
CREATE TABLE notes (id int PRIMARY KEY);
INSERT INTO ferry.conflicts (table_name, key, peer, policy, resolution, resolved_at)
VALUES ('t', '{"id": 1}', 'site', 'manual', NULL, NULL),
       ('t', '{"id": 2}', 'upstream', 'manual', NULL, NULL),
       ('t', '{"id": 3}', 'upstream', 'manual', NULL, NULL),
       ('t', '{"id": 4}', 'upstream', 'manual', 'local', now()),
       ('notes', '{"id": 1}', 'upstream', 'manual', NULL, NULL),
       ('u', '{"id": 1}', 'other', 'source-wins', 'remote', now());
SELECT table_name, peer, pending_changes, oldest_pending_at IS NULL AS none_pending,
       CASE WHEN pending_changes = 0 THEN lag = interval '0' END AS no_lag,
       last_sync_at, open_conflicts
FROM ferry.status ORDER BY table_name::text, peer;
-- without a consumer of t, its one row (peer NULL) counts them all
SELECT ferry.drop_consumer(name) FROM ferry.consumers ORDER BY name;
SELECT table_name, peer, open_conflicts FROM ferry.status ORDER BY table_name::text, peer;
DELETE FROM ferry.conflicts;
DROP TABLE notes;
-- registering is for the sync role, not PUBLIC
SELECT has_function_privilege('public', 'ferry.register_consumer(text, text, regclass[])', 'EXECUTE') AS public_registers,
       has_function_privilege('public', 'ferry.row_hash(record)', 'EXECUTE') AS public_hashes;

-- a link split in two: its old consumer goes once both new links have
-- acknowledged, and the new ones never drop each other (registered after
-- the old one, each is covered by nothing newer)
SELECT ferry.drop_consumer(name) FROM ferry.consumers;
SELECT ferry.register_consumer('site/tu-old', 'site', ARRAY['t', 'u']::regclass[]);
SELECT ferry.ack('site/tu-old', last_cursor(NULL, 100));
SELECT ferry.register_consumer('site/t-new', 'site', ARRAY['t']::regclass[]);
SELECT ferry.ack('site/t-new', last_cursor(NULL, 100));
INSERT INTO t VALUES (9);
SELECT ferry.register_consumer('site/u-new', 'site', ARRAY['u']::regclass[]);
SELECT ferry.ack('site/u-new', last_cursor(NULL, 100));
SELECT name FROM ferry.consumers ORDER BY name;
SELECT ferry.purge() >= 0 AS purged;
SELECT count(*) AS unread_change_kept FROM ferry.changes WHERE key->>'id' = '9';
-- and merged back: the link over both runs again, and is the newest
SELECT ferry.register_consumer('site/tu-old', 'site', ARRAY['t', 'u']::regclass[]);
SELECT ferry.ack('site/tu-old', last_cursor(NULL, 100));
SELECT name FROM ferry.consumers ORDER BY name;

-- 0.14: the xid BRIN index that read_changes() opens windows with does not
-- queue a summarization request with autovacuum per block range (a bulk
-- statement overflowed that queue, with a LOG line per refused request);
-- purge() summarizes the ranges written since it last ran instead
SELECT reloptions FROM pg_class WHERE oid = 'ferry.changes_xid_idx'::regclass;
SELECT ferry.drop_consumer(name) FROM ferry.consumers;
SELECT ferry.register_consumer('site/t', 'site', ARRAY['t']::regclass[]);
SELECT ferry.ack('site/t', last_cursor(NULL, 100000));
INSERT INTO t SELECT generate_series(1000, 4000);
SELECT pg_relation_size('ferry.changes') / current_setting('block_size')::int > 32 AS over_two_ranges;
-- a partly consumed log: the read changes are deleted, the rest summarized
SELECT ferry.ack('site/t', last_cursor((SELECT cursor FROM ferry.consumers WHERE name = 'site/t'), 10));
SELECT ferry.purge() AS purged;
SELECT brin_summarize_new_values('ferry.changes_xid_idx') AS ranges_left_unsummarized;
-- also while a consumer that never acknowledged holds every change
SELECT ferry.register_consumer('late');
INSERT INTO t SELECT generate_series(5000, 8000);
SELECT ferry.purge() AS purged;
SELECT brin_summarize_new_values('ferry.changes_xid_idx') AS ranges_left_unsummarized;
-- the summarizing helper is purge()'s, not PUBLIC's
SELECT has_function_privilege('public', 'ferry._summarize_log()', 'EXECUTE') AS public_summarizes;
