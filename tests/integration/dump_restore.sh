#!/usr/bin/env bash
# ferry dump / ferry restore end to end (docs/dump-files.md): PostgreSQL ->
# file -> SQLite, SQLite -> file -> PostgreSQL, PostgreSQL -> file ->
# PostgreSQL with --verify; a second restore writes nothing; a truncated and a
# corrupted file are refused and leave the target unchanged; --delete-missing,
# --dry-run, --tables, --force, and a held lease (exit 4).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-dump-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
pg_cluster_start dumprestore

# Children before parents: restore must reorder them.
tables='orders,"Line Items",customers'
source "$here/../lib/shop_fixture.sh"

written() {  # rows inserted + updated + deleted in the JSON report $out
  json_query "$out" "SELECT coalesce(sum((t->>'inserted')::int + (t->>'updated')::int + (t->>'deleted')::int), -1) FROM input, jsonb_array_elements(j->'tables') t"
}

new_pg src
fill_shop src 30000

# --- dump a PostgreSQL peer
run "$ferry" dump dbname=src "$work/pg.ferry" --tables "$tables" --json --quiet
expect_status 0 "ferry dump of a PostgreSQL peer"
expect_equal "$(json_query "$out" "SELECT sum((t->>'rows')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "31502" "every row is in the file"
[[ -f "$work/pg.ferry" && ! -e "$work/pg.ferry.partial" ]] && pass "the file is renamed into place" \
  || fail "the file is renamed into place"
run "$ferry" dump dbname=src "$work/pg.ferry" --tables "$tables" --quiet
expect_status 1 "an existing file is not overwritten"
expect_contains "$err" "already exists" "says so"
expect_contains "$err" "--force" "and how to replace it"
run "$ferry" dump dbname=src "$work/pg.ferry" --tables "$tables" --quiet --force
expect_status 0 "--force replaces it"
# A table named twice, once qualified, is dumped once.
run "$ferry" dump dbname=src "$work/twice.ferry" --tables 'customers,orders,public.customers' --json --quiet
expect_status 0 "a dump naming a table twice"
expect_equal "$(json_query "$out" "SELECT string_agg(t->>'table', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "customers,orders" "holds it once, as first named"

# --- PostgreSQL -> file -> PostgreSQL, verified
new_pg dst
run "$ferry" restore "$work/pg.ferry" dbname=dst --verify --json --quiet
expect_status 0 "restore into PostgreSQL, verified"
expect_equal "$(json_query "$out" "SELECT j->>'verified' FROM input")" "true" "the file's digests match the target"
same dbname=src dbname=dst && pass "ferry diff agrees" || fail "ferry diff agrees"
expect_equal "$(q dst "SELECT DISTINCT origin FROM ferry.changes")" \
  "$(q src "SELECT 'pg:' || system_identifier || ':' || d.oid FROM pg_control_system(), pg_database d WHERE d.datname = current_database()")" \
  "the restored rows carry the dumped peer as origin"
run "$ferry" restore "$work/pg.ferry" dbname=dst --verify --json --quiet
expect_status 0 "a second restore"
expect_equal "$(written)" "0" "restoring the same file twice writes nothing"
expect_equal "$(q dst "SELECT position->'source' ? 'cursor' FROM ferry.checkpoints WHERE job = 'restore from dbname=src'")" \
  "t" "the checkpoint records the dump's change-log cursor"
# Naming a table twice restores it once, under the checkpoint of its table
# set: the names sorted.
run "$ferry" restore "$work/twice.ferry" dbname=dst --tables orders,customers,orders --json --quiet
expect_status 0 "a restore naming a table twice"
expect_equal "$(json_query "$out" "SELECT string_agg(t->>'table', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "public.customers,public.orders" "restores it once"
expect_equal "$(q dst "SELECT string_agg(scope, ' | ' ORDER BY scope) FROM ferry.checkpoints WHERE job = 'restore from dbname=src'")" \
  'public."Line Items",public.customers,public.orders | public.customers,public.orders' "each table set has one checkpoint"

# --- a large restore into an empty table builds its indexes once the rows
# are in (each index gets a new file), and they find every row
createdb loadsrc; createdb loaddst
for db in loadsrc loaddst; do
  q "$db" "CREATE EXTENSION ferry; CREATE TABLE big (id int PRIMARY KEY, code text UNIQUE)" >/dev/null
done
q loadsrc "INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 120000) g" >/dev/null
index_files() { q loaddst "SELECT string_agg(pg_relation_filenode(indexrelid)::text, ',' ORDER BY indexrelid) FROM pg_index WHERE indrelid = 'big'::regclass"; }
big_files=$(index_files)
run "$ferry" dump dbname=loadsrc "$work/load.ferry" --tables big --quiet
run "$ferry" restore "$work/load.ferry" dbname=loaddst --verify --json --quiet
expect_status 0 "120,000 rows restored into an empty table, verified"
expect_not_equal "$(index_files)" "$big_files" "its indexes were built after the rows"
expect_equal "$(PGOPTIONS='-c enable_seqscan=off -c enable_bitmapscan=off' q loaddst \
  "SELECT count(*) FROM big WHERE id > 100000; SELECT count(*) FROM big WHERE code = md5('7')" | tr '\n' ,)" \
  "20000,1," "and find every row"

# --- PostgreSQL -> file -> SQLite
new_lite "$work/a.db"
run "$ferry" restore "$work/pg.ferry" "sqlite:$work/a.db" --verify --json --quiet
expect_status 0 "restore into SQLite, verified"
same dbname=src "sqlite:$work/a.db" && pass "PG and SQLite hashes agree" || fail "PG and SQLite hashes agree"
run "$ferry" restore "$work/pg.ferry" "sqlite:$work/a.db" --json --quiet
expect_equal "$(written)" "0" "a second restore into SQLite writes nothing"

# --- SQLite -> file -> PostgreSQL (and SQLite)
sqlite3 "$work/a.db" "UPDATE customers SET name = 'from sqlite' WHERE id <= 10;
                      INSERT INTO orders VALUES (50001, 1, 'new in sqlite');"
run "$ferry" dump "sqlite:$work/a.db" "$work/lite.ferry" --tables "$tables" --quiet
expect_status 0 "ferry dump of a SQLite peer"
run "$ferry" restore "$work/lite.ferry" dbname=dst --verify --json --quiet
expect_status 0 "SQLite -> file -> PostgreSQL, verified"
expect_equal "$(written)" "11" "only the 11 rows that differ are written"
same "sqlite:$work/a.db" dbname=dst && pass "ferry diff agrees" || fail "ferry diff agrees"
new_lite "$work/b.db"
run "$ferry" restore "$work/lite.ferry" "sqlite:$work/b.db" --verify --quiet
expect_status 0 "SQLite -> file -> SQLite, verified (blobs stay blobs)"

# --- damaged files: refused, nothing written
before=$(q dst "SELECT count(*), sum(hashtext(name)) FROM customers")
q src "UPDATE customers SET name = 'changed again' WHERE id <= 100" >/dev/null
run "$ferry" dump dbname=src "$work/new.ferry" --tables "$tables" --quiet
size=$(stat -c %s "$work/new.ferry")
head -c $((size / 2)) "$work/new.ferry" >"$work/cut.ferry"
run "$ferry" restore "$work/cut.ferry" dbname=dst --quiet
expect_status 1 "a truncated file is refused"
expect_contains "$err" "ferry: error: dump file \"$work/cut.ferry\" is truncated" "with a clear error"
expect_contains "$err" "Nothing was restored" "that says nothing was written"
expect_contains "$err" "HINT:" "and a hint"
cp "$work/new.ferry" "$work/bad.ferry"
printf '\xff' | dd of="$work/bad.ferry" bs=1 seek=$((size - 200)) conv=notrunc status=none
run "$ferry" restore "$work/bad.ferry" dbname=dst --quiet
expect_status 1 "a corrupted file is refused"
expect_contains "$err" "is corrupted" "with a clear error"
echo "not a dump" >"$work/text.ferry"
run "$ferry" restore "$work/text.ferry" dbname=dst --quiet
expect_status 1 "a file that is not a dump is refused"
expect_contains "$err" "is not a ferry dump file" "says what it is not"
# Well-formed, checksums and all, but with COPY's end-of-data marker as a
# line after each table's first row: PostgreSQL would stop reading there,
# and --delete-missing would then delete every row after it.
orders_before=$(q dst "SELECT count(*) FROM orders")
"${DUMP_TAMPER:-$here/../../build/dump_tamper}" "$work/new.ferry" "$work/marker.ferry"
run "$ferry" restore "$work/marker.ferry" dbname=dst --delete-missing --quiet
expect_status 1 "a file whose rows hold COPY's end-of-data marker is refused"
expect_contains "$err" "end-of-data marker" "naming the marker"
expect_equal "$(q dst "SELECT count(*) FROM orders")" "$orders_before" "no row is deleted"
expect_equal "$(q dst "SELECT count(*), sum(hashtext(name)) FROM customers")" "$before" \
  "the target is unchanged"

# --- --dry-run, --tables, --delete-missing
run "$ferry" restore "$work/new.ferry" dbname=dst --dry-run --json --quiet
expect_status 0 "--dry-run"
expect_equal "$(json_query "$out" "SELECT t->>'updated' FROM input, jsonb_array_elements(j->'tables') t WHERE t->>'table' = 'public.customers'")" \
  "100" "reports the rows it would update"
expect_equal "$(q dst "SELECT count(*), sum(hashtext(name)) FROM customers")" "$before" "and writes nothing"
run "$ferry" restore "$work/new.ferry" dbname=dst --tables customers --json --quiet
expect_status 0 "--tables restores only the tables named"
expect_equal "$(json_query "$out" "SELECT jsonb_array_length(j->'tables') FROM input")" "1" "one table"
expect_equal "$(q dst "SELECT count(*) FROM orders WHERE id = 50001")" "1" "a row only the target has is kept"
# A customer only the target has, with an order of its own: the order
# (child) must go before the customer (parent), which is written first.
q dst "INSERT INTO customers (id, name) VALUES (90001, 'only here');
       INSERT INTO orders VALUES (90001, 90001, 'only here')" >/dev/null
run "$ferry" restore "$work/new.ferry" dbname=dst --delete-missing --verify --json --quiet
expect_status 0 "--delete-missing makes an exact mirror"
expect_equal "$(q dst "SELECT count(*) FROM orders WHERE id = 50001")" "0" "the extra row is deleted"
expect_equal "$(q dst "SELECT count(*) FROM customers WHERE id = 90001")" "0" \
  "a parent only the target has is deleted after its child"
same dbname=src dbname=dst && pass "the target equals the source" || fail "the target equals the source"

# --- a table missing on the target
createdb other
q other "CREATE TABLE customers (id int PRIMARY KEY, name text)" >/dev/null
"$ferry" init dbname=other >/dev/null
run "$ferry" restore "$work/new.ferry" dbname=other --quiet
expect_status 1 "tables missing or different on the target are refused"
expect_contains "$err" "nothing was written" "before anything is written"

# --- leases
q dst "SELECT ferry.try_lock('sync public.orders', 'nightly job on db1', '1 hour')" >/dev/null
run "$ferry" restore "$work/new.ferry" dbname=dst --quiet
expect_status 4 "a table leased by another holder: exit 4"
expect_contains "$err" "nightly job on db1" "the message names the holder"
expect_equal "$(q dst "SELECT count(*) FROM ferry.locks")" "1" "its own leases are released"

# --- what a database or role sets does not change the values: a LATIN1
# database, bytea_output = 'escape', DateStyle = 'SQL, DMY'
createdb -E LATIN1 --locale=C -T template0 latin
q latin "ALTER DATABASE latin SET bytea_output = 'escape'; ALTER DATABASE latin SET DateStyle = 'SQL, DMY'" >/dev/null
q latin "CREATE TABLE t (id int PRIMARY KEY, name text, b bytea, d date, c char(6))" >/dev/null
"$ferry" init dbname=latin --track t >/dev/null
PGCLIENTENCODING=UTF8 q latin "INSERT INTO t VALUES (1, 'café', '\x00ff41', '2024-02-03', 'Ünï'), (2, 'plain', 'hello', '1999-12-31', NULL)" >/dev/null
sqlite3 "$work/latin.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, b BLOB, d DATE, c CHAR(6))"
"$ferry" init "sqlite:$work/latin.db" >/dev/null
run "$ferry" dump dbname=latin "$work/latin.ferry" --tables t --quiet
expect_status 0 "a dump of a LATIN1 database"
run "$ferry" restore "$work/latin.ferry" "sqlite:$work/latin.db" --verify --quiet
expect_status 0 "restores into SQLite and verifies"
expect_equal "$(sqlite3 "$work/latin.db" "SELECT name || ' ' || hex(name) || ' ' || quote(b) || ' ' || d || ' ' || rtrim(c) FROM t WHERE id = 1")" \
  "café 636166C3A9 X'00FF41' 2024-02-03 Ünï" "as UTF-8 text, the bytes and the date it held"
createdb utf
q utf "CREATE TABLE t (id int PRIMARY KEY, name text, b bytea, d date, c char(6))" >/dev/null
"$ferry" init dbname=utf >/dev/null
run "$ferry" full-sync --from dbname=latin --to dbname=utf --verify --quiet --tables t
expect_status 0 "a full sync from the LATIN1 database into a UTF-8 one verifies"
expect_equal "$(q utf "SELECT name || ' ' || encode(b, 'hex') || ' ' || d FROM t WHERE id = 1")" \
  "café 00ff41 2024-02-03" "with the same values"
run "$ferry" diff dbname=latin "sqlite:$work/latin.db" --tables t --quiet
expect_status 0 "and ferry diff finds the LATIN1 table and the SQLite file equal"

# --- a table with a stored generated column: the file carries the other
# columns, the target computes it
for db in gsrc gdst; do
  createdb $db
  q $db "CREATE TABLE g (id int PRIMARY KEY, price numeric, taxed numeric GENERATED ALWAYS AS (price * 1.2) STORED)" >/dev/null
  "$ferry" init dbname=$db >/dev/null
done
q gsrc "INSERT INTO g (id, price) SELECT i, i * 10 FROM generate_series(1, 10) i" >/dev/null
run "$ferry" dump dbname=gsrc "$work/gen.ferry" --tables g --quiet
expect_status 0 "a dump of a table with a generated column"
run "$ferry" restore "$work/gen.ferry" dbname=gdst --verify --quiet
expect_status 0 "restores and verifies"
expect_equal "$(q gdst "SELECT sum(taxed) FROM g")" "$(q gsrc "SELECT sum(taxed) FROM g")" "the target computed the column"

# --- SQLite -> file -> SQLite: blobs stay blobs in tables whose names hold
# a dot or a double quote
for f in da db; do
  sqlite3 "$work/$f.db" 'CREATE TABLE "my.files" (id INTEGER PRIMARY KEY, data BLOB);
                         CREATE TABLE "q""t" (id INTEGER PRIMARY KEY, data BLOB);'
  "$ferry" init "sqlite:$work/$f.db" --track '"my.files","q""t"' >/dev/null
done
sqlite3 "$work/da.db" "INSERT INTO \"my.files\" VALUES (1, x'00ff10'); INSERT INTO \"q\"\"t\" VALUES (1, x'00ff10');"
"$ferry" dump "sqlite:$work/da.db" "$work/dotted.ferry" --tables '"my.files","q""t"' --quiet >/dev/null
run "$ferry" restore "$work/dotted.ferry" "sqlite:$work/db.db" --verify --quiet
expect_status 0 "tables named with a dot and a quote restore and verify"
expect_equal "$(sqlite3 "$work/db.db" "SELECT typeof(data) || quote(data) FROM \"my.files\" UNION ALL SELECT typeof(data) || quote(data) FROM \"q\"\"t\"")" \
  "$(printf "blobX'00FF10'\nblobX'00FF10'")" "with their blobs as blobs"

# --- SIGTERM: a dump leaves no file, a restore writes nothing of the table
# it was in, records why, and releases its leases
for db in bigsrc bigdst; do
  createdb "$db"
  q "$db" "CREATE TABLE big (id int PRIMARY KEY, body text)" >/dev/null
done
q bigsrc "INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 1000000) i" >/dev/null
"$ferry" init dbname=bigsrc --track big >/dev/null
"$ferry" init dbname=bigdst >/dev/null
# wait_then_term PID CONDITION: SIGTERM once CONDITION holds (the work
# began); its exit status in $code.
wait_then_term() {
  for _ in $(seq 1 400); do eval "$2" && break; sleep 0.02; done
  kill -TERM "$1"
  code=0
  wait "$1" || code=$?
}
"$ferry" dump dbname=bigsrc "$work/big.ferry" --quiet 2>"$work/term.err" &
wait_then_term $! "[[ -s '$work/big.ferry.partial' ]]"
expect_equal "$code" "1" "ferry dump stops on SIGTERM (exit 1)"
expect_contains "$(cat "$work/term.err")" "cancelled" "and says so"
[[ ! -e "$work/big.ferry" && ! -e "$work/big.ferry.partial" ]] && pass "and leaves no file behind" \
  || fail "and leaves no file behind" "$(ls -l "$work"/big.ferry*)"
"$ferry" dump dbname=bigsrc "$work/big.ferry" --quiet >/dev/null
"$ferry" restore "$work/big.ferry" dbname=bigdst --quiet 2>"$work/term.err" &
wait_then_term $! "[[ \$(q bigdst 'SELECT count(*) FROM ferry.locks') == 1 ]]"
expect_equal "$code" "1" "ferry restore stops on SIGTERM (exit 1)"
expect_equal "$(q bigdst "SELECT count(*) FROM big")" "0" "nothing of the table was written"
expect_equal "$(q bigdst "SELECT status || ': ' || last_error FROM ferry.checkpoints WHERE job LIKE 'restore from %'")" \
  "failed: cancelled by request" "the checkpoint records why it stopped"
expect_equal "$(q bigdst "SELECT count(*) FROM ferry.locks")" "0" "its leases are released"
run "$ferry" restore "$work/big.ferry" dbname=bigdst --verify --quiet
expect_status 0 "the next restore completes and verifies"

finish
