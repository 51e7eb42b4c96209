#!/usr/bin/env bash
# The CLI with SQLite peers: ferry init, ferry status, and ferry diff between
# SQLite files and between SQLite and PostgreSQL, both ways.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-sqlite-cli-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
a=$work/a.db
b=$work/b.db
pg_cluster_start sqlitecli  # also for json_query

sqlite3 "$a" <<'SQL'
CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT, balance NUMERIC, opened DATE);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 120000)
INSERT INTO accounts SELECT i, 'user' || (i % 7), i * 1.5, date('2024-01-01', '+' || (i % 365) || ' days') FROM s;
CREATE TABLE "Order Lines" ("order" TEXT, line INTEGER, qty INTEGER, PRIMARY KEY ("order", line)) WITHOUT ROWID;
INSERT INTO "Order Lines" VALUES ('o1', 1, 5), ('o1', 2, 7), ('o2', 1, 1);
CREATE TABLE keyless (v);
SQL
cp "$a" "$b"

# --- init
run "$ferry" init "sqlite:$a" --track 'accounts,"Order Lines"'
expect_status 0 "init a SQLite file"
expect_contains "$out" "ferry 0.15 created in sqlite:$a" "init reports the installation"
expect_contains "$out" 'tracking "Order Lines"' "init reports quoted table names"
expect_equal "$(sqlite3 "$a" 'PRAGMA journal_mode')" "wal" "init switches the file to WAL"
run "$ferry" init "sqlite:$a" --track accounts --json
expect_status 0 "init again"
expect_contains "$out" '"action":"unchanged"' "a second init changes nothing"
# ferry tables of an older version (1: one consumer per peer) are refused
# until ferry init upgrades them in place
sqlite3 "$a" "DROP VIEW ferry_status; ALTER TABLE ferry_consumers DROP COLUMN peer;
  ALTER TABLE ferry_consumers DROP COLUMN tables; CREATE VIEW ferry_status AS SELECT 1 AS v;
  UPDATE ferry_meta SET value = '1' WHERE key = 'schema_version'"
run "$ferry" status "sqlite:$a"
expect_status 1 "a peer with version 1 ferry tables is refused"
expect_contains "$err" "are of version 1, older than this ferry's (8)" "the error says why"
expect_contains "$err" "Run: ferry init sqlite:$a" "and what to run"
run "$ferry" init "sqlite:$a"
expect_contains "$out" "ferry 0.15 updated in sqlite:$a" "init upgrades them"
run "$ferry" status "sqlite:$a"
expect_status 0 "then the peer is usable"
run "$ferry" init "sqlite:$b" --track accounts,keyless
expect_status 1 "init refuses a table without a primary key"
expect_contains "$err" 'table "keyless" has no primary key' "the error names the table"
expect_equal "$(sqlite3 "$b" "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry%'")" "0" \
  "a failed init leaves nothing behind"
run "$ferry" init "sqlite:$b" --track accounts,missing
expect_contains "$err" 'no such table: "missing"' "init names a missing table"
run "$ferry" init "sqlite:$b" --track 'accounts,"Order Lines"'
expect_status 0 "init the second file"
run "$ferry" init "sqlite:$work/new.db"
expect_status 0 "init creates a new file"
expect_contains "$out" "created in sqlite:$work/new.db" "and says so"

# --- status
sqlite3 "$b" "UPDATE accounts SET owner = 'changed' WHERE id IN (17, 9001); DELETE FROM accounts WHERE id = 42;
  INSERT INTO accounts VALUES (120001, 'new', 1, '2024-05-05'); UPDATE \"Order Lines\" SET qty = 8 WHERE \"order\" = 'o2';"
