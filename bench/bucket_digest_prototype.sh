#!/usr/bin/env bash
# What would maintaining per-bucket digests on write cost? (docs/diff.md,
# "Decision".) A prototype, not part of make bench: pgbench TPC-B (scale 10,
# -c 2 -j 2) in interleaved rounds on three databases of one cluster:
#   none          - no capture
#   ferry         - ferry.track() on the four pgbench tables
#   ferry+digest  - the same, plus statement-level triggers that add each
#                   statement's row-hash deltas into a (table, bucket) digest
#                   table, 1,024 buckets a table, buckets locked in order
# A C++ version inside capture would run fewer instructions than these
# triggers; the row locks on digest rows, held to commit, it would share.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}

pg_cluster_start digest -c shared_buffers=1GB -c max_wal_size=4GB -c autovacuum=off \
  -c synchronous_commit=off
configs=(none ferry digest)
for db in "${configs[@]}"; do
  pgbench_database "bench_$db"
done
track_pgbench bench_ferry
track_pgbench bench_digest
psql -X -q -d bench_digest <<'SQL'
CREATE TABLE bucket_digest (tbl text, bucket int, rows bigint NOT NULL DEFAULT 0,
                            total numeric NOT NULL DEFAULT 0, PRIMARY KEY (tbl, bucket));
CREATE FUNCTION digest_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        INSERT INTO bucket_digest AS d (tbl, bucket, total)
        SELECT %L, abs(hashint8(n.%I::bigint) %% 1024),
               sum(ferry.row_hash(n)::numeric - ferry.row_hash(o)::numeric)
        FROM new_rows n JOIN old_rows o USING (%I) GROUP BY 2 ORDER BY 2
        ON CONFLICT (tbl, bucket) DO UPDATE SET total = d.total + excluded.total$f$,
        TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE FUNCTION digest_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        INSERT INTO bucket_digest AS d (tbl, bucket, rows, total)
        SELECT %L, abs(hashint8(n.%I::bigint) %% 1024), count(*), sum(ferry.row_hash(n)::numeric)
        FROM new_rows n GROUP BY 2 ORDER BY 2
        ON CONFLICT (tbl, bucket) DO UPDATE SET rows = d.rows + excluded.rows,
                                                total = d.total + excluded.total$f$,
        TG_TABLE_NAME, TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE TRIGGER digest AFTER UPDATE ON pgbench_accounts REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION digest_update('aid');
CREATE TRIGGER digest AFTER UPDATE ON pgbench_tellers REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION digest_update('tid');
CREATE TRIGGER digest AFTER UPDATE ON pgbench_branches REFERENCING OLD TABLE AS old_rows
  NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION digest_update('bid');
CREATE TRIGGER digest AFTER INSERT ON pgbench_history REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION digest_insert('id');
SQL

declare -A tps
for round in $(seq 1 "$ROUNDS"); do
  for db in "${configs[@]}"; do
    psql -X -q -d "bench_$db" -c "VACUUM ANALYZE" -c "CHECKPOINT"
    t=$("$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" "bench_$db" 2>/dev/null |
        awk '/^tps/ {print $3; exit}')
    tps[$db]+="$t "
    echo "round $round $db $t"
  done
done
none=$(echo "${tps[none]}" | tr ' ' '\n' | grep . | median)
for db in "${configs[@]}"; do
  m=$(echo "${tps[$db]}" | tr ' ' '\n' | grep . | median)
  echo "$db: median $m TPS, ratio to none $(awk -v a="$m" -v b="$none" 'BEGIN {printf "%.3f", a / b}') (runs: ${tps[$db]})"
done
