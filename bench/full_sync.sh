#!/usr/bin/env bash
# Full sync against what a DBA would otherwise run, in the same run, on two
# local clusters (docs/benchmarks.md, "Full sync"):
#   1. PG->PG into an empty table:  pg_dump --data-only | psql
#   2. PG->PG into a full table with 1% of rows changed: COPY -> staging -> MERGE,
#      against ferry --method dump and --method diff
#   3. PG->SQLite:                  COPY ... CSV | sqlite3 .import
#   4. SQLite->PG:                  sqlite3 -csv | COPY FROM STDIN
#   5. PG->PG, 100 tables of 100 rows into empty ones: pg_dump --data-only | psql
# and ferry's peak RSS at 1M rows (and 5M with LARGE=1).
# FILLER=random replaces pgbench's blank filler with random text, which does
# not compress. ROUNDS (default 3) runs each case, medians reported. CASES
# (default 12345) picks what to run: 1, 2, 3 for cases 3 and 4 and the RSS,
# 4 for ferry dump / ferry restore against pg_dump -Fc / pg_restore, and 5
# for the many small tables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ferry=${FERRY_BIN:-$here/../build/ferry}
rounds=${ROUNDS:-3}
cases=${CASES:-12345}
work=$(mktemp -d /tmp/ferry-bench-full-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
results=$here/results/full_sync${FILLER:+-$FILLER}${CASES:+-cases$CASES}.txt
mkdir -p "$here/results"

pg_cluster_start bench_full_a -c shared_buffers=512MB -c max_wal_size=4GB
A="host=$PGHOST port=$PGPORT dbname=src"
a_port=$PGPORT
pg_cluster_start bench_full_b -c shared_buffers=512MB -c max_wal_size=4GB
b_port=$PGPORT
qa() { psql -X -At -q -p "$a_port" -d src -c "$1"; }
qb() { psql -X -At -q -p "$b_port" -d "$1" -c "$2"; }
seconds() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
# Before each timed run: the earlier runs' dirty buffers written out
# (CHECKPOINT) and flushed (sync), else whichever runs second pays for the
# first one's writes (about 0.3-0.6 s of 1.0-1.6 in the empty-table case).
settle() {
  psql -X -q -p "$a_port" -d postgres -c CHECKPOINT
  psql -X -q -p "$b_port" -d postgres -c CHECKPOINT
  sync
  sleep 1
}

PGPORT=$a_port pgbench_database src
if [[ "${FILLER:-}" == random ]]; then
  qa "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)"
  qa "VACUUM FULL pgbench_accounts"
fi
qa "CREATE EXTENSION ferry"
schema=$(PGPORT=$a_port pg_dump --schema-only -t pgbench_accounts src)
for db in empty_psql empty_ferry full_merge full_ferry full_diff; do
  createdb -p "$b_port" $db
  psql -X -q -p "$b_port" -d $db <<<"$schema" >/dev/null
  qb $db "CREATE EXTENSION ferry"
done
B() { echo "host=$PGHOST port=$b_port dbname=$1"; }
report() { echo "$1" | tee -a "$results"; }
: >"$results"
report "full sync benchmark $(date -u +%F) rows=$(qa 'SELECT count(*) FROM pgbench_accounts') filler=${FILLER:-pgbench} rounds=$rounds"

# 1. into an empty table
if [[ $cases == *1* ]]; then
t_psql=(); t_ferry=()
# Each run starts with the previous one's writes checkpointed and flushed
# (settle), and the two take turns going first.
psql_run() { settle; t_psql+=("$(seconds bash -c "PGPORT=$a_port pg_dump --data-only -t pgbench_accounts src | psql -X -q -p $b_port -d empty_psql")"); }
ferry_run() { settle; t_ferry+=("$(seconds "$ferry" full-sync --quiet --from "$A" --to "$(B empty_ferry)" --tables pgbench_accounts)"); }
for r in $(seq "$rounds"); do
  qb empty_psql "TRUNCATE pgbench_accounts"; qb empty_ferry "TRUNCATE pgbench_accounts"
  if (( r % 2 )); then psql_run; ferry_run; else ferry_run; psql_run; fi
done
p=$(printf '%s\n' "${t_psql[@]}" | median); f=$(printf '%s\n' "${t_ferry[@]}" | median)
report "empty target: pg_dump|psql ${p}s  ferry ${f}s  ratio $(ratio "$f" "$p")  (target <= 1.0)"
report "  each round (s): pg_dump|psql $(printf '%.2f ' "${t_psql[@]}")  ferry $(printf '%.2f ' "${t_ferry[@]}")"
fi

# 2. into a full table, 1% of rows changed (uniformly) before each round
if [[ $cases == *2* ]]; then
merge_sql="BEGIN; CREATE TEMP TABLE s (LIKE pgbench_accounts) ON COMMIT DROP; COPY s FROM STDIN;"
merge_end="MERGE INTO pgbench_accounts t USING s ON t.aid = s.aid
  WHEN MATCHED AND (t.bid, t.abalance, t.filler) IS DISTINCT FROM (s.bid, s.abalance, s.filler)
  THEN UPDATE SET bid = s.bid, abalance = s.abalance, filler = s.filler
  WHEN NOT MATCHED THEN INSERT VALUES (s.aid, s.bid, s.abalance, s.filler); COMMIT;"
merge() {
  { echo "$merge_sql"; psql -X -q -p "$a_port" -d src -c "COPY pgbench_accounts TO STDOUT"; echo '\.'
    echo "$merge_end"; } | psql -X -q -p "$b_port" -d full_merge
}
merge >/dev/null
for db in full_ferry full_diff; do
  "$ferry" full-sync --quiet --from "$A" --to "$(B $db)" --tables pgbench_accounts >/dev/null
  qb $db "ANALYZE pgbench_accounts"
done
qa "ANALYZE pgbench_accounts"
written() { qb "$1" "SELECT pg_stat_force_next_flush(); SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = 'pgbench_accounts'" | tail -1; }
t_merge=(); t_ferry=(); t_diff=()
merge_run() { settle; t_merge+=("$(seconds merge)"); }
dump_run() {
  settle; w0=$(written full_ferry)
  t_ferry+=("$(seconds "$ferry" full-sync --quiet --from "$A" --to "$(B full_ferry)" --tables pgbench_accounts)")
  settle; w1=$(written full_ferry)
}
diff_run() {
  settle; d0=$(written full_diff)
  t_diff+=("$(seconds "$ferry" full-sync --quiet --method diff --from "$A" --to "$(B full_diff)" --tables pgbench_accounts)")
  settle; d1=$(written full_diff)
}
for r in $(seq "$rounds"); do
  qa "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = $r"
  case $((r % 3)) in  # each goes first in turn (see case 1)
    1) merge_run; dump_run; diff_run ;;
    2) dump_run; diff_run; merge_run ;;
    0) diff_run; merge_run; dump_run ;;
  esac
