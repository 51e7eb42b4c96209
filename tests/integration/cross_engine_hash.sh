#!/usr/bin/env bash
# The same logical rows, stored in PostgreSQL and in SQLite, hash the same:
# every value class of docs/hashing.md, per table and per bucket; and one
# changed value makes them differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
build=${FERRY_BUILD_DIR:-$here/../../build}
work=$(mktemp -d /tmp/ferry-cross-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
db=$work/peer.db
lite() { sqlite3 -bail -cmd ".load $build/ferry" "$db" "$@"; }

pg_cluster_start cross
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION ferry;
SET TimeZone = 'America/New_York';
CREATE TABLE every_type (
    id bigint PRIMARY KEY, small smallint, amount numeric, ratio double precision,
    single real, flag boolean, label text, code char(6), note varchar(20), raw bytea,
    born date, at_time time, stamp timestamp, instant timestamptz, doc jsonb, doc_text json,
    ident uuid, absent text, exact numeric);
INSERT INTO every_type VALUES
 (1, 7, 10.50, 0.1, 0.1, true, 'héllo', 'ab', 'x', '\xdeadbeef', '2024-02-29', '13:14:15.5',
  '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+01', '{"b": [1, 2.50], "a": "x"}',
  '{"z": 1, "a": {"c": null}}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', NULL, 12345678901234567890.5),
 (2, -3, -0.001, 1e300, -2.5, false, '', 'abcdef', '', '\x', '1999-12-31', '00:00:00',
  '1999-12-31 23:59:59', '1999-12-31 19:00:00-05', '[]', '"s"', '00000000-0000-0000-0000-000000000000', NULL, -1),
 (3, 0, 1234.5, 0.30000000000000004, 3.25, NULL, 'quote '' and "dq"', NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, 'null', NULL, NULL, NULL, NULL),
 (4, NULL, 'NaN', 'Infinity', '-Infinity', true, E'tab\there', 'z', 'y', '\x00ff',
  '2000-01-01', '23:59:59.999999', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00',
  '{"n": 1e2}', '{"n": 100}', 'ffffffff-ffff-ffff-ffff-ffffffffffff', NULL, 0.000001),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '42', '0.30000000000000004',
  NULL, NULL, NULL),
 (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '10000-01-01', NULL,
  '12345-06-07 08:09:10.5', '1900-01-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0044-03-15 BC', NULL,
  '0001-01-01 23:59:59.5 BC', '0044-03-15 10:00:00+01 BC', NULL, NULL, NULL, NULL, NULL);
CREATE TABLE pairs (a text, b int, v text, PRIMARY KEY (a, b));
INSERT INTO pairs SELECT 'k' || (i % 10), i, 'value ' || i FROM generate_series(1, 500) i;
SQL

# The same rows as an application would store them in SQLite: its own date
# formats and time zones, numbers as numbers, blobs as blobs, uuid in upper
# case. A decimal with more than 15 significant digits needs a column of TEXT
# affinity and numeric kind (DECIMAL TEXT): NUMERIC affinity would round it
# to a double (docs/sqlite.md).
lite <<'SQL'
CREATE TABLE every_type (
    id INTEGER PRIMARY KEY, small SMALLINT, amount NUMERIC, ratio DOUBLE PRECISION,
    single REAL, flag BOOLEAN, label TEXT, code CHAR(6), note VARCHAR(20), raw BLOB,
    born DATE, at_time TIME, stamp TIMESTAMP, instant TIMESTAMPTZ, doc JSONB, doc_text JSON,
    ident UUID, absent TEXT, exact DECIMAL TEXT);
INSERT INTO every_type VALUES
 (1, 7, 10.5, 0.1, 0.1, 1, 'héllo', 'ab    ', 'x', x'deadbeef', '2024-02-29', '13:14:15.500',
  '2024-02-29T13:14:15.123456', '2024-02-29 12:14:15Z', '{"a":"x","b":[1,2.5]}',
  '{"a": {"c": null}, "z": 1}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', NULL, '12345678901234567890.50'),
 (2, -3, -0.001, 1e300, -2.5, 0, '', 'abcdef', '', x'', '1999-12-31', '00:00',
  '1999-12-31 23:59:59', '2000-01-01T00:00:00.000Z', '[]', '"s"', x'00000000000000000000000000000000', NULL, -1.0),
 (3, 0, '1234.50', 0.30000000000000004, 3.25, NULL, 'quote '' and "dq"', NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, 'null', NULL, NULL, NULL, NULL),
 (4, NULL, 'NaN', 9e999, -9e999, 'true', 'tab	here', 'z', 'y', x'00ff',
  '2000-01-01', '23:59:59.999999', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00:00',
  '{"n":100}', '{"n":1e2}', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', NULL, 1e-6),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '42', 0.30000000000000004,
  NULL, NULL, NULL),  -- bare JSON numbers, which NUMERIC affinity stores as numbers
 -- years past 9999, and PostgreSQL's text for 1900 under TimeZone Europe/Paris
 -- (local mean time: an offset with seconds)
 (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '10000-01-01', NULL,
  '12345-06-07 08:09:10.5', '1900-01-01 00:09:21+00:09:21', NULL, NULL, NULL, NULL, NULL),
 -- years before 1, in PostgreSQL's text (the era last)
 (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0044-03-15 BC', NULL,
  '0001-01-01 23:59:59.5 BC', '0044-03-15 09:00:00Z BC', NULL, NULL, NULL, NULL, NULL);
CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
INSERT INTO pairs SELECT 'k' || (i % 10), i, 'value ' || i FROM s;
SQL

pg_digest() { psql -X -At -c "SELECT rows || ' ' || digest FROM ferry.table_hash('$1')"; }
lite_digest() { lite "SELECT rows || ' ' || digest FROM ferry_table_hash('$1')"; }

for table in every_type pairs; do
  expect_equal "$(lite_digest $table)" "$(pg_digest $table)" "$table: same digest in SQLite and PostgreSQL"
done
# Per row, to point at the value class that differs if the table digest does not.
pg_rows=$(psql -X -At -c "SELECT id || ' ' || ferry.row_hash(t) FROM every_type t ORDER BY id")
lite_rows=$(lite "SELECT key, row_hash FROM ferry_bucket_rows('every_type', 1, '[0]') ORDER BY 1" |
  sed -E 's/^\{"id": ([0-9]+)\}\|/\1 /')
expect_equal "$lite_rows" "$pg_rows" "every_type: the same hash row by row"
# A row as the change log holds it hashes as it does in the table.
lite "SELECT ferry_track('every_type'); UPDATE every_type SET absent = 'x' WHERE id = 5" >/dev/null
expect_equal "$(lite "SELECT ferry_row_hash('every_type', old_row) FROM ferry_changes")" \
  "$(psql -X -At -c "SELECT ferry.row_hash(t) FROM every_type t WHERE id = 5")" \
  "every_type: a logged old row with bare JSON numbers hashes as in PostgreSQL"
lite "SELECT ferry_untrack('every_type'); UPDATE every_type SET absent = NULL WHERE id = 5" >/dev/null
expect_equal "$(lite "SELECT group_concat(bucket || ':' || rows || ':' || digest, ' ') FROM ferry_bucket_hashes('pairs', 16)")" \
  "$(psql -X -At -c "SELECT string_agg(bucket || ':' || rows || ':' || digest, ' ' ORDER BY bucket) FROM ferry.bucket_hashes('pairs', 16)")" \
  "pairs: the same digest bucket by bucket"
expect_equal "$(lite "SELECT group_concat(bucket || ' ' || row_hash, ',') FROM (SELECT * FROM ferry_bucket_rows('pairs', 16, '[3]') ORDER BY row_hash)")" \
  "$(psql -X -At -c "SELECT string_agg(bucket || ' ' || row_hash, ',' ORDER BY row_hash) FROM ferry.bucket_rows('pairs', 16, '{3}')")" \
  "pairs: the same rows in a bucket"
expect_equal "$(lite "SELECT rows || ' ' || digest FROM ferry_table_hash('pairs', 'b <= 100 AND a <> ''k3''')")" \
  "$(psql -X -At -c "SELECT rows || ' ' || digest FROM ferry.table_hash('pairs', 'b <= 100 AND a <> ''k3''')")" \
  "pairs: the same digest under the same filter"

# One changed value, of each class, makes the digests differ.
for change in "amount = 10.51 WHERE id = 1" "label = 'hello' WHERE id = 1" "raw = x'deadbeee' WHERE id = 1" \
              "instant = '2024-02-29 13:14:15Z' WHERE id = 1" "doc = '{\"a\":\"y\",\"b\":[1,2.5]}' WHERE id = 1" \
              "flag = NULL WHERE id = 2" "ident = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12' WHERE id = 1" \
              "born = '0043-03-15 BC' WHERE id = 7"; do
  cp "$db" "$work/changed.db"
  sqlite3 "$work/changed.db" "UPDATE every_type SET $change"
  expect_not_equal "$(sqlite3 -cmd ".load $build/ferry" "$work/changed.db" \
      "SELECT rows || ' ' || digest FROM ferry_table_hash('every_type')")" \
    "$(pg_digest every_type)" "changing $change changes the digest"
done
finish
