-- hashing: ferry_row_hash, ferry_table_hash, ferry_bucket_hashes and
-- ferry_bucket_rows; capture and hashing agree; equal logical values hash
-- equal; filters and arguments are checked.
.headers on
.mode list
.nullvalue NULL

SELECT ferry_init();
CREATE TABLE prices (
    id      INTEGER PRIMARY KEY,
    amount  NUMERIC,
    exact   DECIMAL TEXT,   -- TEXT affinity: decimals stay as written
    ratio   REAL,
    at      TIMESTAMPTZ,
    day     DATE,
    ref     UUID,
    code    CHAR(6),
    flag    BOOLEAN,
    doc     JSON,
    data    BLOB,
    note    TEXT
);
SELECT ferry_track('prices');
INSERT INTO prices VALUES
  (1, 10.5, '10.50', 0.1, '2024-02-29 13:14:15+01', '2024-02-29',
   'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'ab', 'true', '{"b": 1, "a": [1, 2]}', x'00ff', 'first'),
  (2, 7, '7', 0.30000000000000004, '2024-02-29T12:14:15Z', '2024-03-01',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'abc', 0, '[]', x'', 'second'),
  (3, NULL, NULL, 9e999, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, -1.25, '-1.25', -0.5, '2024-01-01 00:00:00.5+00', '2024-01-01',
   '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14}', 'x', 'f', '"text"', x'41', 'it''s'),
  (5, 1e20, '123456789012345678.99', 1e-7, '2023-12-31 23:59:59-08:00', '1999-12-31',
   'a0eebc999c0b4ef8bb6d6bb9bd380a15', '', 't', '{"nested": {"z": null, "y": true}}', x'0102', ''),
  (6, 0, '0.00', 0, '2024-06-01 12:00:00Z', '2024-06-01', NULL, 'same', 1, 'null', NULL, NULL);
UPDATE prices SET note = 'updated', ratio = 2.5 WHERE id = 2;
UPDATE prices SET id = 60 WHERE id = 6;
DELETE FROM prices WHERE id = 4;
INSERT INTO prices (id, amount, note) VALUES (4, 4, 'inserted again');

-- ==== ferry_table_hash: row count and digest, with and without a filter
SELECT rows, length(digest) AS digest_length FROM ferry_table_hash('prices');
SELECT rows FROM ferry_table_hash('prices', 'id > 2');
SELECT rows, digest FROM ferry_table_hash('prices', 'id > 1000');
-- the filter selects rows; a filter that keeps every row gives the same digest
SELECT (SELECT digest FROM ferry_table_hash('prices')) =
       (SELECT digest FROM ferry_table_hash('prices', 'id IS NOT NULL')) AS same_digest,
       (SELECT digest FROM ferry_table_hash('prices')) <>
       (SELECT digest FROM ferry_table_hash('prices', 'id <> 5')) AS other_digest;
-- a table without a primary key can be hashed as a whole
CREATE TABLE keyless (a, b);
INSERT INTO keyless VALUES (1, 'x'), (1, 'x'), (2, NULL);
SELECT rows FROM ferry_table_hash('keyless');
-- the digest does not depend on the order rows were written in
CREATE TABLE prices_copy (
    id INTEGER PRIMARY KEY, amount NUMERIC, exact DECIMAL TEXT, ratio REAL, at TIMESTAMPTZ,
    day DATE, ref UUID, code CHAR(6), flag BOOLEAN, doc JSON, data BLOB, note TEXT);
INSERT INTO prices_copy SELECT * FROM prices ORDER BY id DESC;
SELECT (SELECT digest FROM ferry_table_hash('prices')) =
       (SELECT digest FROM ferry_table_hash('prices_copy')) AS same_digest;

-- ==== ferry_bucket_hashes: the buckets add up to the table
SELECT count(*) AS buckets, sum(rows) AS rows, min(bucket) >= 0 AS from_0, max(bucket) < 4 AS below_4,
       sum(rows) = (SELECT rows FROM ferry_table_hash('prices')) AS rows_add_up
FROM ferry_bucket_hashes('prices', 4);
-- the digests add up too: a table digest is the sum of its rows' 128-bit hashes
-- (mod 2^128), so the sum of the bucket digests is the table digest
WITH RECURSIVE digit(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM digit WHERE i < 31),
  chunk AS (  -- the sum of the buckets' digests in four 32-bit chunks, most significant first
    SELECT i / 8 AS n,
           sum((instr('0123456789abcdef', substr(b.digest, i + 1, 1)) - 1) << (4 * (7 - i % 8))) AS total
    FROM ferry_bucket_hashes('prices', 4) b, digit GROUP BY i / 8),
  c3 AS (SELECT total % 4294967296 AS v, total / 4294967296 AS carry FROM chunk WHERE n = 3),
  c2 AS (SELECT (total + carry) % 4294967296 AS v, (total + carry) / 4294967296 AS carry
         FROM chunk, c3 WHERE n = 2),
  c1 AS (SELECT (total + carry) % 4294967296 AS v, (total + carry) / 4294967296 AS carry
         FROM chunk, c2 WHERE n = 1),
  c0 AS (SELECT (total + carry) % 4294967296 AS v FROM chunk, c1 WHERE n = 0)
SELECT printf('%08x%08x%08x%08x', c0.v, c1.v, c2.v, c3.v) =
       (SELECT digest FROM ferry_table_hash('prices')) AS digests_add_up
FROM c0, c1, c2, c3;
-- one bucket holds everything
SELECT bucket, rows, digest = (SELECT digest FROM ferry_table_hash('prices')) AS table_digest
FROM ferry_bucket_hashes('prices', 1);
-- with a filter
SELECT sum(rows) AS rows FROM ferry_bucket_hashes('prices', 4, 'id > 2');
-- within: only the buckets of 8 that lie in the listed buckets of 4, digests unchanged
SELECT b.bucket % 4 AS parent, count(*) AS buckets, sum(b.rows) AS rows,
       sum(b.digest = a.digest) AS same_digests
FROM ferry_bucket_hashes('prices', 8, NULL, 4, '[1, 3]') b
JOIN ferry_bucket_hashes('prices', 8) a ON a.bucket = b.bucket
GROUP BY 1 ORDER BY 1;
SELECT bucket % 4 AS parent, sum(rows) AS rows FROM ferry_bucket_hashes('prices', 8)
GROUP BY 1 ORDER BY 1;
SELECT bucket, rows FROM ferry_bucket_hashes('prices', 4) ORDER BY bucket;
-- within and a filter together
SELECT sum(rows) AS rows FROM ferry_bucket_hashes('prices', 8, 'id > 2', 4, '[0, 1, 2, 3]');
-- buckets are listed in order, and only the non-empty ones
SELECT count(*) AS buckets, sum(rows) AS rows FROM ferry_bucket_hashes('prices', 1000);
SELECT count(*) AS out_of_order FROM
  (SELECT bucket, lag(bucket) OVER (ORDER BY rowid) AS previous FROM ferry_bucket_hashes('prices', 1000))
WHERE previous >= bucket;

-- ==== ferry_bucket_rows: the key and hash of every row of the listed buckets
SELECT bucket, key FROM ferry_bucket_rows('prices', 1, '[0]') ORDER BY json_extract(key, '$.id');
SELECT count(*) AS rows, count(DISTINCT key) AS keys
FROM ferry_bucket_rows('prices', 4, '[0, 1, 2, 3]');
SELECT count(*) AS rows FROM ferry_bucket_rows('prices', 4, '[]');
SELECT count(*) AS rows FROM ferry_bucket_rows('prices', 4, '[4, 99]');
SELECT count(*) AS rows FROM ferry_bucket_rows('prices', 4, '[0, 1, 2, 3]', 'id > 2');
-- its buckets are those of ferry_bucket_hashes, with the same row counts
SELECT count(*) AS mismatches FROM (
  SELECT bucket, count(*) AS rows FROM ferry_bucket_rows('prices', 4, '[0, 1, 2, 3]') GROUP BY bucket
  EXCEPT SELECT bucket, rows FROM ferry_bucket_hashes('prices', 4));
-- a row's bucket of 8 lies in its bucket of 4 (bucket % 4)
SELECT count(*) AS rows, sum(e.bucket % 4 = f.bucket) AS nested
FROM ferry_bucket_rows('prices', 8, '[0, 1, 2, 3, 4, 5, 6, 7]') e
JOIN ferry_bucket_rows('prices', 4, '[0, 1, 2, 3]') f ON f.key = e.key;
-- the row hash is the same whatever the number of buckets
SELECT count(*) AS rows, sum(e.row_hash = f.row_hash) AS same_hash
FROM ferry_bucket_rows('prices', 8, '[0, 1, 2, 3, 4, 5, 6, 7]') e
JOIN ferry_bucket_rows('prices', 1, '[0]') f ON f.key = e.key;

-- ==== capture and hashing agree: ferry_row_hash of the newest logged row of
-- each key is the row_hash of that row in the table (a deleted key has none)
SELECT json_extract(c.key, '$.id') AS id, c.op,
       ferry_row_hash('prices', c.new_row) = r.row_hash AS same_hash
FROM ferry_changes c
LEFT JOIN ferry_bucket_rows('prices', 1, '[0]') r ON json(r.key) = json(c.key)
WHERE c.table_name = 'prices'
  AND c.position = (SELECT max(position) FROM ferry_changes d
                    WHERE d.table_name = c.table_name AND d.key = c.key)
ORDER BY id;
-- and every key of the table has such a change
SELECT count(*) AS rows_without_change FROM ferry_bucket_rows('prices', 1, '[0]') r
WHERE NOT EXISTS (SELECT 1 FROM ferry_changes c WHERE json(c.key) = json(r.key) AND c.op <> 'D');
-- old_row of an UPDATE hashes as the row did before it
SELECT ferry_row_hash('prices', u.old_row) = ferry_row_hash('prices', i.new_row) AS old_row_is_previous_row
FROM ferry_changes u JOIN ferry_changes i ON i.key = u.key AND i.op = 'I'
WHERE u.op = 'U' AND u.key = '{"id":2}' AND i.position < u.position;
-- the same with a composite key of text, date and real in a WITHOUT ROWID table
CREATE TABLE readings (site TEXT, day DATE, depth REAL, value NUMERIC, raw BLOB,
                       PRIMARY KEY (site, day, depth)) WITHOUT ROWID;
SELECT ferry_track('readings');
INSERT INTO readings VALUES ('A', '2024-02-29', 0.1, 1.5, x'ff'), ('A', '2024-02-29', 0.2, 2, NULL),
                            ('B ü', '2024-03-01', 1e-3, -3, x'00');
UPDATE readings SET value = 2.5 WHERE site = 'A' AND depth = 0.2;
UPDATE readings SET depth = 0.30000000000000004 WHERE site = 'A' AND depth = 0.1;
SELECT json_extract(key, '$.site') AS site, json_extract(key, '$.day') AS day,
       json_extract(key, '$.depth') AS depth
FROM ferry_bucket_rows('readings', 1, '[0]') ORDER BY 1, 2, 3;
SELECT c.key, ferry_row_hash('readings', c.new_row) = r.row_hash AS same_hash
FROM ferry_changes c
JOIN ferry_bucket_rows('readings', 1, '[0]') r
  ON json_extract(r.key, '$.site') = json_extract(c.key, '$.site')
 AND json_extract(r.key, '$.day') = json_extract(c.key, '$.day')
 AND json_extract(r.key, '$.depth') = json_extract(c.key, '$.depth')
WHERE c.table_name = 'readings'
  AND c.position = (SELECT max(position) FROM ferry_changes d
                    WHERE d.table_name = c.table_name AND d.key = c.key)
ORDER BY c.key;

-- ==== equal logical values hash equal, different ones differ
CREATE TABLE left_side (id INTEGER PRIMARY KEY, amount NUMERIC, exact DECIMAL TEXT,
                        at TIMESTAMPTZ, ref UUID, code CHAR(6), flag BOOLEAN, doc JSON);
CREATE TABLE right_side (id INTEGER PRIMARY KEY, amount NUMERIC, exact DECIMAL TEXT,
                         at TIMESTAMPTZ, ref UUID, code CHAR(6), flag BOOLEAN, doc JSON);
INSERT INTO left_side VALUES
  (1, 10.5, '10.5', '2024-02-29 13:14:15+01', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'ab', 1,
   '{"a": 1, "b": [1, 2]}');
INSERT INTO right_side VALUES
  (1, '10.50', '10.50', '2024-02-29T12:14:15Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'ab   ', 'true',
   '{"b":[1,2],"a":1}');
SELECT typeof(exact) AS stored_as, exact FROM right_side;
SELECT (SELECT digest FROM ferry_table_hash('left_side')) =
       (SELECT digest FROM ferry_table_hash('right_side')) AS same_digest;
SELECT l.row_hash = r.row_hash AS same_row_hash
FROM ferry_bucket_rows('left_side', 1, '[0]') l, ferry_bucket_rows('right_side', 1, '[0]') r;
-- one column at a time, through ferry_row_hash
CREATE TEMP TABLE base AS SELECT json_object('id', 1, 'amount', 10.5, 'exact', '10.5',
  'at', '2024-02-29 13:14:15+01', 'ref', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'code', 'ab',
  'flag', 1, 'doc', '{"a": 1, "b": [1, 2]}') AS row_json;
SELECT ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.amount', '10.50')) AS numeric_10_50,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.amount', 10.50)) AS numeric_real,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.exact', '10.500')) AS decimal_text,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.at', '2024-02-29T12:14:15Z')) AS timestamptz_utc,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.at', '2024-02-29 07:14:15-05:00')) AS timestamptz_offset,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.ref', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')) AS uuid_lower,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.code', 'ab   ')) AS char_blanks,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.flag', 'true')) AS boolean_text,
       ferry_row_hash('left_side', row_json) = ferry_row_hash('left_side', json_set(row_json, '$.doc', '{"b":[1,2],"a":1}')) AS json_order
