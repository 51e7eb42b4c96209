-- capture: ferry_init, ferry_track / ferry_untrack, and what the capture
-- triggers write into ferry_changes (read through ferry_change_log).
.headers on
.mode list
.nullvalue NULL

-- ==== before ferry_init: functions other than ferry_init/ferry_track refuse
SELECT ferry_untrack('anything');
SELECT ferry_register_consumer('hub');

-- ==== ferry_init creates the tables and views, and can run again
SELECT ferry_init();
SELECT ferry_init();
SELECT type, name FROM sqlite_schema WHERE name LIKE 'ferry%' ORDER BY type, name;
SELECT key, value FROM ferry_meta;

-- ==== tables of every kind ferry can track
-- a rowid table with an INTEGER PRIMARY KEY (the rowid itself)
CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT, balance REAL, photo BLOB, note TEXT);
-- a composite key in a WITHOUT ROWID table
CREATE TABLE order_lines (order_no TEXT, line INTEGER, qty INTEGER,
                          PRIMARY KEY (order_no, line)) WITHOUT ROWID;
-- quotes, spaces and non-ASCII letters in the table's and the columns' names
-- (a rowid table whose key is not the rowid)
CREATE TABLE "Order ""Lines"" ü" ("Ördér ""Nº""" TEXT, "line no" INTEGER, "qty ü's" REAL,
                                  PRIMARY KEY ("Ördér ""Nº""", "line no"));

SELECT ferry_track('accounts');
SELECT ferry_track('order_lines', '{}');
-- named as stored, without SQL quoting
SELECT ferry_track('Order "Lines" ü');
-- tracking again changes nothing; SQLite matches names without regard to ASCII case
SELECT ferry_track('accounts');
SELECT ferry_track('ACCOUNTS');
SELECT ferry_track('order "lines" ü');
SELECT table_name, key_columns, columns, options, capture_state,
       tracked_at IS NOT NULL AS has_tracked_at
FROM ferry_tracked ORDER BY table_name;
SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger' ORDER BY tbl_name, name;

-- ==== refusals, each with its message; none of them leaves anything behind
CREATE TABLE keyless (a TEXT, b INTEGER);
SELECT ferry_track('keyless');
CREATE VIEW account_owners AS SELECT id, owner FROM accounts;
SELECT ferry_track('account_owners');
CREATE VIRTUAL TABLE docs USING fts5(body);
SELECT ferry_track('docs');
SELECT ferry_track('ferry_changes');
SELECT ferry_track('sqlite_sequence');
SELECT ferry_track('sqlite_schema');
SELECT ferry_track('no_such_table');
SELECT ferry_track('');
SELECT ferry_track(NULL);
SELECT ferry_track();
SELECT ferry_track('accounts', '{}', 'extra');
SELECT ferry_track(x'6163636f756e7473');
-- options must be a JSON object, and there are no options yet
SELECT ferry_track('order_lines', 'not json');
SELECT ferry_track('order_lines', '[1, 2]');
SELECT ferry_track('order_lines', '"text"');
SELECT ferry_track('order_lines', '{"batch_size": 10}');
SELECT table_name FROM ferry_tracked_tables ORDER BY table_name;
SELECT count(*) AS triggers FROM sqlite_schema WHERE type = 'trigger';

-- ==== INSERT, UPDATE, DELETE
INSERT INTO accounts (id, owner, balance, photo, note)
VALUES (1, 'ann', 0.1 + 0.2, x'00ff10', 'it''s "quoted"' || char(10) || 'and \ on a second line');
-- a multi-row INSERT logs one change per row
INSERT INTO accounts VALUES (2, 'bob', 9e999, NULL, NULL),
                            (3, 'cy', -9e999, x'', 'tab' || char(9) || 'end'),
                            (4, 'dee', 5, 12, 'ü€😀');
UPDATE accounts SET balance = 10.5, note = NULL WHERE id = 1;
-- an UPDATE that changes nothing is still an UPDATE
UPDATE accounts SET owner = owner WHERE id = 4;
DELETE FROM accounts WHERE id = 3;
.mode line
SELECT position, table_name, operation, key, new_row, old_row, origin,
       changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'
           AS iso_changed_at
FROM ferry_change_log ORDER BY position;
.mode list

-- the logged values read back as the values that were written
SELECT json_extract(new_row, '$.balance') = 0.1 + 0.2 AS same_real,
       json_extract(new_row, '$.photo') AS photo,
       json_extract(new_row, '$.note') = 'it''s "quoted"' || char(10) || 'and \ on a second line'
           AS same_text
