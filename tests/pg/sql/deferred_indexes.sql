-- Loading a table with its indexes built afterwards: ferry.defer_indexes()
-- and ferry.build_deferred_indexes() (docs/full-sync.md, "Loading an empty table")
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
CREATE TABLE t (id int PRIMARY KEY, grp int, note text);
CREATE INDEX t_grp ON t (grp);
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent VALUES (1), (2);
CREATE FUNCTION index_state(regclass) RETURNS TABLE (index regclass, ready boolean, valid boolean)
LANGUAGE sql AS $$
    SELECT indexrelid::regclass, indisready, indisvalid FROM pg_index
    WHERE indrelid = $1 ORDER BY indexrelid::regclass::text
$$;

-- deferred: inserts skip the indexes and the planner does not use them;
-- built: every row is in them and the planner uses them again
BEGIN;
SELECT ferry.defer_indexes('t');
SELECT * FROM index_state('t');
SELECT mode FROM pg_locks WHERE relation = 't'::regclass AND pid = pg_backend_pid();
INSERT INTO t SELECT g, g % 10, 'row ' || g FROM generate_series(1, 20000) g;
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE id = 5;
SELECT count(*) FROM t WHERE grp = 3;
SELECT ferry.build_deferred_indexes('t');
SELECT * FROM index_state('t');
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE id = 5;
COMMIT;
SET enable_seqscan = off;
SELECT count(*) FROM t WHERE id BETWEEN 101 AND 200;
SELECT count(*) FROM t WHERE grp = 3;
RESET enable_seqscan;
SELECT * FROM index_state('t');
-- building when nothing was deferred builds nothing
SELECT ferry.build_deferred_indexes('t');

-- the way ferry loads: COPY writes the rows and not the indexes (they keep
-- the size of an empty index until they are built)
CREATE TABLE copied (id int PRIMARY KEY, note text);
BEGIN;
SELECT ferry.defer_indexes('copied');
COPY copied FROM STDIN;
1	one
2	two
3	three
\.
SELECT pg_relation_size('copied_pkey') AS unwritten_index_bytes;
SELECT ferry.build_deferred_indexes('copied');
COMMIT;
SET enable_seqscan = off;
SELECT * FROM copied WHERE id >= 2;
RESET enable_seqscan;

-- not under SERIALIZABLE: a reader's predicate locks on the index would
-- not see the rows that skip it
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT ferry.defer_indexes('copied');
COMMIT;

-- a transaction that deferred indexes and did not build them cannot commit
-- (nor be prepared), and everything it did is rolled back
TRUNCATE t;
BEGIN;
SELECT ferry.defer_indexes('t');
INSERT INTO t VALUES (1, 1, 'lost');
COMMIT;
SELECT count(*) FROM t;
SELECT * FROM index_state('t');
BEGIN;
SELECT ferry.defer_indexes('t');
INSERT INTO t VALUES (1, 1, 'lost');
PREPARE TRANSACTION 'deferred';
SELECT count(*) FROM t;
-- the same for an index built and then undone with its savepoint
BEGIN;
SELECT ferry.defer_indexes('t');
SAVEPOINT built;
SELECT ferry.build_deferred_indexes('t');
ROLLBACK TO built;
COMMIT;
SELECT * FROM index_state('t');
-- indexes deferred in a savepoint that is rolled back are in use again
BEGIN;
SAVEPOINT deferring;
SELECT ferry.defer_indexes('t');
ROLLBACK TO deferring;
SELECT * FROM index_state('t');
INSERT INTO t VALUES (2, 2, 'kept');
COMMIT;
SELECT id, note FROM t;

-- the constraints are checked when the indexes are built
BEGIN;
SELECT ferry.defer_indexes('t');
INSERT INTO t VALUES (2, 2, 'twice');
SELECT ferry.build_deferred_indexes('t');
ROLLBACK;
SELECT * FROM index_state('t');
SELECT id, note FROM t;
CREATE EXTENSION btree_gist;
CREATE TABLE booking (id int PRIMARY KEY, room int, during int4range,
                      EXCLUDE USING gist (room WITH =, during WITH &&));
BEGIN;
SELECT ferry.defer_indexes('booking');
INSERT INTO booking VALUES (1, 7, '[1,5)'), (2, 7, '[3,8)');
SELECT ferry.build_deferred_indexes('booking');
ROLLBACK;

-- a foreign key to another table is checked row by row, as always
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
BEGIN;
SELECT ferry.defer_indexes('child');
INSERT INTO child VALUES (1, 1), (2, 2);
SELECT ferry.build_deferred_indexes('child');
COMMIT;
BEGIN;
SELECT ferry.defer_indexes('child');
INSERT INTO child VALUES (3, 3);
ROLLBACK;
SELECT * FROM child;

-- tables that do not qualify are left as they are: false, nothing changed,
-- no lock kept
CREATE TABLE no_index (id int);
CREATE TABLE tree (id int PRIMARY KEY, up int REFERENCES tree);
CREATE TABLE audited (id int PRIMARY KEY);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER audit BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TABLE tracked (id int PRIMARY KEY);
SELECT ferry.track('tracked');
CREATE TABLE half_built (id int PRIMARY KEY, v int);
CREATE INDEX half_built_v ON half_built (v);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'half_built_v'::regclass;
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
CREATE VIEW t_view AS SELECT * FROM t;
BEGIN;
SELECT t.relname, ferry.defer_indexes(t.relname::regclass)
FROM (VALUES ('no_index'), ('tree'), ('audited'), ('tracked'),
             ('half_built'), ('parted'), ('parted_1'), ('t_view'),
             ('pg_class')) AS t(relname);
SELECT relation::regclass, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND mode = 'ShareRowExclusiveLock'
ORDER BY relation::regclass::text;
SELECT count(*) FROM pg_index WHERE NOT indisready;
COMMIT;
-- a disabled trigger does not count; a temporary table of one's own qualifies
CREATE TABLE quiet (id int PRIMARY KEY);
CREATE TRIGGER audit BEFORE INSERT ON quiet FOR EACH ROW EXECUTE FUNCTION audit();
ALTER TABLE quiet DISABLE TRIGGER audit;
CREATE TEMP TABLE scratch (id int PRIMARY KEY);
BEGIN;
SELECT ferry.defer_indexes('quiet'), ferry.defer_indexes('scratch');
ROLLBACK;

-- only the owner (REINDEX needs ownership): others get false, and cannot build
CREATE ROLE deferring_loader;
GRANT EXECUTE ON FUNCTION ferry.defer_indexes(regclass),
                          ferry.build_deferred_indexes(regclass) TO deferring_loader;
GRANT USAGE ON SCHEMA ferry TO deferring_loader;
GRANT SELECT, INSERT ON t TO deferring_loader;
SET ROLE deferring_loader;
BEGIN;
SELECT ferry.defer_indexes('t');
SELECT ferry.build_deferred_indexes('t');
ROLLBACK;
RESET ROLE;
-- PUBLIC cannot call them
CREATE ROLE bystander;
SET ROLE bystander;
SELECT ferry.defer_indexes('t');
RESET ROLE;
DROP OWNED BY deferring_loader, bystander;
DROP ROLE deferring_loader, bystander;
