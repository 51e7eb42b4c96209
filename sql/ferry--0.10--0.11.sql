-- ferry 0.10 → 0.11: ferry.keep_change_times(regclass, jsonb) no longer runs
-- a table's code with the extension owner's rights. In 0.10 it was SECURITY
-- DEFINER and read keys through the key columns' types: a key whose type is
-- a domain ran that domain's CHECK (any function its owner wrote) as the
-- owner of the extension, a superuser. Now the keys are read with the
-- caller's rights (as its own writes to the table are), and only the two
-- steps that touch ferry.changes run as the owner, on nothing but plain
-- positions, keys as stored and times.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.11'" to load this file. \quit

-- The peer whose changes this transaction applies (ferry.origin), or an
-- error saying how to set it. It reads a setting only, so PUBLIC may call it.
CREATE FUNCTION ferry._applying_peer() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    peer text := current_setting('ferry.origin', true);
BEGIN
    IF peer IS NULL OR peer = '' THEN
        RAISE EXCEPTION 'no peer''s changes are being applied in this transaction'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call ferry.set_origin(peer) first, in the same transaction.';
    END IF;
    RETURN peer;
END $$;

-- Both helpers act only on log rows the calling transaction wrote while
-- applying a peer's changes: rows whose origin is the session's
-- ferry.origin, which only a superuser or ferry.set_origin() sets. They
-- hold no user type and call no user code, so PUBLIC may execute them.

-- This transaction's log rows of `tbl` for the peer being applied.
CREATE FUNCTION ferry._changes_applied_here(tbl regclass)
RETURNS TABLE ("position" bigint, key jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    peer text := ferry._applying_peer();
    first_position bigint := ferry._first_position_logged();
BEGIN
    IF first_position IS NULL THEN
        RETURN;
    END IF;
    -- EXECUTE: planned with this first position (a cached generic plan
    -- could scan the whole log), so that the position index's range is seen
    -- to be short. The transaction is compared as text: the xid BRIN index
    -- matches every page it has not summarized, and the planner took it.
    RETURN QUERY EXECUTE
        'SELECT c.position, c.key FROM ferry.changes c
         WHERE c.position >= $1 AND c.xid::text = $2 AND c.origin = $3 AND c.relid = $4'
        USING first_position, pg_current_xact_id()::text, peer, tbl;
END $$;
COMMENT ON FUNCTION ferry._changes_applied_here(regclass) IS
    'The positions and keys of the log rows this transaction wrote to a table for the peer in ferry.origin';

-- Sets changed_at of such rows, by position; returns how many it changed.
CREATE FUNCTION ferry._set_change_times(positions bigint[], times timestamptz[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    peer text := ferry._applying_peer();
    first_position bigint := ferry._first_position_logged();
    kept bigint;
BEGIN
    IF first_position IS NULL OR cardinality(positions) IS DISTINCT FROM cardinality(times) THEN
        RETURN 0;
    END IF;
    EXECUTE
        'UPDATE ferry.changes c SET changed_at = t.at
         FROM unnest($1, $2) AS t(position, at)
         WHERE c.position = t.position AND c.position >= $3
           AND c.xid::text = $4 AND c.origin = $5 AND t.at IS NOT NULL'
        USING positions, times, first_position, pg_current_xact_id()::text, peer;
    GET DIAGNOSTICS kept = ROW_COUNT;
    RETURN kept;
END $$;
COMMENT ON FUNCTION ferry._set_change_times(bigint[], timestamptz[]) IS
    'Sets the times of log rows this transaction wrote for the peer in ferry.origin, by position';

-- Now with the caller's rights: the keys given and the keys logged are
-- both read through the key columns' types (a peer's 2.5 is the log's 2.50
-- in a numeric(10,2) key, its upper-case UUID the log's lower-case one), as
-- the caller's own writes to the table read them.
CREATE OR REPLACE FUNCTION ferry.keep_change_times(tbl regclass, times jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key_columns text;
    kept bigint;
BEGIN
    PERFORM ferry._applying_peer();  -- refuses without one
    IF jsonb_typeof(times) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'times must be a JSON array of [key, seconds] pairs'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                      ORDER BY a.attnum)
    INTO key_columns
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = tbl AND i.indisprimary;
    IF key_columns IS NULL THEN
        RETURN 0;
    END IF;
    -- The given keys' object is built once (an InitPlan); OFFSET 0 keeps
    -- each log row's key read once.
    EXECUTE format(
        'WITH given AS MATERIALIZED (SELECT jsonb_object_agg(g.k, g.at) AS times FROM (
             SELECT to_jsonb(k)::text AS k, max((t.pair->>1)::float8) AS at
             FROM jsonb_array_elements($1) AS t(pair)
             CROSS JOIN LATERAL jsonb_to_record(t.pair->0) AS k(%1$s)
             WHERE jsonb_typeof(t.pair->1) = ''number'' GROUP BY 1) g),
         logged AS (
             SELECT l.position,
                    (SELECT to_jsonb(k)::text FROM jsonb_to_record(l.key) AS k(%1$s)) AS k
             FROM ferry._changes_applied_here($2) l OFFSET 0)
         SELECT ferry._set_change_times(
                    array_agg(l.position),
                    array_agg(to_timestamp(((SELECT times FROM given) ->> l.k)::float8)))
         FROM logged l WHERE (SELECT times FROM given) ? l.k', key_columns)
        INTO kept USING times, tbl;
    RETURN coalesce(kept, 0);
END $$;
COMMENT ON FUNCTION ferry.keep_change_times(regclass, jsonb) IS
    'Gives the log rows this transaction wrote for a peer''s changes (by key) the times they were made at that peer';
REVOKE EXECUTE ON FUNCTION ferry.keep_change_times(regclass, jsonb) FROM PUBLIC;
