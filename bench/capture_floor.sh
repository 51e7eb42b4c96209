#!/usr/bin/env bash
# The floor under capture's TPS target (issue 2; docs/benchmarks.md). Not
# part of make bench: it measures no ferry feature, only how close ferry is to
# the least any capture that writes a row per change can cost. pgbench TPC-B
# (scale 10, -c 2 -j 2), as bench/capture.sh runs it, in interleaved rounds:
#   none     - no capture
#   ferry    - ferry.track() on the four pgbench tables
#   floor_a  - a C++ row trigger (capture_floor/floor_log.cpp) writing 3 columns
#              (xid, table, operation) per change to a table without indexes
#   floor_b  - the same plus a position from a sequence and a btree primary
#              key, the two things ferry.changes' readers need
# CONFIGS reorders or narrows the configurations (the first one run in a round
# pays for nothing the others left behind: each run starts from a CHECKPOINT).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-30}
configs=(${CONFIGS:-none ferry floor_a floor_b})
out=${BENCH_OUT:-$here/results/capture_floor.txt}

work=$(mktemp -d /tmp/ferry-floor-XXXXXX)
chmod 755 "$work"
trap 'pg_cluster_stop_all; rm -rf "$work"' EXIT
# Loaded by path, not installed: nothing lands in PostgreSQL's directories.
g++ -std=c++17 -O2 -fPIC -shared -Wno-register -I"$("$PG_BIN/pg_config" --includedir-server)" \
  -o "$work/floor_log.so" "$here/capture_floor/floor_log.cpp"

pg_cluster_start floor -c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=30min \
  -c autovacuum=off -c "synchronous_commit=${SYNC_COMMIT:-off}"
for db in "${configs[@]}"; do
  pgbench_database "bench_$db"
  case $db in
    ferry) track_pgbench bench_ferry ;;
    floor_a | floor_b)
      psql -X -q -d "bench_$db" >/dev/null <<SQL
CREATE TABLE floor_a (xid xid8 NOT NULL, relid oid NOT NULL, op "char" NOT NULL);
CREATE SEQUENCE floor_b_seq;
CREATE TABLE floor_b (position bigint PRIMARY KEY, xid xid8 NOT NULL, relid oid NOT NULL,
                      op "char" NOT NULL);
CREATE FUNCTION floor_log() RETURNS trigger LANGUAGE c AS '$work/floor_log.so', 'floor_log';
SELECT format('CREATE TRIGGER floor_log AFTER INSERT OR UPDATE OR DELETE ON %s
               FOR EACH ROW EXECUTE FUNCTION floor_log(%L)', t, '${db#floor_}')
FROM unnest(ARRAY['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers',
                  'pgbench_history']) t \gexec
SQL
      ;;
  esac
done

reset_db() {
  case $1 in
    ferry) reset_pgbench_run bench_ferry ferry.changes ;;
    floor_*) reset_pgbench_run "bench_$1" floor_a floor_b ;;
    *) reset_pgbench_run "bench_$1" ;;
  esac
}

# log_rows DB: rows the run logged, to show each trigger did its work.
log_rows() {
  case $1 in
    ferry) psql -X -At -d bench_ferry -c "SELECT count(*) FROM ferry.changes" ;;
    floor_*) psql -X -At -d "bench_$1" -c "SELECT (SELECT count(*) FROM floor_a) +
                                                  (SELECT count(*) FROM floor_b)" ;;
    *) echo 0 ;;
  esac
}

declare -A tps
for round in $(seq 1 "$ROUNDS"); do
  for db in "${configs[@]}"; do
    reset_db "$db"
    result=$("$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" "bench_$db" 2>/dev/null)
    t=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$result")
    done_count=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
      <<<"$result")
    tps[$db]+="$t "
    echo "round $round $db: $t tps, $done_count transactions, $(log_rows "$db") log rows" >&2
  done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
none_tps=$(med "${tps[none]:-}")
{
  echo "### Capture floor ($(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), synchronous_commit=${SYNC_COMMIT:-off})"
  echo
  echo "pgbench TPC-B, scale 10, -c 2 -j 2 -T $SECONDS_PER_RUN, $ROUNDS interleaved rounds, order ${configs[*]}:"
  echo
  echo "| configuration | TPS per round | median TPS | ratio to no capture |"
  echo "|---|---|---|---|"
  for db in "${configs[@]}"; do
    m=$(med "${tps[$db]}")
    ratio=$([[ -n $none_tps ]] && awk -v a="$m" -v b="$none_tps" 'BEGIN {printf "%.3f", a / b}' || echo -)
    echo "| $db | ${tps[$db]}| $m | $ratio |"
  done
} | tee "$out"