FROM base;
SELECT ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.amount', 10.51)) AS numeric_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.at', '2024-02-29 13:14:15Z')) AS timestamptz_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.ref', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12')) AS uuid_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.code', ' ab')) AS char_leading_blank_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.flag', 0)) AS boolean_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.doc', '{"a": 1, "b": [2, 1]}')) AS json_differs,
       ferry_row_hash('left_side', row_json) <> ferry_row_hash('left_side', json_set(row_json, '$.code', NULL)) AS null_differs
FROM base;
-- the order of the JSON object's members does not matter
SELECT ferry_row_hash('left_side', '{"id": 1, "amount": 2, "exact": null, "at": null, "ref": null, "code": null, "flag": null, "doc": null}') =
       ferry_row_hash('left_side', '{"doc": null, "flag": null, "code": null, "ref": null, "at": null, "exact": null, "amount": 2, "id": 1}')
       AS member_order;
-- in a plain TEXT column, text is text: '10.50' is not 10.5, 'ab   ' is not 'ab'
CREATE TABLE plain_text (id INTEGER PRIMARY KEY, v TEXT);
SELECT ferry_row_hash('plain_text', '{"id": 1, "v": "10.5"}') <> ferry_row_hash('plain_text', '{"id": 1, "v": "10.50"}') AS decimal_text_differs,
       ferry_row_hash('plain_text', '{"id": 1, "v": "ab"}') <> ferry_row_hash('plain_text', '{"id": 1, "v": "ab   "}') AS blanks_differ;

