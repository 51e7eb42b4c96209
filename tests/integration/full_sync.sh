#!/usr/bin/env bash
# ferry full-sync end to end, on a real PostgreSQL cluster and real SQLite
# files: all four engine pairs with --verify, re-runs that write nothing,
# changes, --delete-missing, --dry-run, --where, --method diff and auto,
# pull and push with a config file, leases (exit 4, ferry unlock), SIGTERM
# and ferry cancel, ferry history, kill -9 at several points and resume, and
# the errors that must come before anything is written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-full-sync-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
pg_cluster_start fullsync

tables='customers,orders,"Line Items"'
source "$here/../lib/shop_fixture.sh"

# sync ARGS...: full-sync, of the three tables unless ARGS name others.
sync() {
  if [[ " $* " == *" --tables "* ]]; then run "$ferry" full-sync --quiet "$@"
  else run "$ferry" full-sync --quiet --tables "$tables" "$@"; fi
}
# field EXPR TABLE: EXPR over the JSON report's entry t for TABLE.
field() { json_query "$out" "SELECT $1 FROM input, jsonb_array_elements(j->'tables') t WHERE t->>'table' IN ('$2', 'public.$2')"; }

new_pg src
fill_shop src 3000

# --- PostgreSQL -> PostgreSQL
new_pg dst
sync --from dbname=src --to dbname=dst --verify --json
expect_status 0 "PG->PG into empty tables, verified"
expect_equal "$(field "t->>'inserted'" customers)" "1002" "every customer inserted"
expect_equal "$(json_query "$out" "SELECT j->>'verified' FROM input")" "true" "verify reports equal hashes"
same dbname=src dbname=dst && pass "ferry diff agrees" || fail "ferry diff agrees"
expect_equal "$(q dst "SELECT DISTINCT origin FROM ferry.changes")" \
  "$(q src "SELECT 'pg:' || system_identifier || ':' || d.oid FROM pg_control_system(), pg_database d WHERE d.datname = current_database()")" \
  "the copied rows carry the source as origin (never sent back to it)"
