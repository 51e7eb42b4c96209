#!/usr/bin/env bash
# Incremental sync against native logical replication, in the same run, on
# two local clusters (docs/benchmarks.md, "Incremental sync"): one
#   UPDATE pgbench_accounts SET abalance = abalance + 1     (1,000,000 rows)
# at A, timed from the start of the UPDATE until B has every row:
#   native:  a publication on A, a subscription on B; B polled every 50 ms
#   ferry:   capture triggers on A, then `ferry sync --from A --to B`
# B is checked equal to A after each (sum of abalance; ferry diff for ferry).
# Native is polled on one row: the UPDATE commits at B as one transaction.
# ROUNDS (default 3) alternates the order of the two; medians reported.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ferry=${FERRY_BIN:-$here/../build/ferry}
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/ferry-bench-incr-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
results=$here/results/incremental_sync.txt
mkdir -p "$here/results"

settings=(-c shared_buffers=512MB -c max_wal_size=4GB -c wal_level=logical)
pg_cluster_start bench_incr_a "${settings[@]}"
a_port=$PGPORT
pg_cluster_start bench_incr_b "${settings[@]}"
b_port=$PGPORT
qa() { psql -X -At -q -p "$a_port" -d "$1" -c "$2"; }
qb() { psql -X -At -q -p "$b_port" -d "$1" -c "$2"; }
now() { date +%s.%N; }
minus() { echo "$1 - $2" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
settle() { sync; sleep 1; }
peer() { echo "host=127.0.0.1 port=$1 dbname=$2 user=postgres"; }
schema_to_b() {  # schema_to_b DB: pgbench_accounts' definition from A into B
  qb postgres "CREATE DATABASE $1"
  pg_dump -p "$a_port" -s -t pgbench_accounts "$1" | psql -X -q -p "$b_port" -d "$1" >/dev/null
}

# Native: database "nat" on both, subscribed and caught up.
PGPORT=$a_port pgbench_database nat
schema_to_b nat
qa nat "CREATE PUBLICATION bench FOR TABLE pgbench_accounts"
qb nat "CREATE SUBSCRIPTION bench CONNECTION '$(peer "$a_port" nat)' PUBLICATION bench"
until [[ $(qb nat "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") == 0 ]]; do
  sleep 0.2
done

# ferry: database "fer" on both, tracked, full-synced.
PGPORT=$a_port pgbench_database fer
schema_to_b fer
"$ferry" init "$(peer "$a_port" fer)" --track pgbench_accounts >/dev/null
"$ferry" init "$(peer "$b_port" fer)" >/dev/null
"$ferry" full-sync --from "$(peer "$a_port" fer)" --to "$(peer "$b_port" fer)" \
  --tables pgbench_accounts --quiet >/dev/null

update='UPDATE pgbench_accounts SET abalance = abalance + 1'
native_round() {  # prints: update_seconds end_to_end_seconds
  local want start updated
  want=$(qa nat "SELECT sum(abalance) + count(*) FROM pgbench_accounts")
  start=$(now)
  qa nat "$update"
  updated=$(now)
  # The UPDATE is one transaction, applied at B as one: a single row shows
  # when it commits there (a sum over 1M rows every poll would slow B).
  until [[ $(qb nat "SELECT abalance FROM pgbench_accounts WHERE aid = 1000000") == \
           "$(qa nat "SELECT abalance FROM pgbench_accounts WHERE aid = 1000000")" ]]; do
    sleep 0.05
  done
  local done_at
  done_at=$(now)
  [[ $(qb nat "SELECT sum(abalance) FROM pgbench_accounts") == "$want" ]] ||
    { echo "logical replication left B different from A" >&2; exit 1; }
  echo "$(minus "$updated" "$start") $(minus "$done_at" "$start")"
}
ferry_round() {  # prints: update_seconds end_to_end_seconds
  local start updated
  start=$(now)
  qa fer "$update"
  updated=$(now)
  "$ferry" sync --from "$(peer "$a_port" fer)" --to "$(peer "$b_port" fer)" --quiet >/dev/null
  echo "$(minus "$updated" "$start") $(minus "$(now)" "$start")"
  "$ferry" diff "$(peer "$a_port" fer)" "$(peer "$b_port" fer)" --quiet >/dev/null ||
    { echo "ferry sync left B different from A" >&2; exit 1; }
}

: >"$work/native" && : >"$work/ferry"
for round in $(seq 1 "$rounds"); do
  if ((round % 2)); then
    native_round >>"$work/native"; settle; ferry_round >>"$work/ferry"; settle
  else
    ferry_round >>"$work/ferry"; settle; native_round >>"$work/native"; settle
  fi
done
n_update=$(cut -d' ' -f1 "$work/native" | median)
n_total=$(cut -d' ' -f2 "$work/native" | median)
f_update=$(cut -d' ' -f1 "$work/ferry" | median)
f_total=$(cut -d' ' -f2 "$work/ferry" | median)
{
  echo "Incremental sync of a 1,000,000-row UPDATE, $(date -u +%F), $(nproc) cores, medians of $rounds"
  printf '%-34s %10s %10s %10s %12s\n' "" "update s" "apply s" "total s" "rows/s"
  printf '%-34s %10.2f %10.2f %10.2f %12.0f\n' "native logical replication" "$n_update" \
    "$(minus "$n_total" "$n_update")" "$n_total" "$(echo "1000000 / $n_total" | bc)"
  printf '%-34s %10.2f %10.2f %10.2f %12.0f\n' "ferry (capture + ferry sync)" "$f_update" \
    "$(minus "$f_total" "$f_update")" "$f_total" "$(echo "1000000 / $f_total" | bc)"
  echo "ferry / native, end to end: $(ratio "$f_total" "$n_total") (target <= 1.0)"
} | tee "$results"