FROM ferry_changes WHERE position = 1;
SELECT json_extract(new_row, '$.balance') AS infinity_as, typeof(json_extract(new_row, '$.balance')) AS type
FROM ferry_changes WHERE key IN ('{"id":2}', '{"id":3}') AND op = 'I' ORDER BY position;
-- key, new_row and old_row are valid JSON (or NULL where the operation has none)
SELECT op, count(*) AS changes, sum(json_valid(key)) AS valid_keys,
       sum(json_valid(coalesce(new_row, '{}'))) AS valid_new_rows,
       sum(json_valid(coalesce(old_row, '{}'))) AS valid_old_rows,
       sum(new_row IS NULL) AS no_new_row, sum(old_row IS NULL) AS no_old_row
FROM ferry_changes GROUP BY op ORDER BY op;

-- ==== an UPDATE of the primary key is a DELETE of the old key and an INSERT of the new one
UPDATE accounts SET id = 40, owner = 'dee moved' WHERE id = 4;
INSERT INTO order_lines VALUES ('o-1', 1, 5), ('o-1', 2, 7), ('o-2', 1, 1);
UPDATE order_lines SET qty = qty + 1 WHERE order_no = 'o-1';
UPDATE order_lines SET line = 3 WHERE order_no = 'o-1' AND line = 2;
UPDATE order_lines SET order_no = 'o-3' WHERE order_no = 'o-2';
DELETE FROM order_lines WHERE order_no = 'o-1' AND line = 1;
SELECT position, table_name, operation, key, new_row, old_row
FROM ferry_change_log WHERE position > 6 ORDER BY position;

-- ==== the table with quotes and ü in its names
INSERT INTO "Order ""Lines"" ü" VALUES ('A"1', 1, 2.5), ('A"1', 2, NULL);
UPDATE "Order ""Lines"" ü" SET "qty ü's" = 3 WHERE "line no" = 2;
DELETE FROM "Order ""Lines"" ü" WHERE "line no" = 1;
SELECT position, table_name, operation, key, new_row, old_row
FROM ferry_change_log WHERE table_name = 'Order "Lines" ü' ORDER BY position;

-- ==== a rolled-back transaction and a rolled-back savepoint leave nothing
SELECT max(position) AS last_position, count(*) AS changes FROM ferry_changes;
BEGIN;
INSERT INTO accounts VALUES (100, 'rolled back', 1, NULL, NULL);
UPDATE accounts SET owner = 'rolled back' WHERE id = 1;
ROLLBACK;
BEGIN;
INSERT INTO accounts VALUES (101, 'kept', 1, NULL, NULL);
SAVEPOINT inner_work;
INSERT INTO accounts VALUES (102, 'rolled back', 1, NULL, NULL);
DELETE FROM accounts WHERE id = 1;
ROLLBACK TO inner_work;
RELEASE inner_work;
COMMIT;
-- only the INSERT of 101 is new
SELECT position, operation, key FROM ferry_change_log
WHERE position > (SELECT max(position) - 1 FROM ferry_changes) ORDER BY position;
SELECT count(*) AS changes FROM ferry_changes;
SELECT id, owner FROM accounts ORDER BY id;

-- ==== a statement that fails half-way logs nothing for the rows it wrote
INSERT INTO accounts VALUES (200, 'first', 1, NULL, NULL), (101, 'duplicate key', 1, NULL, NULL);
SELECT count(*) AS changes, (SELECT count(*) FROM accounts WHERE id = 200) AS row_200 FROM ferry_changes;

-- ==== positions strictly increase (each listing above is in write order), with no gaps
SELECT count(*) AS changes, count(DISTINCT position) AS distinct_positions,
       min(position) AS first, max(position) AS last
FROM ferry_changes;

-- ==== generated columns are captured with the values SQLite computed
CREATE TABLE boxes (id INTEGER PRIMARY KEY, side INTEGER,
                    area INTEGER GENERATED ALWAYS AS (side * side) VIRTUAL,
                    volume INTEGER GENERATED ALWAYS AS (side * side * side) STORED);
SELECT ferry_track('boxes');
INSERT INTO boxes (id, side) VALUES (1, 2);
UPDATE boxes SET side = 3 WHERE id = 1;
SELECT operation, key, new_row, old_row FROM ferry_change_log WHERE table_name = 'boxes' ORDER BY position;
SELECT columns, capture_state FROM ferry_tracked WHERE table_name = 'boxes';

