-- PUBLIC cannot write ferry's tables or call its functions; capture works for any writer
CREATE EXTENSION ferry;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT ferry.track('t');
CREATE ROLE app_writer LOGIN;
GRANT ALL ON t TO app_writer;

-- no table in schema ferry grants anything but SELECT on tracked_tables to PUBLIC
SELECT c.relname, a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     LATERAL aclexplode(c.relacl) a
WHERE n.nspname = 'ferry' AND a.grantee = 0
ORDER BY 1, 2;
-- every SECURITY DEFINER function pins its search_path
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ferry' AND p.prosecdef
  AND NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=pg_catalog, pg_temp'], false);

SET ROLE app_writer;
INSERT INTO t VALUES (1, 'written by app_writer');   -- captured
UPDATE t SET v = 'again';
SELECT count(*) FROM ferry.changes;
INSERT INTO ferry.changes VALUES (999, '1', 1, 'I', NULL, NULL, NULL, NULL, now());
DELETE FROM ferry.locks;
SELECT ferry.try_lock('x', 'y', '1 minute');
SELECT * FROM ferry.read_changes(NULL);
SELECT ferry.track('t');
RESET ROLE;
SELECT operation, key, new_row FROM ferry.change_log ORDER BY position;

DROP OWNED BY app_writer;
DROP ROLE app_writer;
