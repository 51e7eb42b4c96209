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
