#!/usr/bin/env bash
# SQLite peers (issue 4): capture cost and ferry diff, each against what a
# user would otherwise use, in the same run. sqlite3 3.40, WAL,
# synchronous=NORMAL, a pgbench_accounts-shaped table of 1,000,000 rows.
#   1. one INSERT ... SELECT of 1,000,000 rows: untracked, ferry-tracked, and
#      an AFTER INSERT trigger writing json_object(...) into a log table;
#   2. 100,000 single-row UPDATEs, each its own transaction (bench/sqlite_writes);
#   3. two 1,000,000-row files differing in 10 rows: sqldiff vs ferry diff --rows.
# Rounds are interleaved; medians and ratios go to bench/results/sqlite.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
build=${FERRY_BUILD_DIR:-$here/../build}
rounds=${ROUNDS:-5}
work=$(mktemp -d /tmp/ferry-bench-sqlite-XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$here/results/sqlite.txt
mkdir -p "$here/results"
command -v sqldiff >/dev/null || { echo "sqldiff is missing: apt-get install sqlite3-tools" >&2; exit 1; }

schema="PRAGMA journal_mode=WAL; CREATE TABLE accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, filler CHAR(84));"
fill="INSERT INTO accounts SELECT value, (value - 1) / 100000 + 1, 0, printf('%84s', '') FROM generate_series(1, 1000000);"
json_trigger="CREATE TABLE change_log (id INTEGER PRIMARY KEY, tbl TEXT, op TEXT, row TEXT, at TEXT);
CREATE TRIGGER log_insert AFTER INSERT ON accounts BEGIN
  INSERT INTO change_log (tbl, op, row, at) VALUES ('accounts', 'I', json_object('aid', NEW.aid, 'bid', NEW.bid, 'abalance', NEW.abalance, 'filler', NEW.filler), datetime('now'));
END;
CREATE TRIGGER log_update AFTER UPDATE ON accounts BEGIN
  INSERT INTO change_log (tbl, op, row, at) VALUES ('accounts', 'U', json_object('aid', NEW.aid, 'bid', NEW.bid, 'abalance', NEW.abalance, 'filler', NEW.filler), datetime('now'));
END;"

# new_db CONFIG FILE: an empty accounts table, set up for CONFIG.
new_db() {
  rm -f "$2" "$2-wal" "$2-shm"
  sqlite3 "$2" "$schema" >/dev/null
  case $1 in
    ferry) "$build/ferry" init "sqlite:$2" --track accounts >/dev/null ;;
    json) sqlite3 "$2" "$json_trigger" ;;
  esac
}

# timed_fill FILE: seconds for the 1,000,000-row INSERT ... SELECT.
timed_fill() {
  printf 'PRAGMA synchronous=NORMAL;\n.timer on\n%s\n' "$fill" | sqlite3 "$1" | awk '/Run Time/ {print $4}'
}

declare -A insert update
for round in $(seq 1 "$rounds"); do
  for config in plain ferry json; do
    db=$work/$config.db
    new_db "$config" "$db"
    insert[$config]+="$(timed_fill "$db") "
    update[$config]+="$("$build/sqlite_writes" "$db" updates 100000) "
  done
  echo "round $round of $rounds done" >&2
done

med() { tr ' ' '\n' | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# Diff: two copies of a 1M-row file, tracked once filled (as when ferry is
# set up on existing data), 10 rows changed in the second.
a=$work/a.db
b=$work/b.db
new_db plain "$a"
sqlite3 "$a" "PRAGMA synchronous=NORMAL;" "$fill" >/dev/null
"$build/ferry" init "sqlite:$a" --track accounts >/dev/null
sqlite3 "$a" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp "$a" "$b"
sqlite3 "$b" "UPDATE accounts SET abalance = 1 WHERE aid % 100000 = 7; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
sqldiff_keys=$(sqldiff "$a" "$b" | grep -o 'aid=[0-9]*' | sort | tr '\n' ' ')
ferry_keys=$("$build/ferry" diff "sqlite:$a" "sqlite:$b" --tables accounts --rows --json --quiet |
  grep -o '"aid": *[0-9]*' | tr -d ' "' | sed 's/:/=/' | sort | tr '\n' ' ' || true)
same=no
[[ "$sqldiff_keys" == "$ferry_keys" && -n "$ferry_keys" ]] && same=yes
sqldiff_times="" ferry_times=""
for round in $(seq 1 "$rounds"); do
  s=$(date +%s.%N); sqldiff "$a" "$b" >/dev/null; e=$(date +%s.%N)
  sqldiff_times+="$(echo "$e - $s" | bc) "
  s=$(date +%s.%N); "$build/ferry" diff "sqlite:$a" "sqlite:$b" --tables accounts --rows --quiet >/dev/null || true; e=$(date +%s.%N)
  ferry_times+="$(echo "$e - $s" | bc) "
done

{
  echo "SQLite benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, sqlite3 $(sqlite3 --version | cut -d' ' -f1), $rounds rounds interleaved, medians"
  printf "1M-row INSERT ... SELECT: plain %.3f s, ferry %.3f s (%sx), json_object trigger %.3f s (%sx)\n" \
    "$(echo "${insert[plain]}" | med)" "$(echo "${insert[ferry]}" | med)" \
    "$(ratio "$(echo "${insert[ferry]}" | med)" "$(echo "${insert[plain]}" | med)")" \
    "$(echo "${insert[json]}" | med)" \
    "$(ratio "$(echo "${insert[json]}" | med)" "$(echo "${insert[plain]}" | med)")"
  printf "100k single-row UPDATEs: plain %.3f s, ferry %.3f s (%sx), json_object trigger %.3f s (%sx)\n" \
    "$(echo "${update[plain]}" | med)" "$(echo "${update[ferry]}" | med)" \
    "$(ratio "$(echo "${update[ferry]}" | med)" "$(echo "${update[plain]}" | med)")" \
    "$(echo "${update[json]}" | med)" \
    "$(ratio "$(echo "${update[json]}" | med)" "$(echo "${update[plain]}" | med)")"
  printf "diff of two 1M-row files, 10 rows differ: sqldiff %.3f s, ferry diff --rows %.3f s (%sx); same keys found: %s\n" \
    "$(echo "$sqldiff_times" | med)" "$(echo "$ferry_times" | med)" \
    "$(ratio "$(echo "$ferry_times" | med)" "$(echo "$sqldiff_times" | med)")" "$same"
  echo "raw insert: plain ${insert[plain]}| ferry ${insert[ferry]}| json ${insert[json]}"
  echo "raw update: plain ${update[plain]}| ferry ${update[ferry]}| json ${update[json]}"
  echo "raw diff: sqldiff $sqldiff_times| ferry $ferry_times"
} | tee "$results"