-- ==== INSERT OR REPLACE (Android's CONFLICT_REPLACE, Room's REPLACE): the
-- row it replaces under its own key is an update, a row it removes through
-- another UNIQUE column a delete; OR IGNORE and upserts log nothing extra
CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT,
                      team TEXT, seat INTEGER, UNIQUE (team, seat));
INSERT INTO members VALUES (1, 'a@x', 'Ann', 'red', 1), (2, 'b@x', 'Bob', 'red', 2),
                           (3, 'c@x', 'Cy', 'blue', 1);
SELECT ferry_track('members');
INSERT OR REPLACE INTO members VALUES (1, 'a@x', 'Ann Smith', 'red', 1);
INSERT OR IGNORE INTO members VALUES (2, 'b@x', 'ignored', 'red', 2);
INSERT INTO members VALUES (2, 'b@x', 'nothing', 'red', 2) ON CONFLICT DO NOTHING;
INSERT INTO members VALUES (3, 'c@x', 'Cyrus', 'blue', 1)
  ON CONFLICT (id) DO UPDATE SET name = excluded.name;
INSERT INTO members VALUES (4, 'd@x', 'Di', 'blue', 2);
-- takes Bob's email and Ann's seat: both rows go
REPLACE INTO members VALUES (5, 'b@x', 'Bo', 'red', 1);
SELECT operation, key, new_row, old_row FROM ferry_change_log WHERE table_name = 'members'
ORDER BY position;
SELECT id, name FROM members ORDER BY id;
-- a writer with recursive_triggers on has REPLACE fire the DELETE trigger:
-- a delete and an insert, not an update too
PRAGMA recursive_triggers = ON;
INSERT OR REPLACE INTO members VALUES (4, 'd@x', 'Diana', 'blue', 2);
PRAGMA recursive_triggers = OFF;
SELECT operation, key, new_row, old_row FROM ferry_change_log
WHERE table_name = 'members' AND key = '{"id":4}' ORDER BY position;
SELECT capture_state FROM ferry_tracked WHERE table_name = 'members';

-- ==== UPDATE OR REPLACE: the rows it removes because the updated row takes
-- their UNIQUE value or key are logged as deleted, before the update that
-- took their place; an update that sets no such column, OR IGNORE, and a
-- failed update log nothing extra
DELETE FROM members;
INSERT INTO members VALUES (1, 'a@x', 'Ann', 'red', 1), (2, 'b@x', 'Bob', 'red', 2),
                           (3, 'c@x', 'Cy', 'blue', 1), (4, 'd@x', 'Di', 'blue', 2);
DELETE FROM ferry_changes WHERE table_name = 'members';
UPDATE OR REPLACE members SET name = 'Ann S' WHERE id = 1;
UPDATE OR REPLACE members SET email = 'b@x' WHERE id = 1;
UPDATE OR IGNORE members SET email = 'c@x' WHERE id = 1;
UPDATE members SET email = 'c@x' WHERE id = 1;
-- takes Cy's seat: Cy goes
UPDATE OR REPLACE members SET team = 'blue', seat = 1 WHERE id = 4;
-- takes id 4: Di goes, and Ann is rekeyed
UPDATE OR REPLACE members SET id = 4 WHERE id = 1;
SELECT operation, key, new_row, old_row FROM ferry_change_log WHERE table_name = 'members'
ORDER BY position;
SELECT id, email, name, team, seat FROM members ORDER BY id;
SELECT count(*) AS notes_left FROM ferry_replaced;
-- a column declared ON CONFLICT REPLACE replaces on a plain UPDATE too
CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT UNIQUE ON CONFLICT REPLACE);
INSERT INTO tags VALUES (1, 'x'), (2, 'y');
SELECT ferry_track('tags');
UPDATE tags SET label = 'y' WHERE id = 1;
SELECT operation, key, new_row, old_row FROM ferry_change_log WHERE table_name = 'tags'
ORDER BY position;
SELECT id, label FROM tags;
-- a UNIQUE index or key under NOCASE meets rows in another case: compared
-- under the index's collation
CREATE TABLE handles (id INTEGER PRIMARY KEY, handle TEXT);
CREATE UNIQUE INDEX handles_nocase ON handles (handle COLLATE NOCASE);
CREATE TABLE codes (code TEXT PRIMARY KEY COLLATE NOCASE, v INTEGER) WITHOUT ROWID;
INSERT INTO handles VALUES (1, 'ann'), (2, 'bob');
INSERT INTO codes VALUES ('abc', 1), ('xyz', 2);
SELECT ferry_track('handles'), ferry_track('codes');
UPDATE OR REPLACE handles SET handle = 'ANN' WHERE id = 2;
INSERT OR REPLACE INTO handles VALUES (3, 'Ann');
UPDATE OR REPLACE codes SET code = 'ABC' WHERE code = 'xyz';
SELECT table_name, operation, key FROM ferry_change_log
WHERE table_name IN ('handles', 'codes') ORDER BY position;
-- a UNIQUE generated column changes with the columns it is computed from
CREATE TABLE logins (id INTEGER PRIMARY KEY, email TEXT,
                     folded TEXT GENERATED ALWAYS AS (lower(email)) STORED UNIQUE);
