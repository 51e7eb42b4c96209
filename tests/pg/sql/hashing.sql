CREATE EXTENSION ferry;
\set SHOW_CONTEXT never
-- Row hashes: the vector of docs/hashing.md, and equal logical values of
-- different types and spellings hash equal.
SELECT ferry.row_hash(r) AS vector
FROM (SELECT 1 AS id, NULL::text AS note, 'é'::text AS name) r;
SELECT ferry.row_hash(ROW(10.50::numeric)) = ferry.row_hash(ROW(10.5::numeric)) AS scale,
       ferry.row_hash(ROW(5.0::numeric)) = ferry.row_hash(ROW(5::bigint)) AS integral_decimal,
       ferry.row_hash(ROW(5::float8)) = ferry.row_hash(ROW(5::smallint)) AS integral_float,
       ferry.row_hash(ROW(0.1::float8)) = ferry.row_hash(ROW(0.1::numeric)) AS shortest_float,
       ferry.row_hash(ROW('-0'::float8)) = ferry.row_hash(ROW(0)) AS negative_zero,
       ferry.row_hash(ROW('NaN'::float8)) = ferry.row_hash(ROW('NaN'::numeric)) AS one_nan,
       ferry.row_hash(ROW(true)) = ferry.row_hash(ROW(1)) AS boolean_one,
       ferry.row_hash(ROW('ab'::char(5))) = ferry.row_hash(ROW('ab'::text)) AS blank_padded,
       ferry.row_hash(ROW('{"b":1, "a":[1.0]}'::json)) = ferry.row_hash(ROW('{"a":[1],"b":1}'::jsonb))
           AS json_normalized,
       ferry.row_hash(ROW('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid))
           = ferry.row_hash(ROW('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::text)) AS uuid_lower;
SET TimeZone = 'America/New_York';
SELECT ferry.row_hash(ROW('2024-02-29 13:14:15+01'::timestamptz)) AS tz_a \gset
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'German';
SELECT ferry.row_hash(ROW('2024-02-29 12:14:15+00'::timestamptz)) = :tz_a AS same_instant,
       ferry.row_hash(ROW('2024-02-29'::date)) = ferry.row_hash(ROW('2024-02-29'::text))
           AS date_iso;
RESET TimeZone;
RESET DateStyle;
-- Different values, column boundaries and NULL vs '' vs 'NULL' differ.
SELECT ferry.row_hash(ROW('ab', 'c')) <> ferry.row_hash(ROW('a', 'bc')) AS boundaries,
       ferry.row_hash(ROW(NULL::text)) <> ferry.row_hash(ROW(''::text)) AS null_empty,
       ferry.row_hash(ROW(''::text)) <> ferry.row_hash(ROW('NULL'::text)) AS empty_null_text,
       ferry.row_hash(ROW(5)) <> ferry.row_hash(ROW('5e0'::text)) AS number_text,
       ferry.row_hash(ROW('\x00'::bytea)) <> ferry.row_hash(ROW(''::bytea)) AS bytes,
       ferry.row_hash(ROW(1.5)) <> ferry.row_hash(ROW(1.50001)) AS close_numbers;
-- Column names count, column order does not.
SELECT ferry.row_hash(a) = ferry.row_hash(b) AS column_order,
       ferry.row_hash(a) <> ferry.row_hash(c) AS column_names
FROM (SELECT 1 AS x, 'y' AS y) a, (SELECT 'y' AS y, 1 AS x) b, (SELECT 1 AS x, 'y' AS z) c;

-- Table hashes: order-independent, sensitive to every value.
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, opened date);
INSERT INTO accounts SELECT i, 'owner ' || i, i * 1.5, '2020-01-01'::date + i
FROM generate_series(1, 1000) i;
CREATE TABLE accounts_shuffled (LIKE accounts INCLUDING ALL);
INSERT INTO accounts_shuffled SELECT * FROM accounts ORDER BY md5(id::text);
SELECT rows, length(digest) AS digest_length FROM ferry.table_hash('accounts');
SELECT (SELECT digest FROM ferry.table_hash('accounts'))
     = (SELECT digest FROM ferry.table_hash('accounts_shuffled')) AS order_independent;
UPDATE accounts_shuffled SET balance = balance + 0.01 WHERE id = 500;
SELECT (SELECT digest FROM ferry.table_hash('accounts'))
     = (SELECT digest FROM ferry.table_hash('accounts_shuffled')) AS one_value_changed;
UPDATE accounts_shuffled SET balance = balance - 0.01 WHERE id = 500;
DELETE FROM accounts_shuffled WHERE id = 1;
SELECT * FROM ferry.table_hash('accounts_shuffled') t, ferry.table_hash('accounts', 'id <> 1') f
WHERE t.digest = f.digest;
-- Scale does not matter, as in row hashes.
UPDATE accounts_shuffled SET balance = balance::numeric(20, 4);
SELECT (SELECT digest FROM ferry.table_hash('accounts_shuffled'))
     = (SELECT digest FROM ferry.table_hash('accounts', 'id > 1')) AS scale_ignored;
-- A partitioned table hashes like the plain table holding the same rows.
CREATE TABLE accounts_parted (id int PRIMARY KEY, owner text, balance numeric, opened date)
PARTITION BY RANGE (id);
CREATE TABLE accounts_low PARTITION OF accounts_parted FOR VALUES FROM (MINVALUE) TO (500);
CREATE TABLE accounts_high (opened date, balance numeric, owner text, id int NOT NULL);
ALTER TABLE accounts_parted ATTACH PARTITION accounts_high FOR VALUES FROM (500) TO (MAXVALUE);
INSERT INTO accounts_parted SELECT * FROM accounts;
SELECT (SELECT digest FROM ferry.table_hash('accounts_parted'))
     = (SELECT digest FROM ferry.table_hash('accounts')) AS partitioned_equal,
       (SELECT rows FROM ferry.table_hash('accounts_parted', 'balance > 750')) AS filtered_rows;
SELECT * FROM ferry.table_hash('accounts', 'false');

-- Buckets: they partition the table; the rows of a bucket carry its keys.
SELECT sum(rows) AS rows, count(*) AS buckets FROM ferry.bucket_hashes('accounts', 16);
SELECT count(*) AS same_buckets
FROM ferry.bucket_hashes('accounts', 16) a JOIN ferry.bucket_hashes('accounts_parted', 16) p
     USING (bucket, rows, digest);
SELECT bucket AS changed_bucket FROM (
    SELECT * FROM ferry.bucket_hashes('accounts', 16)
    EXCEPT SELECT * FROM ferry.bucket_hashes('accounts_shuffled', 16)) d ORDER BY 1 \gset
SELECT key, row_hash = ferry.row_hash(a) AS hash_matches
FROM ferry.bucket_rows('accounts', 16, ARRAY[:changed_bucket]) r
JOIN accounts a ON a.id = (r.key->>'id')::int
WHERE (r.key->>'id')::int = 1;
SELECT count(*) = (SELECT rows FROM ferry.bucket_hashes('accounts', 16) WHERE bucket = :changed_bucket)
       AS all_rows_of_bucket
FROM ferry.bucket_rows('accounts', 16, ARRAY[:changed_bucket]);
-- Nested buckets: the 64 buckets within bucket 3 of 16 add up to it.
SELECT sum(rows) = (SELECT rows FROM ferry.bucket_hashes('accounts', 16) WHERE bucket = 3) AS nested,
       bool_and(bucket % 16 = 3) AS within
FROM ferry.bucket_hashes('accounts', 1024, NULL, 16, ARRAY[3]);
-- Text, composite and uuid keys.
CREATE TABLE pairs (a text, b uuid, v int, PRIMARY KEY (a, b));
INSERT INTO pairs SELECT 'k' || i, md5(i::text)::uuid, i FROM generate_series(1, 50) i;
SELECT sum(rows) AS pair_rows FROM ferry.bucket_hashes('pairs', 4);
SELECT key FROM ferry.bucket_rows('pairs', 1, ARRAY[0]) ORDER BY key->>'a' LIMIT 2;

-- In a REPEATABLE READ transaction, bucket_rows() after bucket_hashes()
-- fetches the rows the first level saw instead of scanning again: the same
-- rows, keys and hashes; a filter or a write in between makes it scan.
CREATE TEMP TABLE scanned AS
SELECT bucket, key, row_hash FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40]);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS first_level FROM ferry.bucket_hashes('accounts', 8);
SELECT (SELECT count(*) FROM scanned) AS rows_in_buckets,
       count(*) FILTER (WHERE s.key IS NULL) AS not_scanned
FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40]) r
LEFT JOIN scanned s USING (bucket, key, row_hash);
SELECT count(*) AS filtered FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40], 'id <= 100');
UPDATE accounts SET owner = 'changed' WHERE id IN (SELECT (key->>'id')::int FROM scanned);
SELECT count(*) FILTER (WHERE s.key IS NULL) AS rows_changed_since
FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40]) r
LEFT JOIN scanned s USING (bucket, key, row_hash);
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS filtered_first_level FROM ferry.bucket_hashes('accounts', 8, 'id <= 100');
SELECT count(*) = (SELECT count(*) FROM scanned WHERE (key->>'id')::int <= 100) AS same_filtered_rows
FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40], 'id <= 100');
SELECT count(*) = (SELECT count(*) FROM scanned) AS unfiltered_rows_scanned
FROM ferry.bucket_rows('accounts', 64, ARRAY[1, 7, 40]);
COMMIT;

