-- Reading committed changes in batches, with cursors
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT ferry.track('t');

-- an empty log gives one cursor-only row (nothing to return, but the
-- cursor moves past what is committed)
SELECT position, operation, cursor ? 'acked' AS has_cursor FROM ferry.read_changes(NULL);

INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 5) g;
UPDATE t SET v = 'changed' WHERE id = 3;
DELETE FROM t WHERE id = 5;

-- page through the log three changes at a time; each change exactly once
CREATE TABLE reader (cursor jsonb);
INSERT INTO reader VALUES (NULL);
CREATE FUNCTION read_page(max_changes int) RETURNS TABLE (pos bigint, op text, k jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    last_cursor jsonb := (SELECT cursor FROM reader);
BEGIN
    FOR r IN SELECT * FROM ferry.read_changes(last_cursor, max_changes) LOOP
        last_cursor := r.cursor;
        IF r.operation IS NOT NULL THEN
            pos := r.position; op := r.operation; k := r.key;
            RETURN NEXT;
        END IF;
    END LOOP;
    UPDATE reader SET cursor = last_cursor;
END $$;
SELECT * FROM read_page(3);
SELECT * FROM read_page(3);
SELECT * FROM read_page(3);
INSERT INTO t VALUES (6, 'six');
SELECT * FROM read_page(3);
SELECT * FROM read_page(3);

-- skip_origin: a peer's own changes are not sent back to it, but the cursor
-- still moves past them
SET ferry.origin = 'b';
INSERT INTO t VALUES (7, 'from b');
RESET ferry.origin;
SELECT position IS NULL AS cursor_only, cursor IS NOT NULL AS has_cursor
FROM ferry.read_changes((SELECT cursor FROM reader), 10, 'b');
SELECT operation, key, origin FROM ferry.read_changes((SELECT cursor FROM reader), 10);

-- the table name is qualified and quoted as needed
CREATE TABLE "Odd Name" (id int PRIMARY KEY);
SELECT ferry.track('"Odd Name"');
INSERT INTO "Odd Name" VALUES (1);
SELECT table_name FROM ferry.read_changes((SELECT cursor FROM reader), 10) WHERE operation IS NOT NULL ORDER BY position DESC LIMIT 1;

-- bad arguments
SELECT * FROM ferry.read_changes(NULL, 0);
SELECT * FROM ferry.read_changes('{"nonsense": 1}');
SELECT * FROM ferry.read_changes('[1, 2]');
SELECT * FROM ferry.read_changes('{"acked": "not a snapshot"}');

-- a cursor naming transactions that have not happened yet is refused (the
-- older-snapshot case is in specs/cursor_snapshot.spec)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 FROM t;
\set VERBOSITY terse
SELECT * FROM ferry.read_changes(
    jsonb_build_object('acked', NULL, 'window', (txid_current() + 1000)::text || ':' || (txid_current() + 1000)::text || ':',
                       'window_end', 100, 'last', 0));
\set VERBOSITY default
ROLLBACK;

-- a cursor this server cannot have handed out is refused: from another
-- cluster, or naming transactions that have not happened here (a restore from
-- an older backup, a forged cursor) -- reading or acknowledging it would skip
-- or purge changes
SELECT * FROM ferry.read_changes(jsonb_set(ferry.current_cursor(), '{system}', '"1234"'));
SELECT * FROM ferry.read_changes('{"acked": "90000000:90000000:"}');
SELECT ferry.ack('someone', '{"acked": "90000000:90000000:"}');

-- current_cursor(): everything committed so far counts as consumed
SELECT count(*) FILTER (WHERE operation IS NOT NULL) FROM ferry.read_changes(ferry.current_cursor());
UPDATE reader SET cursor = ferry.current_cursor();
INSERT INTO t VALUES (8, 'after');
SELECT operation, key FROM ferry.read_changes((SELECT cursor FROM reader)) WHERE operation IS NOT NULL;
