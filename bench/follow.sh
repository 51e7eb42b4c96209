#!/usr/bin/env bash
# ferry follow under load (docs/benchmarks.md, "Incremental sync"), two
# local clusters, with native logical replication measured alike in the
# same run:
#  1. pgbench TPC-B at A for SECONDS_LOAD (default 30) while the replica
#     follows; then how long until B equals A (pgbench_accounts,
#     pgbench_branches, pgbench_tellers and pgbench_history compared by
#     table hash: ferry diff).
#  2. 10 transactions a second at A for SECONDS_LATENCY (default 30), each
#     inserting one row stamped with clock_timestamp() after its commit is
#     requested; a trigger on B stamps the row when it arrives there. The
#     difference is the commit-to-visible latency: p50 and p99.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ferry=${FERRY_BIN:-$here/../build/ferry}
load_seconds=${SECONDS_LOAD:-30}
latency_seconds=${SECONDS_LATENCY:-30}
work=$(mktemp -d /tmp/ferry-bench-follow-XXXXXX)
follower=
trap '[[ -n $follower ]] && kill $follower 2>/dev/null; rm -rf "$work"; pg_cluster_stop_all' EXIT
results=$here/results/follow.txt
mkdir -p "$here/results"

settings=(-c shared_buffers=512MB -c max_wal_size=4GB -c wal_level=logical)
pg_cluster_start bench_follow_a "${settings[@]}"
a_port=$PGPORT
pg_cluster_start bench_follow_b "${settings[@]}"
b_port=$PGPORT
qa() { psql -X -At -q -p "$a_port" -d "$1" -c "$2"; }
qb() { psql -X -At -q -p "$b_port" -d "$1" -c "$2"; }
peer() { echo "host=127.0.0.1 port=$1 dbname=$2 user=postgres"; }
now() { date +%s.%N; }
minus() { echo "$1 - $2" | bc; }
tables=pgbench_accounts,pgbench_branches,pgbench_tellers,pgbench_history
probe='CREATE TABLE probe (id bigint PRIMARY KEY, sent timestamptz, arrived timestamptz)'
stamp_on_arrival="CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  \$\$BEGIN NEW.arrived := clock_timestamp(); RETURN NEW; END\$\$;
  CREATE TRIGGER stamp BEFORE INSERT ON probe FOR EACH ROW EXECUTE FUNCTION stamp();
  ALTER TABLE probe ENABLE ALWAYS TRIGGER stamp;"

setup() {  # setup DB: pgbench and the probe on A, their definitions on B
  PGPORT=$a_port pgbench_database "$1"
  qa "$1" "$probe"
  qb postgres "CREATE DATABASE $1"
  pg_dump -p "$a_port" -s "$1" | psql -X -q -p "$b_port" -d "$1" >/dev/null
  qb "$1" "$stamp_on_arrival"
}

# Native: publication and subscription, caught up.
setup nat
qa nat "CREATE PUBLICATION bench FOR ALL TABLES"
qb nat "CREATE SUBSCRIPTION bench CONNECTION '$(peer "$a_port" nat)' PUBLICATION bench"
until [[ $(qb nat "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") == 0 ]]; do
  sleep 0.2
done
# ferry: tracked, copied, followed.
setup fer
"$ferry" init "$(peer "$a_port" fer)" --track "$tables,probe" >/dev/null
"$ferry" init "$(peer "$b_port" fer)" >/dev/null
"$ferry" full-sync --from "$(peer "$a_port" fer)" --to "$(peer "$b_port" fer)" \
  --tables "$tables,probe" --quiet >/dev/null
"$ferry" follow --from "$(peer "$a_port" fer)" --to "$(peer "$b_port" fer)" \
  --tables "$tables,probe" --quiet >"$work/follow.log" 2>&1 &
follower=$!

equal_in() {  # equal_in DB CHECK: seconds from now until CHECK succeeds
  local start
  start=$(now)
  until eval "$2"; do sleep 0.1; done
  minus "$(now)" "$start"
}
same_ferry() { "$ferry" diff "$(peer "$a_port" fer)" "$(peer "$b_port" fer)" --tables "$tables" --quiet >/dev/null 2>&1; }
same_native() {
  [[ $(qa nat "SELECT sum(delta), count(*) FROM pgbench_history") == \
     "$(qb nat "SELECT sum(delta), count(*) FROM pgbench_history")" ]] &&
  [[ $(qa nat "SELECT sum(abalance) FROM pgbench_accounts") == \
     "$(qb nat "SELECT sum(abalance) FROM pgbench_accounts")" ]]
}
load() {  # load DB: pgbench TPC-B for load_seconds; prints transactions per second
  "$PG_BIN/pgbench" -p "$a_port" -c 4 -j 2 -T "$load_seconds" -n "$1" 2>/dev/null |
    awk '/^tps/ {print int($3)}'
}
nat_tps=$(load nat)
nat_catchup=$(equal_in nat same_native)
fer_tps=$(load fer)
fer_catchup=$(equal_in fer same_ferry)

latency() {  # latency DB: 10 inserts a second; prints "p50 p99" in ms
  local i
  for i in $(seq 1 $((latency_seconds * 10))); do
    qa "$1" "INSERT INTO probe VALUES ($i, clock_timestamp(), NULL)"
    sleep 0.1
  done
  sleep 2
  qb "$1" "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' || count(*)
           FROM (SELECT extract(epoch FROM arrived - sent) * 1000 AS ms FROM probe) x"
}
read -r nat_p50 nat_p99 nat_n <<<"$(latency nat)"
read -r fer_p50 fer_p99 fer_n <<<"$(latency fer)"

{
  echo "ferry follow, $(date -u +%Y-%m-%d), $(nproc) cores"
  printf 'pgbench TPC-B %ss at A (4 clients): native %s tps, B equal %.2f s after; ferry %s tps, B equal %.2f s after (target 2 s)\n' \
    "$load_seconds" "$nat_tps" "$nat_catchup" "$fer_tps" "$fer_catchup"
  printf '10 tx/s for %ss, commit-to-visible: native p50 %s ms p99 %s ms (%s rows); ferry p50 %s ms p99 %s ms (%s rows) (target p50 50, p99 250)\n' \
    "$latency_seconds" "$nat_p50" "$nat_p99" "$nat_n" "$fer_p50" "$fer_p99" "$fer_n"
} | tee "$results"