-- Filters are one boolean expression over the table's columns, nothing else.
SELECT * FROM ferry.table_hash('accounts', 'true; DROP TABLE accounts');
SELECT * FROM ferry.table_hash('accounts', 'true) UNION SELECT 1 FROM pg_authid WHERE (true');
SELECT * FROM ferry.table_hash('accounts', 'true) FROM pg_authid WHERE (true');
SELECT * FROM ferry.table_hash('accounts', 'id IN (SELECT 1)');
SELECT * FROM ferry.table_hash('accounts', 'EXISTS (SELECT FROM pg_authid)');
SELECT * FROM ferry.table_hash('accounts', 'random() < 0.5');
SELECT * FROM ferry.table_hash('accounts', 'nextval(''ferry.changes_position_seq'') > 0');
SELECT * FROM ferry.table_hash('accounts', 'count(*) > 0');
SELECT * FROM ferry.table_hash('accounts', 'id');
SELECT * FROM ferry.table_hash('accounts', 'no_such_column > 1');
SELECT * FROM ferry.table_hash('accounts', 'true --');
SELECT * FROM ferry.table_hash('accounts', 'id <');
SELECT * FROM ferry.table_hash('accounts', 'id < < 3');
SELECT * FROM ferry.table_hash('accounts', 'pg_authid.rolsuper');
SELECT count(*) AS accounts_intact FROM accounts;
SELECT rows FROM ferry.table_hash('accounts', '  ');

