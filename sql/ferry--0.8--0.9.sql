-- ferry 0.8 → 0.9: ferry.is_current_transaction(xid), which `ferry sync`
-- uses to insert a row only where the target still lacks it, or where the
-- batch itself (or the target's own triggers, during the batch) put it: a
-- row a local writer inserted under the same key meanwhile is judged as a
-- conflict instead of being overwritten (docs/incremental-sync.md).

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.9'" to load this file. \quit

CREATE FUNCTION ferry.is_current_transaction(xid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'is_current_transaction'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ferry.is_current_transaction(xid) IS
    'Whether the transaction id (a row''s xmin) is the calling transaction or one of its subtransactions';
REVOKE EXECUTE ON FUNCTION ferry.is_current_transaction(xid) FROM PUBLIC;
