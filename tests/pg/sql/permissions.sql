-- PUBLIC cannot write ferry's tables or call its functions; capture works for any writer
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
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
SET ferry.origin = 'peer-b';                         -- would hide the write from peer-b
INSERT INTO ferry.changes VALUES (999, '1', 1, 'I', NULL, NULL, NULL, NULL, now());
DELETE FROM ferry.locks;
SELECT ferry.try_lock('x', 'y', '1 minute');
SELECT * FROM ferry.read_changes(NULL);
SELECT ferry.track('t');
RESET ROLE;
SELECT operation, key, new_row FROM ferry.change_log ORDER BY position;

-- the roles of docs/permissions.md can do their jobs, and no more
CREATE ROLE ferry_monitor;
GRANT SELECT ON ferry.status, ferry.tracked, ferry.sessions, ferry.locks,
                ferry.checkpoints, ferry.conflicts, ferry.consumers TO ferry_monitor;
CREATE ROLE ferry_sync LOGIN;
GRANT ferry_monitor TO ferry_sync;
GRANT EXECUTE ON FUNCTION
    ferry.read_changes(jsonb, integer, text), ferry.current_cursor(),
    ferry.register_consumer(text), ferry.ack(text, jsonb), ferry.purge(),
    ferry.checkpoint_begin(text, text, bigint, boolean),
    ferry.checkpoint_advance(text, text, jsonb, bigint),
    ferry.checkpoint_complete(text, text), ferry.checkpoint_fail(text, text, text),
    ferry.checkpoint_resume_point(text, text, interval),
    ferry.try_lock(text, text, interval), ferry.unlock(text, text),
    ferry.session_start(text, text, text, text, text),
    ferry.session_progress(bigint, text, bigint, bigint, bigint, bigint),
    ferry.session_finish(bigint, text, text), ferry.cancel(bigint),
    ferry.close_abandoned_sessions(),
    ferry.set_origin(text), ferry.is_current_transaction(xid),
    ferry.keep_change_times(regclass, jsonb)
TO ferry_sync;
GRANT INSERT ON t TO ferry_sync;
CREATE ROLE ferry_admin;
GRANT INSERT, DELETE ON ferry.tracked_tables TO ferry_admin;
GRANT EXECUTE ON FUNCTION ferry.track(regclass, jsonb), ferry.untrack(regclass),
                          ferry.drop_consumer(text) TO ferry_admin;

SET ROLE ferry_monitor;
SELECT table_name, peer, pending_changes FROM ferry.status;
SELECT count(*) FROM ferry.sessions;
SELECT count(*) FROM ferry.change_log;           -- holds row data: not granted
SELECT ferry.try_lock('x', 'y', '1 minute');     -- read-only role
RESET ROLE;

SET ROLE ferry_sync;
SELECT count(*) FILTER (WHERE operation IS NOT NULL) FROM ferry.read_changes(NULL);
SELECT ferry.register_consumer('site-1');
SELECT ferry.ack('site-1', ferry.current_cursor());
SELECT ferry.purge();
-- a purge that keeps changes summarizes the log's BRIN index, as the
-- extension's owner (the sync role owns neither the log nor the helper)
BEGIN;
SELECT ferry.register_consumer('site-2');
INSERT INTO t VALUES (4, 'kept for site-2');
SELECT ferry.purge();
ROLLBACK;
SELECT ferry.try_lock('sync:hub->site-1', 'host-a', '1 minute');
SELECT status FROM ferry.checkpoint_begin('job', 't');
SELECT ferry.session_finish(ferry.session_start('full', 'pull', 'hub', 'site-1'), 'succeeded');
SELECT ferry.close_abandoned_sessions();
SELECT table_name, peer, pending_changes FROM ferry.status;
-- the apply path marks its writes with the peer they come from
BEGIN;
SELECT ferry.set_origin('site-1');
INSERT INTO t VALUES (3, 'applied from site-1');
COMMIT;
SHOW ferry.origin;                               -- only for that transaction
DELETE FROM ferry.locks;                         -- only through the functions
SELECT ferry.track('t');                         -- not an administrator
RESET ROLE;

CREATE TABLE owned_by_admin (id int PRIMARY KEY);
ALTER TABLE owned_by_admin OWNER TO ferry_admin;
CREATE TABLE not_admins (id int PRIMARY KEY);
CREATE TABLE forger (id int PRIMARY KEY);
ALTER TABLE forger OWNER TO ferry_admin;
SET ROLE ferry_admin;
SELECT ferry.track('owned_by_admin');
INSERT INTO owned_by_admin VALUES (1);
\set VERBOSITY terse
SELECT ferry.track('not_admins');                -- not its table
\set VERBOSITY default
-- ferry's capture function on a table that is not tracked logs nothing, so
-- nobody can use it to put rows of their own into the change log
CREATE TRIGGER forge AFTER INSERT ON forger REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION ferry.capture_statement();
INSERT INTO forger VALUES (1);
SELECT ferry.untrack('owned_by_admin');
RESET ROLE;
SELECT table_name, operation, key FROM ferry.change_log WHERE table_name = 'owned_by_admin'::regclass;
SELECT key, origin FROM ferry.change_log WHERE key->>'id' = '3';
SELECT count(*) AS forged FROM ferry.changes WHERE relid = 'forger'::regclass;

-- keep_change_times reads keys through the key's types: a domain's CHECK
-- runs with the sync role's rights, never with the extension owner's (in
-- 0.10 a table owner's domain made itself superuser that way)
CREATE TABLE who_checked (role_name name);
GRANT INSERT ON who_checked TO PUBLIC;
CREATE FUNCTION note_checker(v int) RETURNS boolean LANGUAGE sql AS
    $$ INSERT INTO public.who_checked VALUES (current_user) RETURNING true $$;
CREATE DOMAIN checked_id AS int CHECK (note_checker(VALUE));
CREATE TABLE domain_keyed (id checked_id PRIMARY KEY, v text);
SELECT ferry.track('domain_keyed');
GRANT INSERT ON domain_keyed TO ferry_sync;
SET ROLE ferry_sync;
BEGIN;
SELECT ferry.set_origin('peer-b');
INSERT INTO domain_keyed VALUES (1, 'from peer-b');
SELECT ferry.keep_change_times('domain_keyed', '[[{"id": 1}, 1700000000]]') AS kept;
COMMIT;
RESET ROLE;
SELECT DISTINCT role_name FROM who_checked ORDER BY 1;
SELECT extract(epoch FROM changed_at) AS at FROM ferry.changes
WHERE relid = 'domain_keyed'::regclass;
SET ROLE ferry_sync;
SELECT * FROM ferry._changes_applied_here('domain_keyed');   -- no origin: refused
SELECT ferry._set_change_times(ARRAY[1]::bigint[], ARRAY[now()]);  -- likewise
RESET ROLE;

DROP OWNED BY app_writer, ferry_monitor, ferry_sync, ferry_admin;
DROP ROLE app_writer, ferry_monitor, ferry_sync, ferry_admin;