run "$ferry" status "sqlite:$b"
expect_status 0 "status of a SQLite peer"
expect_contains "$out" "accounts" "status lists the table"
expect_contains "$out" '"Order Lines"' "status quotes names that need it"
run "$ferry" status "sqlite:$b" --json
expect_equal "$(json_query "$out" "SELECT sum((t->>'pending_changes')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "5" "status --json counts the pending changes"
run "$ferry" status "sqlite:$work/missing.db"
expect_status 1 "status of a missing file fails"
expect_contains "$err" "no SQLite database at $work/missing.db" "and says so"
sqlite3 "$work/plain.db" "CREATE TABLE t (id INTEGER PRIMARY KEY)"
run "$ferry" status "sqlite:$work/plain.db"
expect_contains "$err" "ferry is not installed in sqlite:$work/plain.db" "status without ferry points to init"

# --- diff between two SQLite files
run "$ferry" diff "sqlite:$a" "sqlite:$b" --rows --json --quiet
expect_status 3 "diff finds differences between SQLite files"
# Tables come in the order A tracks them: "Order Lines", then accounts.
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,1,changed}' FROM input")" '[{"id": 17}, {"id": 9001}]' \
  "changed rows are found"
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,1,only_in_a}' FROM input")" '[{"id": 42}]' "a deleted row is only in A"
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,1,only_in_b}' FROM input")" '[{"id": 120001}]' "an inserted row is only in B"
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,0,changed}' FROM input")" '[{"line": 1, "order": "o2"}]' \
  "composite keys are found"
expect_equal "$(sqlite3 "$a" "SELECT kind || ' ' || status || ' ' || method FROM ferry_sessions ORDER BY id DESC LIMIT 1")" \
  "diff succeeded buckets" "the diff is recorded in A's ferry_sessions"
run "$ferry" diff "sqlite:$a" "sqlite:$a" --quiet
expect_status 0 "a file equals itself"
run "$ferry" diff "sqlite:$a" "sqlite:$b" --where 'accounts:id < 100' --tables accounts --rows --json --quiet
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,0,changed}' || ' ' || (j#>>'{tables,0,rows_a}') FROM input")" \
  '[{"id": 17}] 99' "--where filters SQLite rows"
run "$ferry" diff "sqlite:$a" "sqlite:$b" --where 'accounts:id < (SELECT 5)' --tables accounts
expect_status 1 "a where condition with a subquery is refused"
expect_contains "$err" "invalid where condition: it contains a subquery" "with the reason"

