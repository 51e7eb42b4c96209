#!/usr/bin/env bash
# Two writers at once on one tracked SQLite file, neither of which loaded
# ferry: every change is captured exactly once, in commit order, and
# replaying the change log gives the table.
#
# What a user must do for concurrent writers never to see "database is
# locked" (docs/sqlite.md, "Concurrency: several writers"); the writers here
# do exactly that and nothing more:
#   - put the database in WAL mode once: PRAGMA journal_mode = WAL;
#   - give every connection a busy timeout (PRAGMA busy_timeout = 10000, or
#     .timeout 10000 in the sqlite3 shell, or sqlite3_busy_timeout());
#   - start a transaction that reads and then writes with BEGIN IMMEDIATE: a
#     deferred one that read first fails at once with "database is locked"
#     (SQLITE_BUSY_SNAPSHOT) when the other writer committed in between, busy
#     timeout or not.
# The capture triggers are plain SQL (json_object, printf, julianday): a
# writer needs no ferry function, so it need not load the extension.
#
#   tests/sqlite/two_writers.sh        (FERRY_BUILD_DIR: where ferry.so is; default build/)
#   FERRY_TWO_WRITERS_ROUNDS=200 tests/sqlite/two_writers.sh   # a shorter run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/assert.sh"
build=$(cd "${FERRY_BUILD_DIR:-$here/../../build}" && pwd)
extension=$build/ferry
[[ -f $extension.so ]] || { echo "two_writers.sh: $extension.so is missing: build first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-two-writers-XXXXXX")
trap 'rm -rf "$work" "$_tmp"' EXIT
db=$work/shared.db

# rounds per writer; each round is 2 to 4 transactions (3025 for 1100 rounds)
rounds=${FERRY_TWO_WRITERS_ROUNDS:-1100}

# sqlite3 without ~/.sqliterc and, unless asked, without ferry.
plain_sqlite() { sqlite3 -init /dev/null -batch "$@"; }
ferry_sqlite() { sqlite3 -init /dev/null -batch -cmd ".load $extension" "$@"; }

ferry_sqlite "$db" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE ledger (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, n INTEGER NOT NULL, note TEXT);
SELECT ferry_track('ledger');
SQL
expect_equal "$(plain_sqlite "$db" 'PRAGMA journal_mode')" "wal" "the database is in WAL mode"

# writer NAME BASE: writes the writer's script (only its own keys, BASE+1 ...)
# and the changes it must cause, in order ("op id" lines). Round j:
#   INSERT BASE+j
#   read n of BASE+j, then UPDATE it (read-then-write: BEGIN IMMEDIATE)
#   every 2nd round: DELETE BASE+j-1 (an odd key, inserted the round before)
#   every 4th round: UPDATE the key of BASE+j to BASE+j+500000 (DELETE + INSERT)
writer_script() {
  awk -v name="$1" -v base="$2" -v rounds="$rounds" -v script="$work/$1.sql" \
      -v changes="$work/$1.expected" -f - <<'AWK'
BEGIN {
  q = sprintf("%c", 39)  # a single quote
  # Work outside any transaction between two transactions (under a
  # millisecond), as an application does: without it, the writer that holds
  # the lock gets it back at once, and the other one, asleep in its busy
  # handler, only gets in when the first is done.
  think = "SELECT count(*) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) SELECT i FROM c);"
  print ".timeout 10000" > script
  for (j = 1; j <= rounds; j++) {
    id = base + j
    note = q "it" q q "s " name " ü " j q  # 'it''s alpha ü 1'
    printf "BEGIN IMMEDIATE;\nINSERT INTO ledger VALUES (%d, %s, 0, %s);\nCOMMIT;\n%s\n",
           id, q name q, note, think > script
    print "I " id > changes
    printf "BEGIN IMMEDIATE;\nSELECT n FROM ledger WHERE id = %d;\n", id > script
    printf "UPDATE ledger SET n = n + 1, note = note || %s WHERE id = %d;\nCOMMIT;\n%s\n",
           q " +1" q, id, think > script
    print "U " id > changes
    if (j % 2 == 0) {
      printf "BEGIN IMMEDIATE;\nDELETE FROM ledger WHERE id = %d;\nCOMMIT;\n%s\n", id - 1, think > script
      print "D " id - 1 > changes
    }
    if (j % 4 == 0) {
      printf "BEGIN IMMEDIATE;\nUPDATE ledger SET id = id + 500000 WHERE id = %d;\nCOMMIT;\n%s\n", id, think > script
      print "D " id > changes
      print "I " id + 500000 > changes
    }
  }
}
AWK
}
writer_script alpha 0
writer_script beta 1000000
transactions=$(grep -c '^COMMIT;$' "$work/alpha.sql")
echo "# two writers, $transactions transactions each"

start=$EPOCHREALTIME
plain_sqlite "$db" <"$work/alpha.sql" >"$work/alpha.out" 2>"$work/alpha.err" &
alpha=$!
plain_sqlite "$db" <"$work/beta.sql" >"$work/beta.out" 2>"$work/beta.err" &
beta=$!
set +e
wait "$alpha"
alpha_status=$?
wait "$beta"
beta_status=$?
set -e
echo "# both writers done in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

