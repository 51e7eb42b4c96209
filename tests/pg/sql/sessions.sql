-- Sessions: progress, cancel, finish
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never

SELECT ferry.session_start('full', 'pull', 'hub', 'site1', 'dump');
SELECT kind, direction, source, target, method, status, rows_done, cancel_requested FROM ferry.sessions;
SELECT ferry.session_progress(1, 'transfer', 250, 1000, 4096, 16384);
SELECT phase, rows_done, rows_total, bytes_done, bytes_total,
       rows_per_second > 0 AS has_rate, estimated_finish > now() AS has_eta FROM ferry.sessions;
-- a cancel request is seen by the next progress call
SELECT ferry.cancel(1);
SELECT ferry.session_progress(1, 'transfer', 500, 1000);
SELECT ferry.session_finish(1, 'cancelled', 'cancelled by request');
SELECT status, error, finished_at IS NOT NULL AS finished, estimated_finish FROM ferry.sessions;
-- finished sessions cannot be cancelled or finished again
SELECT ferry.cancel(1);
SELECT ferry.session_finish(1, 'succeeded');
SELECT ferry.session_finish(ferry.session_start('diff', NULL, 'a', 'b'), 'won');
SELECT ferry.session_start('sideways', NULL, 'a', 'b');
SELECT ferry.session_start('full', 'up', 'a', 'b');
SELECT ferry.session_finish(ferry.session_start('diff', NULL, 'a', 'b'), NULL);

-- A session remembers the server process of the connection recording it
SELECT backend_pid = pg_backend_pid() AS own_backend,
       backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
           AS own_start
FROM ferry.sessions WHERE id = 1;
-- Once that process is gone (its ferry died), the next session start closes
-- the session as failed: a pid no backend has, a pid reused by another
-- backend. Sessions from before 0.12 (no pid) and live ones are kept.
INSERT INTO ferry.sessions (kind, source, target, backend_pid, backend_start) VALUES
    ('full', 'gone', 'x', 2147483647, now()),
    ('full', 'reused', 'x', pg_backend_pid(), '2000-01-01 00:00:00+00'),
    ('full', 'unknown', 'x', NULL, NULL);
SELECT ferry.session_start('incremental', 'push', 'live', 'x') AS live_id \gset
SELECT source, status, finished_at IS NOT NULL AS finished, error
FROM ferry.sessions WHERE target = 'x' ORDER BY id;
-- closing them again finds nothing; a DBA may call it directly
SELECT ferry.close_abandoned_sessions();
SELECT ferry.session_finish(:live_id, 'succeeded');
