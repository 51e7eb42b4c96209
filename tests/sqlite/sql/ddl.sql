-- ddl: schema changes of a tracked table. SQLite has no DDL triggers, so
-- ferry_tracked.capture_state reports what changed, ferry_track() again
-- refreshes the triggers, and ferry_row_hash() refuses rows with columns the
-- table no longer has instead of hashing a wrong row (rows lacking columns
-- added since hash over the columns they have).
.headers on
.mode list
.nullvalue NULL

SELECT ferry_init();
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC);
SELECT ferry_track('items');
INSERT INTO items VALUES (1, 'pen', 1.5);
SELECT table_name, columns, capture_state FROM ferry_tracked;

-- ==== ADD COLUMN: the triggers do not capture the new column until ferry_track() runs again
CREATE TEMP TABLE hashed_before AS
SELECT ferry_row_hash('items', new_row) AS hash FROM ferry_changes WHERE position = 1;
ALTER TABLE items ADD COLUMN colour TEXT DEFAULT 'red';
SELECT table_name, columns, capture_state FROM ferry_tracked;
INSERT INTO items VALUES (2, 'ink', 2.25, 'blue');
SELECT position, operation, new_row FROM ferry_change_log ORDER BY position;
-- rows logged before the refresh lack the new column: they hash over the
-- columns they have, as they did before the column was added, and not as
-- the row with the new column NULL
SELECT ferry_row_hash('items', new_row) = (SELECT hash FROM hashed_before) AS same_as_before,
       ferry_row_hash('items', new_row) <> ferry_row_hash('items', json_set(new_row, '$.colour', NULL)) AS differs_from_null
FROM ferry_changes WHERE position = 1;
SELECT ferry_row_hash('items', new_row) IS NOT NULL AS hashed FROM ferry_changes WHERE position = 2;
SELECT ferry_track('items');
SELECT table_name, columns, capture_state FROM ferry_tracked;
SELECT ferry_track('items');
UPDATE items SET colour = 'green' WHERE id = 2;
SELECT position, operation, new_row, old_row FROM ferry_change_log WHERE position > 2 ORDER BY position;
-- rows logged after the refresh hash as the table's rows do
SELECT ferry_row_hash('items', c.new_row) = r.row_hash AS same_hash
FROM ferry_changes c JOIN ferry_bucket_rows('items', 1, '[0]') r ON r.key = '{"id": 2}'
WHERE c.position = 3;

-- ==== RENAME COLUMN: SQLite renames it inside the triggers, but the JSON names stay old
ALTER TABLE items RENAME COLUMN name TO title;
SELECT table_name, columns, capture_state FROM ferry_tracked;
UPDATE items SET title = 'fountain pen' WHERE id = 1;
SELECT position, new_row FROM ferry_changes WHERE position = 4;
SELECT ferry_row_hash('items', new_row) FROM ferry_changes WHERE position = 4;
SELECT ferry_track('items');
SELECT table_name, columns, capture_state FROM ferry_tracked;
UPDATE items SET title = 'fountain pen, blue' WHERE id = 1;
SELECT position, operation, new_row, old_row FROM ferry_change_log WHERE position > 4 ORDER BY position;
-- old_row is the row as it was, under the new column names
SELECT ferry_row_hash('items', old_row) IS NOT NULL AS old_row_hashes,
       ferry_row_hash('items', new_row) IS NOT NULL AS new_row_hashes
FROM ferry_changes WHERE position = 5;

-- ==== DROP COLUMN of a captured column is refused by SQLite, because the triggers use it
ALTER TABLE items DROP COLUMN colour;
SELECT columns, capture_state FROM ferry_tracked;
SELECT name FROM pragma_table_info('items') ORDER BY cid;
-- the documented way: untrack, drop, track
BEGIN;
SELECT ferry_untrack('items');
ALTER TABLE items DROP COLUMN colour;
SELECT ferry_track('items');
COMMIT;
SELECT columns, capture_state FROM ferry_tracked;
DELETE FROM items WHERE id = 2;
SELECT position, operation, key, old_row FROM ferry_change_log WHERE position > 5 ORDER BY position;

-- ==== a trigger dropped by hand
DROP TRIGGER "ferry_update_items";
SELECT capture_state FROM ferry_tracked;
SELECT ferry_track('items');
SELECT capture_state FROM ferry_tracked;
SELECT count(*) AS triggers FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'items';

-- ==== RENAME TO: the triggers follow the table, but log the old name
ALTER TABLE items RENAME TO goods;
SELECT table_name, capture_state FROM ferry_tracked;
INSERT INTO goods VALUES (3, 'paper', 0.1);
SELECT ferry_untrack('items');
SELECT ferry_track('goods');
INSERT INTO goods VALUES (4, 'glue', 3);
SELECT position, table_name, operation, new_row FROM ferry_change_log WHERE position > 6 ORDER BY position;
SELECT table_name, capture_state FROM ferry_tracked;
SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name;

-- ==== DROP TABLE: the triggers go with the table; ferry_untrack() forgets it
DROP TABLE goods;
SELECT table_name, capture_state FROM ferry_tracked;
SELECT count(*) AS triggers FROM sqlite_schema WHERE type = 'trigger';
-- a logged row of a table that is gone cannot be hashed
SELECT ferry_row_hash('goods', new_row) FROM ferry_changes WHERE position = 8;
SELECT ferry_untrack('goods');
SELECT count(*) AS tracked FROM ferry_tracked;
-- the logged changes stay
SELECT count(*) AS changes FROM ferry_changes;
-- a new table of the same name is not tracked until ferry_track()
CREATE TABLE goods (id INTEGER PRIMARY KEY, title TEXT);
INSERT INTO goods VALUES (1, 'not captured');
SELECT count(*) AS changes FROM ferry_changes;

-- ==== an application's trigger made after ferry's runs before them (SQLite
-- runs newest first): one that fills in a column would have its UPDATE
-- logged first and the insert, as it was before, last. capture_state says
-- so, and ferry_track() makes ferry's triggers again, newest.
CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, slug TEXT);
CREATE TRIGGER posts_audit AFTER DELETE ON posts BEGIN SELECT 1; END;  -- older: fine
SELECT ferry_track('posts');
SELECT capture_state FROM ferry_tracked WHERE table_name = 'posts';
CREATE TRIGGER posts_slug AFTER INSERT ON posts
BEGIN UPDATE posts SET slug = lower(NEW.title) WHERE id = NEW.id; END;
SELECT capture_state FROM ferry_tracked WHERE table_name = 'posts';
SELECT ferry_track('posts');
SELECT capture_state FROM ferry_tracked WHERE table_name = 'posts';
SELECT ferry_track('posts');
INSERT INTO posts (id, title) VALUES (1, 'Hello');
SELECT operation, new_row FROM ferry_change_log WHERE table_name = 'posts' ORDER BY position;