done
m=$(printf '%s\n' "${t_merge[@]}" | median); f=$(printf '%s\n' "${t_ferry[@]}" | median)
d=$(printf '%s\n' "${t_diff[@]}" | median)
report "1% changed: COPY->staging->MERGE ${m}s  ferry --method dump ${f}s  ratio $(ratio "$f" "$m")  --method diff ${d}s  ratio $(ratio "$d" "$m")  (target <= 0.5); rows written by the last round: dump $((w1 - w0)), diff $((d1 - d0)) of 10000 changed"
fi

# 3. PG -> SQLite, 4. SQLite -> PG, and peak RSS
if [[ $cases == *3* ]]; then
lite_schema="CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, filler CHAR(84));"
t_csv=(); t_ferry=(); t_back_csv=(); t_back_ferry=()
for r in $(seq "$rounds"); do
  rm -f "$work"/csv.db* "$work"/ferry.db*
  sqlite3 "$work/csv.db" "PRAGMA journal_mode=WAL; $lite_schema" >/dev/null
  sqlite3 "$work/ferry.db" "$lite_schema"
  "$ferry" init "sqlite:$work/ferry.db" >/dev/null
  t_csv+=("$(seconds bash -c "psql -X -q -p $a_port -d src -c 'COPY pgbench_accounts TO STDOUT (FORMAT csv)' | sqlite3 $work/csv.db '.import --csv /dev/stdin pgbench_accounts'")")
  t_ferry+=("$(seconds "$ferry" full-sync --quiet --from "$A" --to "sqlite:$work/ferry.db" --tables pgbench_accounts)")
  qb empty_psql "TRUNCATE pgbench_accounts"; qb empty_ferry "TRUNCATE pgbench_accounts"
  t_back_csv+=("$(seconds bash -c "sqlite3 -csv $work/csv.db 'SELECT * FROM pgbench_accounts' | psql -X -q -p $b_port -d empty_psql -c 'COPY pgbench_accounts FROM STDIN (FORMAT csv)'")")
  t_back_ferry+=("$(seconds "$ferry" full-sync --quiet --from "sqlite:$work/ferry.db" --to "$(B empty_ferry)" --tables pgbench_accounts)")
done
rows=$(qa "SELECT count(*) FROM pgbench_accounts")
c=$(printf '%s\n' "${t_csv[@]}" | median); f=$(printf '%s\n' "${t_ferry[@]}" | median)
report "PG->SQLite: psql CSV|sqlite3 .import ${c}s  ferry ${f}s ($(echo "$rows / $f" | bc) rows/s, target >= 250000)  ratio $(ratio "$f" "$c")"
c=$(printf '%s\n' "${t_back_csv[@]}" | median); f=$(printf '%s\n' "${t_back_ferry[@]}" | median)
report "SQLite->PG: sqlite3 -csv|COPY ${c}s  ferry ${f}s ($(echo "$rows / $f" | bc) rows/s, target >= 250000)  ratio $(ratio "$f" "$c")"