INSERT INTO logins (id, email) VALUES (1, 'ann@x'), (2, 'bob@x');
SELECT ferry_track('logins');
UPDATE OR REPLACE logins SET email = 'ANN@x' WHERE id = 2;
SELECT operation, key FROM ferry_change_log WHERE table_name = 'logins' ORDER BY position;
-- with recursive_triggers on, the DELETE trigger logs the removed row once
PRAGMA recursive_triggers = ON;
INSERT INTO tags VALUES (3, 'z');
DELETE FROM ferry_changes WHERE table_name = 'tags';
UPDATE tags SET label = 'z' WHERE id = 1;
PRAGMA recursive_triggers = OFF;
SELECT operation, key FROM ferry_change_log WHERE table_name = 'tags' ORDER BY position;

-- ==== ferry_untrack stops capture and keeps the logged changes
SELECT ferry_untrack('accounts');
INSERT INTO accounts VALUES (300, 'not captured', 1, NULL, NULL);
UPDATE accounts SET owner = 'not captured' WHERE id = 1;
SELECT count(*) AS changes, count(*) FILTER (WHERE table_name = 'accounts') AS account_changes
FROM ferry_changes;
SELECT table_name, capture_state FROM ferry_tracked ORDER BY table_name;
SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'accounts';
-- untracking an untracked table, or one that does not exist, is an error
SELECT ferry_untrack('accounts');
SELECT ferry_untrack('no_such_table');
-- names match without regard to ASCII case here too
SELECT ferry_untrack('ORDER_LINES');
SELECT table_name FROM ferry_tracked ORDER BY table_name;
-- and a table can be tracked again
SELECT ferry_track('accounts');
UPDATE accounts SET owner = 'captured again' WHERE id = 300;
SELECT operation, key, new_row FROM ferry_change_log ORDER BY position DESC LIMIT 1;

-- ==== an insert that lets SQLite choose the rowid replaces nothing, even
-- with a row -1 in the table (NEW holds -1 before the insert)
CREATE TABLE sentinel (id INTEGER PRIMARY KEY, label TEXT UNIQUE);
INSERT INTO sentinel VALUES (-1, 'unknown');
SELECT ferry_track('sentinel');
INSERT INTO sentinel (label) VALUES ('first');
INSERT OR REPLACE INTO sentinel (label) VALUES ('first');   -- replaces row 1 only
SELECT operation, key FROM ferry_change_log WHERE table_name = 'sentinel' ORDER BY position;
SELECT id, label FROM sentinel ORDER BY id;
-- ==== INTEGER PRIMARY KEY DESC is not the rowid: it takes any value, and
-- the log spells reals and blobs as in other columns
CREATE TABLE desc_keyed (id INTEGER PRIMARY KEY DESC, v TEXT);
SELECT ferry_track('desc_keyed');
INSERT INTO desc_keyed VALUES (0.1 + 0.2, 'real'), (x'0102', 'blob'), (7, 'integer');
SELECT operation, key FROM ferry_change_log WHERE table_name = 'desc_keyed' ORDER BY position;
-- ==== a key's change of case under NOCASE is a new key: deleted and inserted
CREATE TABLE nocase_keyed (k TEXT COLLATE NOCASE PRIMARY KEY, v TEXT);
INSERT INTO nocase_keyed VALUES ('abc', 'one');
SELECT ferry_track('nocase_keyed');
UPDATE nocase_keyed SET k = 'ABC', v = 'two' WHERE k = 'abc';
UPDATE nocase_keyed SET v = 'three' WHERE k = 'abc';        -- the same key: an update
SELECT operation, key FROM ferry_change_log WHERE table_name = 'nocase_keyed' ORDER BY position;
