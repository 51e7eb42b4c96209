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