expect_equal "$alpha_status" "0" "writer alpha exits 0"
expect_equal "$beta_status" "0" "writer beta exits 0"
for name in alpha beta; do
  if [[ -s $work/$name.err ]]; then
    fail "writer $name printed no error" "$(head -5 "$work/$name.err")"
  else
    pass "writer $name printed no error"
  fi
  if grep -q 'locked' "$work/$name.out" "$work/$name.err"; then
    fail "writer $name never saw database is locked" "$(grep -m 5 'locked' "$work/$name.out" "$work/$name.err")"
  else
    pass "writer $name never saw database is locked"
  fi
done

query() { ferry_sqlite "$db" "$@"; }

# Which writer a change belongs to.
writer_of="coalesce(json_extract(new_row, '\$.writer'), json_extract(old_row, '\$.writer'))"

# --- exactly the expected changes, per writer and operation
for name in alpha beta; do
  expected=$(awk '{ n[$1]++ } END { printf "D %d, I %d, U %d", n["D"], n["I"], n["U"] }' "$work/$name.expected")
  actual=$(query "SELECT group_concat(op || ' ' || n, ', ') FROM
                    (SELECT op, count(*) AS n FROM ferry_changes
                     WHERE $writer_of = '$name' GROUP BY op ORDER BY op)")
  expect_equal "$actual" "$expected" "writer $name: every change logged once ($expected)"
  # and in the order the writer made them
  query "SELECT op || ' ' || json_extract(key, '\$.id') FROM ferry_changes
         WHERE $writer_of = '$name' ORDER BY position" >"$work/$name.logged"
  if cmp -s "$work/$name.expected" "$work/$name.logged"; then
    pass "writer $name: the log holds its changes in its order"
  else
    fail "writer $name: the log holds its changes in its order" \
      "$(diff "$work/$name.expected" "$work/$name.logged" | head -20)"
  fi
done
expect_equal "$(query "SELECT count(*) FROM ferry_changes WHERE $writer_of IS NULL OR table_name <> 'ledger'")" \
  "0" "no change without a writer"
expect_equal "$(query "SELECT count(*) FROM ferry_changes WHERE origin IS NOT NULL")" "0" \
  "local writes carry no origin"

# --- positions: unique, increasing, without gaps
expect_equal "$(query "SELECT count(*) = count(DISTINCT position) AND max(position) - min(position) + 1 = count(*)
                       FROM ferry_changes")" "1" "positions are unique and without gaps"
expect_equal "$(query "SELECT count(*) FROM ferry_changes")" \
  "$(cat "$work/alpha.expected" "$work/beta.expected" | wc -l)" "the log holds both writers' changes, no more"
# the writers really ran at the same time: their changes interleave in the log
switches=$(query "SELECT count(*) FROM (SELECT $writer_of AS w,
                    lag($writer_of) OVER (ORDER BY position) AS previous FROM ferry_changes)
                  WHERE w <> previous")
if [[ $switches -gt 1 ]]; then
  pass "the two writers' transactions interleave ($switches switches)"
else
  fail "the two writers' transactions interleave (only $switches switches: they did not overlap)"
fi

# --- replaying the log gives the table: the newest change of each key,
# minus the keys whose newest change is a DELETE. (MATERIALIZED: each part
# is computed once, and joined by id through an automatic index.)
with="WITH newest AS MATERIALIZED (
        SELECT json_extract(c.key, '\$.id') AS id, c.op, c.new_row FROM ferry_changes c
        JOIN (SELECT max(position) AS position FROM ferry_changes GROUP BY key) n
          ON n.position = c.position),
      replay AS MATERIALIZED (SELECT id, new_row FROM newest WHERE op <> 'D'),
      table_rows AS MATERIALIZED (
        SELECT json_extract(key, '\$.id') AS id, row_hash FROM ferry_bucket_rows('ledger', 1, '[0]'))"
expect_equal "$(query "SELECT count(*) FROM ledger")" "$((2 * (rounds / 2)))" \
  "the table has the rows the writers left"
expect_equal "$(query "$with SELECT count(*) FROM replay")" "$(query "SELECT count(*) FROM ledger")" \
  "the replayed log has as many rows as the table"
# (the hash is computed in the select list: in the WHERE clause SQLite would
# compute it for every pair of rows, not only for the pairs of the join)
expect_equal "$(query "$with SELECT sum(ferry_row_hash('ledger', r.new_row) = t.row_hash)
                       FROM replay r JOIN table_rows t ON t.id = r.id")" \
  "$(query "SELECT count(*) FROM ledger")" "every row of the table hashes as its replayed row"
expect_equal "$(query "$with SELECT count(*) FROM ledger l LEFT JOIN replay r ON r.id = l.id
                       WHERE r.new_row IS NULL
                          OR r.new_row <> json_object('id', l.id, 'writer', l.writer, 'n', l.n, 'note', l.note)")" \
  "0" "every row of the table is its replayed row, column by column"
expect_equal "$(query "$with SELECT count(*) FROM replay r WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = r.id)")" \
  "0" "no replayed row is missing from the table"
expect_equal "$(query "SELECT count(*) FROM ledger WHERE n <> 1 OR note NOT LIKE '% +1'")" "0" \
  "every update was applied once"
expect_equal "$(query 'PRAGMA integrity_check')" "ok" "the database is intact"

finish
