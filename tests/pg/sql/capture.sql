-- What the capture trigger logs for each kind of write
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never

CREATE TABLE items (
    id int PRIMARY KEY, name text, price numeric, qty int8, weight float8, ratio real,
    active boolean, born date, seen timestamp, at timestamptz, doc json, data jsonb,
    raw bytea, code char(5), tags text[], ident uuid);
SELECT ferry.track('items');

SET TimeZone = 'Europe/Berlin';
SET DateStyle = 'German';          -- capture does not depend on session settings
SET bytea_output = 'escape';
SET extra_float_digits = -10;
INSERT INTO items VALUES (1, 'Widget', 10.50, 9007199254740993, 0.1, 1.5, true,
    '2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+01',
    '{"b": 2, "a": 1}', '{"z": [1, 2.50], "a": null}', '\xDEADBEEF'::bytea, 'ab',
    ARRAY['x', 'y z'], 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');
INSERT INTO items (id) VALUES (2);
RESET ALL;
SELECT position, operation, key, jsonb_pretty(new_row) AS new_row, old_hash IS NULL AS no_old_hash
FROM ferry.change_log ORDER BY position;

-- UPDATE logs the new row and the hash of the old one
SELECT max(position) AS inserted_last FROM ferry.changes \gset
UPDATE items SET name = 'Gadget' WHERE id = 1;
-- an UPDATE that changes the key logs a delete of the old key and an insert
UPDATE items SET id = 3 WHERE id = 2;
DELETE FROM items WHERE id = 1;
SELECT position, operation, key, new_row ->> 'name' AS name, old_hash IS NOT NULL AS has_old_hash
FROM ferry.change_log WHERE position > :inserted_last ORDER BY position;

-- the old-row hash is the canonical hash: equal rows hash equal, whatever the session settings
CREATE TABLE h (id int PRIMARY KEY, amount numeric, at timestamptz);
SELECT ferry.track('h');
INSERT INTO h VALUES (1, 10.5, '2024-01-01 00:00:00+00'), (2, 10.500, '2024-01-01 01:00:00+01');
SET TimeZone = 'America/New_York';
DELETE FROM h WHERE id = 1;
RESET TimeZone;
UPDATE h SET id = 1 WHERE id = 2;  -- logged as DELETE of 2 + INSERT of 1
DELETE FROM h;
SELECT operation, key, old_hash FROM ferry.change_log WHERE table_name = 'h'::regclass ORDER BY position;
-- row 2 re-keyed to 1 holds 10.500 at the same instant written in +01: it
-- hashes exactly like the original row 1 (10.5 at 00:00 UTC, deleted in New York time)
SELECT count(DISTINCT old_hash) FROM ferry.changes WHERE relid = 'h'::regclass AND op = 'D';

-- origin: ferry's apply path sets ferry.origin; changes made under it carry it
SELECT max(position) AS before_origin FROM ferry.changes \gset
SET ferry.origin = 'peer-b';
INSERT INTO items (id, name) VALUES (10, 'from b');
RESET ferry.origin;
INSERT INTO items (id, name) VALUES (11, 'local');
SELECT key, origin FROM ferry.change_log WHERE position > :before_origin ORDER BY position;

-- capture fires under session_replication_role = replica too
SET session_replication_role = replica;
INSERT INTO items (id, name) VALUES (12, 'replica role');
RESET session_replication_role;
SELECT key FROM ferry.change_log ORDER BY position DESC LIMIT 1;

-- a rolled-back subtransaction leaves no change behind
BEGIN;
INSERT INTO items (id) VALUES (20);
SAVEPOINT s;
INSERT INTO items (id) VALUES (21);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT key FROM ferry.change_log WHERE key->>'id' IN ('20', '21') ORDER BY position;
-- all changes of one transaction carry its top-level transaction id
SELECT count(DISTINCT xid) FROM ferry.changes WHERE key->>'id' IN ('20');

-- bulk statements are captured row by row in one transaction
INSERT INTO items (id, name) SELECT g, 'bulk' FROM generate_series(100, 1099) g;
UPDATE items SET qty = 1 WHERE name = 'bulk';
SELECT operation, count(*) FROM ferry.change_log WHERE (key->>'id')::int BETWEEN 100 AND 1099 GROUP BY 1 ORDER BY 1;

-- statements of many rows write the log in batches (by count and by size):
-- every entry is there once, in position order, and found by every index
CREATE TABLE wide (id int PRIMARY KEY, body text);
SELECT ferry.track('wide');
CREATE INDEX changes_origin_idx ON ferry.changes (origin);  -- a DBA's own index, on text
BEGIN;
SELECT ferry.set_origin('peer-w');
INSERT INTO wide SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 2500) g;
-- rows of 300 kB each: a batch is written once it holds 1 MB (and each row is toasted)
INSERT INTO wide SELECT g, string_agg(md5(g::text || i::text), '')
FROM generate_series(3001, 3012) g, generate_series(1, 9375) i GROUP BY g;
COMMIT;
DELETE FROM wide WHERE id <= 1200;
SELECT operation, count(*), count(DISTINCT position), count(DISTINCT key),
       bool_and(origin IS NOT DISTINCT FROM CASE operation WHEN 'INSERT' THEN 'peer-w' END)
