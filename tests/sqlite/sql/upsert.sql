-- ferry_to_upsert: the INSERTs of a dump as upserts that write only rows
-- that differ; everything else is refused, or dropped when asked.
.headers on
.mode list
.nullvalue NULL

CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
CREATE TABLE "Order Lines" ("order" TEXT, line INTEGER, PRIMARY KEY ("order", line)) WITHOUT ROWID;
CREATE TABLE keyless (v);

-- ==== a sqlite3 .dump: data converted, framing dropped
SELECT ferry_to_upsert('PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
INSERT INTO t VALUES(1,''it''''s'',X''00ff'');
INSERT INTO "Order Lines" VALUES(''o1'',1);
COMMIT;') AS upserts;

-- ==== other statements are refused, naming them; or dropped when asked
SELECT ferry_to_upsert('CREATE TABLE x (a); INSERT INTO t VALUES (2, ''b'', NULL);');
SELECT ferry_to_upsert('CREATE TABLE x (a); INSERT INTO t VALUES (2, ''b'', NULL);',
                       '{"skip_other_statements": true}') AS skipped;
SELECT ferry_to_upsert('DELETE FROM t;');
SELECT ferry_to_upsert('INSERT INTO t VALUES (3, (SELECT name FROM t), NULL);');
SELECT ferry_to_upsert('INSERT INTO t SELECT * FROM t;');
SELECT ferry_to_upsert('INSERT OR REPLACE INTO t VALUES (4, ''d'', NULL);');
SELECT ferry_to_upsert('INSERT INTO missing VALUES (1);');
SELECT ferry_to_upsert('INSERT INTO keyless VALUES (1);');
SELECT ferry_to_upsert('INSERT INTO t VALUES (5, ''unterminated);');
SELECT ferry_to_upsert('INSERT INTO t VALUES (1);', '{"colour": "red"}');

-- ==== a pg_dump --inserts, schema-qualified, into SQLite
SELECT ferry_to_upsert('SET statement_timeout = 0;
SELECT pg_catalog.set_config(''search_path'', '''', false);
INSERT INTO public.t (id, name, data) VALUES (7, E''tab\there'', ''\x00ff''::bytea);',
                       '{"source": "postgresql"}') AS from_postgresql;

-- ==== ferry's own state in a .dump of a tracked file is not data: dropped
-- with skip_other_statements, refused otherwise
SELECT ferry_to_upsert('INSERT INTO ferry_checkpoints VALUES (''x'', '''', ''running'');
INSERT INTO t VALUES (8, ''kept'', NULL);', '{"skip_other_statements": true}') AS state_skipped;
SELECT ferry_to_upsert('INSERT INTO "FERRY_locks" VALUES (''x'');') AS state_refused;

-- ==== nothing ran: the table is as it was
SELECT count(*) AS rows FROM t;

-- ==== a NOCASE column: a value spelled differently is rewritten (its hash
-- differs), once; applying the same statements again changes nothing
CREATE TABLE nc (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE);
INSERT INTO nc VALUES (1, 'ABC');
CREATE TEMP TABLE statements AS SELECT ferry_to_upsert('INSERT INTO nc VALUES (1, ''abc'');') AS sql;
SELECT sql FROM statements;
INSERT INTO nc VALUES (1, 'abc') ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name" WHERE "nc"."name" COLLATE BINARY IS NOT excluded."name";
SELECT changes() AS rewritten, name FROM nc;
INSERT INTO nc VALUES (1, 'abc') ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name" WHERE "nc"."name" COLLATE BINARY IS NOT excluded."name";
SELECT changes() AS rewritten_again;
