-- DDL on tracked tables keeps capture correct, or is refused
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
SELECT ferry.track('t');
INSERT INTO t VALUES (1, 'one', 1);

-- column changes are picked up at once (rows are self-describing)
ALTER TABLE t ADD COLUMN c text DEFAULT 'new';
INSERT INTO t VALUES (2, 'two', 2);
ALTER TABLE t DROP COLUMN b;
UPDATE t SET a = 'uno' WHERE id = 1;
ALTER TABLE t RENAME COLUMN a TO label;
INSERT INTO t VALUES (3, 'three');
ALTER TABLE t ALTER COLUMN id TYPE bigint;
INSERT INTO t VALUES (4, 'four');
ALTER TABLE t RENAME COLUMN id TO t_id;
DELETE FROM t WHERE t_id = 4;
SELECT operation, key, new_row FROM ferry.change_log ORDER BY position;
SELECT key_columns FROM ferry.tracked;

-- refused: removing the key, switching capture off, dropping the table or a trigger
ALTER TABLE t DROP CONSTRAINT t_pkey;
ALTER TABLE t DISABLE TRIGGER ferry_capture_insert;
ALTER TABLE t DISABLE TRIGGER ALL;
ALTER TABLE t ENABLE REPLICA TRIGGER ferry_capture_delete;
DROP TRIGGER ferry_capture_update ON t;
DROP TABLE t;
-- the guards hold under session_replication_role = replica too
SET session_replication_role = replica;
ALTER TABLE t DROP CONSTRAINT t_pkey;
DROP TABLE t;
RESET session_replication_role;
-- nothing of that happened: the key and the triggers are there, and capture works
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 't'::regclass ORDER BY tgname;
SELECT key_columns FROM ferry.tracked;
INSERT INTO t VALUES (6, 'six');
SELECT operation, key FROM ferry.change_log ORDER BY position DESC LIMIT 1;

-- a renamed table is still tracked (changes name the table by OID)
ALTER TABLE t RENAME TO t_renamed;
INSERT INTO t_renamed VALUES (5, 'five');
SELECT table_name, key FROM ferry.change_log ORDER BY position DESC LIMIT 1;

-- after untrack, anything goes
SELECT ferry.untrack('t_renamed');
ALTER TABLE t_renamed DROP CONSTRAINT t_pkey;
DROP TABLE t_renamed;

-- partitions
CREATE TABLE m (id int, k text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE m_a PARTITION OF m FOR VALUES IN ('a');
SELECT ferry.track('m');
-- a new partition is covered, including its TRUNCATE guard
CREATE TABLE m_b PARTITION OF m FOR VALUES IN ('b');
INSERT INTO m VALUES (1, 'a'), (2, 'b');
SELECT operation, key FROM ferry.change_log WHERE table_name = 'm'::regclass ORDER BY position;
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
WHERE tgrelid IN ('m'::regclass, 'm_a'::regclass, 'm_b'::regclass) ORDER BY 1, 2;
-- switching capture off on a partition is refused too
ALTER TABLE m_a DISABLE TRIGGER ALL;
-- attaching a table with rows, or detaching a partition, would bypass capture
CREATE TABLE m_c (id int, k text, PRIMARY KEY (id, k));
INSERT INTO m_c VALUES (3, 'c');
ALTER TABLE m ATTACH PARTITION m_c FOR VALUES IN ('c');
ALTER TABLE m DETACH PARTITION m_a;
-- DETACH ... CONCURRENTLY commits its first transaction before
-- ddl_command_end: it is refused at ddl_command_start, and nothing is pending
ALTER TABLE m DETACH PARTITION m_a CONCURRENTLY;
SELECT inhrelid::regclass, inhdetachpending FROM pg_inherits WHERE inhparent = 'm'::regclass ORDER BY 1;
DROP TABLE m_b;
-- TRUNCATE of one partition is refused; TRUNCATE of the tracked table is captured
TRUNCATE m_a;
TRUNCATE m;
SELECT operation FROM ferry.change_log WHERE table_name = 'm'::regclass ORDER BY position DESC LIMIT 1;
-- the guard does not stay open after the tracked table's TRUNCATE
BEGIN;
TRUNCATE m;
TRUNCATE m_b;
ROLLBACK;
SELECT ferry.untrack('m');
TRUNCATE m_a;
-- an untracked table detaches concurrently as usual
ALTER TABLE m DETACH PARTITION m_a CONCURRENTLY;
SELECT count(*) AS m_a_attached FROM pg_inherits WHERE inhrelid = 'm_a'::regclass;

-- DDL that would take a tracked table out of reach of capture
CREATE TABLE solo (id int PRIMARY KEY);
SELECT ferry.track('solo');
ALTER TABLE solo SET UNLOGGED;
CREATE TABLE solo_child () INHERITS (solo);
CREATE TABLE other_parent (id int);
ALTER TABLE solo INHERIT other_parent;
ALTER TABLE solo DROP CONSTRAINT solo_pkey, ADD PRIMARY KEY (id) DEFERRABLE;
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE fp (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
SELECT ferry.track('fp');
CREATE FOREIGN TABLE fp_remote PARTITION OF fp FOR VALUES IN (1) SERVER files OPTIONS (filename '/dev/null');
SELECT relname FROM pg_class WHERE relname IN ('solo_child', 'fp_remote');
SELECT relpersistence FROM pg_class WHERE relname = 'solo';

-- ferry's triggers keep their names, and positions are never cached
ALTER TRIGGER ferry_capture_insert ON solo RENAME TO mine;
ALTER SEQUENCE ferry.changes_position_seq CACHE 10;
-- nor stepped otherwise than by a block
ALTER SEQUENCE ferry.changes_position_seq INCREMENT BY 1;
ALTER SEQUENCE ferry.changes_position_seq INCREMENT BY 5000;
SELECT seqcache, seqincrement FROM pg_sequence WHERE seqrelid = 'ferry.changes_position_seq'::regclass;