changes_before=$(q dst "SELECT count(*) FROM ferry.changes")
sync --from dbname=src --to dbname=dst --verify --json
expect_status 0 "a second run"
expect_equal "$(json_query "$out" "SELECT sum((t->>'inserted')::int + (t->>'updated')::int + (t->>'deleted')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "0" "re-running a finished sync writes nothing"
expect_equal "$(q dst "SELECT count(*) FROM ferry.changes")" "$changes_before" \
  "and captures no change on the target"

q src "UPDATE customers SET name = 'renamed' WHERE id IN (1, 2, 3);
       UPDATE customers SET data = '{\"i\": 4, \"changed\": true}' WHERE id = 4;
       INSERT INTO customers VALUES (2000, 'new', NULL, NULL, NULL, NULL, NULL, NULL);
       DELETE FROM orders WHERE id = 3000;" >/dev/null
q dst "INSERT INTO customers (id, name) VALUES (5000, 'only on the target')" >/dev/null
sync --from dbname=src --to dbname=dst --json
expect_equal "$(field "concat_ws(',', t->>'inserted', t->>'updated', t->>'only_on_target')" customers)" \
  "1,4,1" "changed rows: 1 inserted, 4 updated (json compared by text), 1 kept only on the target"
expect_equal "$(field "t->>'only_on_target'" orders)" "1" "a row deleted at the source is kept and counted"
expect_equal "$(q dst "SELECT name FROM customers WHERE id = 5000")" "only on the target" "the target's own row is kept"

sync --from dbname=src --to dbname=dst --verify --json
expect_status 3 "--verify finds the rows kept only on the target (exit 3)"
expect_contains "$(json_query "$out" "SELECT string_agg(t->>'table', ',') FROM input, jsonb_array_elements(j->'tables') t WHERE t->>'verified' = 'false'")" \
  "customers" "and names the table"
# The next run starts over rather than skipping every table as "done before".
before=$(q dst "SELECT count(*) FROM orders")
sync --from dbname=src --to dbname=dst --delete-missing --dry-run --json
expect_status 0 "a dry run"
expect_equal "$(field "t->>'deleted'" orders)" "1" "the dry run reports the row it would delete"
expect_equal "$(q dst "SELECT count(*) FROM orders")" "$before" "the dry run writes nothing"
# and holds no writer up: it runs beside a transaction that is writing orders
q dst "BEGIN; LOCK TABLE orders IN ROW EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT" >/dev/null &
holder=$!
sleep 0.5
run timeout 20 "$ferry" full-sync --quiet --tables "$tables" --from dbname=src --to dbname=dst --delete-missing --dry-run
expect_status 0 "a dry run beside a writer finishes (it takes no lock that waits for one)"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
q dst "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
sync --from dbname=src --to dbname=dst --delete-missing --verify --json
expect_status 0 "--delete-missing mirrors the source"
expect_equal "$(field "t->>'deleted'" customers),$(field "t->>'deleted'" orders)" "1,1" "both extra rows deleted"
same dbname=src dbname=dst && pass "the target is an exact mirror" || fail "the target is an exact mirror"

# --- --where
new_pg part
sync --from dbname=src --to dbname=part --where 'customers:id <= 10' --where 'orders:customer_id <= 10' --json
expect_status 0 "--where copies a subset"
expect_equal "$(q part "SELECT count(*) FROM customers")" "10" "only the rows the condition selects"
expect_equal "$(field "t->>'source_rows'" orders)" "29" "the condition applies per table (order 3000 is gone)"

# --- many small tables share one pg_dump, whose order is its own (by name):
# here ferry asks for them in the reverse order, so pg_dump's blocks come
# before their turn and are held. A pg_dump that logs each start counts them.
cat >"$work/pg_dump" <<SCRIPT
#!/bin/sh
[ "\$1" = --version ] || echo start >>"$work/pg_dump.log"
exec $PG_BIN/pg_dump "\$@"
SCRIPT
chmod +x "$work/pg_dump"
createdb smallsrc; createdb smalldst
small_tables=$(seq -s, -f 'small%02g' 30 -1 1)
for db in smallsrc smalldst; do
  q "$db" "CREATE EXTENSION ferry; DO \$\$ BEGIN FOR g IN 1..30 LOOP
             EXECUTE format('CREATE TABLE small%s (id int PRIMARY KEY, v text)', to_char(g, 'FM00'));
           END LOOP; END \$\$" >/dev/null
done
q smallsrc "DO \$\$ BEGIN FOR g IN 1..30 LOOP
             EXECUTE format('INSERT INTO small%s SELECT i, md5(i::text) FROM generate_series(1, %s) i',
                            to_char(g, 'FM00'), g * 10);
           END LOOP; END \$\$" >/dev/null
: >"$work/pg_dump.log"
FERRY_PG_DUMP=$work/pg_dump sync --tables "$small_tables" --from dbname=smallsrc --to dbname=smalldst --verify --json
expect_status 0 "30 small tables, asked for in the reverse of pg_dump's order, verified"
expect_equal "$(json_query "$out" "SELECT sum((t->>'inserted')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "4650" "every row of every table inserted once"
expect_equal "$(wc -l <"$work/pg_dump.log")" "1" "one pg_dump for all 30 tables"
q smallsrc "UPDATE small07 SET v = 'changed' WHERE id = 3" >/dev/null
FERRY_PG_DUMP=$work/pg_dump sync --tables "$small_tables" --from dbname=smallsrc --to dbname=smalldst --method dump --json
expect_equal "$(json_query "$out" "SELECT sum((t->>'updated')::int) || ',' || sum((t->>'inserted')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "1,0" "a second run writes the one changed row"
# A table named twice, once as the schema would find it and once qualified,
# is one table: copied once, under the checkpoint of its table set (the
# names sorted, whatever the order of --tables).
: >"$work/pg_dump.log"
FERRY_PG_DUMP=$work/pg_dump sync --tables small02,small01,public.small02 --from dbname=smallsrc --to dbname=smalldst --method dump --verify --json
expect_status 0 "a table named twice"
expect_equal "$(json_query "$out" "SELECT string_agg(t->>'table', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "public.small02,public.small01" "is copied once, in its first place"
expect_equal "$(wc -l <"$work/pg_dump.log")" "1" "by the one pg_dump of the group"
sync --tables small01,small02 --from dbname=smallsrc --to dbname=smalldst --method dump
expect_equal "$(q smalldst "SELECT string_agg(scope, ' | ') FROM ferry.checkpoints WHERE job LIKE 'full-sync from %' AND scope NOT LIKE '%small03%'")" \
  "public.small01,public.small02" "one checkpoint for the two tables in either order"
# Values that compress on disk to almost nothing: four small tables of 12 MiB
# of text each, asked for in the reverse of pg_dump's order. The first two
# blocks are held, the third would pass the 32 MiB ferry keeps for blocks
# that come early: the group gives up, and the two tables it had not held
# are dumped one by one.
for db in smallsrc smalldst; do
  q "$db" "DO \$\$ BEGIN FOR g IN 1..4 LOOP
             EXECUTE format('CREATE TABLE roomy%s (id int PRIMARY KEY, v text)', g);
           END LOOP; END \$\$" >/dev/null
done
q smallsrc "DO \$\$ BEGIN FOR g IN 1..4 LOOP
             EXECUTE format('INSERT INTO roomy%s SELECT i, repeat(md5(i::text), 32768) FROM generate_series(1, 12) i', g);
           END LOOP; END \$\$" >/dev/null
expect_equal "$(q smallsrc "SELECT pg_table_size('roomy1') < 4 * 1024 * 1024")" "t" "roomy tables are small on disk"
: >"$work/pg_dump.log"
FERRY_PG_DUMP=$work/pg_dump sync --tables roomy4,roomy3,roomy2,roomy1 --from dbname=smallsrc --to dbname=smalldst --verify --json
expect_status 0 "tables whose early blocks outgrow the memory kept for them, verified"
expect_equal "$(json_query "$out" "SELECT string_agg(t->>'inserted', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "12,12,12,12" "every row once"
expect_equal "$(wc -l <"$work/pg_dump.log")" "3" "the group, then one pg_dump for each table it had not held"

# --- PostgreSQL -> SQLite -> SQLite -> PostgreSQL
new_lite "$work/a.db"
sync --from dbname=src --to "sqlite:$work/a.db" --verify --batch-rows 300
expect_status 0 "PG->SQLite, verified"
expect_equal "$(sqlite3 "$work/a.db" "SELECT typeof(photo), typeof(active), active, typeof(score) FROM customers WHERE id = 2")" \
  "blob|integer|1|real" "bytea, boolean and float arrive as SQLite blob, integer and real"
expect_equal "$(sqlite3 "$work/a.db" "SELECT name FROM customers WHERE id = 1002")" \
  "$(printf 'tab\there, newline\nthere, back\\slash')" "escapes survive COPY text"
sync --from dbname=src --to "sqlite:$work/a.db" --verify --json
expect_equal "$(json_query "$out" "SELECT sum((t->>'inserted')::int + (t->>'updated')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "0" "PG->SQLite again writes nothing"
new_lite "$work/b.db"
sync --from "sqlite:$work/a.db" --to "sqlite:$work/b.db" --verify
expect_status 0 "SQLite->SQLite, verified"
new_pg back
sync --from "sqlite:$work/b.db" --to dbname=back --verify
expect_status 0 "SQLite->PG, verified"
same dbname=src dbname=back && pass "the round trip PG->SQLite->SQLite->PG changes nothing" \
  || fail "the round trip PG->SQLite->SQLite->PG changes nothing"
sync --from dbname=src --to "sqlite:$work/b.db" --verify --delete-missing
expect_status 0 "PG->SQLite with --delete-missing"

# --- --method diff: bucket hashes first, then only the rows that differ
q src "UPDATE customers SET score = score + 1 WHERE id % 100 = 0;
       UPDATE \"Line Items\" SET qty = 0 WHERE \"No\" = 7;
       INSERT INTO orders VALUES (5001, 1, 'new order');
       DELETE FROM orders WHERE id = 17;" >/dev/null
q dst "INSERT INTO orders VALUES (6000, 1, 'only on the target')" >/dev/null
changes_before=$(q dst "SELECT count(*) FROM ferry.changes")
sync --from dbname=src --to dbname=dst --method diff --json
expect_status 0 "PG->PG --method diff"
expect_equal "$(field "concat_ws(',', t->>'method', t->>'source_rows', t->>'inserted', t->>'updated', t->>'unchanged')" customers)" \
  "diff,1003,0,10,993" "the ten changed customers are rewritten, the others counted unchanged"
expect_equal "$(field "concat_ws(',', t->>'inserted', t->>'updated', t->>'only_on_target')" orders)" \
  "1,0,2" "a new order inserted; two rows only on the target kept and counted"
expect_equal "$(field "t->>'updated'" '"Line Items"')" "1" "a composite key row updated"
expect_equal "$(q dst "SELECT count(*) - $changes_before FROM ferry.changes")" "12" \
  "exactly the twelve differing rows were written"
sync --from dbname=src --to dbname=dst --method diff --json
expect_equal "$(json_query "$out" "SELECT sum((t->>'inserted')::int + (t->>'updated')::int) FROM input, jsonb_array_elements(j->'tables') t")" \
  "0" "re-running --method diff writes nothing"
before=$(q dst "SELECT count(*) FROM orders")
sync --from dbname=src --to dbname=dst --method diff --delete-missing --dry-run --json
expect_equal "$(field "t->>'deleted'" orders),$(q dst "SELECT count(*) FROM orders")" "2,$before" \
  "a --method diff dry run reports two deletes and writes nothing"
sync --from dbname=src --to dbname=dst --method diff --delete-missing --verify --json
expect_status 0 "--method diff --delete-missing, verified"
expect_equal "$(field "t->>'deleted'" orders)" "2" "deletes exactly the rows only the target had"
same dbname=src dbname=dst && pass "the diff-synced target is an exact mirror" \
  || fail "the diff-synced target is an exact mirror"

sync --from dbname=src --to "sqlite:$work/b.db" --method diff --delete-missing --verify --json
expect_status 0 "PG->SQLite --method diff, verified"
expect_equal "$(field "concat_ws(',', t->>'inserted', t->>'updated', t->>'deleted')" orders)" "1,0,1" \
  "SQLite target: the new order inserted, the deleted one deleted"
sync --from "sqlite:$work/b.db" --to "sqlite:$work/a.db" --method diff --delete-missing --verify
expect_status 0 "SQLite->SQLite --method diff, verified"
sync --from "sqlite:$work/a.db" --to dbname=back --method diff --delete-missing --verify
expect_status 0 "SQLite->PG --method diff, verified"
same dbname=src dbname=back && pass "PG->SQLite->SQLite->PG by --method diff changes nothing" \
  || fail "PG->SQLite->SQLite->PG by --method diff changes nothing"

# Keys ferry prints in canonical form (a SQLite DATE) are found by a scan
for db in a b; do
  sqlite3 "$work/$db.db" "CREATE TABLE events (day DATE, kind TEXT, n INTEGER, PRIMARY KEY (day, kind))"
done
sqlite3 "$work/b.db" "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 300)
  INSERT INTO events SELECT date('2024-01-01', '+' || n || ' days'), 'k' || (n % 3), n FROM i"
sync --from "sqlite:$work/b.db" --to "sqlite:$work/a.db" --tables events
sqlite3 "$work/b.db" "UPDATE events SET n = -n WHERE n % 100 = 0; DELETE FROM events WHERE n = 5"
sqlite3 "$work/a.db" "INSERT INTO events VALUES ('2030-01-01', 'x', 0)"
sync --from "sqlite:$work/b.db" --to "sqlite:$work/a.db" --tables events --method diff --delete-missing --verify --json
expect_status 0 "SQLite DATE keys by --method diff, verified"
expect_equal "$(field "concat_ws(',', t->>'updated', t->>'deleted')" events)" "3,2" \
  "three rows updated, two deleted, found by their canonical keys"

# --method auto: diff where the target holds most rows (planner estimates)
new_pg fresh
q src "ANALYZE" >/dev/null
sync --from dbname=src --to dbname=fresh --method auto --json
expect_equal "$(json_query "$out" "SELECT string_agg(DISTINCT t->>'method', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "dump" "auto copies into empty tables by dump"
q fresh "ANALYZE" >/dev/null
sync --from dbname=src --to dbname=fresh --method auto --json
expect_equal "$(json_query "$out" "SELECT string_agg(DISTINCT t->>'method', ',') FROM input, jsonb_array_elements(j->'tables') t")" \
  "diff" "and compares bucket hashes once the target holds the rows"

# --- named peers in a config file: ferry pull / ferry push
cat >"$work/ferry.toml" <<EOF
local = "here"            # pull and push are relative to it
[peers.here]
url = "sqlite:a.db"       # relative to this file
[peers.hub]
url = "dbname=src"
[peers.mirror]
url = "dbname=back"
EOF
run "$ferry" pull hub --config "$work/ferry.toml" --verify --json --quiet
expect_status 0 "ferry pull copies from a named peer into the local one"
expect_equal "$(json_query "$out" "SELECT concat_ws(' -> ', j->>'source', j->>'target') FROM input")" \
  "dbname=src -> sqlite:$work/a.db" "names resolve through the config, SQLite paths relative to it"
expect_equal "$(sqlite3 "$work/a.db" "SELECT direction FROM ferry_sessions ORDER BY id DESC LIMIT 1")" "pull" \
  "the session records the direction"
q back "DELETE FROM orders WHERE id = 1" >/dev/null
run "$ferry" --config "$work/ferry.toml" push mirror --method diff --verify --quiet
expect_status 0 "ferry push copies from the local peer to a named one"
expect_equal "$(q back "SELECT count(*) FROM orders WHERE id = 1")" "1" "the pushed row is back"
FERRY_CONFIG="$work/ferry.toml" run "$ferry" history hub --limit 1 --json
expect_status 0 "FERRY_CONFIG names the config file; every command takes peer names"
run "$ferry" pull nowhere --config "$work/ferry.toml"
expect_status 1 "an unknown peer name is refused"
expect_contains "$err" 'no peer named "nowhere"' "and named"
printf 'local = "here"\n[peers.here\n' >"$work/broken.toml"
run "$ferry" pull hub --config "$work/broken.toml"
expect_status 1 "a broken config file is refused"
expect_contains "$err" "broken.toml: line 2" "with the line"
printf '[peers.hub]\nurl = "dbname=src"\n' >"$work/nolocal.toml"
run "$ferry" push hub --config "$work/nolocal.toml"
expect_contains "$err" "names no local peer" "push without a local peer says what to add"

# --- errors before anything is written
createdb partial
q partial "$pg_schema" >/dev/null
q partial 'DROP TABLE "Line Items"; ALTER TABLE orders DROP COLUMN note' >/dev/null
"$ferry" init dbname=partial --track customers,orders >/dev/null
sync --from dbname=src --to dbname=partial
expect_status 1 "a target without a table or a column is refused"
expect_contains "$err" '2 of 3 tables cannot be synced; nothing was written' "the error counts them"
expect_contains "$err" 'Line Items' "it names the missing table"
expect_contains "$err" 'note' "it names the missing column"
expect_contains "$err" 'Create the missing tables and columns on the target' "it says what to do"
expect_contains "$err" 'ADD COLUMN' "with the hint of each problem"
expect_equal "$(q partial "SELECT count(*) FROM customers")" "0" "and nothing was written"
expect_equal "$(q partial "SELECT kind || ' ' || status || ': ' || (error LIKE '%cannot be synced%Line Items%')
  FROM ferry.sessions")" "full failed: true" "the refused run is a failed session in the target"
FERRY_PG_DUMP=$work/no-pg-dump sync --from dbname=src --to dbname=partial --tables customers
expect_status 1 "a missing pg_dump is refused"
expect_contains "$err" "postgresql-client-15" "the error names the package to install"
sync --from "host=127.0.0.1 port=1 dbname=src password=sekrit connect_timeout=2" --to dbname=dst
expect_status 1 "an unreachable source"
expect_contains "$err" "cannot connect" "says it cannot connect"
expect_not_contains "$err$out" "sekrit" "and never shows the password"
sync --from "host=127.0.0.1 port=1 dbname='postgresql://u:hunter2@x/y'" --to dbname=dst
expect_status 1 "an unreachable source named by a URI in dbname"
expect_not_contains "$err$out" "hunter2" "never shows the password in that URI"
# libpq passes a dbname that is a URI to the server whole, and the server
# quotes it in its error: the password in it must not come through.
sync --from "dbname='postgresql://u:hunter2@x/y'" --to dbname=dst --json
expect_status 1 "a source database that does not exist"
expect_contains "$err$out" "does not exist" "says so with the server's message"
expect_not_contains "$err$out$(q dst 'SELECT error FROM ferry.sessions')" "hunter2" \
  "and never shows the password in the database's name"
sync --from "host=127.0.0.1 port=1 dbname=src password=\"open sesame\"" --to dbname=dst
expect_status 1 "a password that needed quoting"
expect_not_contains "$err$out" "sesame" "is not shown, not even the part libpq cannot read"
sync --from dbname=src --to dbname=src
expect_status 1 "the same peer as source and target is refused"

# --- leases: one sync per target table at a time
q dst "SELECT ferry.try_lock('sync public.orders', 'nightly job on db1', '1 hour')" >/dev/null
sync --from dbname=src --to dbname=dst
expect_status 4 "a table leased by another holder: exit 4"
expect_contains "$err" "nightly job on db1" "the message names the holder"
expect_equal "$(q dst "SELECT count(*) FROM ferry.locks")" "1" "its own leases are released"
run "$ferry" unlock 'sync public.orders' --peer dbname=dst
expect_status 0 "ferry unlock releases another holder's lease"
expect_equal "$(q dst "SELECT count(*) FROM ferry.locks")" "0" "the lease is gone"
run "$ferry" unlock 'sync public.orders' --peer dbname=dst
expect_status 1 "unlocking a lease nobody holds is an error"
expect_contains "$err" 'no lease "sync public.orders"' "that names the lease"

# --- kill -9 and resume, SIGTERM
q src "CREATE TABLE big1 (id int PRIMARY KEY, v text); CREATE TABLE big2 (id int PRIMARY KEY, v text);
       INSERT INTO big1 SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 300000) i;
       INSERT INTO big2 SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 300000) i;" >/dev/null
for db in dst; do
  q $db "CREATE TABLE big1 (id int PRIMARY KEY, v text); CREATE TABLE big2 (id int PRIMARY KEY, v text);
         SELECT ferry.track('big1'); SELECT ferry.track('big2');" >/dev/null
done
sqlite3 "$work/k.db" "CREATE TABLE big1 (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE big2 (id INTEGER PRIMARY KEY, v TEXT);"
"$ferry" init "sqlite:$work/k.db" --track big1,big2 >/dev/null

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.05; done
}
pg_done() { [[ $(q dst "SELECT coalesce(max(done), 0) FROM ferry.checkpoints WHERE status = 'running'") -gt 0 ]]; }
lite_done() { [[ $(sqlite3 "$work/k.db" "SELECT coalesce(max(done), 0) FROM ferry_checkpoints WHERE status = 'running'") -gt 0 ]]; }
lite_big2() { [[ $(sqlite3 "$work/k.db" "SELECT count(*) FROM big2") -gt 0 ]]; }

# PG target, killed in big2 after big1 committed
"$ferry" full-sync --quiet --from dbname=src --to dbname=dst --tables big1,big2 >/dev/null 2>&1 &
pid=$!
wait_for 60 pg_done && kill -9 $pid; wait $pid 2>/dev/null || true
expect_equal "$(q dst "SELECT status FROM ferry.checkpoints WHERE job = 'full-sync from dbname=src' AND scope = 'public.big1,public.big2'")" \
  "running" "a killed run leaves its checkpoint running"
# The killed run's session connection ends with it (the server notices at
# once, but asynchronously): wait for that before the next run looks.
session_backend_gone() {
  [[ $(q dst "SELECT count(*) FROM ferry.sessions s JOIN pg_stat_activity a ON a.pid = s.backend_pid
              WHERE s.status = 'running'") == 0 ]]
}
wait_for 30 session_backend_gone || true
sync --from dbname=src --to dbname=dst --tables big1,big2 --verify
expect_status 0 "the next run resumes and verifies"
expect_contains "$out" "(done before)" "the table finished before the kill is not copied again"
expect_equal "$(q dst "SELECT count(*) FROM ferry.changes c WHERE c.relid = 'big1'::regclass")" "300000" \
  "every row of big1 was written exactly once"
expect_equal "$(q dst "SELECT count(*) FROM ferry.sessions WHERE status = 'running'")" "0" \
  "the killed run's session is not left running"
run "$ferry" history dbname=dst --status failed --json
expect_contains "$out" "abandoned: the ferry process that ran it stopped without finishing it" \
  "ferry history shows it failed, abandoned by its process"
# A run whose session was closed under it (as one whose connection was
# lost is) finishes its work, and says so.
q dst "CREATE TABLE slow (id int PRIMARY KEY);
       CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql
           AS 'BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END';
       CREATE TRIGGER slow BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION slow_down();" >/dev/null
q src "CREATE TABLE slow (id int PRIMARY KEY); INSERT INTO slow SELECT generate_series(1, 3000)" >/dev/null
"$ferry" full-sync --quiet --from dbname=src --to dbname=dst --tables slow >/dev/null 2>"$work/closed.err" &
pid=$!
slow_running() { [[ $(q dst "SELECT count(*) FROM ferry.sessions WHERE status = 'running'") -gt 0 ]]; }
wait_for 30 slow_running
q dst "UPDATE ferry.sessions SET status = 'failed', error = 'closed by hand' WHERE status = 'running'" >/dev/null
set +e; wait $pid; status=$?; set -e
expect_status 0 "a run whose session was closed under it still succeeds"
expect_contains "$(cat "$work/closed.err")" "had already been closed" "and says its session was closed"
expect_equal "$(q dst "SELECT count(*) FROM slow")" "3000" "its rows are all there"
# An interrupted run is resumed only with the same --where: a run with
# another filter writes other rows, so it starts over.
q dst "UPDATE ferry.checkpoints SET status = 'running', position = jsonb_set(position, '{tables_done}', '[\"public.big1\"]')
       WHERE job = 'full-sync from dbname=src' AND scope = 'public.big1,public.big2';
       DELETE FROM big1 WHERE id <= 5" >/dev/null
sync --from dbname=src --to dbname=dst --tables big1,big2 --where 'big1:id <= 10'
expect_status 0 "a run with another filter than the interrupted one"
expect_not_contains "$out" "(done before)" "starts over instead of resuming"
expect_equal "$(q dst "SELECT count(*) FROM big1 WHERE id <= 5")" "5" "and copies the filter's rows"
# Nor is a run without --delete-missing resumed by one with it: the tables
# it finished kept rows that this run must delete.
q dst "UPDATE ferry.checkpoints SET status = 'running',
         position = jsonb_set(position, '{tables_done}', '[\"public.big1\"]')
       WHERE job = 'full-sync from dbname=src' AND scope = 'public.big1,public.big2';
       INSERT INTO big1 VALUES (0, 'only on the target')" >/dev/null
sync --from dbname=src --to dbname=dst --tables big1,big2 --where 'big1:id <= 10' --delete-missing
expect_status 0 "a run with --delete-missing after an interrupted one without it"
expect_not_contains "$out" "(done before)" "starts over too"
expect_equal "$(q dst "SELECT count(*) FROM big1 WHERE id = 0")" "0" "and deletes what only the target has"

# SQLite target, killed between batches, twice, then resumed
for point in lite_done lite_big2; do
  "$ferry" full-sync --quiet --from dbname=src --to "sqlite:$work/k.db" --tables big1,big2 --batch-rows 5000 >/dev/null 2>&1 &
  pid=$!
  wait_for 60 $point && kill -9 $pid; wait $pid 2>/dev/null || true
done
sqlite3 "$work/k.db" "PRAGMA integrity_check" | grep -qx ok && pass "the killed SQLite target is intact" \
  || fail "the killed SQLite target is intact"
sync --from dbname=src --to "sqlite:$work/k.db" --tables big1,big2 --verify --json
expect_status 0 "the SQLite target resumes and verifies"
expect_equal "$(sqlite3 "$work/k.db" "SELECT count(*) FROM ferry_changes WHERE table_name = 'big1' AND op = 'I'")" \
  "300000" "no row was written twice across the killed runs"
expect_equal "$(sqlite3 "$work/k.db" "SELECT status, count(*) FROM ferry_sessions WHERE kind = 'full'
                                       GROUP BY status ORDER BY status")" \
  "$(printf 'failed|2\nsucceeded|1')" "the killed runs' sessions are closed as failed by the next one"

# SIGTERM stops cleanly and records the session as cancelled
q dst "TRUNCATE big1, big2" >/dev/null
"$ferry" full-sync --quiet --from dbname=src --to "sqlite:$work/k2.db" --tables big1 >/dev/null 2>&1 || true
sqlite3 "$work/k2.db" "CREATE TABLE big1 (id INTEGER PRIMARY KEY, v TEXT)"
"$ferry" init "sqlite:$work/k2.db" --track big1 >/dev/null
"$ferry" full-sync --quiet --from dbname=src --to "sqlite:$work/k2.db" --tables big1 --batch-rows 2000 >/dev/null 2>"$work/term.err" &
pid=$!
k2_started() { [[ $(sqlite3 "$work/k2.db" "SELECT count(*) FROM big1") -gt 0 ]]; }
wait_for 60 k2_started && kill -TERM $pid
set +e; wait $pid; status=$?; set -e
expect_status 1 "SIGTERM stops the sync"
expect_equal "$(sqlite3 "$work/k2.db" "SELECT status FROM ferry_sessions ORDER BY id DESC LIMIT 1")" "cancelled" \
  "the session is recorded as cancelled"
expect_equal "$(sqlite3 "$work/k2.db" "SELECT count(*) FROM ferry_locks")" "0" "its leases are released"

# ferry cancel SESSION stops a run from another terminal, between batches
# (a target slowed by a trigger to ~0.2 ms a row, so the run is still going)
sqlite3 "$work/k3.db" "CREATE TABLE big1 (id INTEGER PRIMARY KEY, v TEXT);
  CREATE TRIGGER slow AFTER INSERT ON big1 BEGIN
    SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
                          SELECT x FROM c);
  END;"
"$ferry" init "sqlite:$work/k3.db" --track big1 >/dev/null
"$ferry" full-sync --quiet --from dbname=src --to "sqlite:$work/k3.db" --tables big1 --batch-rows 500 \
  >/dev/null 2>&1 &
pid=$!
k3_running() { [[ -n $(sqlite3 "$work/k3.db" "SELECT id FROM ferry_sessions WHERE status = 'running'") ]]; }
wait_for 60 k3_running
session=$(sqlite3 "$work/k3.db" "SELECT id FROM ferry_sessions WHERE status = 'running'")
run "$ferry" cancel "$session" --peer "sqlite:$work/k3.db"
expect_status 0 "ferry cancel asks the running session to stop"
set +e; wait $pid; status=$?; set -e
expect_status 1 "the cancelled sync stops"
expect_equal "$(sqlite3 "$work/k3.db" "SELECT status FROM ferry_sessions WHERE id = $session")" "cancelled" \
  "and records its session as cancelled"
run "$ferry" cancel "$session" --peer "sqlite:$work/k3.db"
expect_status 1 "a session that is not running cannot be cancelled"

# ferry history: the sessions a peer recorded, newest first
run "$ferry" history "sqlite:$work/k3.db" --json
expect_status 0 "ferry history lists a SQLite peer's sessions"
expect_equal "$(json_query "$out" "SELECT concat_ws(',', j->'sessions'->0->>'id', j->'sessions'->0->>'status', j->'sessions'->0->>'kind') FROM input")" \
  "$session,cancelled,full" "newest first, with status and kind"
run "$ferry" history dbname=dst --status succeeded --limit 2 --json
expect_equal "$(json_query "$out" "SELECT count(*) FILTER (WHERE s->>'status' = 'succeeded') FROM input, jsonb_array_elements(j->'sessions') s")" \
  "2" "--status and --limit select the sessions"
run "$ferry" history dbname=dst
expect_contains "$out" "dbname=src -> dbname=dst" "the table shows source and target"

# --- a peer never gets to name a catalog or ferry's own state as a table:
# its tracked list is data, and pg_authid would hand it the target's roles
createdb hostile
q hostile "CREATE EXTENSION ferry; INSERT INTO ferry.tracked_tables (relid) VALUES ('pg_catalog.pg_authid'::regclass)" >/dev/null
createdb victim
q victim "CREATE EXTENSION ferry" >/dev/null
roles_before=$(q victim "SELECT md5(string_agg(rolname || rolsuper::text || coalesce(rolpassword, ''), ',' ORDER BY oid)) FROM pg_authid")
run "$ferry" full-sync --from dbname=hostile --to dbname=victim --quiet
expect_status 1 "a source that tracks pg_authid is refused"
expect_contains "$err" "is a system catalog or belongs to an extension" "and the error says why"
run "$ferry" full-sync --from dbname=hostile --to dbname=victim --tables ferry.consumers --quiet
expect_status 1 "ferry's own state tables are refused as well"
expect_equal "$(q victim "SELECT md5(string_agg(rolname || rolsuper::text || coalesce(rolpassword, ''), ',' ORDER BY oid)) FROM pg_authid")" \
  "$roles_before" "the target's roles are untouched"
sqlite3 "$work/hostile.db" "CREATE TABLE t (id INTEGER PRIMARY KEY)"
"$ferry" init "sqlite:$work/hostile.db" >/dev/null
run "$ferry" full-sync --from "sqlite:$work/hostile.db" --to dbname=victim --tables ferry_consumers --quiet
expect_status 1 "a SQLite peer's own ferry_ tables are refused"

# --- a full sync of tracked tables has the source keep its changes for the
# target's first ferry sync (a registered consumer); --copy-only does not
for db in keepsrc keepdst copydst; do
  createdb "$db"
  q "$db" "CREATE EXTENSION ferry; CREATE TABLE kept (id int PRIMARY KEY)" >/dev/null
done
q keepsrc "SELECT ferry.track('kept'); INSERT INTO kept VALUES (1)" >/dev/null
consumer_of() { q "$1" "SELECT 'pg:' || system_identifier || ':' || d.oid FROM pg_control_system(), pg_database d WHERE d.datname = current_database()"; }
"$ferry" full-sync --from dbname=keepsrc --to dbname=keepdst --quiet >/dev/null
"$ferry" full-sync --from dbname=keepsrc --to dbname=copydst --copy-only --quiet >/dev/null
expect_equal "$(q keepsrc "SELECT string_agg(peer, ',') FROM ferry.consumers")" "$(consumer_of keepdst)" \
  "the target of a full sync is registered as a consumer, a --copy-only target is not"

# --- keys one peer spells differently from the other (a NOCASE key in
# SQLite, citext in PostgreSQL): --delete-missing never deletes the row it
# has just written; and a NOT NULL domain column does not stop --method diff
for f in ncsrc ncdst; do
  sqlite3 "$work/$f.db" "CREATE TABLE t (k TEXT PRIMARY KEY COLLATE NOCASE, v TEXT)"
  "$ferry" init "sqlite:$work/$f.db" >/dev/null
done
sqlite3 "$work/ncsrc.db" "INSERT INTO t VALUES ('abc', 'source'), ('x', '1')"
sqlite3 "$work/ncdst.db" "INSERT INTO t VALUES ('ABC', 'target'), ('x', '1'), ('gone', '2')"
for method in diff dump; do
  cp "$work/ncdst.db" "$work/nc-$method.db"
  sync --from "sqlite:$work/ncsrc.db" --to "sqlite:$work/nc-$method.db" --tables t \
    --method "$method" --delete-missing
  expect_status 0 "SQLite NOCASE key, --method $method --delete-missing"
  expect_equal "$(sqlite3 "$work/nc-$method.db" "SELECT group_concat(k || '=' || v, ' ') FROM (SELECT * FROM t ORDER BY k)")" \
    "$([[ $method == diff ]] && echo "abc=source x=1" || echo "ABC=source x=1")" \
    "the source's row is there once (--method $method), the other key deleted"
done
# SQLite allows NULL in a rowid table's composite PRIMARY KEY: no upsert can
# match such a row, so it is refused, not inserted again on every run
sqlite3 "$work/nullkey.db" "CREATE TABLE p (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b));
  INSERT INTO p VALUES ('x', 'y', '1'), ('x', NULL, '2')"
sqlite3 "$work/nullkey-dst.db" "CREATE TABLE p (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b))"
"$ferry" init "sqlite:$work/nullkey.db" >/dev/null
"$ferry" init "sqlite:$work/nullkey-dst.db" >/dev/null
sync --from "sqlite:$work/nullkey.db" --to "sqlite:$work/nullkey-dst.db" --tables p
expect_status 1 "a SQLite row with NULL in its primary key is refused"
expect_contains "$err" 'NULL in its primary key column "b"' "the error names the column"
expect_equal "$(sqlite3 "$work/nullkey-dst.db" "SELECT count(*) FROM p")" "0" "and nothing was written"

createdb cisrc
createdb cidst
for db in cisrc cidst; do
  q "$db" "CREATE EXTENSION ferry; CREATE EXTENSION citext;
           CREATE DOMAIN positive AS int NOT NULL CHECK (VALUE > 0);
           CREATE TABLE ci (k citext PRIMARY KEY, v text);
           CREATE TABLE dom (id int PRIMARY KEY, n positive)" >/dev/null
done
q cisrc "INSERT INTO ci VALUES ('abc', 'source'); INSERT INTO dom SELECT i, i FROM generate_series(1, 50) i" >/dev/null
q cidst "INSERT INTO ci VALUES ('ABC', 'target'); INSERT INTO dom SELECT i, i + 1 FROM generate_series(2, 60) i" >/dev/null
sync --from dbname=cisrc --to dbname=cidst --tables ci,dom --method diff --delete-missing --verify
expect_status 0 "citext key and a NOT NULL domain column, --method diff --delete-missing"
expect_equal "$(q cidst "SELECT string_agg(k || '=' || v, ' ') FROM ci")" "abc=source" \
  "the citext row is the source's, once"
expect_equal "$(q cidst "SELECT count(*) || ' ' || sum(n) FROM dom")" "50 1275" \
  "the domain table equals the source"

# --- --delete-missing with foreign keys: a parent deleted at the source with
# its children, a child moved to another parent before its old one was
# deleted, and a self-referencing chain whose 11,000 deleted rows reference
# each other (more than one statement's worth of keys): rows of referenced
# tables are deleted after every table is written, children first
fk_schema="CREATE EXTENSION ferry;
  CREATE TABLE teams (id int PRIMARY KEY, name text);
  CREATE TABLE players (id int PRIMARY KEY, team int NOT NULL REFERENCES teams, name text);
  CREATE TABLE nodes (id int PRIMARY KEY, parent int REFERENCES nodes, v text);"
createdb fksrc
q fksrc "$fk_schema
  INSERT INTO teams SELECT i, 'team ' || i FROM generate_series(1, 3) i;
  INSERT INTO players SELECT i, 1 + i % 3, 'player ' || i FROM generate_series(1, 30) i;
  INSERT INTO nodes SELECT i, nullif(i - 1, 0), 'node ' || i FROM generate_series(1, 12000) i" >/dev/null
for method in dump diff; do
  createdb "fk$method"
  q "fk$method" "$fk_schema" >/dev/null
  sync --from dbname=fksrc --to "dbname=fk$method" --tables teams,players,nodes
  expect_status 0 "foreign keys: the first copy ($method)"
done
q fksrc "UPDATE players SET team = 2 WHERE team = 1; DELETE FROM teams WHERE id = 1;
         DELETE FROM players WHERE team = 3; DELETE FROM teams WHERE id = 3;
         DELETE FROM nodes WHERE id > 1000;
         INSERT INTO teams VALUES (4, 'team 4'); INSERT INTO players VALUES (31, 4, 'player 31')" >/dev/null
sync --from dbname=fksrc --to dbname=fkdump --tables teams,players,nodes --delete-missing --dry-run --json
expect_status 0 "foreign keys: a dry run (a new child of a new parent)"
expect_equal "$(field "t->>'deleted'" teams),$(field "t->>'deleted'" players),$(field "t->>'deleted'" nodes)"   "2,10,11000" "it reports the rows it would delete from each table"
expect_equal "$(field "t->>'inserted'" teams),$(field "t->>'inserted'" players),$(field "t->>'updated'" players)" \
  "1,1,10" "and the rows it would insert and update"
expect_equal "$(q fkdump "SELECT count(*) FROM nodes")" "12000" "and deletes nothing"
expect_equal "$(q fkdump "SELECT count(*) FROM teams WHERE id = 4")" "0" "and inserts nothing"
for method in dump diff; do
  sync --from dbname=fksrc --to "dbname=fk$method" --tables teams,players,nodes \
    --method "$method" --delete-missing --verify --json
  expect_status 0 "--method $method --delete-missing deletes parents after their children"
  expect_equal "$(field "t->>'deleted'" teams),$(field "t->>'deleted'" players),$(field "t->>'deleted'" nodes)" \
    "2,10,11000" "the rows deleted per table ($method)"
  expect_equal "$(q "fk$method" "SELECT string_agg(id::text, ',' ORDER BY id) FROM teams")" "2,4" \
    "only the source's teams are left ($method)"
  expect_equal "$(q "fk$method" "SELECT position->'tables_done' FROM ferry.checkpoints WHERE job LIKE 'full-sync%'")" \
    '["public.teams", "public.players", "public.nodes"]' "the tables on either side of a key are done once the rows are deleted ($method)"
done

# --- dates before year 1 as keys and values: --method diff finds the rows
# by their keys, and both engines hash them alike (--verify)
createdb erasrc
createdb eradst
for db in erasrc eradst; do
  q "$db" "CREATE EXTENSION ferry;
           CREATE TABLE eras (d date PRIMARY KEY, at timestamptz, v text)" >/dev/null
done
q erasrc "INSERT INTO eras VALUES ('0044-03-15 BC', '0044-03-15 10:00:00+01 BC', 'ides'),
            ('0001-12-31 BC', '0001-12-31 23:30:00-01 BC', 'eve'), ('2024-02-29', now(), 'leap')" >/dev/null
sync --from dbname=erasrc --to dbname=eradst --tables eras --verify
expect_status 0 "dates before year 1: PG->PG, verified"
sqlite3 "$work/eras.db" "CREATE TABLE eras (d DATE PRIMARY KEY, at TIMESTAMPTZ, v TEXT)"
"$ferry" init "sqlite:$work/eras.db" >/dev/null
sync --from dbname=erasrc --to "sqlite:$work/eras.db" --tables eras --verify
expect_status 0 "dates before year 1: PG->SQLite, verified"
q erasrc "UPDATE eras SET v = 'et tu' WHERE d = '0044-03-15 BC'; DELETE FROM eras WHERE d = '0001-12-31 BC'" >/dev/null
sync --from dbname=erasrc --to dbname=eradst --tables eras --method diff --delete-missing --verify
expect_status 0 "dates before year 1 as keys: --method diff --delete-missing"
expect_equal "$(q eradst "SELECT string_agg(d || '=' || v, ' ' ORDER BY d) FROM eras")" \
  "0044-03-15 BC=et tu 2024-02-29=leap" "the changed row is rewritten, the deleted one gone"
sync --from "sqlite:$work/eras.db" --to dbname=eradst --tables eras --method diff --verify
expect_status 0 "SQLite->PG by --method diff, verified"
expect_equal "$(q eradst "SELECT string_agg(d || '=' || v, ' ' ORDER BY d) FROM eras")" \
  "0044-03-15 BC=ides 0001-12-31 BC=eve 2024-02-29=leap" "the SQLite file's rows come back by key"

# A run whose deletions fail (a table outside the run references a row to
# delete) deletes nothing and marks none of those tables done, so that the
# next run writes them all again from one snapshot
q fksrc "INSERT INTO teams VALUES (7, 'seven'); INSERT INTO players VALUES (70, 7, 'p70')" >/dev/null
sync --from dbname=fksrc --to dbname=fkdump --tables teams,players,nodes
q fkdump "CREATE TABLE fans (id int PRIMARY KEY, team int REFERENCES teams); INSERT INTO fans VALUES (1, 7)" >/dev/null
q fksrc "DELETE FROM players WHERE team = 7; DELETE FROM teams WHERE id = 7" >/dev/null
sync --from dbname=fksrc --to dbname=fkdump --tables teams,players,nodes --delete-missing
expect_status 1 "a row referenced from outside the run stops the deletions"
expect_contains "$err" 'fans_team_fkey' "the error names the key"
expect_equal "$(q fkdump "SELECT count(*) FROM teams WHERE id = 7")" "1" "the team's deletion rolled back"
expect_equal "$(q fkdump "SELECT position->'tables_done' FROM ferry.checkpoints WHERE job LIKE 'full-sync%'")" \
  '[]' "and no table on either side of a key is marked done"
q fkdump "DELETE FROM fans" >/dev/null
sync --from dbname=fksrc --to dbname=fkdump --tables teams,players,nodes --delete-missing --verify
expect_status 0 "the next run writes them again and deletes"

# ON DELETE CASCADE: a --where on the parent that leaves out a row its
# children still use must not delete those children, which the run wrote
createdb cascsrc
createdb cascdst
for db in cascsrc cascdst; do
  q "$db" "CREATE EXTENSION ferry;
           CREATE TABLE users (id int PRIMARY KEY, demo boolean NOT NULL DEFAULT false);
           CREATE TABLE notes (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE CASCADE)" >/dev/null
done
q cascsrc "INSERT INTO users VALUES (1, false), (2, false); INSERT INTO notes VALUES (10, 1), (20, 2)" >/dev/null
sync --from dbname=cascsrc --to dbname=cascdst --tables users,notes
q cascsrc "UPDATE users SET demo = true WHERE id = 2" >/dev/null
sync --from dbname=cascsrc --to dbname=cascdst --tables users,notes --where 'users:NOT demo' --delete-missing
expect_status 1 "a deletion that would cascade into rows just written is refused"
expect_contains "$err" 'ON DELETE CASCADE' "the error says why"
expect_equal "$(q cascdst "SELECT string_agg(id::text, ',' ORDER BY id) FROM notes")" "10,20" \
  "the child rows are still there"

# Two tables referencing each other through DEFERRABLE keys: their rows
# are deleted in one transaction whose keys are checked at its commit
createdb cyclesrc
createdb cycledst
for db in cyclesrc cycledst; do
  q "$db" "CREATE EXTENSION ferry;
           CREATE TABLE hens (id int PRIMARY KEY, egg int);
           CREATE TABLE eggs (id int PRIMARY KEY, hen int REFERENCES hens DEFERRABLE);
           ALTER TABLE hens ADD FOREIGN KEY (egg) REFERENCES eggs DEFERRABLE" >/dev/null
done
q cycledst "BEGIN; SET CONSTRAINTS ALL DEFERRED;
            INSERT INTO hens VALUES (1, 1); INSERT INTO eggs VALUES (1, 1); COMMIT" >/dev/null
sync --from dbname=cyclesrc --to dbname=cycledst --tables hens,eggs --delete-missing
expect_status 0 "rows of two tables that reference each other (DEFERRABLE) are deleted"
expect_equal "$(q cycledst "SELECT (SELECT count(*) FROM hens) + (SELECT count(*) FROM eggs)")" \
  "0" "both of them"

# --- values equal by `=` but spelled differently (citext case, an interval's
# units, a numeric array's scale, a NOCASE column in SQLite) hash apart, so a
# full sync rewrites them: the target converges and verifies
for db in cisrc cidst; do
  q "$db" "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
           CREATE TABLE spelled (id int PRIMARY KEY, name citext, span interval, amounts numeric[],
                                 label text COLLATE nocase)" >/dev/null
done
q cisrc "INSERT INTO spelled VALUES (1, 'abc', '1 day', '{1.0}', 'x'), (2, 'same', '1 hour', '{2}', 'Label')" >/dev/null
q cidst "INSERT INTO spelled VALUES (1, 'ABC', '24 hours', '{1.00}', 'x'), (2, 'same', '1 hour', '{2}', 'LABEL')" >/dev/null
for method in dump diff; do
  sync --from dbname=cisrc --to dbname=cidst --tables spelled --method "$method" --verify --json
  expect_status 0 "values equal by = but spelled differently converge (--method $method)"
done
expect_equal "$(q cidst "SELECT name || ' ' || span || ' ' || amounts::text FROM spelled WHERE id = 1")" \
  "abc 1 day {1.0}" "the target holds the source's spelling"
expect_equal "$(q cidst "SELECT label FROM spelled WHERE id = 2")" "Label" \
  "a case-insensitive collation's column too"
sync --from dbname=cisrc --to dbname=cidst --tables spelled --json
expect_equal "$(field "t->>'updated'" spelled)" "0" "and the next run writes nothing"
for f in nocase-src nocase-dst; do
  sqlite3 "$work/$f.db" "CREATE TABLE n (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)"
  "$ferry" init "sqlite:$work/$f.db" >/dev/null
done
sqlite3 "$work/nocase-src.db" "INSERT INTO n VALUES (1, 'abc')"
sqlite3 "$work/nocase-dst.db" "INSERT INTO n VALUES (1, 'ABC')"
sync --from "sqlite:$work/nocase-src.db" --to "sqlite:$work/nocase-dst.db" --tables n --verify
expect_status 0 "a NOCASE column spelled differently converges in SQLite"
expect_equal "$(sqlite3 "$work/nocase-dst.db" "SELECT name FROM n")" "abc" "with the source's spelling"

# --- intervals hash alike in a database whose IntervalStyle is another
createdb ivsrc
createdb ivdst
q ivdst "ALTER DATABASE ivdst SET IntervalStyle = 'iso_8601'"
for db in ivsrc ivdst; do
  q $db "CREATE TABLE ev (id int PRIMARY KEY, span interval, days date[])" >/dev/null
  "$ferry" init "dbname=$db" --track ev >/dev/null
done
q ivsrc "INSERT INTO ev VALUES (1, '-1 days 02:03:04', '{2024-01-02}'), (2, '1 year 2 mons', NULL)" >/dev/null
sync --from dbname=ivsrc --to dbname=ivdst --tables ev --verify
expect_status 0 "intervals into a database with IntervalStyle iso_8601 verify"

# --- a second run into a SQLite file that another ferry is writing exits at
# once, naming the holder, instead of waiting for its write transaction
q src "CREATE TABLE lk (id int PRIMARY KEY); INSERT INTO lk VALUES (1)" >/dev/null
"$ferry" init dbname=src --track lk >/dev/null
sqlite3 "$work/lk.db" "CREATE TABLE lk (id INTEGER PRIMARY KEY)"
"$ferry" init "sqlite:$work/lk.db" --track lk >/dev/null
sqlite3 "$work/lk.db" "INSERT INTO ferry_locks VALUES ('sync lk', 'ferry restore (pid 1 on elsewhere)',
  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour'))"
# The other ferry's write transaction, held for several seconds.
sqlite3 "$work/lk.db" "BEGIN IMMEDIATE; INSERT INTO lk VALUES (2);
  SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000) SELECT x FROM c);
  ROLLBACK;" >/dev/null &
writer=$!
sleep 0.5
started=$SECONDS
sync --from dbname=src --to "sqlite:$work/lk.db" --tables lk
expect_status 4 "a full sync into a SQLite file whose table another ferry holds exits 4"
expect_contains "$err" "is being synced by ferry restore (pid 1 on elsewhere)" "naming the holder"
expect_equal "$(( SECONDS - started < 3 ))" "1" "at once, not after the other's write transaction"
wait $writer

# --- a large load into an empty table builds the table's indexes once its
# rows are in (ferry.defer_indexes(): each index gets a new file) and
# leaves them valid; a table with a trigger that fires on INSERT is loaded
# with its indexes kept up row by row; a target's own unique index that the
# rows break fails the load with the key named and leaves the table as it was
createdb bigsrc; createdb bigdst
for db in bigsrc bigdst; do
  q "$db" "CREATE EXTENSION ferry;
    CREATE TABLE big (id int PRIMARY KEY, code text, grp int);
    CREATE INDEX big_grp ON big (grp);
    CREATE TABLE big_audited (id int PRIMARY KEY, code text);
    CREATE TABLE big_codes (id int PRIMARY KEY, code text)" >/dev/null
done
q bigsrc "INSERT INTO big SELECT g, md5(g::text), g % 100 FROM generate_series(1, 150000) g;
  INSERT INTO big_audited SELECT g, md5(g::text) FROM generate_series(1, 150000) g;
  INSERT INTO big_codes SELECT g, 'code ' || (g % 149999) FROM generate_series(1, 150000) g;
  ANALYZE" >/dev/null
q bigdst "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NEW; END \$\$;
  CREATE TRIGGER audit BEFORE INSERT ON big_audited FOR EACH ROW EXECUTE FUNCTION audit();
  CREATE UNIQUE INDEX big_codes_code ON big_codes (code)" >/dev/null
index_files() { q bigdst "SELECT string_agg(pg_relation_filenode(indexrelid)::text, ',' ORDER BY indexrelid) FROM pg_index WHERE indrelid = '$1'::regclass"; }
big_files=$(index_files big); audited_files=$(index_files big_audited)
sync --tables big,big_audited --from dbname=bigsrc --to dbname=bigdst --verify --json
expect_status 0 "150,000 rows each into two empty tables, verified"
expect_equal "$(field "t->>'inserted'" big),$(field "t->>'inserted'" big_audited)" "150000,150000" "every row inserted"
expect_not_equal "$(index_files big)" "$big_files" "the plain table's indexes were built after its rows"
expect_equal "$(index_files big_audited)" "$audited_files" "the table with a trigger kept its indexes up row by row"
expect_equal "$(q bigdst "SELECT count(*) FROM pg_index WHERE indrelid IN ('big'::regclass, 'big_audited'::regclass) AND indisvalid AND indisready")" \
  "3" "every index is valid and ready"
expect_equal "$(PGOPTIONS='-c enable_seqscan=off -c enable_bitmapscan=off' q bigdst \
  "SELECT count(*) FROM big WHERE id BETWEEN 1000 AND 1999; SELECT count(*) FROM big WHERE grp = 7" | tr '\n' ,)" \
  "1000,1500," "and finds every row through them"
sync --tables big_codes --from dbname=bigsrc --to dbname=bigdst
expect_status 1 "rows that break the target's own unique index"
expect_contains "$err" 'Key (code)=(code 1) is duplicated' "the error names the key"
expect_equal "$(q bigdst "SELECT count(*) FROM big_codes")" "0" "nothing of the table is written"
expect_equal "$(q bigdst "SELECT count(*) FROM pg_index WHERE indrelid = 'big_codes'::regclass AND indisvalid AND indisready")" \
  "2" "and its indexes are as they were"

# --- declared types whose values the two peers hash differently are named
# before anything is copied (a SQLite TEXT for a timestamptz), and types
# that hash alike are not (an ISO date or a uuid as TEXT, a boolean as INTEGER)
createdb types
q types "CREATE EXTENSION ferry;
  CREATE TABLE events (id int PRIMARY KEY, at timestamptz, day date, tag uuid, done boolean, n numeric);
  INSERT INTO events VALUES (1, '2024-01-02 03:04:05+00', '2024-01-02', gen_random_uuid(), true, 9.90)" >/dev/null
sqlite3 "$work/types.db" "CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT, day TEXT, tag TEXT, done INTEGER, n TEXT)"
"$ferry" init "sqlite:$work/types.db" >/dev/null
sync --from dbname=types --to "sqlite:$work/types.db" --tables events
expect_status 0 "a full sync between declared types that hash differently still copies"
expect_contains "$err" 'warning: column "at" of events is timestamp with time zone (timestamptz) in dbname=types but TEXT (text)' \
  "a timestamptz against TEXT is named"
expect_contains "$err" 'warning: column "n" of events is numeric (number)' "a number kept as text is named"
expect_equal "$(grep -c 'warning: column' <<<"$err")" "2" "and nothing else: a date, a uuid and a boolean hash alike"

finish
