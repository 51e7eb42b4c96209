-- ferry 0.14 → 0.15: loading an empty table with its indexes built once
-- the rows are in (docs/full-sync.md, "Loading an empty table"), as
-- pg_restore does for the tables it creates, but for a table that exists
-- and stays in use. `ferry full-sync` and `ferry restore` use them for a
-- large load into an empty table the connecting role owns.

\echo Use "ALTER EXTENSION ferry UPDATE TO '0.15'" to load this file. \quit

-- Marks the table's indexes "not ready" for the rest of the transaction
-- (inserts skip them, the planner does not use them) and takes SHARE ROW
-- EXCLUSIVE on the table to the transaction's end. Returns false, and
-- changes nothing, unless the caller owns the table, the transaction is
-- not SERIALIZABLE, and it is a plain table with indexes, all of them valid
-- and locked by no other session, and no trigger that fires on INSERT
-- other than foreign-key checks against another table. Runs with
-- the caller's rights: it does only what the table's owner could do with
-- REINDEX.
CREATE FUNCTION ferry.defer_indexes(regclass) RETURNS boolean
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'defer_indexes';

-- Builds the indexes of the table that this transaction deferred, checking
-- unique and exclusion constraints; returns how many. A transaction that
-- deferred indexes and did not build them cannot commit.
CREATE FUNCTION ferry.build_deferred_indexes(regclass) RETURNS integer
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'build_deferred_indexes';

REVOKE EXECUTE ON FUNCTION ferry.defer_indexes(regclass),
                           ferry.build_deferred_indexes(regclass) FROM PUBLIC;