FROM ferry.change_log WHERE table_name = 'wide'::regclass GROUP BY 1 ORDER BY 1;
-- positions follow the statement's row order
SELECT count(*) FROM (
    SELECT position, lag(position) OVER (ORDER BY (key->>'id')::int) AS previous
    FROM ferry.changes WHERE relid = 'wide'::regclass AND op = 'I' AND (key->>'id')::int <= 2500) s
WHERE position < previous;
-- one nextval() reserves a block of 1,000 positions: the 2,500 rows of one
-- statement take three blocks, back to back here as nothing else wrote, and
-- the 12 rows of the next statement a block of their own
SELECT count(DISTINCT position / 1000) AS blocks, max(position) - min(position) + 1 AS span,
       min(position) % 1000 AS first_in_block
FROM ferry.changes WHERE relid = 'wide'::regclass AND op = 'I' AND (key->>'id')::int <= 2500;
SELECT count(DISTINCT position / 1000) AS blocks, max(position) - min(position) + 1 AS span,
       min(position) % 1000 AS first_in_block
FROM ferry.changes WHERE relid = 'wide'::regclass AND op = 'I' AND (key->>'id')::int > 3000;
SELECT count(*) = 12 AS wide_rows_intact
FROM ferry.changes c JOIN wide w ON w.id = (c.key->>'id')::int
WHERE c.relid = 'wide'::regclass AND w.id > 3000 AND c.new_row->>'body' = w.body;
CREATE TEMP TABLE log_by_scan AS
SELECT position, xid, origin FROM ferry.changes WHERE relid = 'wide'::regclass;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ferry.changes c JOIN log_by_scan s USING (position);
SELECT count(*) FROM ferry.changes WHERE origin = 'peer-w';
SET enable_indexscan = off;
SET enable_bitmapscan = on;
SELECT count(*) FROM ferry.changes c
WHERE c.xid IN (SELECT DISTINCT xid FROM log_by_scan) AND c.relid = 'wide'::regclass;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;
DROP INDEX ferry.changes_origin_idx;

-- a statement that changes many keys pairs each old row with its new row
UPDATE items SET id = id + 5000 WHERE id BETWEEN 100 AND 102;
SELECT operation, key FROM ferry.change_log ORDER BY position DESC LIMIT 6;

-- TRUNCATE is captured as such
TRUNCATE items;
SELECT operation, key FROM ferry.change_log ORDER BY position DESC LIMIT 1;

-- calling the trigger functions outside a trigger is refused
SELECT ferry.capture_statement();

-- errors keep their SQLSTATE, detail and hint across the C++ boundary:
-- raised by PostgreSQL inside ferry (ereport -> C++ exception -> re-raised) ...
CREATE INDEX changes_bad_idx ON ferry.changes ((position + 1));
INSERT INTO items (id) VALUES (30);
\set VERBOSITY sqlstate
INSERT INTO items (id) VALUES (30);
\set VERBOSITY default
DROP INDEX ferry.changes_bad_idx;
INSERT INTO items (id) VALUES (30);
-- ... and raised by ferry's C++ code (ferry error -> ereport)
CREATE TABLE parts (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE parts_1 PARTITION OF parts FOR VALUES IN (1);
SELECT ferry.track('parts');
TRUNCATE parts_1;
\set VERBOSITY sqlstate
TRUNCATE parts_1;
\set VERBOSITY default

-- valid json that jsonb cannot hold (\u0000, duplicate keys) never makes a write fail
CREATE TABLE docs (id int PRIMARY KEY, body json);
SELECT ferry.track('docs');
INSERT INTO docs VALUES (1, '{"a": "x\u0000y", "a": 2}');
SELECT new_row FROM ferry.change_log WHERE table_name = 'docs'::regclass;

-- values logged by their text are printed in one style whatever the writer's
-- session sets (dates in ISO, intervals in PostgreSQL's style), and hash alike
CREATE TABLE styled (id int PRIMARY KEY, days date[], span daterange, wait interval);
SELECT ferry.track('styled');
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
INSERT INTO styled VALUES (1, '{2024-01-02,2024-03-04}', '[2024-01-02,2024-03-05)', '-1 days -02:03:04');
SELECT ferry.row_hash(s) AS hash_in_sql_styles FROM styled s \gset
RESET DateStyle;
RESET IntervalStyle;
SELECT new_row FROM ferry.change_log WHERE table_name = 'styled'::regclass;
SELECT ferry.row_hash(s) = :hash_in_sql_styles AS same_hash_in_default_styles FROM styled s;
