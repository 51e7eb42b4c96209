#!/usr/bin/env bash
# Capture overhead. pgbench TPC-B (scale 10, -c 2 -j 2 -T $SECONDS_PER_RUN) on
# three databases of one cluster, in interleaved rounds:
#   none    - no capture
#   ferry   - ferry.track() on all four pgbench tables
#   plpgsql - an AFTER ROW PL/pgSQL trigger writing to_jsonb(NEW) to a log table
# pgbench_history gets an identity primary key in every configuration (ferry
# needs a key). Then one UPDATE of all 1,000,000 pgbench_accounts rows with
# and without capture. Reports medians and ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-30}
UPDATE_RUNS=${UPDATE_RUNS:-3}
out=${BENCH_OUT:-$here/results/capture.md}

# synchronous_commit=off: on this class of machine a commit's fsync takes from
# 0.5 to 5 ms at random, which swung pgbench between 220 and 1,220 TPS from
# one round to the next. Without the wait, TPS measures what capture adds (CPU
# and WAL volume) instead of the disk's mood. SYNC_COMMIT=on restores it.
pg_cluster_start bench -c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=30min \
  -c autovacuum=off -c "synchronous_commit=${SYNC_COMMIT:-off}"
configs=(none ferry plpgsql)
for db in "${configs[@]}"; do
  pgbench_database "bench_$db"
done
track_pgbench bench_ferry
psql -X -q -d bench_plpgsql <<'SQL'
CREATE TABLE change_log (id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL,
                         row_data jsonb, at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (tbl, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(OLD));
        RETURN OLD;
    END IF;
    INSERT INTO change_log (tbl, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
    RETURN NEW;
END $$;
SELECT format('CREATE TRIGGER log_change AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION log_change()', t)
FROM unnest(ARRAY['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history']) t \gexec
SQL

reset_db() {
  case $1 in
    ferry) reset_pgbench_run bench_ferry ferry.changes ;;
    plpgsql) reset_pgbench_run bench_plpgsql change_log ;;
    *) reset_pgbench_run "bench_$1" ;;
  esac
}


declare -A tps
for round in $(seq 1 "$ROUNDS"); do
  for db in "${configs[@]}"; do
    reset_db "$db"
    t=$("$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" "bench_$db" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    tps[$db]+="$t "
    echo "round $round $db: $t tps" >&2
  done
done

declare -A upd
for run in $(seq 1 "$UPDATE_RUNS"); do
  for db in none ferry plpgsql; do
    reset_db "$db"
    start=$(date +%s.%N)
    psql -X -q -d "bench_$db" -c "UPDATE pgbench_accounts SET abalance = abalance + 1"
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
    upd[$db]+="$secs "
    echo "update run $run $db: $secs s" >&2
  done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
none_tps=$(med "${tps[none]}"); ferry_tps=$(med "${tps[ferry]}"); pl_tps=$(med "${tps[plpgsql]}")
none_upd=$(med "${upd[none]}"); ferry_upd=$(med "${upd[ferry]}"); pl_upd=$(med "${upd[plpgsql]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
{
  echo "### Capture overhead ($(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), synchronous_commit=${SYNC_COMMIT:-off})"
  echo
  echo "pgbench TPC-B, scale 10, -c 2 -j 2 -T $SECONDS_PER_RUN, $ROUNDS interleaved rounds (median TPS):"
  echo
  echo "| configuration | TPS per round | median TPS | ratio to no capture |"
  echo "|---|---|---|---|"
  echo "| no capture | ${tps[none]}| $none_tps | 1.000 |"
  echo "| ferry capture (4 tables) | ${tps[ferry]}| $ferry_tps | $(ratio "$ferry_tps" "$none_tps") |"
  echo "| PL/pgSQL to_jsonb trigger | ${tps[plpgsql]}| $pl_tps | $(ratio "$pl_tps" "$none_tps") |"
  echo
  echo "UPDATE pgbench_accounts SET abalance = abalance + 1 (1,000,000 rows), $UPDATE_RUNS interleaved runs (median seconds):"
  echo
  echo "| configuration | seconds per run | median s | ratio to no capture |"
  echo "|---|---|---|---|"
  echo "| no capture | ${upd[none]}| $none_upd | 1.000 |"
  echo "| ferry capture | ${upd[ferry]}| $ferry_upd | $(ratio "$ferry_upd" "$none_upd") |"
  echo "| PL/pgSQL to_jsonb trigger | ${upd[plpgsql]}| $pl_upd | $(ratio "$pl_upd" "$none_upd") |"
} | tee "$out"
