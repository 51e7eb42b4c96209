-- ferry 0.1 → 0.2: quick table hashing (docs/hashing.md).
\echo Use "ALTER EXTENSION ferry UPDATE" to load this file. \quit

-- The canonical hash of one row (any composite value, e.g. a table alias).
CREATE FUNCTION ferry.row_hash(row_value record) RETURNS bigint
LANGUAGE C STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'row_hash';

-- Row count and order-independent 128-bit digest of a table (or of the rows
-- passing filter, a boolean expression over its columns), in one scan. The
-- functions run with the caller's rights: SELECT on the table is required,
-- and tables with row-level security in force for the caller are refused.
CREATE FUNCTION ferry.table_hash(table_name regclass, filter text DEFAULT NULL,
                                 OUT rows bigint, OUT digest text)
RETURNS record
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'table_hash';

-- Digests per bucket of the primary key's hash. With within_buckets and
-- within, only the rows of those coarser buckets are counted: a bucket b of
-- `buckets` lies within bucket b % within_buckets.
CREATE FUNCTION ferry.bucket_hashes(table_name regclass, buckets bigint, filter text DEFAULT NULL,
                                    within_buckets bigint DEFAULT NULL,
                                    within bigint[] DEFAULT NULL)
RETURNS TABLE (bucket bigint, rows bigint, digest text)
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'bucket_hashes';

-- The key and row hash of every row in the listed buckets.
CREATE FUNCTION ferry.bucket_rows(table_name regclass, buckets bigint, bucket_list bigint[],
                                  filter text DEFAULT NULL)
RETURNS TABLE (bucket bigint, key jsonb, row_hash bigint)
LANGUAGE C STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'bucket_rows';
