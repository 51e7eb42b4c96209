#!/usr/bin/env bash
# Table hashing and ferry diff. Two clusters (A and B) hold the same
# 1,000,000-row pgbench_accounts (pgbench -i -s 10); serial plans
# (max_parallel_workers_per_gather=0).
#   1. On A, median of $RUNS runs each: ferry.table_hash against what a user
#      would write instead: sum(hash_record_extended(t, 0)), the reladiff-style
#      md5 sum, and md5(string_agg(t::text ORDER BY key)); also
#      ferry.bucket_hashes with ferry diff's first-level bucket count. The
#      same on a 1,000,000-row table of numeric, timestamptz, text and jsonb.
#   2. ferry diff A B --rows with 10 rows changed in B, then with 10,000 more
#      (every bucket differs): wall time (median of $DIFF_RUNS), whether
#      exactly the changed keys are reported, bytes received by ferry, and
#      bytes on the loopback interface during the run (both directions, with
#      TCP/IP headers: everything the peers and ferry exchanged).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
RUNS=${RUNS:-5}
DIFF_RUNS=${DIFF_RUNS:-3}
out=${BENCH_OUT:-$here/results/hashing.md}
ferry=${FERRY_BIN:-$here/../build/ferry}
settings=(-c shared_buffers=1GB -c max_parallel_workers_per_gather=0 -c autovacuum=off)

pg_cluster_start a "${settings[@]}"
port_a=$PGPORT
pg_cluster_start b "${settings[@]}"
port_b=$PGPORT
peer_a="host=127.0.0.1 port=$port_a dbname=bench user=postgres"
peer_b="host=127.0.0.1 port=$port_b dbname=bench user=postgres"
sql_a() { psql -X -q -At -p "$port_a" -d bench "$@"; }
sql_b() { psql -X -q -At -p "$port_b" -d bench "$@"; }

for port in "$port_a" "$port_b"; do
  createdb -p "$port" bench
  "$PG_BIN/pgbench" -q -i -s 10 -p "$port" bench >/dev/null 2>&1
  psql -X -q -p "$port" -d bench -c "CREATE EXTENSION ferry" -c "VACUUM ANALYZE"
done
sql_a <<'SQL'
CREATE TABLE mixed (id bigint PRIMARY KEY, amount numeric(12, 2), at timestamptz,
                    label text, doc jsonb);
INSERT INTO mixed
SELECT i, i * 0.37, timestamptz '2024-01-01 00:00:00+00' + i * interval '17 seconds',
       'customer ' || md5(i::text),
       jsonb_build_object('n', i, 'tags', jsonb_build_array('a', i % 10), 'ok', i % 3 = 0)
FROM generate_series(1, 1000000) i;
VACUUM ANALYZE mixed;
SQL