# Peak RSS of the orchestrator
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
qb empty_ferry "TRUNCATE pgbench_accounts"
report "peak RSS, PG->PG 1M rows: $(rss "$ferry" full-sync --quiet --from "$A" --to "$(B empty_ferry)" --tables pgbench_accounts) kB"
rm -f "$work"/ferry.db*; sqlite3 "$work/ferry.db" "$lite_schema"; "$ferry" init "sqlite:$work/ferry.db" >/dev/null
report "peak RSS, PG->SQLite 1M rows: $(rss "$ferry" full-sync --quiet --from "$A" --to "sqlite:$work/ferry.db" --tables pgbench_accounts) kB"
if [[ "${LARGE:-0}" == 1 ]]; then
  qa "INSERT INTO pgbench_accounts SELECT aid + 1000000 * k, bid, abalance, filler FROM pgbench_accounts, generate_series(1, 4) k"
  qb empty_ferry "TRUNCATE pgbench_accounts"
  report "peak RSS, PG->PG 5M rows: $(rss "$ferry" full-sync --quiet --from "$A" --to "$(B empty_ferry)" --tables pgbench_accounts) kB"
  rm -f "$work"/ferry.db*; sqlite3 "$work/ferry.db" "$lite_schema"; "$ferry" init "sqlite:$work/ferry.db" >/dev/null
  report "peak RSS, PG->SQLite 5M rows: $(rss "$ferry" full-sync --quiet --from "$A" --to "sqlite:$work/ferry.db" --tables pgbench_accounts) kB"
fi
fi

# ferry dump / ferry restore against pg_dump -Fc / pg_restore (PG -> file -> PG)
if [[ $cases == *4* ]]; then
t_pgd=(); t_pgr=(); t_fd=(); t_fr=()
for r in $(seq "$rounds"); do
  rm -f "$work/a.pgdump" "$work/a.ferry"
  t_pgd+=("$(seconds env PGPORT=$a_port pg_dump -Fc --data-only -t pgbench_accounts -f "$work/a.pgdump" src)")
  t_fd+=("$(seconds "$ferry" dump "$A" "$work/a.ferry" --tables pgbench_accounts --quiet)")
  qb empty_psql "TRUNCATE pgbench_accounts"; qb empty_ferry "TRUNCATE pgbench_accounts"
  t_pgr+=("$(seconds env PGPORT=$b_port pg_restore --data-only -d empty_psql "$work/a.pgdump")")
  t_fr+=("$(seconds "$ferry" restore "$work/a.ferry" "$(B empty_ferry)" --quiet)")
done
d=$(printf '%s\n' "${t_pgd[@]}" | median); f=$(printf '%s\n' "${t_fd[@]}" | median)
report "dump: pg_dump -Fc ${d}s ($(stat -c %s "$work/a.pgdump") bytes)  ferry dump ${f}s ($(stat -c %s "$work/a.ferry") bytes)  ratio $(ratio "$f" "$d")"
d=$(printf '%s\n' "${t_pgr[@]}" | median); f=$(printf '%s\n' "${t_fr[@]}" | median)
report "restore into an empty table: pg_restore ${d}s  ferry restore ${f}s  ratio $(ratio "$f" "$d")"
fi

# 5. many small tables: one pg_dump start each would cost more than the rows
if [[ $cases == *5* ]]; then
small_ddl=$(for i in $(seq 1 100); do echo "CREATE TABLE small$i (id int PRIMARY KEY, v text, n numeric);"; done)
psql -X -q -p "$a_port" -d src <<<"$small_ddl"
for i in $(seq 1 100); do echo "INSERT INTO small$i SELECT g, md5(g::text), g * 1.5 FROM generate_series(1, 100) g;"; done |
  psql -X -q -p "$a_port" -d src
for db in small_psql small_ferry; do
  createdb -p "$b_port" $db
  psql -X -q -p "$b_port" -d $db <<<"$small_ddl"
  qb $db "CREATE EXTENSION ferry"
done
small_list=$(seq -s, -f 'small%g' 1 100)
small_dump_args=$(seq -f '-t small%g' 1 100 | tr '\n' ' ')
empty_small() { qb "$1" "SELECT format('TRUNCATE %s', string_agg('small' || g, ',')) FROM generate_series(1, 100) g" | psql -X -q -p "$b_port" -d "$1"; }
t_psql=(); t_ferry=()
psql_run() { settle; t_psql+=("$(seconds bash -c "PGPORT=$a_port pg_dump --data-only $small_dump_args src | psql -X -q -p $b_port -d small_psql")"); }
ferry_run() { settle; t_ferry+=("$(seconds "$ferry" full-sync --quiet --from "$A" --to "$(B small_ferry)" --tables "$small_list")"); }
for r in $(seq "$rounds"); do
  empty_small small_psql; empty_small small_ferry
  if (( r % 2 )); then psql_run; ferry_run; else ferry_run; psql_run; fi
done
[[ $(qb small_ferry "SELECT count(*) FROM small100") == 100 ]] || { echo "small tables not copied" >&2; exit 1; }
p=$(printf '%s\n' "${t_psql[@]}" | median); f=$(printf '%s\n' "${t_ferry[@]}" | median)
report "100 tables of 100 rows into empty ones: pg_dump|psql ${p}s  ferry ${f}s  ratio $(ratio "$f" "$p")"
fi
