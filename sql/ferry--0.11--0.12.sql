-- ferry 0.11 → 0.12: a session whose ferry process died is closed as failed.
-- Before, a run killed outright (kill -9, a crash, the machine lost) left its
-- row in ferry.sessions 'running' for good. ferry records a session through
-- a connection of its own that lives exactly as long as the run, so the
-- session now remembers that connection's server process; once that process
-- is gone, the run is too.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.12'" to load this file. \quit

ALTER TABLE ferry.sessions
    ADD COLUMN backend_pid integer,
    ADD COLUMN backend_start timestamptz;
COMMENT ON COLUMN ferry.sessions.backend_pid IS
    'Server process of the connection that records the session (pg_stat_activity.pid); NULL for sessions started before 0.12';
COMMENT ON COLUMN ferry.sessions.backend_start IS
    'When that server process started: with backend_pid, it names the process even after its pid is reused';
-- The sweep below looks at running sessions only; history keeps growing.
CREATE INDEX sessions_running_idx ON ferry.sessions (id) WHERE status = 'running';

-- Closes, as failed, every running session whose recording connection has
-- ended: the ferry process that ran it stopped without finishing it (a
-- live ferry finishes its sessions itself, also when it fails). Returns how
-- many it closed. SECURITY DEFINER: only its owner sees every backend's
-- start time in pg_stat_activity.
CREATE FUNCTION ferry.close_abandoned_sessions() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH closed AS (
        UPDATE ferry.sessions s SET
            status = 'failed',
            error = 'abandoned: the ferry process that ran it stopped without finishing it '
                    '(its connection to this server ended; backend_pid shows which it was)',
            finished_at = clock_timestamp(),
            updated_at = clock_timestamp(),
            estimated_finish = NULL
        WHERE s.status = 'running'
          AND s.backend_pid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(s.backend_pid) a
                          WHERE a.backend_start = s.backend_start)
        RETURNING 1)
    SELECT count(*)::integer FROM closed
$$;
COMMENT ON FUNCTION ferry.close_abandoned_sessions() IS
    'Closes as failed the running sessions whose ferry process is gone (their recording connection ended)';

-- Starting a session records the connection's server process and first
-- closes the sessions of runs that died.
CREATE OR REPLACE FUNCTION ferry.session_start(kind text, direction text, source text, target text,
                                               method text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF kind IS NULL OR kind NOT IN ('full', 'incremental', 'diff') THEN
        RAISE EXCEPTION 'invalid session kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use full, incremental or diff.';
    END IF;
    IF direction IS NOT NULL AND direction NOT IN ('pull', 'push', 'both') THEN
        RAISE EXCEPTION 'invalid session direction "%"', direction
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use pull, push, both or NULL.';
    END IF;
    PERFORM ferry.close_abandoned_sessions();
    INSERT INTO ferry.sessions (kind, direction, source, target, method, backend_pid, backend_start)
    SELECT kind, direction, source, target, method, pg_backend_pid(), a.backend_start
    FROM pg_stat_get_activity(pg_backend_pid()) a
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;

REVOKE EXECUTE ON FUNCTION ferry.close_abandoned_sessions() FROM PUBLIC;