-- Errors: unknown table, no key for buckets, bad bucket arguments, no
-- privilege, row-level security in force.
SELECT * FROM ferry.table_hash('no_such_table');
CREATE TABLE keyless (v int);
SELECT rows FROM ferry.table_hash('keyless');
SELECT * FROM ferry.bucket_hashes('keyless', 4);
SELECT * FROM ferry.bucket_hashes('accounts', 0);
SELECT * FROM ferry.bucket_hashes('accounts', 10, NULL, 4, ARRAY[1]);
SELECT * FROM ferry.table_hash('ferry.tracked');
CREATE ROLE hash_reader;
SET ROLE hash_reader;
SELECT * FROM ferry.table_hash('accounts');  -- not executable by PUBLIC (0.6)
RESET ROLE;
GRANT EXECUTE ON FUNCTION ferry.table_hash(regclass, text) TO hash_reader;
SET ROLE hash_reader;
SELECT * FROM ferry.table_hash('accounts');  -- and then needs SELECT on the table
RESET ROLE;
GRANT SELECT ON accounts TO hash_reader;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON accounts USING (owner = current_user);
SET ROLE hash_reader;
SELECT * FROM ferry.table_hash('accounts');
RESET ROLE;
SELECT rows FROM ferry.table_hash('accounts');  -- the owner is not subject to the policy
DROP POLICY own_rows ON accounts;
ALTER TABLE accounts DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON accounts FROM hash_reader;
REVOKE EXECUTE ON FUNCTION ferry.table_hash(regclass, text) FROM hash_reader;
DROP ROLE hash_reader;

-- Upgrading from 0.1 adds the hashing functions.
DROP EXTENSION ferry;
CREATE EXTENSION ferry VERSION '0.1';
SELECT count(*) AS hashing_functions_in_0_1 FROM pg_proc
WHERE pronamespace = 'ferry'::regnamespace AND proname LIKE '%hash%';
ALTER EXTENSION ferry UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'ferry';
SELECT rows FROM ferry.table_hash('accounts');
-- arguments that would hide a mistake are refused
ALTER EXTENSION ferry UPDATE;
\set VERBOSITY terse
SELECT * FROM ferry.table_hash(NULL);
SELECT * FROM ferry.bucket_rows(NULL, 16, ARRAY[1]);
SELECT * FROM ferry.bucket_rows('accounts', 16, ARRAY[1, NULL]);
SELECT * FROM ferry.bucket_rows('accounts', 16, ARRAY[16]);
SELECT * FROM ferry.bucket_rows('accounts', 16, ARRAY[-1]);
SELECT * FROM ferry.bucket_rows('accounts', 16, ARRAY[[1, 2], [3, 4]]);
SELECT * FROM ferry.bucket_hashes('accounts', 64, NULL, 16, ARRAY[16]);
SELECT count(*) FROM ferry.bucket_hashes('accounts', 64, NULL, 16, ARRAY[15]);
\set VERBOSITY default