-- ==== ferry_row_hash errors
SELECT ferry_row_hash('prices', NULL);
SELECT ferry_row_hash('prices', 'not json');
SELECT ferry_row_hash('prices', '[1, 2]');
SELECT ferry_row_hash('plain_text', '{"id": 1}');
SELECT ferry_row_hash('plain_text', '{"id": 1, "v": "a", "w": 2}');
SELECT ferry_row_hash('no_such_table', '{"id": 1}');
SELECT ferry_row_hash('plain_text');
SELECT ferry_row_hash(NULL, '{"id": 1}');

-- ==== filters are one boolean expression over the table's columns
SELECT rows FROM ferry_table_hash('prices', 'note = ''first'' OR (amount > 5 AND day IS NOT NULL)');
SELECT rows FROM ferry_table_hash('prices', 'note = '')'' OR note LIKE ''%(%''');
SELECT rows FROM ferry_table_hash('prices', 'lower(note) = ''first''');
-- a subquery
SELECT * FROM ferry_table_hash('prices', 'EXISTS (SELECT 1 FROM prices)');
SELECT * FROM ferry_table_hash('prices', 'id = (SELECT max(id) FROM prices)');
-- another table
SELECT * FROM ferry_table_hash('prices', 'id IN (SELECT id FROM keyless)');
SELECT * FROM ferry_table_hash('prices', 'id = (SELECT count(*) FROM ferry_changes)');
SELECT * FROM ferry_table_hash('prices', 'id IN (SELECT id FROM left_side)');
SELECT * FROM ferry_table_hash('prices', 'keyless.a = 1');
-- volatile and ferry functions
SELECT * FROM ferry_table_hash('prices', 'random() > 0');
SELECT * FROM ferry_table_hash('prices', 'length(randomblob(4)) = 4');
SELECT * FROM ferry_table_hash('prices', 'ferry_row_hash(''prices'', ''{}'') = 1');
-- escaping the WHERE (…) that ferry puts around it
SELECT * FROM ferry_table_hash('prices', 'id > 0) GROUP BY (id');
SELECT * FROM ferry_table_hash('prices', 'id > 0) UNION SELECT 1, 2, 3 FROM (SELECT 1');
SELECT * FROM ferry_table_hash('prices', '(id > 0');
SELECT * FROM ferry_table_hash('prices', 'id > 0; DELETE FROM prices');
SELECT * FROM ferry_table_hash('prices', 'id > 0 -- comment');
SELECT * FROM ferry_table_hash('prices', 'id > 0 /* comment */');
SELECT * FROM ferry_table_hash('prices', 'note = ''unterminated');
SELECT * FROM ferry_table_hash('prices', 'id > 0 ORDER BY id');
-- unknown column, empty
SELECT * FROM ferry_table_hash('prices', 'no_such_column = 1');
SELECT * FROM ferry_table_hash('prices', '');
SELECT * FROM ferry_table_hash('prices', '   ');
-- the same checks in the bucket functions
SELECT * FROM ferry_bucket_hashes('prices', 4, 'EXISTS (SELECT 1 FROM prices)');
SELECT * FROM ferry_bucket_rows('prices', 4, '[0]', 'id > 0) GROUP BY (id');
-- nothing was written by any of them
SELECT count(*) AS rows FROM prices;

