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
-- The keys are looked up in one jsonb object (no join for the planner to
-- get wrong), over this transaction's rows only: those from its first
-- position on, read through the position index.
CREATE FUNCTION ferry.keep_change_times(tbl regclass, times jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    peer text := current_setting('ferry.origin', true);
    first_position bigint;
    by_key jsonb;
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
    SELECT jsonb_object_agg((t.pair->0)::text, t.pair->1) INTO by_key
    FROM jsonb_array_elements(times) AS t(pair)
    WHERE jsonb_typeof(t.pair->1) = 'number';
    IF by_key IS NULL THEN
        RETURN 0;
    END IF;
    -- EXECUTE: planned with this first position, so that the index range
    -- is seen to be short.
    EXECUTE 'UPDATE ferry.changes c SET changed_at = to_timestamp(($1->>(c.key::text))::float8)
             WHERE c.position >= $2 AND c.xid = pg_current_xact_id() AND c.origin = $3
               AND c.relid = $4 AND $1 ? (c.key::text)'
        USING by_key, first_position, peer, tbl;
    GET DIAGNOSTICS kept = ROW_COUNT;
    RETURN kept;
END $$;
COMMENT ON FUNCTION ferry.keep_change_times(regclass, jsonb) IS
    'Gives the log rows this transaction wrote for a peer''s changes (by key) the times they were made at that peer';
REVOKE EXECUTE ON FUNCTION ferry.keep_change_times(regclass, jsonb) FROM PUBLIC;
