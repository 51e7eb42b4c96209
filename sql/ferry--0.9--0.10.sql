-- ferry 0.9 → 0.10: ferry.keep_change_times(regclass, jsonb), with which
-- `ferry sync --policy latest-wins` gives the changes it applies the time
-- they were made at their source, instead of the time it applied them: a
-- peer further on (a hub's other peers) then compares when rows were
-- written, not when they reached the hub (docs/incremental-sync.md).

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.10'" to load this file. \quit

CREATE FUNCTION ferry._first_position_logged() RETURNS bigint
    AS 'MODULE_PATHNAME', 'first_position_logged'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ferry._first_position_logged() IS
    'The first position this transaction''s changes took in ferry.changes; NULL if it logged none';
REVOKE EXECUTE ON FUNCTION ferry._first_position_logged() FROM PUBLIC;

-- Only rows this transaction logged while applying a peer's changes (its
-- origin set, ferry.set_origin()) can be given a time, and only by key:
-- [[key, seconds since 1970], ...]. Returns how many log rows it changed.
-- Keys are compared as the values of the table's key columns (a key the
-- peer spells 2.5 is the log's 2.50 in a numeric(10,2) key, its upper-case
-- UUID the log's lower-case one), through one jsonb object of the given
-- keys (no join for the planner to get wrong), over this transaction's rows
-- only: those from its first position on, read through the position index.
CREATE FUNCTION ferry.keep_change_times(tbl regclass, times jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    peer text := current_setting('ferry.origin', true);
    first_position bigint;
    key_columns text;
    kept bigint;
BEGIN
    IF peer IS NULL OR peer = '' THEN
        RAISE EXCEPTION 'no peer''s changes are being applied in this transaction'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call ferry.set_origin(peer) first, in the same transaction.';
    END IF;
    IF jsonb_typeof(times) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'times must be a JSON array of [key, seconds] pairs'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first_position := ferry._first_position_logged();
    IF first_position IS NULL THEN
        RETURN 0;
    END IF;
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                      ORDER BY a.attnum)
    INTO key_columns
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = tbl AND i.indisprimary;
    IF key_columns IS NULL THEN
        RETURN 0;
    END IF;
    -- EXECUTE: planned with this first position, so that the index range
    -- is seen to be short.
    -- Uncorrelated, the given keys' object is built once (an InitPlan); a
    -- join with it could be rebuilt per row. OFFSET 0 keeps each log row's
    -- key computed once.
    EXECUTE format(
        'WITH given AS MATERIALIZED (SELECT jsonb_object_agg(g.k, g.at) AS times FROM (
             SELECT to_jsonb(k)::text AS k, max((t.pair->>1)::float8) AS at
             FROM jsonb_array_elements($1) AS t(pair)
             CROSS JOIN LATERAL jsonb_to_record(t.pair->0) AS k(%1$s)
             WHERE jsonb_typeof(t.pair->1) = ''number'' GROUP BY 1) g)
         UPDATE ferry.changes c
         SET changed_at = to_timestamp(((SELECT times FROM given) ->> m.k)::float8)
         FROM (SELECT l.position,
                      (SELECT to_jsonb(k)::text FROM jsonb_to_record(l.key) AS k(%1$s)) AS k
               FROM ferry.changes l
               WHERE l.position >= $2 AND l.xid = pg_current_xact_id() AND l.origin = $3
                 AND l.relid = $4 OFFSET 0) m
         WHERE c.position = m.position AND (SELECT times FROM given) ? m.k', key_columns)
        USING times, first_position, peer, tbl;
    GET DIAGNOSTICS kept = ROW_COUNT;
    RETURN kept;
END $$;
COMMENT ON FUNCTION ferry.keep_change_times(regclass, jsonb) IS
    'Gives the log rows this transaction wrote for a peer''s changes (by key) the times they were made at that peer';
REVOKE EXECUTE ON FUNCTION ferry.keep_change_times(regclass, jsonb) FROM PUBLIC;