# time_query SQL: median milliseconds of $RUNS runs on A, after one warm-up.
time_query() {
  { echo '\timing on'; for _ in $(seq 0 "$RUNS"); do echo "$1;"; done; } |
    psql -X -q -p "$port_a" -d bench -o /dev/null | awk '/^Time:/ {print $2}' | tail -n +2 | median
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

buckets=$(( ($(sql_a -c "SELECT reltuples::bigint FROM pg_class WHERE relname = 'pgbench_accounts'") + 255) / 256 ))
declare -A ms
for table in pgbench_accounts mixed; do
  key=$([[ $table == mixed ]] && echo id || echo aid)
  ms[$table,ferry]=$(time_query "SELECT * FROM ferry.table_hash('$table')")
  ms[$table,hash_record]=$(time_query "SELECT sum(hash_record_extended(t, 0)) FROM $table t")
  ms[$table,reladiff]=$(time_query \
    "SELECT sum(('x' || substr(md5(t::text), 18))::bit(60)::bigint) FROM $table t")
  ms[$table,string_agg]=$(time_query "SELECT md5(string_agg(t::text, '' ORDER BY $key)) FROM $table t")
  ms[$table,buckets]=$(time_query "SELECT count(*) FROM ferry.bucket_hashes('$table', $buckets)")
done

lo_bytes() { cat /sys/class/net/lo/statistics/rx_bytes; }

# run_diff LABEL: runs ferry diff $DIFF_RUNS times; sets diff_ms, diff_json,
# diff_lo_bytes (of the last run).
run_diff() {
  local times=() start end before
  for _ in $(seq 1 "$DIFF_RUNS"); do
    before=$(lo_bytes)
    start=$(date +%s%N)
    diff_json=$("$ferry" diff "$peer_a" "$peer_b" --tables pgbench_accounts --rows --json --quiet || true)
    end=$(date +%s%N)
    diff_lo_bytes=$(( $(lo_bytes) - before ))
    times+=("$(( (end - start) / 1000000 ))")
  done
  diff_ms=$(printf '%s\n' "${times[@]}" | median)
}

# json_sql SQL: runs SQL over doc(j), the last diff's JSON (sent on stdin:
# the document of 10,000 keys is too long for a command-line argument).
json_sql() {
  printf 'WITH doc AS (SELECT $ferry_json$%s$ferry_json$::jsonb AS j) %s;\n' "$diff_json" "$1" |
    psql -X -At -p "$port_a" -d bench
}
json_field() { json_sql "SELECT j #>> '{$1}' FROM doc"; }

# check_keys: compares the keys ferry reported with the rows changed in B
# (every change adds 1 to abalance, which pgbench initializes to 0).
check_keys() {
  local reported expected count
  reported=$(json_sql "SELECT string_agg(k->>'aid', ',' ORDER BY (k->>'aid')::int)
                       FROM doc, jsonb_array_elements(j #> '{tables,0,changed}') k")
  expected=$(sql_b -c "SELECT string_agg(aid::text, ',' ORDER BY aid) FROM pgbench_accounts WHERE abalance <> 0")
  count=$(sql_b -c "SELECT count(*) FROM pgbench_accounts WHERE abalance <> 0")
  if [[ "$reported" == "$expected" ]]; then
    echo "exactly the $count changed keys"
  else
    echo "WRONG: reported keys differ from the $count changed ones"
  fi
}

dump_bytes=$("$PG_BIN/pg_dump" -p "$port_a" -d bench -t pgbench_accounts | wc -c)
table_bytes=$(sql_a -c "SELECT pg_relation_size('pgbench_accounts')")

sql_b -c "UPDATE pgbench_accounts SET abalance = abalance + 1
          WHERE aid IN (SELECT 1 + (i * 99991) % 1000000 FROM generate_series(1, 10) i)"
run_diff
few_ms=$diff_ms few_lo=$diff_lo_bytes few_bytes=$(json_field bytes_received)
few_keys=$(check_keys) few_levels=$(json_field tables,0,levels)

sql_b -c "UPDATE pgbench_accounts SET abalance = abalance + 1
          WHERE aid IN (SELECT 1 + (i * 97) % 1000000 FROM generate_series(1, 10000) i)"
run_diff
many_ms=$diff_ms many_lo=$diff_lo_bytes many_bytes=$(json_field bytes_received)
many_keys=$(check_keys) many_levels=$(json_field tables,0,levels)

hash_ms=${ms[pgbench_accounts,ferry]}
{
  echo "## hashing.sh, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $(sql_a -c 'SHOW server_version')"
  echo
  echo "Serial plans, median of $RUNS runs after a warm-up, 1,000,000 rows."
  echo
  echo "| query | pgbench_accounts ms | ratio to ferry.table_hash | mixed types ms | ratio |"
  echo "|---|---|---|---|---|"
  for q in ferry hash_record reladiff string_agg buckets; do
    case $q in
      ferry) name='ferry.table_hash(t)' ;;
      hash_record) name='sum(hash_record_extended(t, 0))' ;;
      reladiff) name="reladiff-style sum of md5(t::text)" ;;
      string_agg) name='md5(string_agg(t::text ORDER BY key))' ;;
      buckets) name="ferry.bucket_hashes(t, $buckets)" ;;
    esac
    echo "| $name | ${ms[pgbench_accounts,$q]} | $(ratio "${ms[pgbench_accounts,$q]}" "$hash_ms") |" \
         "${ms[mixed,$q]} | $(ratio "${ms[mixed,$q]}" "${ms[mixed,ferry]}") |"
  done
  echo
  echo "ferry diff A B --tables pgbench_accounts --rows (median of $DIFF_RUNS runs;" \
       "pg_dump of the table: $dump_bytes bytes, heap $table_bytes bytes):"
  echo
  echo "| rows changed in B | result | levels | time ms | time / table_hash | bytes received by ferry | loopback bytes | loopback / pg_dump |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| 10 | $few_keys | $few_levels | $few_ms | $(ratio "$few_ms" "$hash_ms") | $few_bytes | $few_lo | $(ratio "$few_lo" "$dump_bytes") |"
  echo "| 10 + 10,000 | $many_keys | $many_levels | $many_ms | $(ratio "$many_ms" "$hash_ms") | $many_bytes | $many_lo | $(ratio "$many_lo" "$dump_bytes") |"
} | tee "$out"
