-- ferry 0.2 → 0.3: dump-to-upsert conversion (docs/sql-reference.md#upsert-conversion).
\echo Use "ALTER EXTENSION ferry UPDATE" to load this file. \quit

-- The data INSERTs of a dump (pg_dump --inserts, or sqlite3 .dump with
-- '{"source": "sqlite"}') as INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE
-- the row differs, for the tables of this database; anything else in the dump
-- is refused, or dropped with '{"skip_other_statements": true}'. Not STRICT:
-- NULL options mean none. Runs with the caller's rights: tables are found
-- along the caller's search_path, and the caller needs SELECT and INSERT on
-- their key columns.
CREATE FUNCTION ferry.to_upsert(sql text, options jsonb DEFAULT NULL)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'to_upsert';

-- As every ferry function, granted explicitly (docs/permissions.md).
REVOKE EXECUTE ON FUNCTION ferry.to_upsert(text, jsonb) FROM PUBLIC;