-- ==== bad arguments
SELECT * FROM ferry_bucket_hashes('prices', 0);
SELECT * FROM ferry_bucket_hashes('prices', -4);
SELECT * FROM ferry_bucket_hashes('prices', 'four');
SELECT * FROM ferry_bucket_hashes('prices', 2.5);
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 0, '[1]');
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 4, '1, 3');
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 4, '{"bucket": 1}');
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 4, '[-1]');
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 4, '["1"]');
SELECT * FROM ferry_bucket_hashes('prices', 8, NULL, 3, '[1]');
SELECT * FROM ferry_bucket_rows('prices', 0, '[0]');
SELECT * FROM ferry_bucket_rows('prices', 4, '0, 1');
-- missing arguments
SELECT * FROM ferry_table_hash();
SELECT * FROM ferry_table_hash;
SELECT * FROM ferry_bucket_hashes('prices');
SELECT * FROM ferry_bucket_rows('prices', 4);
SELECT * FROM ferry_table_hash(NULL);
-- tables it cannot hash
SELECT * FROM ferry_table_hash('no_such_table');
SELECT * FROM ferry_table_hash('ferry_changes');
SELECT * FROM ferry_bucket_hashes('keyless', 4);
SELECT * FROM ferry_bucket_rows('keyless', 4, '[0]');