# --- diff between PostgreSQL and SQLite, both ways
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION ferry;
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, opened date);
INSERT INTO accounts SELECT i, 'user' || (i % 7), i * 1.5, date '2024-01-01' + i % 365
FROM generate_series(1, 120000) i;
CREATE TABLE "Order Lines" ("order" text, line int, qty int, PRIMARY KEY ("order", line));
INSERT INTO "Order Lines" VALUES ('o1', 1, 5), ('o1', 2, 7), ('o2', 1, 1);
ANALYZE;
SQL
pg="host=127.0.0.1 port=$PGPORT user=postgres"
run "$ferry" diff "$pg" "sqlite:$a" --tables 'accounts,"Order Lines"'
expect_status 0 "PostgreSQL and SQLite holding the same rows are equal"
run "$ferry" diff "$pg" "sqlite:$b" --tables accounts --rows --json --quiet
expect_status 3 "PostgreSQL and a changed SQLite file differ"
expect_equal "$(json_query "$out" "SELECT (j#>>'{tables,0,changed}') || (j#>>'{tables,0,only_in_a}') || (j#>>'{tables,0,only_in_b}') FROM input")" \
  '[{"id": 17}, {"id": 9001}][{"id": 42}][{"id": 120001}]' "the same rows are found across engines"
run "$ferry" diff "sqlite:$b" "$pg" --tables accounts --rows --json --quiet
expect_equal "$(json_query "$out" "SELECT (j#>>'{tables,0,changed}') || (j#>>'{tables,0,only_in_b}') FROM input")" \
  '[{"id": 17}, {"id": 9001}][{"id": 42}]' "and the other way round"
psql -X -q -c "ALTER TABLE accounts ADD COLUMN note text"
run "$ferry" diff "$pg" "sqlite:$a" --tables accounts
expect_status 1 "different columns are refused"
expect_contains "$err" "Only in A (host=127.0.0.1 port=$PGPORT user=postgres): note" "naming the column"
# --- status --prometheus escapes a line feed in a table's name (the
# exposition format allows none inside a label value)
nl="$work/newline.db"
sqlite3 "$nl" "CREATE TABLE \"two
lines\" (id INTEGER PRIMARY KEY)"
"$ferry" init "sqlite:$nl" --track '"two
lines"' >/dev/null
sqlite3 "$nl" "INSERT INTO \"two
lines\" VALUES (1)"
run "$ferry" status "sqlite:$nl" --prometheus
expect_status 0 "status --prometheus of a table named with a line feed"
expect_equal "$(grep -c '^ferry_' <<<"$out")" "3" "one line per sample (pending, lag, conflicts)"
expect_contains "$out" 'two\nlines' "the line feed written as \\n"
# --- a schema change that breaks SQLite capture (no DDL triggers there) is
# shown by ferry status and stops ferry sync from that file, until
# ferry_track() runs again (docs/sqlite.md, "Schema changes")
sa="$work/schema_a.db" sb="$work/schema_b.db"
for f in "$sa" "$sb"; do
  sqlite3 "$f" "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
  "$ferry" init "sqlite:$f" --track notes >/dev/null
done
"$ferry" full-sync --from "sqlite:$sa" --to "sqlite:$sb" --quiet >/dev/null
for f in "$sa" "$sb"; do sqlite3 "$f" "ALTER TABLE notes ADD COLUMN tag TEXT"; done
sqlite3 "$sa" "INSERT INTO notes VALUES (1, 'first', 'red')"
run "$ferry" status "sqlite:$sa"
expect_contains "$out" "warning: capture of notes is broken: columns changed" "status names the broken capture"
run "$ferry" status "sqlite:$sa" --json
expect_contains "$out" '"capture":"columns changed: run ferry_track() again"' "and so does --json"
run "$ferry" sync --from "sqlite:$sa" --to "sqlite:$sb" --quiet
expect_status 1 "sync from a file whose capture a schema change broke is refused"
expect_contains "$err" "capture of notes in sqlite:$sa is broken by a schema change" "saying why"
expect_equal "$(sqlite3 "$sb" "SELECT count(*) FROM notes")" "0" "nothing was synced"
"$ferry" init "sqlite:$sa" --track notes >/dev/null
sqlite3 "$sa" "UPDATE notes SET tag = 'blue' WHERE id = 1"
run "$ferry" sync --from "sqlite:$sa" --to "sqlite:$sb" --quiet
expect_status 0 "after ferry_track() again, the link goes on"
expect_equal "$(sqlite3 "$sb" "SELECT body || ' ' || tag FROM notes")" "first blue" "with the new column"
# A tracked table dropped since does not stop a copy or a link of others.
for f in "$sa" "$sb"; do sqlite3 "$f" "CREATE TABLE gone (id INTEGER PRIMARY KEY)"; done
"$ferry" init "sqlite:$sa" --track gone >/dev/null
sqlite3 "$sa" "DROP TABLE gone"
sqlite3 "$sa" "INSERT INTO notes VALUES (2, 'second', 'green')"
run "$ferry" full-sync --from "sqlite:$sa" --to "sqlite:$sb" --tables notes --quiet
expect_status 0 "a full sync beside a tracked table dropped since"
sqlite3 "$sa" "UPDATE notes SET tag = 'gray' WHERE id = 2"
run "$ferry" sync --from "sqlite:$sa" --to "sqlite:$sb" --tables notes --quiet
expect_equal "$status|$(sqlite3 "$sb" "SELECT tag FROM notes WHERE id = 2")" "0|gray" \
  "and a link over the other tables"
# --- a failed init of a new file leaves no file behind
run "$ferry" init "sqlite:$work/typo.db" --track no_such_table
expect_status 1 "init of a new file with a table it lacks fails"
[[ ! -e "$work/typo.db" && ! -e "$work/typo.db-wal" ]] && pass "and leaves no file behind" \
  || fail "and leaves no file behind" "$(ls -l "$work"/typo.db*)"
finish
