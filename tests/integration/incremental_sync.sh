#!/usr/bin/env bash
# ferry sync end to end on a real PostgreSQL cluster and real SQLite files:
# the handoff from a full sync with writers running during the copy, a
# transaction that commits out of position order, kill -9 at random points
# (exactly once), both directions with the four conflict cases under every
# policy, no echo, PostgreSQL <-> SQLite, schema drift and refused values
# (nothing of the batch applied), retention, leases and the errors.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-incremental-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
pg_cluster_start incremental

tables='customers,orders,"Line Items"'
source "$here/../lib/shop_fixture.sh"

# link ARGS...: ferry sync with a JSON report.
link() { run "$ferry" sync --quiet --json "$@"; }
# synced_databases A B DDL TABLES [ROWS_SQL]: databases A and B made by DDL
# with TABLES tracked; ROWS_SQL run at A, then TABLES copied to B.
synced_databases() {
  local db
  for db in "$1" "$2"; do
    createdb "$db"
    q "$db" "$3" >/dev/null
    "$ferry" init "dbname=$db" --track "$4" >/dev/null
  done
  if [[ -n ${5:-} ]]; then q "$1" "$5" >/dev/null; fi
  "$ferry" full-sync --from "dbname=$1" --to "dbname=$2" --tables "$4" --quiet >/dev/null
}
# twin_databases A B TABLE COLUMNS ROWS: databases A and B with TABLE
# (COLUMNS) tracked, ROWS inserted at A and copied to B by a full sync.
twin_databases() { synced_databases "$1" "$2" "CREATE TABLE $3 ($4)" "$3" "INSERT INTO $3 VALUES $5"; }
# report FIELD [LINK]: a figure of the JSON report's first (or LINK-th) link.
report() { json_query "$out" "SELECT j->'links'->${2:-0}->>'$1' FROM input"; }
# check_same A B NAME: a test that the peers' tables are equal; on failure
# it shows the keys that differ.
check_same() {
  if same "$1" "$2"; then pass "$3"
  else fail "$3" "$("$ferry" diff "$1" "$2" --tables "$tables" --rows 2>&1 | head -20)"; fi
}
changes_on() { q "$1" "SELECT count(*) FROM ferry.changes"; }
# A few writes of every kind on DB, numbered by $2 so that runs differ.
write_some() {
  q "$1" "UPDATE customers SET name = 'w$2 ' || id WHERE id % 97 = $2 % 97;
          INSERT INTO orders SELECT 100000 * $2 + i, 1 + i, 'w$2' FROM generate_series(1, 20) i;
          DELETE FROM \"Line Items\" WHERE \"No\" % 50 = $2 % 50;
          INSERT INTO \"Line Items\" VALUES ('w$2', $2, $2)" >/dev/null
}

# --- no starting point: a link needs a full sync first
new_pg a0
new_pg b0
link --from dbname=a0 --to dbname=b0
expect_status 1 "a link without a checkpoint or a full sync is refused"
expect_contains "$err" "no starting point for changes from dbname=a0 to dbname=b0" "the error names the link"
expect_contains "$err" "ferry full-sync --from dbname=a0 --to dbname=b0" "the hint gives the full sync to run"
# --restart with nothing to restart from is refused before it forgets the
# link's checkpoint.
run "$ferry" full-sync --from dbname=a0 --to dbname=b0 --quiet
link --from dbname=a0 --to dbname=b0
expect_status 0 "the link runs after a full sync"
q b0 "DELETE FROM ferry.checkpoints WHERE job LIKE 'full-sync from %'" >/dev/null
b0_checkpoint() { q b0 "SELECT position::text FROM ferry.checkpoints WHERE job LIKE 'sync from pg:%'"; }
before=$(b0_checkpoint)
link --from dbname=a0 --to dbname=b0 --restart
expect_status 1 "--restart without a full sync to start from is refused"
expect_contains "$err" "no starting point" "the error says why"
expect_equal "$(b0_checkpoint)" "$before" "and the link's position is kept"
# A table the source does not track has nothing in its log: such a link
# ran, reported nothing and never sent a row. With --both the target is
# checked too, before either direction runs.
for db in a0 b0; do q "$db" "CREATE TABLE solo (id int PRIMARY KEY)" >/dev/null; done
"$ferry" init dbname=a0 --track solo >/dev/null
"$ferry" full-sync --from dbname=a0 --to dbname=b0 --tables solo --quiet >/dev/null
q a0 "INSERT INTO solo VALUES (1)" >/dev/null
link --from dbname=b0 --to dbname=a0 --tables solo
expect_status 1 "a link over a table its source does not track is refused"
expect_contains "$err" "dbname=b0 does not track public.solo" "the error names the table"
expect_contains "$err" "ferry init dbname=b0 --track public.solo" "the hint says how to track it"
link --from dbname=a0 --to dbname=b0 --tables solo --both
expect_status 1 "--both with a target that does not track the table is refused"
expect_equal "$(q b0 "SELECT count(*) FROM solo")" 0 "before either direction ran"
"$ferry" init dbname=b0 --track solo >/dev/null
link --from dbname=a0 --to dbname=b0 --tables solo --both
expect_equal "$status|$(q b0 "SELECT count(*) FROM solo")" "0|1" "once tracked there, it runs"

# --- handoff: writers run on A during the full sync; the first sync applies
# exactly what the copy did not contain
new_pg a
fill_shop a 20000
new_pg b
(for i in $(seq 1 60); do write_some a "$i"; done) &
writer=$!
sleep 0.3
run "$ferry" full-sync --from dbname=a --to dbname=b --tables "$tables" --quiet
expect_status 0 "full sync while writers run"
wait "$writer"
link --from dbname=a --to dbname=b
expect_status 0 "the first incremental sync after the copy"
check_same dbname=a dbname=b "B equals A after the handoff"
expect_equal "$(report conflicts)" "0" "the handoff replays nothing the copy had (no conflicts)"
link --from dbname=a --to dbname=b
expect_equal "$(report changes)" "0" "a second sync finds nothing to do"
expect_equal "$(changes_on a)" "0" "acknowledged changes are purged from A's log"
expect_equal "$(q b "SELECT count(*) FROM ferry.checkpoints WHERE job LIKE 'sync from pg:%'")" "1" \
  "B keeps one checkpoint for the link"

# --- out of commit order: a transaction that took its position first
# commits after one that came later and was already synced
psql -X -q -d a -c "BEGIN" -c "INSERT INTO orders VALUES (9900001, 1, 'slow')" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
slow=$!
sleep 0.5
q a "INSERT INTO orders VALUES (9900002, 1, 'fast')" >/dev/null
link --from dbname=a --to dbname=b
expect_equal "$(q b "SELECT string_agg(note, ',' ORDER BY id) FROM orders WHERE id > 9900000")" "fast" \
  "the committed later change is applied; the open one is not yet visible"
wait "$slow"
link --from dbname=a --to dbname=b
expect_equal "$(q b "SELECT string_agg(note, ',' ORDER BY id) FROM orders WHERE id > 9900000")" "slow,fast" \
  "the change that committed later with a smaller position is not skipped"
check_same dbname=a dbname=b "B equals A after out-of-order commits"

# --- retention: under a steady write load the log stays bounded
most=0
for round in 1 2 3 4 5; do
  for i in 1 2 3 4; do write_some a "$((400 + round * 10 + i))"; done
  link --from dbname=a --to dbname=b
  left=$(changes_on a)
  ((left > most)) && most=$left
done
expect_equal "$most" "0" "after each sync, every acknowledged change is purged from A's log"
check_same dbname=a dbname=b "B equals A after five rounds of writes and syncs"

# --- kill -9 at random points: exactly once, no gap
# kill_loop FROM TO: small batches, killed again and again, then run to the end.
kill_loop() {
  local i
  for i in $(seq 1 8); do
    "$ferry" sync --quiet --batch 300 --lease-seconds 5 --from "$1" --to "$2" >/dev/null 2>&1 &
    local pid=$!
    sleep "0.$((RANDOM % 4 + 1))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # A lease of a killed ferry on this machine is taken over at once.
  run "$ferry" sync --quiet --json --batch 300 --from "$1" --to "$2"
}
for i in $(seq 100 130); do write_some a "$i"; done
q a "UPDATE customers SET score = score + 1" >/dev/null
kill_loop dbname=a dbname=b
expect_status 0 "the run after eight kill -9s finishes"
check_same dbname=a dbname=b "B equals A after kill -9s (PostgreSQL target)"

# --- PostgreSQL -> SQLite, and SQLite -> PostgreSQL
new_lite "$work/site.db"
run "$ferry" full-sync --from dbname=a --to "sqlite:$work/site.db" --tables "$tables" --quiet
expect_status 0 "full sync into SQLite"
for i in $(seq 200 205); do write_some a "$i"; done
q a "UPDATE customers SET photo = '\\xdeadbeef', active = NOT active, data = '{\"x\": [1, 2]}',
       score = '-Infinity', balance = 12.345 WHERE id <= 5" >/dev/null
link --from dbname=a --to "sqlite:$work/site.db"
expect_status 0 "PostgreSQL -> SQLite sync"
check_same dbname=a "sqlite:$work/site.db" "SQLite equals PostgreSQL (bytea, json, boolean, infinity)"
for i in $(seq 300 330); do write_some a "$i"; done
kill_loop dbname=a "sqlite:$work/site.db"
expect_status 0 "the run after kill -9s into SQLite finishes"
check_same dbname=a "sqlite:$work/site.db" "SQLite equals PostgreSQL after kill -9s"

new_pg c
run "$ferry" full-sync --from "sqlite:$work/site.db" --to dbname=c --tables "$tables" --quiet
sqlite3 "$work/site.db" "UPDATE customers SET name = 'from sqlite', photo = x'0102' WHERE id <= 3;
  DELETE FROM orders WHERE id % 7 = 0; INSERT INTO \"Line Items\" VALUES ('lite', 1, 1);"
link --from "sqlite:$work/site.db" --to dbname=c
expect_status 0 "SQLite -> PostgreSQL sync"
check_same "sqlite:$work/site.db" dbname=c "PostgreSQL equals SQLite"
expect_not_equal "$(report deleted)" "0" "deletes travel from SQLite"
# An application writing the SQLite source in short transactions meanwhile
# (WAL): ferry's acknowledgement (a read, then a write) must wait its turn,
# not fail with "database is locked" (exit 4).
( i=0; while [[ ! -e $work/writer.stop ]]; do i=$((i + 1))
    sqlite3 -cmd ".timeout 30000" "$work/site.db" "UPDATE customers SET name = 'busy $i' WHERE id = 1 + $i % 5" 2>/dev/null
  done ) &
busy_writer=$!
failed_runs=0
for i in $(seq 1 10); do
  "$ferry" sync --from "sqlite:$work/site.db" --to dbname=c --quiet >/dev/null 2>"$work/busy.err" ||
    failed_runs=$((failed_runs + 1))
done
touch "$work/writer.stop"; wait $busy_writer
expect_equal "$failed_runs" "0" "syncs from a SQLite file being written all succeed ($(head -1 "$work/busy.err"))"
link --from "sqlite:$work/site.db" --to dbname=c
check_same "sqlite:$work/site.db" dbname=c "and PostgreSQL equals SQLite after them"

# --- row filters: a per-customer peer keeps only its rows
# only_mine PEER: the ids of customer 7's orders, on A and on PEER
only_mine() {
  local want have
  want=$(q a "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders WHERE customer_id = 7")
  case $1 in
    sqlite:*) have=$(sqlite3 "${1#sqlite:}" "SELECT group_concat(id, ',') FROM (SELECT id FROM orders ORDER BY id)") ;;
    *) have=$(q "${1#dbname=}" "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders") ;;
  esac
  expect_equal "$have" "$want" "$2"
}
check_filter() {  # check_filter PEER: full sync with the filter, then changes in and out of it
  run "$ferry" full-sync --from dbname=a --to "$1" --tables orders --where 'orders:customer_id = 7' --quiet
  expect_status 0 "filtered full sync into $1"
  q a "INSERT INTO orders VALUES (9930001, 7, 'mine'), (9930002, 8, 'not mine');
       UPDATE orders SET customer_id = 8 WHERE id = (SELECT min(id) FROM orders WHERE customer_id = 7);
       UPDATE orders SET customer_id = 7 WHERE id = (SELECT min(id) FROM orders WHERE customer_id = 9);
       DELETE FROM orders WHERE id = (SELECT max(id) FROM orders WHERE customer_id = 7 AND id < 9930000);
       UPDATE orders SET note = 'still mine' WHERE id = (SELECT max(id) FROM orders WHERE customer_id = 7 AND id < 9930000)" >/dev/null
  link --from dbname=a --to "$1" --tables orders --where 'orders:customer_id = 7'
  expect_status 0 "filtered sync into $1"
  expect_equal "$(report conflicts)" "0" "a filter makes no conflicts ($1)"
  only_mine "$1" "$1 holds exactly customer 7's orders: moved out deleted, moved in inserted"
  q a "DELETE FROM orders WHERE id IN (9930001, 9930002)" >/dev/null
}
sqlite3 "$work/mine.db" "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, note TEXT)"
"$ferry" init "sqlite:$work/mine.db" --track orders >/dev/null
check_filter "sqlite:$work/mine.db"
createdb mine
q mine "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, note text)" >/dev/null
"$ferry" init dbname=mine >/dev/null
check_filter dbname=mine
# A row A moves out of the filter that the peer edited too: a conflict,
# settled by the policy, not a silent delete of the peer's edit.
pick() { sqlite3 "$work/mine.db" "SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET $1"; }
x1=$(pick 0) x2=$(pick 1)
sqlite3 "$work/mine.db" "UPDATE orders SET note = 'peer edit' WHERE id IN ($x1, $x2)"
for policy in target-wins source-wins; do
  x=$([[ $policy == target-wins ]] && echo "$x1" || echo "$x2")
  q a "UPDATE orders SET customer_id = 8 WHERE id = $x" >/dev/null
  link --from dbname=a --to "sqlite:$work/mine.db" --tables orders --where 'orders:customer_id = 7' --policy "$policy" --change-policy
  expect_equal "$(report conflicts)" 1 "$policy: a row moved out of the filter that the peer edited is a conflict"
done
expect_equal "$(sqlite3 "$work/mine.db" "SELECT note FROM orders WHERE id = $x1")" "peer edit" \
  "target-wins keeps the peer's edit"
expect_equal "$(sqlite3 "$work/mine.db" "SELECT count(*) FROM orders WHERE id = $x2")" 0 \
  "source-wins deletes the row, which left the filter"
# The same under manual, resolved with --keep remote: as under source-wins.
x3=$(pick 1)
sqlite3 "$work/mine.db" "UPDATE orders SET note = 'peer edit' WHERE id = $x3"
q a "UPDATE orders SET customer_id = 8 WHERE id = $x3" >/dev/null
link --from dbname=a --to "sqlite:$work/mine.db" --tables orders --where 'orders:customer_id = 7' --policy manual --change-policy
expect_equal "$(report conflicts)|$(sqlite3 "$work/mine.db" "SELECT note FROM orders WHERE id = $x3")" \
  "1|peer edit" "manual: the conflict is open, the peer's edit kept"
run "$ferry" conflicts "sqlite:$work/mine.db" --resolve "$(sqlite3 "$work/mine.db" "SELECT max(id) FROM ferry_conflicts")" --keep remote
expect_status 0 "--keep remote of a version that left the peer's filter"
expect_contains "$out" "outside this peer's filter" "says the row left the filter"
expect_equal "$(sqlite3 "$work/mine.db" "SELECT count(*) FROM orders WHERE id = $x3")" 0 \
  "and deletes it there, as source-wins does"
# A TRUNCATE and new rows on a filtered link: the peer gets only its rows.
createdb trunca
q trunca "CREATE TABLE notes (id int PRIMARY KEY, user_id text); INSERT INTO notes VALUES (1, 'u1'), (2, 'u2')" >/dev/null
"$ferry" init dbname=trunca --track notes >/dev/null
createdb truncb
q truncb "CREATE TABLE notes (id int PRIMARY KEY, user_id text)" >/dev/null
"$ferry" init dbname=truncb >/dev/null
sqlite3 "$work/trunc.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT)"
"$ferry" init "sqlite:$work/trunc.db" >/dev/null
for peer in dbname=truncb "sqlite:$work/trunc.db"; do
  "$ferry" full-sync --from dbname=trunca --to "$peer" --where "notes:user_id = 'u1'" --quiet >/dev/null
done
q trunca "BEGIN; TRUNCATE notes; INSERT INTO notes VALUES (3, 'u1'), (4, 'u2'); COMMIT" >/dev/null
for peer in dbname=truncb "sqlite:$work/trunc.db"; do
  link --from dbname=trunca --to "$peer" --where "notes:user_id = 'u1'"
  expect_status 0 "a filtered link with a TRUNCATE into $peer"
  case $peer in
    sqlite:*) held=$(sqlite3 "$work/trunc.db" "SELECT group_concat(id || user_id, ' ') FROM (SELECT * FROM notes ORDER BY id)") ;;
    *) held=$(q truncb "SELECT string_agg(id || user_id, ' ' ORDER BY id) FROM notes") ;;
  esac
  expect_equal "$held" "3u1" "after a TRUNCATE, $peer holds only the filter's rows"
done
# Both ways with a filter: the filter chooses what the peer receives; what
# the peer writes reaches A whole, and a row it moves out of its filter
# is updated on A, not deleted there.
run "$ferry" full-sync --from dbname=a --to "sqlite:$work/mine.db" --tables orders \
  --where 'orders:customer_id = 7' --delete-missing --quiet
mine_first=$(sqlite3 "$work/mine.db" "SELECT min(id) FROM orders")
sqlite3 "$work/mine.db" "UPDATE orders SET customer_id = 8, note = 'handed over' WHERE id = $mine_first;
  INSERT INTO orders VALUES (9930003, 7, 'written on the peer')"
link --from dbname=a --to "sqlite:$work/mine.db" --tables orders --where 'orders:customer_id = 7' --both
expect_status 0 "a filtered link both ways"
expect_equal "$(q a "SELECT customer_id || ' ' || note FROM orders WHERE id = $mine_first")" "8 handed over" \
  "a row the peer moves out of its filter is updated on A, not deleted"
expect_equal "$(q a "SELECT note FROM orders WHERE id = 9930003")" "written on the peer" \
  "a row the peer inserts reaches A"
q a "DELETE FROM orders WHERE id = 9930003" >/dev/null
# A link's filter is recorded with its checkpoint: a run with another one
# (a changed --where, or a second link over the same table) would never send
# the rows only it selects, so it is refused and changes nothing, until a
# full sync with the new filter and --restart.
q a "INSERT INTO orders VALUES (9930004, 9, 'customer 9')" >/dev/null
mine_checkpoint() { q mine "SELECT position::text FROM ferry.checkpoints WHERE job LIKE 'sync from pg:%'"; }
expect_contains "$(mine_checkpoint)" '"where": {"public.orders": "customer_id = 7"}' "the checkpoint records the filter"
checkpoint_before=$(mine_checkpoint)
wider='orders:customer_id IN (7, 9)'
link --from dbname=a --to dbname=mine --tables orders --where "$wider"
expect_status 1 "a link run with a changed filter is refused"
expect_contains "$err" "row filters differ from those this link's checkpoint was made with" "the error says why"
expect_contains "$err" 'It has --where "public.orders:customer_id = 7"' "and names both filters"
expect_contains "$err" "--restart" "and how to change the filter"
link --from dbname=a --to dbname=mine --tables orders
expect_status 1 "so is a run without the filter"
link --from dbname=a --to dbname=mine --tables orders --where "$wider" --restart
expect_status 1 "--restart from a full sync made with the old filter is refused"
expect_contains "$err" "the full sync it starts from" "naming the full sync"
expect_equal "$(mine_checkpoint)" "$checkpoint_before" "the refused runs left the checkpoint alone"
expect_equal "$(q mine "SELECT count(*) FROM orders WHERE customer_id = 9")" "0" "and wrote nothing"
run "$ferry" full-sync --from dbname=a --to dbname=mine --tables orders --where "$wider" \
  --method diff --delete-missing --quiet
expect_status 0 "a full sync with the new filter"
link --from dbname=a --to dbname=mine --tables orders --where "$wider" --restart
expect_status 0 "then --restart takes the link on with it"
q a "INSERT INTO orders VALUES (9930005, 9, 'after the change')" >/dev/null
link --from dbname=a --to dbname=mine --tables orders --where "$wider"
expect_status 0 "and the link runs with the new filter"
expect_equal "$(q mine "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders")" \
  "$(q a "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders WHERE customer_id IN (7, 9)")" \
  "the peer holds exactly the rows of the new filter"
# A checkpoint of ferry 0.6 holds the bare cursor: it is taken as it is,
# and recorded with the link's filter from the next batch on.
q mine "UPDATE ferry.checkpoints SET position = position->'cursor' WHERE job LIKE 'sync from pg:%'" >/dev/null
q a "DELETE FROM orders WHERE id IN (9930004, 9930005)" >/dev/null
link --from dbname=a --to dbname=mine --tables orders --where "$wider"
expect_status 0 "a checkpoint of ferry 0.6 (the bare cursor) is taken on"
expect_equal "$(q mine "SELECT count(*) FROM orders WHERE id IN (9930004, 9930005)")" "0" "from where it stood"
expect_contains "$(mine_checkpoint)" '"where": {"public.orders": "customer_id IN (7, 9)"}' \
  "and the filter is recorded from then on"

# --- both directions: the four conflict cases under each policy
# B's changes come first, then A's: A's are the latest.
conflict_pair() {  # conflict_pair NAME: databases NAME_a and NAME_b, copied, then conflicting
  new_pg "$1_a"
  fill_shop "$1_a" 100
  new_pg "$1_b"
  "$ferry" full-sync --from "dbname=$1_a" --to "dbname=$1_b" --tables "$tables" --quiet >/dev/null
  q "$1_b" "UPDATE customers SET name = 'B' WHERE id IN (201, 203);
            DELETE FROM customers WHERE id = 202;
            INSERT INTO customers (id, name) VALUES (5001, 'B');
            UPDATE customers SET name = 'B only' WHERE id = 210" >/dev/null
  sleep 0.1
  q "$1_a" "UPDATE customers SET name = 'A' WHERE id IN (201, 202);
            DELETE FROM customers WHERE id = 203;
            INSERT INTO customers (id, name) VALUES (5001, 'A');
            UPDATE customers SET name = 'A only' WHERE id = 211" >/dev/null
}
# names DB: ids 201, 202, 203, 210, 211 and 5001 as "id=name" ("-" when missing)
names() {
  q "$1" "SELECT string_agg(k || '=' || coalesce(c.name, '-'), ' ' ORDER BY k)
          FROM unnest(ARRAY[201, 202, 203, 210, 211, 5001]) k LEFT JOIN customers c ON c.id = k"
}
check_policy() {  # check_policy POLICY EXPECTED_A EXPECTED_B
  conflict_pair "$2"
  link --from "dbname=$2_a" --to "dbname=$2_b" --both --policy "$1"
  expect_status 0 "$1: two-way sync"
  expect_equal "$(report conflicts 0)" "4" "$1: A->B meets update/update, update/delete, delete/update, insert/insert"
  expect_equal "$(names "$2_a")" "$3" "$1: what A holds"
  expect_equal "$(names "$2_b")" "$4" "$1: what B holds"
  link --from "dbname=$2_a" --to "dbname=$2_b" --both --policy "$1"
  expect_equal "$(report changes 0),$(report changes 1)" "0,0" "$1: nothing comes back (no echo)"
}
a_wins='201=A 202=A 203=- 210=B only 211=A only 5001=A'
check_policy source-wins src_wins "$a_wins" "$a_wins"
check_same dbname=src_wins_a dbname=src_wins_b "source-wins: the peers are equal"
expect_equal "$(q src_wins_b "SELECT count(*) FROM ferry.conflicts WHERE resolution = 'remote' AND policy = 'source-wins'")" "4" \
  "source-wins: B records the four conflicts, settled for the remote version"
b_wins='201=B 202=- 203=B 210=B only 211=A only 5001=B'
check_policy target-wins tgt_wins "$b_wins" "$b_wins"
check_same dbname=tgt_wins_a dbname=tgt_wins_b "target-wins: the peers are equal"
check_policy latest-wins latest "$a_wins" "$a_wins"
check_same dbname=latest_a dbname=latest_b "latest-wins: the peers are equal"
check_policy manual manual '201=A 202=A 203=- 210=B only 211=A only 5001=A' '201=B 202=- 203=B 210=B only 211=A only 5001=B'
expect_equal "$(q manual_b "SELECT count(*) FROM ferry.conflicts WHERE resolution IS NULL")" "4" \
  "manual: B keeps its rows and records four open conflicts"
expect_equal "$(q manual_b "SELECT remote_row->>'name' FROM ferry.conflicts WHERE key = '{\"id\": 201}'")" "A" \
  "manual: the conflict holds the remote version"
expect_equal "$(q manual_b "SELECT local_row->>'name' FROM ferry.conflicts WHERE key = '{\"id\": 201}'")" "B" \
  "manual: and the local one"
# ferry conflicts lists the open ones and resolves them.
conflict_id() { q manual_b "SELECT id FROM ferry.conflicts WHERE key = '{\"id\": $1}'"; }
run "$ferry" conflicts dbname=manual_b
expect_contains "$out" "RESOLUTION" "ferry conflicts: a table"
expect_equal "$(printf '%s\n' "$out" | grep -c ' open ')" "4" "ferry conflicts lists the four open ones"
run "$ferry" conflicts dbname=manual_b --resolve "$(conflict_id 201)" --keep remote
expect_status 0 "resolve update/update for the remote version"
run "$ferry" conflicts dbname=manual_b --resolve "$(conflict_id 203)" --keep remote
expect_status 0 "resolve delete/update for the remote version (A deleted it)"
run "$ferry" conflicts dbname=manual_b --resolve "$(conflict_id 5001)" --keep local
expect_contains "$out" "kept the local version" "resolve insert/insert for the local version"
expect_equal "$(names manual_b)" '201=A 202=- 203=- 210=B only 211=A only 5001=B' \
  "B holds the remote versions chosen, its own where kept"
run "$ferry" conflicts dbname=manual_b --resolve "$(conflict_id 201)" --keep local
expect_status 1 "a resolved conflict cannot be resolved again"
expect_contains "$err" "is already resolved (remote)" "and the error says how it was"
run "$ferry" conflicts dbname=manual_b --resolve "$(conflict_id 202)"
expect_status 2 "--resolve needs --keep"
run "$ferry" conflicts dbname=manual_b --json
expect_equal "$(json_query "$out" "SELECT string_agg(x->'key'->>'id', ' ') FROM input, jsonb_array_elements(j->'conflicts') x")" \
  "202" "one conflict stays open"
link --from dbname=manual_a --to dbname=manual_b --both --policy manual
expect_equal "$(report changes 1)" "0" "the remote versions written by resolving are not sent back to A"
expect_equal "$(names manual_a)" '201=A 202=A 203=- 210=B only 211=A only 5001=A' "A is unchanged"

# --- ferry status counts the open conflicts of a peer that only writes
# into this database: here a one-way link's target, which tracks nothing
createdb solo_a && createdb solo_b
for db in solo_a solo_b; do
  q "$db" "CREATE TABLE items (id int PRIMARY KEY, name text)" >/dev/null
done
q solo_a "INSERT INTO items VALUES (1, 'one'), (2, 'two')" >/dev/null
"$ferry" init dbname=solo_a --track items >/dev/null
"$ferry" init dbname=solo_b >/dev/null
"$ferry" full-sync --from dbname=solo_a --to dbname=solo_b --tables items --quiet >/dev/null
q solo_b "UPDATE items SET name = 'edited at B' WHERE id = 1" >/dev/null
q solo_a "UPDATE items SET name = 'edited at A' WHERE id = 1" >/dev/null
link --from dbname=solo_a --to dbname=solo_b --policy manual
expect_equal "$(report conflicts)" "1" "a one-way link meets B's own edit: a conflict"
solo_a_peer=$(q solo_a "SELECT 'pg:' || system_identifier || ':' || (SELECT oid FROM pg_database
                        WHERE datname = current_database()) FROM pg_control_system()")
run "$ferry" status dbname=solo_b --json
expect_equal "$(json_query "$out" "SELECT string_agg(x->>'table' || ' ' || (x->>'peer') || ' ' ||
                (x->>'open_conflicts') || ' ' || (x->>'pending_changes'), ', ')
                FROM input, jsonb_array_elements(j->'tables') x")" "items $solo_a_peer 1 0" \
  "ferry status at B shows the open conflict with A, though B tracks nothing"
run "$ferry" status dbname=solo_b --prometheus
expect_contains "$out" "ferry_open_conflicts{peer=\"dbname=solo_b\",table=\"items\",consumer=\"$solo_a_peer\"} 1" \
  "and as a Prometheus gauge"
run "$ferry" conflicts dbname=solo_b --resolve "$(q solo_b "SELECT max(id) FROM ferry.conflicts")" --keep local
run "$ferry" status dbname=solo_b --json
expect_equal "$(json_query "$out" "SELECT jsonb_array_length(j->'tables') FROM input")" "0" \
  "once resolved, the row goes"

# --- two open conflicts of one row (A edited it twice under manual): the
# older one cannot be resolved on its own (its version would be written
# last); resolving the newer settles both
# synced_pair NAME DDL TABLES [ROWS_SQL]: databases NAME_a and NAME_b made
# by DDL with TABLES tracked; ROWS_SQL run at NAME_a, then a full sync to B.
synced_pair() { synced_databases "$1_a" "$1_b" "$2" "$3" "${4:-}"; }
twice_conflicted() {  # twice_conflicted TARGET SQL-AT-TARGET
  local target=$1 at_b=$2
  createdb "$3" && q "$3" "CREATE TABLE notes (id int PRIMARY KEY, body text)" >/dev/null
  "$ferry" init "dbname=$3" --track notes >/dev/null
  q "$3" "INSERT INTO notes VALUES (1, 'original')" >/dev/null
  "$ferry" full-sync --from "dbname=$3" --to "$target" --quiet >/dev/null
  link --from "dbname=$3" --to "$target" --policy manual
  q "$3" "UPDATE notes SET body = 'A1' WHERE id = 1" >/dev/null
  $at_b "UPDATE notes SET body = 'B1' WHERE id = 1" >/dev/null
  link --from "dbname=$3" --to "$target" --policy manual
  q "$3" "UPDATE notes SET body = 'A2' WHERE id = 1" >/dev/null
  link --from "dbname=$3" --to "$target" --policy manual
  run "$ferry" conflicts "$target" --json
  local ids
  ids=$(json_query "$out" "SELECT string_agg(x->>'id', ' ' ORDER BY (x->>'id')::int) FROM input, jsonb_array_elements(j->'conflicts') x")
  older=${ids%% *} newer=${ids##* }
  run "$ferry" conflicts "$target" --resolve "$older" --keep remote
  expect_status 1 "$target: the older of two open conflicts of a row is refused"
  expect_contains "$err" "conflict $newer holds the peer's later version" "$target: naming the newer one"
  run "$ferry" conflicts "$target" --resolve "$newer" --keep remote
  expect_status 0 "$target: the newer one is resolved"
  run "$ferry" diff "dbname=$3" "$target" --quiet
  expect_status 0 "$target: the peers agree (A's later version)"
  run "$ferry" conflicts "$target" --all --json
  expect_equal "$(json_query "$out" "SELECT string_agg(x->>'resolution', ' ' ORDER BY (x->>'id')::int) FROM input, jsonb_array_elements(j->'conflicts') x")" \
    "superseded remote" "$target: the older one is marked superseded"
}
createdb twice_b && q twice_b "CREATE TABLE notes (id int PRIMARY KEY, body text)" >/dev/null
"$ferry" init dbname=twice_b >/dev/null
at_twice_b() { q twice_b "$1"; }
twice_conflicted dbname=twice_b at_twice_b twice_a
sqlite3 "$work/twice.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
"$ferry" init "sqlite:$work/twice.db" >/dev/null
at_twice_sqlite() { sqlite3 "$work/twice.db" "$1"; }
twice_conflicted "sqlite:$work/twice.db" at_twice_sqlite twice_a2
# The newer conflict settled by a later sync (source-wins): the older one's
# remote version is refused too, and --keep local closes it.
synced_pair settled "CREATE TABLE notes (id int PRIMARY KEY, body text)" notes "INSERT INTO notes VALUES (1, 'original')"
q settled_a "UPDATE notes SET body = 'A1' WHERE id = 1" >/dev/null
q settled_b "UPDATE notes SET body = 'B1' WHERE id = 1" >/dev/null
link --from dbname=settled_a --to dbname=settled_b --policy manual
q settled_a "UPDATE notes SET body = 'A2' WHERE id = 1" >/dev/null
link --from dbname=settled_a --to dbname=settled_b --policy source-wins --change-policy
older=$(q settled_b "SELECT min(id) FROM ferry.conflicts")
run "$ferry" conflicts dbname=settled_b --resolve "$older" --keep remote
expect_status 1 "an open conflict whose row a later sync settled: --keep remote is refused"
expect_contains "$err" "close $older with --keep local" "the hint says how to close it"
run "$ferry" conflicts dbname=settled_b --resolve "$older" --keep local
expect_status 0 "--keep local closes it"
expect_equal "$(q settled_a "SELECT body FROM notes")|$(q settled_b "SELECT body FROM notes")" "A2|A2" \
  "and the peers keep A's later version"

# --- the link's policy is recorded with its checkpoints. Two directions
# that let different peers win (a one-way run under target-wins, then
# --both under the default) kept different rows for good, with nothing
# left to send.
synced_pair pol "CREATE TABLE notes (id int PRIMARY KEY, body text)" notes "INSERT INTO notes VALUES (1, 'original')"
bodies() { echo "$(q pol_a "SELECT body FROM notes")|$(q pol_b "SELECT body FROM notes")"; }
edit_both() {
  q pol_a "UPDATE notes SET body = 'A$1'" >/dev/null
  q pol_b "UPDATE notes SET body = 'B$1'" >/dev/null
}
link --from dbname=pol_a --to dbname=pol_b --both --policy target-wins
expect_equal "$status|$(report policy)|$(report policy 1)" "0|target-wins|source-wins" \
  "--both records the policy of each direction (B wins, seen from either end)"
edit_both 1
link --from dbname=pol_a --to dbname=pol_b
expect_equal "$status|$(report policy)|$(report conflicts)" "0|target-wins|1" \
  "a run without --policy takes the link's"
link --from dbname=pol_b --to dbname=pol_a
expect_equal "$status|$(report policy)|$(bodies)" "0|source-wins|B1|B1" \
  "and so does the other direction, alone: B's row on both"
edit_both 2
position_before=$(q pol_b "SELECT position FROM ferry.checkpoints WHERE job LIKE 'sync from %'")
link --from dbname=pol_a --to dbname=pol_b --policy source-wins
expect_status 1 "a run asking for another policy is refused"
expect_contains "$err" "this link settles conflicts by another policy than source-wins" "the error says so"
expect_contains "$err" "target-wins: dbname=pol_b wins" "the detail names the link's policy and its winner"
expect_contains "$err" "--change-policy" "the hint says how to change it"
expect_equal "$(bodies)|$(q pol_b "SELECT position FROM ferry.checkpoints WHERE job LIKE 'sync from %'")" \
  "A2|B2|$position_before" "and changes nothing"
link --from dbname=pol_b --to dbname=pol_a --policy target-wins
expect_status 1 "the other direction letting A win is refused too"
link --from dbname=pol_a --to dbname=pol_b --both --policy source-wins --change-policy
expect_equal "$status|$(bodies)" "0|A2|A2" "--change-policy with --both changes both directions"
edit_both 3
link --from dbname=pol_b --to dbname=pol_a
expect_equal "$status|$(report policy)|$(bodies)" "0|target-wins|A3|B3" "the other direction keeps the new policy (A wins)"
link --from dbname=pol_a --to dbname=pol_b
expect_equal "$status|$(bodies)" "0|A3|A3" "and the peers end alike"
link --from dbname=pol_a --to dbname=pol_b --policy manual --change-policy
expect_status 0 "--change-policy on one direction"
link --from dbname=pol_b --to dbname=pol_a
expect_status 1 "then the other, without --policy, is refused: the two directions differ"
expect_contains "$err" "settle conflicts by different policies" "the error says so"
run "$ferry" sync --from dbname=pol_a --to dbname=pol_b --change-policy --quiet
expect_status 2 "--change-policy needs --policy"
# The same records in a SQLite peer (its checkpoints and, as a source, the
# other direction's).
sqlite3 "$work/pol.db" "CREATE TABLE notes (id integer PRIMARY KEY, body text)"
"$ferry" init "sqlite:$work/pol.db" --track notes >/dev/null
"$ferry" full-sync --from dbname=pol_a --to "sqlite:$work/pol.db" --quiet >/dev/null
link --from dbname=pol_a --to "sqlite:$work/pol.db" --policy latest-wins
expect_status 0 "a new link into SQLite"
link --from "sqlite:$work/pol.db" --to dbname=pol_a --policy source-wins
expect_status 1 "the other direction from SQLite under another policy is refused"
link --from dbname=pol_a --to "sqlite:$work/pol.db" --policy source-wins
expect_status 1 "so is the same direction"
link --from "sqlite:$work/pol.db" --to dbname=pol_a
expect_equal "$status|$(report policy)" "0|latest-wins" "without --policy, the link's"

# --- a local write at the target while a batch is applied (between ferry
# judging a row and writing it) is never overwritten unseen: an update
# waits for the batch and then travels back; a row inserted meanwhile is a
# conflict. A slow trigger at B holds the batch open on row 1 (or 11).
# slow_trigger DB TABLE EVENTS CONDITION [ENABLED_ON]: a BEFORE trigger at DB
# that sleeps 3 s on the rows CONDITION picks, holding a batch open there
# (ENABLE ALWAYS on ENABLED_ON, by default TABLE: a partition's own copy).
slow_trigger() {
  local row=NEW
  [[ $3 == DELETE ]] && row=OLD
  q "$1" "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
            \$\$BEGIN PERFORM pg_sleep(3); RETURN $row; END\$\$;
          CREATE TRIGGER slow BEFORE $3 ON $2 FOR EACH ROW WHEN ($4) EXECUTE FUNCTION slow();
          ALTER TABLE ${5:-$2} ENABLE ALWAYS TRIGGER slow" >/dev/null
}
race_databases() {  # race_databases NAME: NAME_a -> NAME_b, parent and child, synced
  synced_pair "$1" "CREATE TABLE parent (id int PRIMARY KEY);
                    CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent, v text)" \
    parent,child "INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1, 'init'), (2, 1, 'init')"
  slow_trigger "$1_b" child "INSERT OR UPDATE" "NEW.id IN (1, 11)"
}
race_databases race_upd
q race_upd_a "UPDATE child SET v = 'A edit' WHERE id IN (1, 2)" >/dev/null
(sleep 1; q race_upd_b "UPDATE child SET v = 'B edit, later' WHERE id = 2" >/dev/null) &
link --from dbname=race_upd_a --to dbname=race_upd_b --both --policy latest-wins
wait
link --from dbname=race_upd_a --to dbname=race_upd_b --both --policy latest-wins
expect_equal "$(q race_upd_a "SELECT string_agg(id || '=' || v, ', ' ORDER BY id) FROM child")|$(q race_upd_b "SELECT string_agg(id || '=' || v, ', ' ORDER BY id) FROM child")" \
  "1=A edit, 2=B edit, later|1=A edit, 2=B edit, later" \
  "an update at B while the batch was applied waits for it, then reaches A"
race_databases race_ins
q race_ins_a "INSERT INTO child VALUES (11, 1, 'A insert'), (12, 1, 'A insert')" >/dev/null
(sleep 1; q race_ins_b "INSERT INTO child VALUES (12, 1, 'B insert, later')" >/dev/null) &
link --from dbname=race_ins_a --to dbname=race_ins_b --policy latest-wins
wait
expect_status 0 "a row inserted at B while the batch was applied: the batch is judged again"
expect_equal "$(report conflicts)|$(report inserted)" "1|1" "the row is a conflict, the other one inserted"
expect_equal "$(q race_ins_b "SELECT string_agg(id || '=' || v, ', ' ORDER BY id) FROM child WHERE id > 10")" \
  "11=A insert, 12=B insert, later" "latest-wins keeps B's later row"
# The same in a partitioned table, where the local row lands at the ctid of
# a row the batch locked in another partition (ctids repeat across them).
synced_pair race_part "CREATE TABLE ev (region int, id int, v text, PRIMARY KEY (region, id))
                         PARTITION BY LIST (region);
                       CREATE TABLE ev_p1 PARTITION OF ev FOR VALUES IN (1);
                       CREATE TABLE ev_p2 PARTITION OF ev FOR VALUES IN (2)" \
  ev "INSERT INTO ev VALUES (1, 1, 'init')"
slow_trigger race_part_b ev DELETE "OLD.id = 1" ev_p1
q race_part_a "DELETE FROM ev WHERE id = 1; INSERT INTO ev VALUES (2, 5, 'A insert')" >/dev/null
(sleep 1; q race_part_b "INSERT INTO ev VALUES (2, 5, 'B insert, later')" >/dev/null) &
link --from dbname=race_part_a --to dbname=race_part_b --policy latest-wins
wait
expect_equal "$(report conflicts)|$(q race_part_b "SELECT string_agg(v, ', ') FROM ev")" \
  "1|B insert, later" "a partitioned table: the row inserted at B meanwhile is a conflict too"
# A local row that references a parent the batch deletes (ON DELETE SET
# NULL) would be rewritten by the batch's own transaction: the parent is
# locked FOR UPDATE when judged, so the local insert waits for the batch.
synced_pair race_fk "CREATE TABLE parent (id int PRIMARY KEY);
                     CREATE TABLE child (id int PRIMARY KEY,
                                         pid int REFERENCES parent ON DELETE SET NULL, v text)" \
  parent,child "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (9, 2, 'init')"
slow_trigger race_fk_b child DELETE "OLD.id = 9"
q race_fk_a "DELETE FROM child WHERE id = 9; DELETE FROM parent WHERE id = 1;
             INSERT INTO child VALUES (5, 2, 'A insert')" >/dev/null
(sleep 1; q race_fk_b "INSERT INTO child VALUES (5, 1, 'B insert, later')" >/dev/null 2>&1) &
link --from dbname=race_fk_a --to dbname=race_fk_b --policy latest-wins
wait
expect_equal "$status|$(q race_fk_b "SELECT count(*) FROM ferry.conflicts WHERE resolution IS NULL OR resolution <> 'superseded'")|$(q race_fk_b "SELECT string_agg(id || '=' || coalesce(pid::text, '-') || ' ' || v, ', ') FROM child")" \
  "0|1|5=- B insert, later" "a local row the batch's ON DELETE SET NULL touches is a conflict, not the batch's row"
# Rows the batch finds missing that the target's own triggers create while
# it is applied are the batch's to write, not a local writer's.
synced_pair made "CREATE TABLE accounts (id int PRIMARY KEY, name text);
                  CREATE TABLE settings (id int PRIMARY KEY REFERENCES accounts, theme text);
                  CREATE FUNCTION make_settings() RETURNS trigger LANGUAGE plpgsql AS
                    \$\$BEGIN INSERT INTO settings VALUES (NEW.id, 'default'); RETURN NEW; END\$\$;
                  CREATE TRIGGER make_settings AFTER INSERT ON accounts FOR EACH ROW
                    EXECUTE FUNCTION make_settings()" accounts,settings
q made_a "INSERT INTO accounts VALUES (1, 'x'); UPDATE settings SET theme = 'dark' WHERE id = 1" >/dev/null
link --from dbname=made_a --to dbname=made_b
expect_status 0 "a row the target's trigger made during the batch"
expect_equal "$(report conflicts)|$(q made_b "SELECT theme FROM settings")" "0|dark" \
  "is overwritten by the batch's version, without a conflict"
# A target trigger that skips rows (BEFORE INSERT returning NULL) makes the
# batch write fewer rows than it holds: that is no local writer's insert.
twin_databases skip_a skip_b notes "id int PRIMARY KEY, body text" "(1, 'kept')"
q skip_b "CREATE FUNCTION skip_drafts() RETURNS trigger LANGUAGE plpgsql AS
            \$\$BEGIN RETURN NULL; END\$\$;
          CREATE TRIGGER skip_drafts BEFORE INSERT ON notes FOR EACH ROW
            WHEN (NEW.body = 'draft') EXECUTE FUNCTION skip_drafts()" >/dev/null
q skip_a "INSERT INTO notes VALUES (2, 'draft'), (3, 'final')" >/dev/null
link --from dbname=skip_a --to dbname=skip_b
expect_equal "$status|$(q skip_b "SELECT string_agg(id || '=' || body, ', ' ORDER BY id) FROM notes")" \
  "0|1=kept, 3=final" "rows a target trigger skips are not taken for local inserts"
# The same for rows a target trigger keeps from a TRUNCATE's delete.
twin_databases pin_a pin_b notes "id int PRIMARY KEY, body text, pinned boolean" \
  "(1, 'a', true), (2, 'b', false)"
q pin_b "CREATE FUNCTION keep_pinned() RETURNS trigger LANGUAGE plpgsql AS
           \$\$BEGIN RETURN NULL; END\$\$;
         CREATE TRIGGER keep_pinned BEFORE DELETE ON notes FOR EACH ROW WHEN (OLD.pinned)
           EXECUTE FUNCTION keep_pinned()" >/dev/null
q pin_a "TRUNCATE notes; INSERT INTO notes SELECT i, 'new', false FROM generate_series(1, 3000) i" >/dev/null
link --from dbname=pin_a --to dbname=pin_b
expect_equal "$status|$(report conflicts)|$(q pin_b "SELECT count(*) || ' ' || min(body) || ' ' || bool_or(pinned) FROM notes")" \
  "0|0|3000 new false" "a row a trigger kept from a TRUNCATE is overwritten by the batch"
# A local update committed between ferry's check of a row and its lock
# (held open here by a filter that is slow at B): the batch is checked
# again, and the later edit wins.
for db in race_chk_a race_chk_b; do
  createdb "$db"
  q "$db" "CREATE TABLE items (id int PRIMARY KEY, owner int, v text)" >/dev/null
  "$ferry" init "dbname=$db" --track items >/dev/null
done
q race_chk_a "CREATE FUNCTION slow_ok() RETURNS boolean LANGUAGE sql AS 'SELECT true';
              INSERT INTO items VALUES (1, 1, 'init')" >/dev/null
q race_chk_b "CREATE FUNCTION slow_ok() RETURNS boolean LANGUAGE sql AS
                'SELECT pg_sleep(2) IS NOT NULL'" >/dev/null
race_where=(--where 'items:owner = 1 AND slow_ok()')
"$ferry" full-sync --from dbname=race_chk_a --to dbname=race_chk_b "${race_where[@]}" --quiet >/dev/null
q race_chk_a "UPDATE items SET v = 'A edit' WHERE id = 1" >/dev/null
(sleep 1; q race_chk_b "UPDATE items SET v = 'B edit, later' WHERE id = 1" >/dev/null) &
link --from dbname=race_chk_a --to dbname=race_chk_b "${race_where[@]}" --both --policy latest-wins
wait
expect_equal "$(report conflicts)" "1" "an edit at B between the check and the lock: checked again, a conflict"
link --from dbname=race_chk_a --to dbname=race_chk_b "${race_where[@]}" --both --policy latest-wins
expect_equal "$(q race_chk_a "SELECT v FROM items")|$(q race_chk_b "SELECT v FROM items")" \
  "B edit, later|B edit, later" "and B's later edit is kept on both peers"

# --- both peers made the same change, and the B->A half of that --both run
# did not run (a lease held on A); B then moved on. B's batch passes
# through the state A holds: A is behind, not in conflict (before, A kept
# its row as a conflict and the peers stayed different for good).
twin_databases behind_a behind_b acc "id int PRIMARY KEY, balance int" "(1, 0)"
q behind_a "UPDATE acc SET balance = 1" >/dev/null
q behind_b "UPDATE acc SET balance = 1" >/dev/null
q behind_a "SELECT ferry.try_lock('sync public.acc', 'another sync', '1 hour')" >/dev/null
link --from dbname=behind_a --to dbname=behind_b --tables acc --both
expect_status 4 "the B->A half finds A's table leased"
q behind_a "SELECT ferry.unlock('sync public.acc', 'another sync')" >/dev/null
q behind_b "UPDATE acc SET balance = 2" >/dev/null
link --from dbname=behind_a --to dbname=behind_b --tables acc --both
expect_status 0 "the next --both run"
expect_equal "$(q behind_a "SELECT balance FROM acc")|$(q behind_b "SELECT balance FROM acc")" "2|2" \
  "brings A to B's row: A held a state B passed through"
expect_equal "$(q behind_a "SELECT count(*) FROM ferry.conflicts")" "0" "without a conflict"

# --- a SQLite peer both ways: its own conflict check and ferry_conflicts
new_pg hub
fill_shop hub 100
new_lite "$work/two-way.db"
"$ferry" full-sync --from dbname=hub --to "sqlite:$work/two-way.db" --tables "$tables" --quiet >/dev/null
q hub "UPDATE customers SET name = 'hub first' WHERE id = 304" >/dev/null
sleep 0.1
sqlite3 "$work/two-way.db" "UPDATE customers SET name = 'site' WHERE id IN (301, 302, 304);
                            UPDATE customers SET name = 'site only' WHERE id = 303"
sleep 0.1
q hub "UPDATE customers SET name = 'hub' WHERE id = 301; DELETE FROM customers WHERE id = 302" >/dev/null
link --from dbname=hub --to "sqlite:$work/two-way.db" --both --policy latest-wins
expect_status 0 "two-way sync with a SQLite peer"
expect_equal "$(report conflicts 0)" "3" "the SQLite side meets update/update (twice) and delete/update"
expect_equal "$(sqlite3 "$work/two-way.db" "SELECT group_concat(id || '=' || name, ' ') FROM
  (SELECT id, name FROM customers WHERE id BETWEEN 301 AND 304 ORDER BY id)")" \
  "301=hub 303=site only 304=site" \
  "latest-wins on SQLite: the hub's later update and delete, the site's later update of 304"
expect_equal "$(sqlite3 "$work/two-way.db" "SELECT group_concat(key || ':' || resolution, ' ') FROM
  (SELECT key, resolution FROM ferry_conflicts ORDER BY key)")" \
  '{"id": 301}:remote {"id": 302}:remote {"id": 304}:local' \
  "ferry_conflicts records each, settled by the change times"
run "$ferry" conflicts "sqlite:$work/two-way.db" --all --json
expect_equal "$(json_query "$out" "SELECT string_agg(x->>'resolution', ' ' ORDER BY x->'key'->>'id') FROM input, jsonb_array_elements(j->'conflicts') x")" \
  "remote remote local" "ferry conflicts --all on a SQLite peer"
check_same dbname=hub "sqlite:$work/two-way.db" "the hub and the SQLite peer are equal"

# The hub's delete wins on the device (source-wins) and comes back as an
# echo; the device's own delete and re-insert before it, in an earlier
# batch than the echo (--batch 2), stay on the device's side too.
createdb echohub
q echohub "CREATE TABLE notes (id int PRIMARY KEY, body text);
           INSERT INTO notes SELECT i, 'v' || i FROM generate_series(1, 5) i" >/dev/null
"$ferry" init dbname=echohub --track notes >/dev/null
sqlite3 "$work/echo.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
"$ferry" init "sqlite:$work/echo.db" --track notes >/dev/null
"$ferry" full-sync --from dbname=echohub --to "sqlite:$work/echo.db" --quiet >/dev/null
q echohub "DELETE FROM notes WHERE id = 1" >/dev/null
sqlite3 "$work/echo.db" "DELETE FROM notes WHERE id = 1; INSERT INTO notes VALUES (1, 'again on the device');
                         UPDATE notes SET body = body || ' edited' WHERE id > 1"
link --from dbname=echohub --to "sqlite:$work/echo.db" --tables notes --both --batch 2
expect_status 0 "both ways, the device's log in batches of 2"
expect_equal "$(q echohub "SELECT count(*) FROM notes WHERE id = 1")|$(sqlite3 "$work/echo.db" "SELECT count(*) FROM notes WHERE id = 1")" \
  "0|0" "the hub's delete holds on both: the changes its echo superseded stay behind, batch or not"
run "$ferry" diff dbname=echohub "sqlite:$work/echo.db" --tables notes
expect_status 0 "and the peers hash alike"
# The same between two PostgreSQL peers: B's delete and re-insert come in
# an earlier batch than the echo of A's delete.
twin_databases echoa echob notes "id int PRIMARY KEY, body text" \
  "(1, 'v1'), (2, 'v2'), (3, 'v3'), (4, 'v4'), (5, 'v5')"
q echoa "DELETE FROM notes WHERE id = 1" >/dev/null
q echob "DELETE FROM notes WHERE id = 1; INSERT INTO notes VALUES (1, 'again on B');
         UPDATE notes SET body = body || ' edited' WHERE id > 1" >/dev/null
link --from dbname=echoa --to dbname=echob --both --batch 2
expect_status 0 "both ways between PostgreSQL peers, B's log in batches of 2"
expect_equal "$(q echoa "SELECT count(*) FROM notes WHERE id = 1")|$(q echob "SELECT count(*) FROM notes WHERE id = 1")" \
  "0|0" "A's delete holds on both, read from PostgreSQL too"
run "$ferry" diff dbname=echoa dbname=echob --tables notes
expect_status 0 "and the two PostgreSQL peers hash alike"
# A sync role without SELECT on ferry.changes cannot look past the batch:
# the link still runs, passing over the echoes within each batch.
for db in echoa echob; do
  q "$db" "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'echo_syncer')
             THEN CREATE ROLE echo_syncer LOGIN; END IF; END\$\$;
           GRANT USAGE ON SCHEMA ferry TO echo_syncer;
           GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ferry TO echo_syncer;
           GRANT SELECT ON ferry.status, ferry.tracked, ferry.sessions, ferry.locks,
                           ferry.checkpoints, ferry.conflicts, ferry.consumers TO echo_syncer;
           GRANT INSERT ON ferry.conflicts TO echo_syncer;
           GRANT USAGE ON SEQUENCE ferry.conflicts_id_seq TO echo_syncer;
           GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO echo_syncer" >/dev/null
done
q echoa "UPDATE notes SET body = 'A again' WHERE id = 2" >/dev/null
q echob "UPDATE notes SET body = body || ' B again' WHERE id > 2" >/dev/null
link --from "dbname=echoa user=echo_syncer" --to "dbname=echob user=echo_syncer" --both --batch 2
expect_status 0 "a sync role without SELECT on ferry.changes still syncs both ways"
run "$ferry" diff dbname=echoa dbname=echob --tables notes
expect_status 0 "and the peers hash alike then too"
# Row-level security that applies to the sync role: it would copy, compare
# or write only the rows the policy shows it, and say it succeeded. Every
# command refuses such a table before it reads or writes, as pg_dump does.
q echob "UPDATE notes SET body = 'diverged on B' WHERE id = 2" >/dev/null
q echoa "ALTER TABLE notes ENABLE ROW LEVEL SECURITY; CREATE POLICY above_3 ON notes USING (id > 3)" >/dev/null
run "$ferry" full-sync --from "dbname=echoa user=echo_syncer" --to dbname=echob --tables notes \
  --where 'notes:id > 0' --quiet
expect_status 1 "a filtered full sync from a table whose policy hides rows from the role is refused"
expect_contains "$err" "has row-level security that applies to this role" "the error says why"
expect_contains "$err" "BYPASSRLS" "and what to do"
expect_equal "$(q echob "SELECT body FROM notes WHERE id = 2")" "diverged on B" "nothing was written"
q postgres "ALTER ROLE echo_syncer BYPASSRLS" >/dev/null
run "$ferry" full-sync --from "dbname=echoa user=echo_syncer" --to dbname=echob --tables notes \
  --where 'notes:id > 0' --quiet
expect_status 0 "a role that bypasses the policy copies every row"
expect_equal "$(q echob "SELECT body FROM notes WHERE id = 2")" "$(q echoa "SELECT body FROM notes WHERE id = 2")" \
  "including those the policy hides"
q postgres "ALTER ROLE echo_syncer NOBYPASSRLS" >/dev/null
q echoa "ALTER TABLE notes DISABLE ROW LEVEL SECURITY" >/dev/null
q echob "ALTER TABLE notes ENABLE ROW LEVEL SECURITY; CREATE POLICY above_3 ON notes USING (id > 3)" >/dev/null
q echoa "UPDATE notes SET body = 'A after the policy' WHERE id = 2" >/dev/null
link --from "dbname=echoa user=echo_syncer" --to "dbname=echob user=echo_syncer"
expect_status 1 "ferry sync into a table whose policy hides rows from the role is refused"
expect_contains "$err" "has row-level security that applies to this role" "naming the policy's table"
expect_equal "$(q echob "SELECT body FROM notes WHERE id = 2")" "A again" "and wrote nothing"
q echob "ALTER TABLE notes DISABLE ROW LEVEL SECURITY" >/dev/null
link --from "dbname=echoa user=echo_syncer" --to "dbname=echob user=echo_syncer"
expect_status 0 "without the policy the link runs on"
run "$ferry" diff dbname=echoa dbname=echob --tables notes
expect_status 0 "and the peers hash alike"

# --- schema drift: a column the target lacks stops the link, nothing applied
q a "INSERT INTO orders VALUES (9910001, 1, 'before the drift')" >/dev/null
q a "ALTER TABLE customers ADD COLUMN extra int; UPDATE customers SET extra = 1 WHERE id = 1" >/dev/null
checkpoint() { q b "SELECT position::text FROM ferry.checkpoints WHERE job LIKE 'sync from pg:%'"; }
before=$(checkpoint)
link --from dbname=a --to dbname=b
expect_status 1 "a table with a column the target lacks stops the link"
expect_contains "$err" "different columns" "the error says why"
expect_contains "$err" "extra" "and names the column"
expect_equal "$(q b "SELECT count(*) FROM orders WHERE id = 9910001")" "0" "nothing was applied"
expect_equal "$(checkpoint)" "$before" "the checkpoint did not move"
run "$ferry" history dbname=b --status failed --limit 1 --json
expect_equal "$(json_query "$out" "SELECT s->>'kind' || ' ' || (s->>'error' LIKE '%cannot be synced%different columns%')
  FROM input, jsonb_array_elements(j->'sessions') s")" "incremental true" \
  "ferry history --status failed shows the refused link"
q b "ALTER TABLE customers ADD COLUMN extra int" >/dev/null
link --from dbname=a --to dbname=b
expect_status 0 "once the column exists on the target, the link resumes"
check_same dbname=a dbname=b "B equals A after the drift is fixed"
# A change logged with a column that is gone since: the tables match, the
# batch does not.
q a "ALTER TABLE orders ADD COLUMN tmp int; UPDATE orders SET tmp = 1 WHERE id = 1;
     ALTER TABLE orders DROP COLUMN tmp; INSERT INTO orders VALUES (9910002, 1, 'after')" >/dev/null
before=$(checkpoint)
link --from dbname=a --to dbname=b
expect_status 1 "a change with a column the target lacks stops the link"
expect_contains "$err" "does not fit the target's columns" "the error says why"
expect_contains "$err" "tmp" "and names the column"
expect_equal "$(q b "SELECT count(*) FROM orders WHERE id = 9910002")" "0" "nothing of the batch was applied"
expect_equal "$(checkpoint)" "$before" "the checkpoint did not move"
expect_equal "$(q b "SELECT status FROM ferry.checkpoints WHERE job LIKE 'sync from pg:%'")" "failed" \
  "the link's checkpoint says it failed"
run "$ferry" full-sync --from dbname=a --to dbname=b --tables "$tables" --method diff --quiet
link --from dbname=a --to dbname=b --restart
expect_status 0 "after a new full sync, --restart starts the link where it ended"
check_same dbname=a dbname=b "B equals A after the restart"
q a "UPDATE orders SET note = 'later' WHERE id = 9910002" >/dev/null
link --from dbname=a --to dbname=b
expect_equal "$(q b "SELECT note FROM orders WHERE id = 9910002")" "later" "the link goes on from there"

# --- changes logged before a column was added on both peers lack it: the
# target keeps its own value of that column, on either engine, and judges
# them by the columns their old row had (target-wins would otherwise keep
# its row and drop the update as a conflict)
sqlite3 "$work/nc.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"
for db in nca ncb ncm; do
  createdb "$db"
  q "$db" "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null
done
q nca "INSERT INTO t VALUES (1, 'one'), (3, 'three')" >/dev/null
"$ferry" init dbname=nca --track t >/dev/null
for peer in dbname=ncb dbname=ncm "sqlite:$work/nc.db"; do
  "$ferry" init "$peer" --track t >/dev/null
  "$ferry" full-sync --from dbname=nca --to "$peer" --tables t --quiet >/dev/null
done
q nca "UPDATE t SET v = 'A1' WHERE id = 1; INSERT INTO t VALUES (2, 'two'); DELETE FROM t WHERE id = 3;
       ALTER TABLE t ADD COLUMN extra text" >/dev/null
q ncb "ALTER TABLE t ADD COLUMN extra text; UPDATE t SET extra = 'mine' WHERE id = 1" >/dev/null
q ncm "ALTER TABLE t ADD COLUMN extra text; UPDATE t SET extra = 'mine', v = 'M1' WHERE id = 1" >/dev/null
sqlite3 "$work/nc.db" "ALTER TABLE t ADD COLUMN extra TEXT; UPDATE t SET extra = 'mine' WHERE id = 1"
"$ferry" init "sqlite:$work/nc.db" --track t >/dev/null
link --from dbname=nca --to dbname=ncb --tables t --policy target-wins
expect_status 0 "changes logged before a column was added apply to PostgreSQL"
expect_equal "$(q ncb "SELECT string_agg(id || '|' || v || '|' || coalesce(extra, '-'), ' ' ORDER BY id) FROM t")" \
  "1|A1|mine 2|two|-" "keeping the target's value of the new column, the update and the delete applied"
expect_equal "$(q ncb "SELECT count(*) FROM ferry.conflicts")" "0" \
  "judged by the columns their old row had: no conflict"
link --from dbname=nca --to "sqlite:$work/nc.db" --tables t --policy target-wins
expect_status 0 "and to SQLite"
expect_equal "$(sqlite3 "$work/nc.db" "SELECT group_concat(id || '|' || v || '|' || coalesce(extra, '-'), ' ') FROM (SELECT * FROM t ORDER BY id)")" \
  "1|A1|mine 2|two|-" "keeping the target's value there too"
expect_equal "$(sqlite3 "$work/nc.db" "SELECT count(*) FROM ferry_conflicts")" "0" "no conflict there either"
# A SQLite source whose log holds rows from before the column: its old rows
# hash over the columns they have.
"$ferry" full-sync --from "sqlite:$work/nc.db" --to dbname=ncb --tables t --quiet >/dev/null
sqlite3 "$work/nc.db" "UPDATE t SET v = 'S1' WHERE id = 1; DELETE FROM t WHERE id = 2;
  ALTER TABLE t ADD COLUMN more TEXT"
"$ferry" init "sqlite:$work/nc.db" --track t >/dev/null
q ncb "ALTER TABLE t ADD COLUMN more text" >/dev/null
link --from "sqlite:$work/nc.db" --to dbname=ncb --tables t --policy target-wins
expect_status 0 "a SQLite source with changes logged before a column was added"
expect_equal "$(q ncb "SELECT string_agg(id || '|' || v || '|' || coalesce(extra, '-'), ' ' ORDER BY id) FROM t")" \
  "1|S1|mine" "applies them without conflicts"
# Under manual, a row both peers changed is a conflict; keeping the remote
# version keeps the target's value of the new column.
link --from dbname=nca --to dbname=ncm --tables t --policy manual
expect_equal "$(q ncm "SELECT count(*) FROM ferry.conflicts")" "1" "a row both changed is still a conflict"
run "$ferry" conflicts dbname=ncm --resolve "$(q ncm "SELECT min(id) FROM ferry.conflicts")" --keep remote
expect_status 0 "ferry conflicts --keep remote of a row logged before the column"
expect_equal "$(q ncm "SELECT v || '|' || extra FROM t WHERE id = 1")" "A1|mine" \
  "writes the remote version, keeping the target's value of the new column"

# --- a delete logged before columns were added with defaults on both
# peers: the target's row holds those defaults and is still the row the
# source deleted; a row whose new column changed since is a conflict
sqlite3 "$work/dd.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"
for db in dda ddb; do
  createdb "$db"
  q "$db" "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null
done
q dda "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')" >/dev/null
for peer in dbname=dda dbname=ddb "sqlite:$work/dd.db"; do "$ferry" init "$peer" --track t >/dev/null; done
for peer in dbname=ddb "sqlite:$work/dd.db"; do
  "$ferry" full-sync --from dbname=dda --to "$peer" --tables t --quiet >/dev/null
done
q dda "DELETE FROM t WHERE id IN (1, 2); ALTER TABLE t ADD COLUMN n int DEFAULT 0, ADD COLUMN s text DEFAULT 'it''s'" >/dev/null
q ddb "ALTER TABLE t ADD COLUMN n int DEFAULT 0, ADD COLUMN s text DEFAULT 'it''s'; UPDATE t SET n = 5 WHERE id = 2" >/dev/null
sqlite3 "$work/dd.db" "ALTER TABLE t ADD COLUMN n INTEGER DEFAULT 0; ALTER TABLE t ADD COLUMN s TEXT DEFAULT 'it''s'; UPDATE t SET n = 5 WHERE id = 2"
"$ferry" init "sqlite:$work/dd.db" --track t >/dev/null
link --from dbname=dda --to dbname=ddb --tables t --policy target-wins
expect_equal "$(report conflicts)|$(q ddb "SELECT string_agg(id || '|' || v || '|' || n || '|' || s, ' ' ORDER BY id) FROM t")" \
  "1|2|two|5|it's 3|three|0|it's" "a delete logged before ADD COLUMN … DEFAULT applies to PostgreSQL; a row changed since is a conflict"
link --from dbname=dda --to "sqlite:$work/dd.db" --tables t --policy target-wins
expect_equal "$(report conflicts)|$(sqlite3 "$work/dd.db" "SELECT group_concat(id || '|' || v || '|' || n || '|' || s, ' ') FROM (SELECT * FROM t ORDER BY id)")" \
  "1|2|two|5|it's 3|three|0|it's" "and to SQLite"

# defaults the column's type prints otherwise than they were written
# (false and f, 'a' and 'a  ', 10.0.0.1 and 10.0.0.1/32), then a generated
# column (its table rewritten: PostgreSQL keeps no added default after
# that); a partitioned target; and SQLite defaults written quoted ('0' in
# an INTEGER column, as Laravel writes them)
dd2_pair() {  # dd2_pair SOURCE TARGET_PEER: t (id, v) with rows 1 and 2, synced, row 1 deleted at SOURCE
  createdb "$1"
  q "$1" "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two')" >/dev/null
  "$ferry" init "dbname=$1" --track t >/dev/null
  "$ferry" init "$2" --track t >/dev/null
  "$ferry" full-sync --from "dbname=$1" --to "$2" --tables t --quiet >/dev/null
  q "$1" "DELETE FROM t WHERE id = 1" >/dev/null
}
dd2_check() {  # dd2_check SOURCE TARGET_PEER COMMAND (prints the target's keys)
  link --from "dbname=$1" --to "$2" --tables t --policy target-wins
  expect_equal "$status|$(report conflicts)|$(eval "$3")" "0|0|2" \
    "a delete logged before ADD COLUMN … DEFAULT: no conflict in $2, the row deleted"
}
added="ADD COLUMN b bool DEFAULT false, ADD COLUMN c char(3) DEFAULT 'a', ADD COLUMN i inet DEFAULT '10.0.0.1'"
createdb dd2b
q dd2b "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null
dd2_pair dd2a dbname=dd2b
for db in dd2a dd2b; do
  q "$db" "ALTER TABLE t $added; ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED" >/dev/null
done
dd2_check dd2a dbname=dd2b 'q dd2b "SELECT string_agg(id::text, '"' '"') FROM t"'
createdb dd2p
q dd2p "CREATE TABLE t (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
        CREATE TABLE t_low PARTITION OF t FOR VALUES FROM (0) TO (100)" >/dev/null
dd2_pair dd2c dbname=dd2p
for db in dd2c dd2p; do q "$db" "ALTER TABLE t $added" >/dev/null; done
dd2_check dd2c dbname=dd2p 'q dd2p "SELECT string_agg(id::text, '"' '"') FROM t"'
sqlite3 "$work/dd2.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"
dd2_pair dd2s "sqlite:$work/dd2.db"
q dd2s "ALTER TABLE t ADD COLUMN n int DEFAULT 0, ADD COLUMN f bool DEFAULT true, ADD COLUMN r float8 DEFAULT 1.5,
        ADD COLUMN s text DEFAULT '5', ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED" >/dev/null
sqlite3 "$work/dd2.db" "ALTER TABLE t ADD COLUMN n INTEGER DEFAULT '0'; ALTER TABLE t ADD COLUMN f BOOLEAN DEFAULT TRUE;
  ALTER TABLE t ADD COLUMN r REAL DEFAULT '1.5'; ALTER TABLE t ADD COLUMN s TEXT DEFAULT 5;
  ALTER TABLE t ADD COLUMN g INTEGER GENERATED ALWAYS AS (id * 2) VIRTUAL"
"$ferry" init "sqlite:$work/dd2.db" --track t >/dev/null
dd2_check dd2s "sqlite:$work/dd2.db" 'sqlite3 "$work/dd2.db" "SELECT group_concat(id, '"' '"') FROM t"'

# --- latest-wins through a hub: the hub logs the changes it applies with
# the time they were made at their source, so a later edit wins on every
# peer, whichever peer reaches the hub first (a PostgreSQL hub, then a
# SQLite one; each peer's edit made before the other's reached the hub; a
# key the peers spell differently: 2.5 and 2.50, members in another order)
lw_hub_round() {  # lw_hub_round HUB ROUND: S2 edits, then S1, then S2 syncs first
  local hub=$1 peer
  q lws2 "UPDATE t SET v = 'S2 earlier $2'" >/dev/null
  sleep 0.2
  q lws1 "UPDATE t SET v = 'S1 later $2'" >/dev/null
  for peer in lws2 lws1; do
    link --from "dbname=$peer" --to "$hub" --policy latest-wins
    expect_status 0 "$peer to the hub"
  done
  for peer in lws2 lws1; do link --from "$hub" --to "dbname=$peer" --policy latest-wins; done
}
for db in lwh lws1 lws2; do
  createdb "$db"
  q "$db" "CREATE TABLE t (tenant text, id numeric(10, 2), v text, PRIMARY KEY (tenant, id))" >/dev/null
  "$ferry" init "dbname=$db" --track t >/dev/null
done
q lwh "INSERT INTO t VALUES ('acme', 2.5, 'first')" >/dev/null
for db in lws1 lws2; do "$ferry" full-sync --from dbname=lwh --to "dbname=$db" --quiet >/dev/null; done
lw_hub_round dbname=lwh 1
expect_equal "$(q lwh "SELECT v FROM t")|$(q lws1 "SELECT v FROM t")|$(q lws2 "SELECT v FROM t")" \
  "S1 later 1|S1 later 1|S1 later 1" "latest-wins through a PostgreSQL hub: the later edit everywhere"
sqlite3 "$work/lwh.db" "CREATE TABLE t (tenant TEXT, id NUMERIC, v TEXT, PRIMARY KEY (tenant, id))"
"$ferry" init "sqlite:$work/lwh.db" --track t >/dev/null
"$ferry" full-sync --from dbname=lws1 --to "sqlite:$work/lwh.db" --quiet >/dev/null
for db in lws1 lws2; do q "$db" "DELETE FROM ferry.checkpoints" >/dev/null; done
for db in lws1 lws2; do "$ferry" full-sync --from "sqlite:$work/lwh.db" --to "dbname=$db" --quiet >/dev/null; done
lw_hub_round "sqlite:$work/lwh.db" 2
expect_equal "$(sqlite3 "$work/lwh.db" "SELECT v FROM t")|$(q lws1 "SELECT v FROM t")|$(q lws2 "SELECT v FROM t")" \
  "S1 later 2|S1 later 2|S1 later 2" "and through a SQLite hub"

# the same through a PostgreSQL hub from SQLite peers, whose key 2.5 the
# hub's numeric(10,2) logs as 2.50
createdb lwh2
q lwh2 "CREATE TABLE t (id numeric(10, 2) PRIMARY KEY, v text)" >/dev/null
"$ferry" init dbname=lwh2 --track t >/dev/null
for p in lwl1 lwl2; do
  sqlite3 "$work/$p.db" "CREATE TABLE t (id NUMERIC PRIMARY KEY, v TEXT)"
  "$ferry" init "sqlite:$work/$p.db" --track t >/dev/null
done
q lwh2 "INSERT INTO t VALUES (2.5, 'first')" >/dev/null
for p in lwl1 lwl2; do "$ferry" full-sync --from dbname=lwh2 --to "sqlite:$work/$p.db" --quiet >/dev/null; done
sqlite3 "$work/lwl2.db" "UPDATE t SET v = 'S2 earlier'"
sleep 0.2
sqlite3 "$work/lwl1.db" "UPDATE t SET v = 'S1 later'"
for p in lwl2 lwl1; do link --from "sqlite:$work/$p.db" --to dbname=lwh2 --policy latest-wins; done
for p in lwl2 lwl1; do link --from dbname=lwh2 --to "sqlite:$work/$p.db" --policy latest-wins; done
expect_equal "$(q lwh2 "SELECT v FROM t")|$(sqlite3 "$work/lwl1.db" "SELECT v FROM t")|$(sqlite3 "$work/lwl2.db" "SELECT v FROM t")" \
  "S1 later|S1 later|S1 later" "and through a PostgreSQL hub from SQLite peers"

# --- a value the target's type refuses: the whole batch is refused
q b "ALTER TABLE orders ALTER COLUMN note TYPE varchar(16)" >/dev/null
q a "INSERT INTO orders VALUES (9920001, 1, 'short'); INSERT INTO orders VALUES (9920002, 1, 'much too long for b')" >/dev/null
link --from dbname=a --to dbname=b
expect_status 1 "a value the target refuses stops the link"
expect_contains "$err" "value too long" "PostgreSQL's error is shown"
expect_contains "$err" "While applying changes to public.orders in dbname=b" "the table is named"
expect_contains "$err" "HINT" "with what to do"
expect_equal "$(q b "SELECT count(*) FROM orders WHERE id IN (9920001, 9920002)")" "0" "no row of that batch was written"

# --- ferry follow: woken by NOTIFY (PostgreSQL) and data_version (SQLite),
# back after the server restarts, stopped cleanly by SIGTERM
# appears DB SQL ID: waits up to 10 s for order ID to exist in DB
# appears DB ID [TENTHS]: the order shows up at DB within TENTHS/10 s (10 s).
appears() {
  local i
  for i in $(seq 1 "${3:-100}"); do
    [[ $(q "$1" "SELECT count(*) FROM orders WHERE id = $2") == 1 ]] && return 0
    sleep 0.1
  done
  return 1
}
new_pg fa
fill_shop fa 100
new_pg fb
"$ferry" full-sync --from dbname=fa --to dbname=fb --tables "$tables" --quiet >/dev/null
"$ferry" follow --from dbname=fa --to dbname=fb --tables "$tables" --quiet >"$work/follow.out" 2>&1 &
follower=$!
sleep 1
q fa "INSERT INTO orders VALUES (9950001, 1, 'followed')" >/dev/null
appears fb 9950001 && pass "follow applies a change as it commits" || fail "follow applies a change as it commits"
# Capture sends its NOTIFY only while a listener holds the listener lock
# (core/include/ferry/change_wakeup.hpp); follow holds it on the source.
listener_locks() {
  q fa "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE d.datname = 'fa' AND l.locktype = 'advisory' AND l.classid = 1181053554
          AND l.objid = 2034659180 AND l.objsubid = 2 AND l.mode = 'ShareLock' AND l.granted"
}
expect_equal "$(listener_locks)" "1" "follow holds the listener lock on the source, so commits there wake it"
# The shutdown checkpoint syncs every file of the test's many databases:
# on a busy machine that outlasts pg_ctl's default 60 s, and the follower's
# pause between attempts grows to 30 s meanwhile.
_as_server_user "$PG_BIN/pg_ctl" -D "$PG_CLUSTER_DIR/data" -m fast -w -t 300 restart >/dev/null
q fa "INSERT INTO orders VALUES (9950002, 1, 'after the restart')" >/dev/null
appears fb 9950002 600 && pass "follow reconnects after the server restarts" ||
  fail "follow reconnects after the server restarts" "$(cat "$work/follow.out")"
expect_equal "$(listener_locks)" "1" "and holds the listener lock again"
kill -TERM "$follower"
wait "$follower" && pass "follow stops on SIGTERM with exit 0" || fail "follow stops on SIGTERM with exit 0"
expect_equal "$(q fb "SELECT status FROM ferry.sessions ORDER BY id DESC LIMIT 1")" "succeeded" \
  "and records its session as succeeded"
expect_equal "$(listener_locks)" "0" "and lets the listener lock go"
check_same dbname=fa dbname=fb "B equals A after following"
new_lite "$work/follow.db"
"$ferry" full-sync --from dbname=fa --to "sqlite:$work/follow.db" --tables "$tables" --quiet >/dev/null
new_pg fc
"$ferry" full-sync --from "sqlite:$work/follow.db" --to dbname=fc --tables "$tables" --quiet >/dev/null
"$ferry" follow --from "sqlite:$work/follow.db" --to dbname=fc --tables "$tables" --quiet >/dev/null 2>&1 &
follower=$!
sleep 1
sqlite3 "$work/follow.db" "INSERT INTO orders VALUES (9950003, 1, 'from sqlite')"
appears fc 9950003 && pass "follow wakes on a SQLite commit" || fail "follow wakes on a SQLite commit"
# The PostgreSQL target restarts: its connection ends with 57P01, which is
# retried like a lost connection.
_as_server_user "$PG_BIN/pg_ctl" -D "$PG_CLUSTER_DIR/data" -m fast -w restart >/dev/null
sqlite3 "$work/follow.db" "INSERT INTO orders VALUES (9950004, 1, 'after the target restarted')"
appears fc 9950004 && pass "follow keeps going when its PostgreSQL target restarts" ||
  fail "follow keeps going when its PostgreSQL target restarts"
kill -TERM "$follower"
wait "$follower" || true
# A SQLite target an application holds locked for longer than ferry waits
# (30 s by the clock): follow reports it, waits and goes on, instead of
# exiting 4.
"$ferry" follow --from dbname=fa --to "sqlite:$work/follow.db" --tables "$tables" --quiet \
  >"$work/follow-busy.out" 2>&1 &
follower=$!
sleep 1
python3 - "$work/follow.db" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
time.sleep(45)
db.execute("COMMIT")
PY
holder=$!
sleep 1
q fa "INSERT INTO orders VALUES (9950005, 1, 'while the peer was locked')" >/dev/null
wait "$holder"
for i in $(seq 1 100); do
  [[ $(sqlite3 "$work/follow.db" "SELECT count(*) FROM orders WHERE id = 9950005") == 1 ]] && break
  sleep 0.1
done
expect_equal "$(kill -0 "$follower" 2>/dev/null && echo running)|$(sqlite3 "$work/follow.db" \
  "SELECT count(*) FROM orders WHERE id = 9950005")" "running|1" \
  "follow outlasts a SQLite target locked for longer than its busy timeout"
expect_contains "$(cat "$work/follow-busy.out")" "database is locked" "and says why it waited"
kill -TERM "$follower"
wait "$follower" || true
# Both ways with a filter: the filter chooses what the peer receives; a
# row the peer moves out of its filter is updated on the hub, not deleted.
createdb fhub
q fhub "CREATE TABLE notes (id int PRIMARY KEY, user_id int, body text);
        INSERT INTO notes SELECT i, 1 + i % 2, 'n' || i FROM generate_series(1, 10) i" >/dev/null
"$ferry" init dbname=fhub --track notes >/dev/null
sqlite3 "$work/fu1.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT)"
"$ferry" init "sqlite:$work/fu1.db" --track notes >/dev/null
"$ferry" full-sync --from dbname=fhub --to "sqlite:$work/fu1.db" --tables notes --where 'notes:user_id = 1' --quiet >/dev/null
"$ferry" follow --from dbname=fhub --to "sqlite:$work/fu1.db" --tables notes \
  --where 'notes:user_id = 1' --both --quiet >"$work/follow-both.out" 2>&1 &
follower=$!
sleep 1
sqlite3 "$work/fu1.db" "UPDATE notes SET user_id = 2, body = 'handed over' WHERE id = 2"
handed_over() { [[ $(q fhub "SELECT body FROM notes WHERE id = 2") == "handed over" ]]; }
for i in $(seq 1 100); do handed_over && break; sleep 0.1; done
kill -TERM "$follower" 2>/dev/null || cat "$work/follow-both.out"
wait "$follower" || true
expect_equal "$(q fhub "SELECT user_id || ' ' || body FROM notes WHERE id = 2")" "2 handed over" \
  "follow --both --where: a row the peer moves out of its filter is updated on the hub"

# --- leases: a second writer of the tables exits 4
q c "SELECT ferry.try_lock('sync public.orders', 'someone else', '1 hour')" >/dev/null
link --from "sqlite:$work/site.db" --to dbname=c
expect_status 4 "a link whose tables another sync holds exits 4"
expect_contains "$err" "someone else" "and names the holder"

# --- a run whose lease expired while it stalled commits nothing once a
# second run of the link has taken over: its checkpoint moved meanwhile
new_pg sta
new_pg stb
q sta "INSERT INTO customers (id, name) SELECT i, 'c' || i FROM generate_series(1, 5) i" >/dev/null
"$ferry" full-sync --from dbname=sta --to dbname=stb --tables "$tables" --quiet >/dev/null
# The first writer of orders on B stalls 12 s before writing (a lease lasts 5 s).
q stb "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS \$\$
       BEGIN IF pg_try_advisory_lock(4242) THEN PERFORM pg_sleep(12); END IF; RETURN NULL; END \$\$;
       CREATE TRIGGER stall BEFORE INSERT OR UPDATE ON orders
       FOR EACH STATEMENT EXECUTE FUNCTION stall()" >/dev/null
q sta "INSERT INTO orders SELECT i, 1 + i % 5, 'o' || i FROM generate_series(1, 30) i" >/dev/null
"$ferry" sync --quiet --lease-seconds 5 --from dbname=sta --to dbname=stb \
  >"$work/stalled.out" 2>"$work/stalled.err" &
stalled=$!
sleep 7
link --from dbname=sta --to dbname=stb --lease-seconds 5
expect_status 0 "a second run takes over the lease of a stalled one"
expect_equal "$(report changes)" "30" "and applies the batch"
stalled_status=0
wait "$stalled" || stalled_status=$?
expect_equal "$stalled_status" "4" "the stalled run then commits nothing (exit 4)"
expect_contains "$(cat "$work/stalled.err")" "moved while this batch was applied" "and says why"
check_same dbname=sta dbname=stb "B equals A"
link --from dbname=sta --to dbname=stb
expect_equal "$(report changes)" "0" "the checkpoint stands where the second run left it"

# --- a GENERATED ALWAYS identity key (pgbench_history's, say) keeps the
# source's values
for db in ida idb; do
  createdb "$db"
  q "$db" "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text)" >/dev/null
done
"$ferry" init dbname=ida --track events >/dev/null
"$ferry" init dbname=idb >/dev/null
q ida "INSERT INTO events (what) SELECT 'e' || i FROM generate_series(1, 5) i" >/dev/null
"$ferry" full-sync --from dbname=ida --to dbname=idb --tables events --quiet >/dev/null
q ida "INSERT INTO events (what) VALUES ('new'); UPDATE events SET what = 'changed' WHERE id = 2" >/dev/null
link --from dbname=ida --to dbname=idb --tables events
expect_status 0 "a table keyed by a GENERATED ALWAYS identity column syncs"
expect_equal "$(q idb "SELECT string_agg(id || '=' || what, ' ' ORDER BY id) FROM events WHERE id IN (2, 6)")" \
  "2=changed 6=new" "with the source's identity values"

# --- one batch that inserts a parent and points an existing child at it:
# the child's update (a row the fast path would write before the batch's
# inserts) waits for the parent; and plain updates take the fast path
for db in fka fkb; do
  createdb "$db"
  q "$db" "CREATE TABLE teams (id int PRIMARY KEY, name text);
           CREATE TABLE players (id int PRIMARY KEY, team int REFERENCES teams, score int)" >/dev/null
done
"$ferry" init dbname=fka --track teams,players >/dev/null
"$ferry" init dbname=fkb >/dev/null
q fka "INSERT INTO teams VALUES (1, 'a'), (3, 'c'); INSERT INTO players SELECT i, 1, 0 FROM generate_series(1, 3) i" >/dev/null
"$ferry" full-sync --from dbname=fka --to dbname=fkb --quiet >/dev/null
q fka "INSERT INTO teams VALUES (2, 'b'); UPDATE players SET team = 2 WHERE id = 3;
       UPDATE teams SET name = upper(name) WHERE id IN (1, 3)" >/dev/null
q fkb "UPDATE teams SET name = 'local' WHERE id = 1" >/dev/null  # a conflict the fast path leaves
link --from dbname=fka --to dbname=fkb
expect_status 0 "a child moved to a parent inserted in the same batch syncs"
expect_equal "$(q fkb "SELECT team FROM players WHERE id = 3")" "2" "and references the new parent"
expect_equal "$(q fkb "SELECT string_agg(name, ',' ORDER BY id) FROM teams")" "A,b,C" \
  "updates are written, one the target changed meanwhile as a conflict (source-wins)"
expect_equal "$(q fkb "SELECT count(*) FROM ferry.conflicts WHERE table_name = 'teams'::regclass")" "1" \
  "and is recorded"
run "$ferry" diff dbname=fka dbname=fkb --quiet
expect_status 0 "both peers are equal afterwards"

# --- order within a batch: a TRUNCATE then inserts keeps the inserts; a
# UNIQUE value freed by a delete (or a key change) and reused at once, by an
# insert or an update; a
# parent deleted after its children moved to another parent
for db in ora orb; do
  createdb "$db"
  q "$db" "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
           CREATE TABLE owners (id int PRIMARY KEY);
           CREATE TABLE pets (id int PRIMARY KEY, owner int REFERENCES owners);
           CREATE TABLE scratch (id int PRIMARY KEY, v text)" >/dev/null
done
"$ferry" init dbname=ora --track users,owners,pets,scratch >/dev/null
"$ferry" init dbname=orb >/dev/null
q ora "INSERT INTO users VALUES (1, 'x@example.com'), (5, 'k@example.com'), (7, 'm@example.com'),
                             (8, 'n@example.com');
       INSERT INTO owners VALUES (1), (2); INSERT INTO pets VALUES (1, 1), (2, 1);
       INSERT INTO scratch SELECT i, 'old' FROM generate_series(1, 5) i" >/dev/null
sqlite3 "$work/order.db" "CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT)"
"$ferry" init "sqlite:$work/order.db" --track scratch >/dev/null
"$ferry" full-sync --from dbname=ora --to dbname=orb --quiet >/dev/null
"$ferry" full-sync --from dbname=ora --to "sqlite:$work/order.db" --tables scratch --quiet >/dev/null
q ora "DELETE FROM users WHERE id = 1; INSERT INTO users VALUES (2, 'x@example.com');
       UPDATE users SET id = 6 WHERE id = 5;
       DELETE FROM users WHERE id = 7; UPDATE users SET email = 'm@example.com' WHERE id = 8;
       UPDATE pets SET owner = 2; DELETE FROM owners WHERE id = 1;
       TRUNCATE scratch; INSERT INTO scratch VALUES (10, 'after the truncate')" >/dev/null
link --from dbname=ora --to dbname=orb
expect_status 0 "a batch that reuses a freed UNIQUE value, truncates and moves children syncs"
expect_equal "$(q orb "SELECT string_agg(id || '=' || email, ' ' ORDER BY id) FROM users")" \
  "2=x@example.com 6=k@example.com 8=m@example.com" "the freed e-mail addresses are reused"
expect_equal "$(q orb "SELECT string_agg(id::text, ' ' ORDER BY id) FROM owners") / $(q orb "SELECT string_agg(id || '>' || owner, ' ' ORDER BY id) FROM pets")" \
  "2 / 1>2 2>2" "the old parent is gone once its children moved"
expect_equal "$(q orb "SELECT string_agg(id || '=' || v, ' ') FROM scratch")" "10=after the truncate" \
  "rows inserted after a TRUNCATE survive it (PostgreSQL target)"
expect_equal "$(q ora "SELECT count(*) > 0 FROM ferry.change_log WHERE table_name = 'scratch'::regclass")" "t" \
  "the link to B purged nothing the SQLite peer's copy still needs (its full sync registered it)"
link --from dbname=ora --to "sqlite:$work/order.db" --tables scratch
expect_status 0 "the same TRUNCATE to a SQLite peer"
expect_equal "$(sqlite3 "$work/order.db" "SELECT group_concat(id || '=' || v, ' ') FROM scratch")" \
  "10=after the truncate" "rows inserted after a TRUNCATE survive it (SQLite target)"

# --- rows that swap a UNIQUE value (a list reordered under UNIQUE (list,
# pos)): one net change per key, the batch clashes where the source's
# changes did not; it is applied again in smaller batches, down to the
# source's own order. A clash that is the target's own still stops the link.
twin_databases swa swb items "id int PRIMARY KEY, pos int UNIQUE, label text" \
  "$(seq -s, 1 40 | sed -E 's/([0-9]+)/(\1, \1, '"'"'i\1'"'"')/g')"
sqlite3 "$work/swap.db" "CREATE TABLE items (id INTEGER PRIMARY KEY, pos INTEGER UNIQUE, label TEXT)"
"$ferry" init "sqlite:$work/swap.db" --track items >/dev/null
"$ferry" full-sync --from dbname=swa --to "sqlite:$work/swap.db" --quiet >/dev/null
q swa "UPDATE items SET label = label || '!' WHERE id <= 10;
       BEGIN; UPDATE items SET pos = 0 WHERE id = 20; UPDATE items SET pos = 20 WHERE id = 21;
       UPDATE items SET pos = 21 WHERE id = 20; COMMIT;
       UPDATE items SET label = label || '?' WHERE id > 30" >/dev/null
for target in dbname=swb "sqlite:$work/swap.db"; do
  link --from dbname=swa --to "$target" --batch 16
  expect_status 0 "a batch in which two rows swap a UNIQUE value applies ($target)"
  expect_equal "$(report changes 0)" "23" "every change counted once ($target)"
  run "$ferry" diff dbname=swa "$target" --tables items
  expect_status 0 "the target equals the source ($target)"
done
sqlite3 "$work/swap.db" "UPDATE items SET pos = 0 WHERE id = 5; UPDATE items SET pos = 5 WHERE id = 6;
                         UPDATE items SET pos = 6 WHERE id = 5"
link --from "sqlite:$work/swap.db" --to dbname=swa
expect_status 0 "the same from a SQLite source"
expect_equal "$(q swa "SELECT id || '@' || pos FROM items WHERE id IN (5, 6) ORDER BY id" | tr '\n' ' ')" \
  "5@6 6@5 " "the swap arrived"
q swa "UPDATE items SET label = 'one by one' WHERE id <= 3" >/dev/null
run timeout 60 "$ferry" sync --from dbname=swa --to dbname=swb --batch 1 --quiet --json
expect_status 0 "--batch 1 ends (its own acknowledgements are nothing new to read)"
run "$ferry" diff dbname=swa dbname=swb --tables items
expect_status 0 "and applies every change (with the SQLite peer's swap, which A passes on)"
q swb "INSERT INTO items VALUES (99, 99, 'only on B')" >/dev/null
q swa "UPDATE items SET label = 'first' WHERE id = 1; UPDATE items SET pos = 99 WHERE id = 2;
       UPDATE items SET label = 'third' WHERE id = 3" >/dev/null
link --from dbname=swa --to dbname=swb
expect_status 1 "a value the target's own row holds still stops the link"
expect_contains "$err" 'duplicate key value violates unique constraint "items_pos_key"' \
  "naming the constraint"
expect_contains "$err" "the changes before it were applied, nothing of it was" \
  "and saying the batch was applied in parts"
expect_equal "$(q swb "SELECT label FROM items WHERE id = 1")" "first" \
  "the changes before the clashing one are applied"

# --- two links from one source into one target, each with its own tables:
# each link is its own consumer, so one link's acknowledgement and purge
# never remove a change the other has not read; a full sync's hold and the
# consumers a changed table list leaves behind are dropped once covered
# (docs/incremental-sync.md#consumers)
createdb splitb
q splitb "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY, v text)" >/dev/null
"$ferry" init dbname=splitb >/dev/null
createdb splita
q splita "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY, v text)" >/dev/null
sqlite3 "$work/splita.db" "CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE t2 (id INTEGER PRIMARY KEY, v TEXT)"
split_links() {  # split_links SOURCE WRITE CONSUMERS LOG LEFT_IN_LOG: WRITE SQL runs SQL there
  local src=$1 write=$2 consumers=$3 log=$4 left=$5 round
  q splitb "TRUNCATE t1, t2" >/dev/null
  "$ferry" init "$src" --track t1,t2 >/dev/null
  "$ferry" full-sync --from "$src" --to dbname=splitb --quiet >/dev/null
  for round in 1 2; do
    $write "INSERT INTO t2 VALUES ($round, 'b'); INSERT INTO t1 VALUES ($round, 'a')" >/dev/null  # t2's change not the newest
    link --from "$src" --to dbname=splitb --tables t1
    link --from "$src" --to dbname=splitb --tables t2
    expect_equal "$(q splitb "SELECT count(*) FROM t1 WHERE id = $round")|$(q splitb "SELECT count(*) FROM t2 WHERE id = $round")" \
      "1|1" "$src, round $round: each link gets its changes, none purged by the other"
  done
  expect_equal "$($write "$consumers")" 2 "$src: one consumer per link; the full sync's hold is gone"
  expect_equal "$($write "$log")" "$left" "$src: what both links acknowledged is purged"
  $write "INSERT INTO t2 VALUES (3, 'c')" >/dev/null
  link --from "$src" --to dbname=splitb --tables t1,t2
  expect_equal "$(q splitb "SELECT v FROM t2 WHERE id = 3")" "c" "$src: a link over both tables gets the change"
  expect_equal "$($write "$consumers")" 1 "$src: and replaces the two consumers it covers"
}
on_splita() { q splita "$1"; }
on_splita_db() { sqlite3 "$work/splita.db" "$1"; }
split_links dbname=splita on_splita "SELECT count(*) FROM ferry.consumers" \
  "SELECT count(*) FROM ferry.changes" 0
expect_equal "$(q splita "SELECT string_agg(table_name || ':' || pending_changes, ' ' ORDER BY table_name::text) FROM ferry.status")" \
  "t1:0 t2:0" "ferry.status: one row per table and peer, nothing pending"
# a consumer of every table (as ferry 0.5 left them) is named, with what to run
q splita "INSERT INTO ferry.consumers (name, peer, cursor) SELECT peer, peer, cursor FROM ferry.consumers" >/dev/null
link --from dbname=splita --to dbname=splitb --tables t1
expect_contains "$err" "keeps every change for consumer" "a consumer of every table left from 0.5 is reported"
expect_contains "$err" "SELECT ferry.drop_consumer('pg:" "with the statement that drops it"
q splita "DELETE FROM ferry.consumers WHERE tables IS NULL" >/dev/null
split_links "sqlite:$work/splita.db" on_splita_db "SELECT count(*) FROM ferry_consumers" \
  "SELECT count(*) FROM ferry_changes" 1  # SQLite keeps its newest change
expect_equal "$(sqlite3 "$work/splita.db" "SELECT group_concat(table_name || ':' || pending_changes, ' ') FROM (SELECT * FROM ferry_status ORDER BY table_name)")" \
  "t1:0 t2:0" "ferry_status: one row per table and peer, nothing pending"

# --- jsonb between SQLite and PostgreSQL: the JSON text a SQLite column
# holds arrives as the JSON value it spells (numbers exact, into a domain
# over jsonb too); a jsonb string reaches SQLite as JSON text, as a full
# sync writes it, and comes back the same string, even one whose text is
# JSON itself
createdb jsonpg
q jsonpg "CREATE DOMAIN jobject AS jsonb CHECK (VALUE IS NULL OR jsonb_typeof(VALUE) <> 'object' OR VALUE ? 'a');
  CREATE TABLE docs (id int PRIMARY KEY, body jobject, note text)" >/dev/null
"$ferry" init dbname=jsonpg --track docs >/dev/null
sqlite3 "$work/json.db" "CREATE TABLE docs (id INTEGER PRIMARY KEY, body JSON, note TEXT);
  INSERT INTO docs VALUES (1, '{\"a\": 1}', NULL)"
"$ferry" init "sqlite:$work/json.db" --track docs >/dev/null
"$ferry" full-sync --from "sqlite:$work/json.db" --to dbname=jsonpg --quiet >/dev/null
sqlite3 "$work/json.db" "UPDATE docs SET body = '{\"a\": [2, {\"b\": null}], \"n\": 123456789012345678901234567890}' WHERE id = 1;
  INSERT INTO docs VALUES (2, ' [1, \"x\"]', NULL), (3, '\"text\"', NULL), (4, '42', NULL), (5, NULL, NULL), (8, 'true', NULL)"
link --from "sqlite:$work/json.db" --to dbname=jsonpg
expect_status 0 "SQLite -> PostgreSQL into a jsonb column (a domain over jsonb)"
expect_equal "$(q jsonpg "SELECT string_agg(id || ':' || coalesce(jsonb_typeof(body), 'SQL NULL'), ' ' ORDER BY id) FROM docs")" \
  "1:object 2:array 3:string 4:number 5:SQL NULL 8:boolean" "each value arrives as its JSON type"
expect_equal "$(q jsonpg "SELECT (body->'a'->1->>'b') IS NULL AND body->'a'->>0 = '2' AND body->>'n' = '123456789012345678901234567890' FROM docs WHERE id = 1")|$(q jsonpg "SELECT body #>> '{}' FROM docs WHERE id = 3")" \
  "t|text" "with its content, numbers exact"
run "$ferry" diff "sqlite:$work/json.db" dbname=jsonpg --tables docs --rows
expect_status 0 "and the tables hash alike"
"$ferry" full-sync --from dbname=jsonpg --to "sqlite:$work/json.db" --quiet >/dev/null  # the way back starts here
q jsonpg "INSERT INTO docs VALUES (7, '\"active\"', NULL), (9, '\"[1]\"', NULL), (10, '\"{\\\"a\\\": 1}\"', NULL)" >/dev/null
link --from dbname=jsonpg --to "sqlite:$work/json.db"
expect_equal "$(sqlite3 "$work/json.db" "SELECT group_concat(body, ' ') FROM (SELECT body FROM docs WHERE id IN (3, 7, 9) ORDER BY id)")" \
  '"text" "active" "[1]"' "jsonb strings reach SQLite as JSON text, copied or synced"
sqlite3 "$work/json.db" "UPDATE docs SET note = 'edited on SQLite' WHERE id IN (3, 7, 9, 10)"
link --from "sqlite:$work/json.db" --to dbname=jsonpg
expect_status 0 "jsonb strings to SQLite and back"
expect_equal "$(q jsonpg "SELECT string_agg(id || ':' || jsonb_typeof(body) || ':' || (body #>> '{}') || ':' || note, ' ' ORDER BY id) FROM docs WHERE id IN (3, 7, 9, 10)")" \
  '3:string:text:edited on SQLite 7:string:active:edited on SQLite 9:string:[1]:edited on SQLite 10:string:{"a": 1}:edited on SQLite' \
  "come back the same strings"
run "$ferry" diff "sqlite:$work/json.db" dbname=jsonpg --tables docs --rows
expect_status 0 "and the peers hash alike"
createdb jsonpg2
q jsonpg2 "CREATE DOMAIN jobject AS jsonb; CREATE TABLE docs (id int PRIMARY KEY, body jobject, note text)" >/dev/null
"$ferry" init dbname=jsonpg2 >/dev/null
"$ferry" full-sync --from dbname=jsonpg --to dbname=jsonpg2 --quiet >/dev/null
q jsonpg "UPDATE docs SET body = '\"[2]\"' WHERE id = 9; UPDATE docs SET body = '{\"a\": \"\\\"q\\\"\"}' WHERE id = 10" >/dev/null
link --from dbname=jsonpg --to dbname=jsonpg2
expect_equal "$(q jsonpg2 "SELECT string_agg(id || ':' || body::text, ' ' ORDER BY id) FROM docs WHERE id IN (9, 10)")" \
  "$(q jsonpg "SELECT string_agg(id || ':' || body::text, ' ' ORDER BY id) FROM docs WHERE id IN (9, 10)")" \
  "PostgreSQL -> PostgreSQL: jsonb strings and objects arrive unchanged"
# a row whose jsonb string is respelled keeps its other numbers to the last digit
twin_databases numa numb nums "id int PRIMARY KEY, n numeric, j jsonb, o jsonb" "(0, 1, '1', '{}')"
q numa "INSERT INTO nums VALUES (1, 12345678901234567890.123456789, '\"active\"',
          '{\"big\": 123456789012345678901234567890, \"f\": 0.1000000000000000055511151231257827, \"s\": \"x\"}');
        UPDATE nums SET n = -0.000000000000000000012345678901234567890123, j = '\"on\"' WHERE id = 0" >/dev/null
link --from dbname=numa --to dbname=numb
expect_equal "$(q numb "SELECT string_agg(n || ' ' || j::text || ' ' || o::text, ' | ' ORDER BY id) FROM nums")" \
  "$(q numa "SELECT string_agg(n || ' ' || j::text || ' ' || o::text, ' | ' ORDER BY id) FROM nums")" \
  "numbers beside a jsonb string arrive to their last digit"

# --- JSON null in a jsonb column stays JSON null, apart from SQL NULL, in
# every direction (SQLAlchemy's JSON type writes Python's None as JSON null)
twin_databases jna jnb jn "id int PRIMARY KEY, doc jsonb, note text" "(1, '{}', 'x'), (2, '{}', 'x'), (7, 'null', 'x')"
q jna "UPDATE jn SET doc = 'null' WHERE id = 1; UPDATE jn SET doc = NULL WHERE id = 2;
       INSERT INTO jn VALUES (3, 'null', 'x'), (4, NULL, 'x'), (5, '\"null\"', 'x'), (6, '[null]', 'x')" >/dev/null
link --from dbname=jna --to dbname=jnb
expect_status 0 "PostgreSQL -> PostgreSQL with JSON null in a jsonb column"
jn_kinds="SELECT string_agg(id || ':' || coalesce(jsonb_typeof(doc), 'SQL NULL'), ' ' ORDER BY id) FROM jn"
expect_equal "$(q jnb "$jn_kinds")" "1:null 2:SQL NULL 3:null 4:SQL NULL 5:string 6:array 7:null" \
  "JSON null arrives as JSON null, SQL NULL as SQL NULL (updated and inserted rows)"
q jnb "UPDATE jn SET note = 'edited at B'" >/dev/null
link --from dbname=jnb --to dbname=jna
expect_equal "$(report conflicts)|$(q jna "$jn_kinds")" "0|1:null 2:SQL NULL 3:null 4:SQL NULL 5:string 6:array 7:null" \
  "the next edit of those rows is no conflict"
"$ferry" init "sqlite:$work/jn.db" >/dev/null
sqlite3 "$work/jn.db" "CREATE TABLE jn (id INTEGER PRIMARY KEY, doc JSON, note TEXT)"
"$ferry" init "sqlite:$work/jn.db" --track jn >/dev/null
"$ferry" full-sync --from dbname=jna --to "sqlite:$work/jn.db" --quiet >/dev/null
jn_sqlite="SELECT group_concat(id || ':' || quote(doc), ' ') FROM (SELECT * FROM jn ORDER BY id)"
expect_equal "$(sqlite3 "$work/jn.db" "$jn_sqlite")" "1:'null' 2:NULL 3:'null' 4:NULL 5:'\"null\"' 6:'[null]' 7:'null'" \
  "a full sync writes JSON null into SQLite as the text null"
q jna "UPDATE jn SET doc = 'null', note = 'to SQLite' WHERE id IN (2, 4); UPDATE jn SET doc = NULL WHERE id IN (1, 3)" >/dev/null
link --from dbname=jna --to "sqlite:$work/jn.db"
expect_equal "$(sqlite3 "$work/jn.db" "$jn_sqlite")" "1:NULL 2:'null' 3:NULL 4:'null' 5:'\"null\"' 6:'[null]' 7:'null'" \
  "PostgreSQL -> SQLite: JSON null as the text null, SQL NULL as NULL"
sqlite3 "$work/jn.db" "UPDATE jn SET doc = 'null' WHERE id = 1; UPDATE jn SET doc = NULL WHERE id = 2; UPDATE jn SET note = 'from SQLite' WHERE id = 7"
link --from "sqlite:$work/jn.db" --to dbname=jna
expect_equal "$(report conflicts)|$(q jna "$jn_kinds")" "0|1:null 2:SQL NULL 3:SQL NULL 4:null 5:string 6:array 7:null" \
  "SQLite -> PostgreSQL: the text null as JSON null"
run "$ferry" diff "sqlite:$work/jn.db" dbname=jna --tables jn --rows
expect_status 0 "and the two hash alike"
# into a domain over jsonb that refuses SQL NULL, through a row filter on
# that column (JSON null is inside `doc <> '{}'`, SQL NULL would not be),
# and kept by hand from a conflict
for db in jdoca jdocb; do
  createdb "$db"
  q "$db" "CREATE DOMAIN jdoc AS jsonb CHECK (VALUE IS NOT NULL);
           CREATE TABLE jd (id int PRIMARY KEY, doc jdoc, note text)" >/dev/null
  "$ferry" init "dbname=$db" --track jd >/dev/null
done
q jdoca "INSERT INTO jd VALUES (1, '[1]', 'x'), (2, '[2]', 'x'), (5, '[5]', 'x'), (6, '[6]', 'x')" >/dev/null
"$ferry" full-sync --from dbname=jdoca --to dbname=jdocb --where "jd:doc <> '{}'" --quiet >/dev/null
q jdoca "UPDATE jd SET doc = 'null' WHERE id = 1; INSERT INTO jd VALUES (3, 'null', 'x'), (4, '{}', 'x');
         UPDATE jd SET doc = '\"null\"' WHERE id = 5; UPDATE jd SET doc = '\"1\"' WHERE id = 6" >/dev/null
q jdocb "UPDATE jd SET note = 'edited at B' WHERE id IN (1, 5, 6)" >/dev/null
link --from dbname=jdoca --to dbname=jdocb --where "jd:doc <> '{}'" --policy manual
expect_equal "$(report conflicts)|$(q jdocb "SELECT string_agg(id || ':' || doc::text, ' ' ORDER BY id) FROM jd")" \
  "3|1:[1] 2:[2] 3:null 5:[5] 6:[6]" "JSON null into a domain over jsonb, inside a filter on it"
for id in $(q jdocb "SELECT id FROM ferry.conflicts ORDER BY id"); do
  run "$ferry" conflicts dbname=jdocb --resolve "$id" --keep remote
  expect_status 0 "ferry conflicts --keep remote of a row holding JSON null or a jsonb string ($id)"
done
expect_equal "$(q jdocb "SELECT string_agg(id || ':' || doc::text || ':' || note, ' ' ORDER BY id) FROM jd WHERE id IN (1, 5, 6)")" \
  '1:null:x 5:"null":x 6:"1":x' "writes JSON null as JSON null, and jsonb strings as the strings they are"
# a change logged before a jsonb column was added with the default JSON
# null on both peers keeps the target's JSON null (it is merged with the
# target's row, whose to_jsonb() spells JSON null as SQL NULL)
twin_databases jma jmb jm "id int PRIMARY KEY, note text" "(1, 'x'), (2, 'x')"
q jma "UPDATE jm SET note = 'y'; DELETE FROM jm WHERE id = 2; INSERT INTO jm VALUES (2, 'z')" >/dev/null
for db in jma jmb; do q "$db" "ALTER TABLE jm ADD COLUMN doc jsonb NOT NULL DEFAULT 'null', ADD COLUMN more jsonb" >/dev/null; done
link --from dbname=jma --to dbname=jmb
expect_equal "$status|$(q jmb "SELECT string_agg(id || ':' || note || ':' || doc::text || ':' || coalesce(more::text, 'SQL NULL'), ' ' ORDER BY id) FROM jm")" \
  "0|1:y:null:SQL NULL 2:z:null:SQL NULL" "a row logged before a jsonb column was added keeps the target's JSON null"

# a logged JSON null whose column is no longer jsonb when it is read: the
# row's list of such columns is not taken for a column
createdb jta
q jta "CREATE TABLE jt (id int PRIMARY KEY, doc jsonb); INSERT INTO jt VALUES (1, '{}')" >/dev/null
"$ferry" init dbname=jta --track jt >/dev/null
sqlite3 "$work/jt.db" "CREATE TABLE jt (id INTEGER PRIMARY KEY, doc TEXT)"
"$ferry" init "sqlite:$work/jt.db" --track jt >/dev/null
"$ferry" full-sync --from dbname=jta --to "sqlite:$work/jt.db" --quiet >/dev/null
q jta "UPDATE jt SET doc = 'null'; ALTER TABLE jt ALTER doc TYPE text" >/dev/null
link --from dbname=jta --to "sqlite:$work/jt.db"
expect_equal "$status|$(sqlite3 "$work/jt.db" "SELECT quote(doc) FROM jt")" "0|'null'" \
  "a JSON null logged before its column became text arrives as the text the ALTER made of it"

# --- a SQLite timestamp without a zone is UTC (docs/sqlite.md), also to a
# PostgreSQL target whose TimeZone is another: full sync, restore, sync (as
# a key and as a value) and a conflict kept from the SQLite side
createdb tzpg
createdb tzpg2
for db in tzpg tzpg2; do
  q "$db" "ALTER DATABASE $db SET timezone = 'Asia/Tokyo'" >/dev/null
  q "$db" "CREATE TABLE events (at timestamptz PRIMARY KEY, seen timestamptz, note text)" >/dev/null
  "$ferry" init "dbname=$db" --track events >/dev/null
done
sqlite3 "$work/tz.db" "CREATE TABLE events (at TIMESTAMPTZ PRIMARY KEY, seen TIMESTAMPTZ, note TEXT);
  INSERT INTO events VALUES ('2024-01-01 00:00:00', '2024-01-01 09:30:00', 'a'),
                            ('2024-02-01 10:00:00+09:00', '2024-02-01', 'b')"
"$ferry" init "sqlite:$work/tz.db" --track events >/dev/null
utc_rows() { q "$1" "SELECT string_agg(note || '=' || to_char(at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || '/' || coalesce(to_char(seen AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), '-'), ' ' ORDER BY note) FROM events"; }
run "$ferry" full-sync --from "sqlite:$work/tz.db" --to dbname=tzpg --verify --quiet
expect_status 0 "SQLite timestamps without a zone, full sync into a TimeZone other than UTC, verified"
expect_equal "$(utc_rows tzpg)" "a=01-01 00:00/01-01 09:30 b=02-01 01:00/02-01 00:00" "they arrive as UTC"
"$ferry" dump "sqlite:$work/tz.db" "$work/tz.ferry" --quiet >/dev/null
run "$ferry" restore "$work/tz.ferry" dbname=tzpg2 --verify --quiet
expect_status 0 "the same through a dump file, verified"
expect_equal "$(utc_rows tzpg2)" "$(utc_rows tzpg)" "the restore reads them as UTC too"
sqlite3 "$work/tz.db" "UPDATE events SET seen = '2024-06-01 12:00:00' WHERE note = 'a';
  INSERT INTO events VALUES ('2024-03-01 00:00:00', NULL, 'c'),
                            ('2024-04-01T00:00:00.1234567Z', '2024-04-01 23:59:59.9999999', 'd')"
link --from "sqlite:$work/tz.db" --to dbname=tzpg
expect_status 0 "ferry sync of SQLite timestamps without a zone"
expect_equal "$(report conflicts)|$(utc_rows tzpg)" \
  "0|a=01-01 00:00/06-01 12:00 b=02-01 01:00/02-01 00:00 c=03-01 00:00/- d=04-01 00:00/04-02 00:00" \
  "the update finds its row by its key, and every value arrives as UTC"
run "$ferry" diff "sqlite:$work/tz.db" dbname=tzpg --tables events
expect_status 0 "and the peers hash alike (seven fraction digits rounded as PostgreSQL rounds them)"
q tzpg "UPDATE events SET seen = now() WHERE note = 'c'" >/dev/null
sqlite3 "$work/tz.db" "UPDATE events SET seen = '2024-07-01 00:00:00' WHERE note = 'c'"
link --from "sqlite:$work/tz.db" --to dbname=tzpg --policy manual
expect_equal "$(report conflicts)" "1" "a conflict with the SQLite side's timestamp"
run "$ferry" conflicts dbname=tzpg --resolve "$(q tzpg "SELECT max(id) FROM ferry.conflicts")" --keep remote
expect_status 0 "kept from the SQLite side"
expect_equal "$(q tzpg "SELECT to_char(seen AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM events WHERE note = 'c'")" \
  "07-01 00:00" "as UTC"

# --- SQLite text that is not UTF-8 (SQLite stores any bytes): the link
# stops on its change saying how to go on, and goes on after a new copy
for f in u8a u8b; do
  sqlite3 "$work/$f.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'ok')"
  "$ferry" init "sqlite:$work/$f.db" --track t >/dev/null
done
"$ferry" full-sync --from "sqlite:$work/u8a.db" --to "sqlite:$work/u8b.db" --quiet >/dev/null
sqlite3 "$work/u8a.db" "INSERT INTO t VALUES (2, CAST(X'63616665E9' AS TEXT))"
link --from "sqlite:$work/u8a.db" --to "sqlite:$work/u8b.db"
expect_status 1 "a change holding text that is not UTF-8 stops the link"
expect_contains "$err" "holds text that is not valid UTF-8" "the error says what is wrong"
expect_contains "$err" "ferry full-sync" "and how to go on"
sqlite3 "$work/u8a.db" "UPDATE t SET v = 'café' WHERE id = 2"
"$ferry" full-sync --from "sqlite:$work/u8a.db" --to "sqlite:$work/u8b.db" --quiet >/dev/null
sqlite3 "$work/u8a.db" "UPDATE t SET v = 'after' WHERE id = 1"
link --from "sqlite:$work/u8a.db" --to "sqlite:$work/u8b.db"
expect_status 0 "after the row is fixed and copied again, the link goes on"
expect_equal "$(sqlite3 "$work/u8b.db" "SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id)")" \
  "after,café" "with the rows of both"

# --- an app's INSERT OR REPLACE (Android's CONFLICT_REPLACE) reaches the hub
# as the update it is, and a row it removes through another UNIQUE column
# as a delete (before, a bare insert: a conflict, or a UNIQUE violation
# that stopped the link)
createdb rephub
q rephub "CREATE TABLE members (id int PRIMARY KEY, email text UNIQUE, name text);
          INSERT INTO members VALUES (1, 'a@x', 'Ann'), (2, 'b@x', 'Bob')" >/dev/null
"$ferry" init dbname=rephub --track members >/dev/null
sqlite3 "$work/rep.db" "CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT)"
"$ferry" init "sqlite:$work/rep.db" --track members >/dev/null
"$ferry" full-sync --from dbname=rephub --to "sqlite:$work/rep.db" --quiet >/dev/null
sqlite3 "$work/rep.db" "INSERT OR REPLACE INTO members VALUES (1, 'a@x', 'Ann Smith');
                        INSERT OR REPLACE INTO members VALUES (3, 'b@x', 'Bo')"
link --from dbname=rephub --to "sqlite:$work/rep.db" --both
expect_status 0 "INSERT OR REPLACE on the device, synced both ways"
expect_equal "$(report conflicts 1)|$(q rephub "SELECT string_agg(id || '=' || name, ' ' ORDER BY id) FROM members")" \
  "0|1=Ann Smith 3=Bo" "the hub takes the update, and the delete before the insert"
run "$ferry" diff dbname=rephub "sqlite:$work/rep.db" --tables members
expect_status 0 "and the peers hash alike"
# UPDATE OR REPLACE that takes another row's email removes that row: the
# hub deletes it before it updates the one that took the email
sqlite3 "$work/rep.db" "UPDATE OR REPLACE members SET email = 'b@x' WHERE id = 1"
link --from dbname=rephub --to "sqlite:$work/rep.db" --both
expect_status 0 "UPDATE OR REPLACE on the device, synced both ways"
expect_equal "$(report conflicts 1)|$(q rephub "SELECT string_agg(id || '=' || email, ' ' ORDER BY id) FROM members")" \
  "0|1=b@x" "the hub drops the displaced row and takes the update"
run "$ferry" diff dbname=rephub "sqlite:$work/rep.db" --tables members
expect_status 0 "and the peers hash alike after it"

# --- UUID keys an app writes in upper case (Apple's UUID().uuidString) in a
# SQLite column declared UUID: PostgreSQL spells them in lower case, and a
# full sync or a change from there updates or deletes the app's row instead
# of adding a second one
createdb uuidhub
q uuidhub "CREATE TABLE devices (id uuid PRIMARY KEY, name text)" >/dev/null
"$ferry" init dbname=uuidhub --track devices >/dev/null
sqlite3 "$work/uuid.db" "CREATE TABLE devices (id UUID PRIMARY KEY, name TEXT);
  INSERT INTO devices VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'phone'),
                             ('B1EEBC99-9C0B-4EF8-BB6D-6BB9BD380A22', 'tablet'),
                             ('C2EEBC99-9C0B-4EF8-BB6D-6BB9BD380A33', 'watch')"
"$ferry" init "sqlite:$work/uuid.db" --track devices >/dev/null
"$ferry" full-sync --from "sqlite:$work/uuid.db" --to dbname=uuidhub --quiet >/dev/null
q uuidhub "UPDATE devices SET name = 'old phone' WHERE name = 'phone'" >/dev/null
run "$ferry" full-sync --from dbname=uuidhub --to "sqlite:$work/uuid.db" --delete-missing --json --quiet
expect_status 0 "a full sync of lower-case UUID keys into upper-case ones"
expect_equal "$(sqlite3 "$work/uuid.db" "SELECT group_concat(id || '=' || name, ' ') FROM (SELECT * FROM devices ORDER BY id)")" \
  "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11=old phone B1EEBC99-9C0B-4EF8-BB6D-6BB9BD380A22=tablet C2EEBC99-9C0B-4EF8-BB6D-6BB9BD380A33=watch" \
  "updates the app's rows in place: none added, none deleted"
q uuidhub "UPDATE devices SET name = 'new tablet' WHERE name = 'tablet';
           DELETE FROM devices WHERE name = 'watch'" >/dev/null
link --from dbname=uuidhub --to "sqlite:$work/uuid.db"
expect_equal "$(report conflicts)|$(sqlite3 "$work/uuid.db" "SELECT group_concat(id || '=' || name, ' ') FROM (SELECT * FROM devices ORDER BY id)")" \
  "0|A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11=old phone B1EEBC99-9C0B-4EF8-BB6D-6BB9BD380A22=new tablet" \
  "ferry sync updates and deletes them by the app's spelling"
# a composite key whose declared order is not the names' order
q uuidhub "CREATE TABLE notes (owner uuid, n int, body text, PRIMARY KEY (owner, n));
           INSERT INTO notes VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1, 'from the hub')" >/dev/null
sqlite3 "$work/uuid.db" "CREATE TABLE notes (owner UUID, n INTEGER, body TEXT, PRIMARY KEY (owner, n));
  INSERT INTO notes VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 1, 'by the app')"
"$ferry" full-sync --from dbname=uuidhub --to "sqlite:$work/uuid.db" --tables notes --quiet >/dev/null
expect_equal "$(sqlite3 "$work/uuid.db" "SELECT group_concat(owner || ' ' || n || ' ' || body, ', ') FROM notes")" \
  "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11 1 from the hub" "a composite key with a UUID is paired too"
sqlite3 "$work/uuid.db" "INSERT INTO devices VALUES ('D3EEBC99-9C0B-4EF8-BB6D-6BB9BD380A44', 'laptop')"
link --from "sqlite:$work/uuid.db" --to dbname=uuidhub
q uuidhub "UPDATE devices SET name = 'work laptop' WHERE name = 'laptop'" >/dev/null
link --from dbname=uuidhub --to "sqlite:$work/uuid.db"
expect_equal "$(sqlite3 "$work/uuid.db" "SELECT group_concat(id || '=' || name, ' ') FROM devices WHERE name LIKE '%laptop'")" \
  "D3EEBC99-9C0B-4EF8-BB6D-6BB9BD380A44=work laptop" "a row the app added since comes back updated in place"
run "$ferry" diff dbname=uuidhub "sqlite:$work/uuid.db" --tables devices
expect_status 0 "and the peers hash alike"

# --- a stored generated column: computed by each peer, never written
for db in gena genb; do
  createdb "$db"
  q "$db" "CREATE TABLE boxes (id int PRIMARY KEY, w int, area int GENERATED ALWAYS AS (w * w) STORED)" >/dev/null
done
"$ferry" init dbname=gena --track boxes >/dev/null
"$ferry" init dbname=genb >/dev/null
q gena "INSERT INTO boxes (id, w) VALUES (1, 1), (2, 2)" >/dev/null
sqlite3 "$work/gen.db" "CREATE TABLE boxes (id INTEGER PRIMARY KEY, w INTEGER, area INTEGER GENERATED ALWAYS AS (w * w) STORED)"
"$ferry" init "sqlite:$work/gen.db" >/dev/null
"$ferry" full-sync --from dbname=gena --to dbname=genb --quiet >/dev/null
"$ferry" full-sync --from dbname=gena --to "sqlite:$work/gen.db" --quiet >/dev/null
q gena "UPDATE boxes SET w = 10 WHERE id = 1; INSERT INTO boxes (id, w) VALUES (3, 3); DELETE FROM boxes WHERE id = 2" >/dev/null
link --from dbname=gena --to dbname=genb
expect_status 0 "a table with a generated column syncs"
expect_equal "$(q genb "SELECT string_agg(id || ':' || w || ':' || area, ' ' ORDER BY id) FROM boxes")" \
  "1:10:100 3:3:9" "its rows arrive and the target computes the column"
link --from dbname=gena --to "sqlite:$work/gen.db"
expect_status 0 "into SQLite too"
expect_equal "$(sqlite3 "$work/gen.db" "SELECT group_concat(id || ':' || w || ':' || area, ' ') FROM (SELECT * FROM boxes ORDER BY id)")" \
  "1:10:100 3:3:9" "where SQLite computes the column"

# --- a NOT NULL domain column: keys and deleted rows lack it, never checked
for db in doma domb; do
  createdb "$db"
  q "$db" "CREATE DOMAIN positive AS int NOT NULL CHECK (VALUE > 0);
           CREATE TABLE counted (id int PRIMARY KEY, n positive)" >/dev/null
done
"$ferry" init dbname=doma --track counted >/dev/null
"$ferry" init dbname=domb >/dev/null
"$ferry" full-sync --from dbname=doma --to dbname=domb --quiet >/dev/null
q doma "INSERT INTO counted SELECT i, i FROM generate_series(1, 20) i" >/dev/null
link --from dbname=doma --to dbname=domb
expect_status 0 "a table with a NOT NULL domain column syncs"
q doma "UPDATE counted SET n = 100 WHERE id = 5; DELETE FROM counted WHERE id = 6" >/dev/null
q domb "UPDATE counted SET n = 50 WHERE id = 5" >/dev/null
link --from dbname=doma --to dbname=domb --policy manual
expect_status 0 "its updates, deletes and conflicts too"
expect_equal "$(q domb "SELECT count(*) || ' ' || sum(n) || ' ' || (SELECT count(*) FROM ferry.conflicts)
  FROM counted")" "19 249 1" "B has A's rows but its own edit, kept as a conflict"

# --- a SQLite source's change with NULL in its key (a rowid table's
# composite PRIMARY KEY allows it): refused, never inserted again and again
for f in nk1 nk2; do
  sqlite3 "$work/$f.db" "CREATE TABLE p (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b))"
done
"$ferry" init "sqlite:$work/nk1.db" --track p >/dev/null
"$ferry" init "sqlite:$work/nk2.db" >/dev/null
"$ferry" full-sync --from "sqlite:$work/nk1.db" --to "sqlite:$work/nk2.db" --quiet >/dev/null
sqlite3 "$work/nk1.db" "INSERT INTO p VALUES ('x', 'y', '1'), ('x', NULL, '2')"
link --from "sqlite:$work/nk1.db" --to "sqlite:$work/nk2.db"
expect_status 1 "a change with NULL in its key is refused"
expect_contains "$err" 'NULL in its primary key column "b"' "naming the column"
expect_equal "$(sqlite3 "$work/nk2.db" "SELECT count(*) FROM p")" "0" "nothing of the batch was applied"

# --- a SQLite source whose table name holds double quotes and non-ASCII
odd='"Wé ""T"" x"'
createdb oddpg
q oddpg "CREATE EXTENSION ferry; CREATE TABLE $odd (\"k \"\"é\"\"\" text, v text, PRIMARY KEY (\"k \"\"é\"\"\"))" >/dev/null
sqlite3 "$work/odd.db" "CREATE TABLE $odd (\"k \"\"é\"\"\" TEXT PRIMARY KEY, v TEXT); INSERT INTO $odd VALUES ('z', 'q')"
"$ferry" init "sqlite:$work/odd.db" --track "$odd" >/dev/null
"$ferry" full-sync --from "sqlite:$work/odd.db" --to dbname=oddpg --quiet >/dev/null
sqlite3 "$work/odd.db" "UPDATE $odd SET v = 'r'"
link --from "sqlite:$work/odd.db" --to dbname=oddpg
expect_status 0 "a SQLite table named with quotes syncs to PostgreSQL"
expect_equal "$(q oddpg "SELECT v FROM $odd")" "r" "and its change arrives"

# --- columns named like the aliases of ferry's own SQL (t, s, p, k, x, i, c)
twin_databases alias_a alias_b al "t int PRIMARY KEY, s text, p text, k text, x text, i text, c text" \
  "(1, 's', 'p', 'k', 'x', 'i', 'c'), (2, 's', 'p', 'k', 'x', 'i', 'c')"
q alias_a "UPDATE al SET s = 'S' WHERE t = 1; DELETE FROM al WHERE t = 2; INSERT INTO al VALUES (3, 'new', NULL, NULL, NULL, NULL, NULL)" >/dev/null
q alias_b "UPDATE al SET p = 'mine' WHERE t = 1" >/dev/null
link --from dbname=alias_a --to dbname=alias_b --tables al --policy manual
expect_status 0 "a table whose columns are named t, s, p, k, x, i and c syncs"
expect_equal "$(q alias_b "SELECT string_agg(t || '|' || s || '|' || coalesce(p, '-'), ' ' ORDER BY t) FROM al")" \
  "1|s|mine 3|new|-" "its rows arrive; the row both changed is a conflict, kept"
expect_equal "$(q alias_b "SELECT count(*) FROM ferry.conflicts WHERE table_name = 'al'::regclass")" "1" \
  "and recorded"

# --- a source transaction that inserted children before their parents (a
# deferred foreign key), longer than a batch: the batch that holds only
# children is read again twice as large, until it holds their parents
for db in fkda fkdb; do
  createdb "$db"
  q "$db" "CREATE TABLE fk_parent (id int PRIMARY KEY);
           CREATE TABLE fk_child (id int PRIMARY KEY, parent int NOT NULL
             REFERENCES fk_parent DEFERRABLE INITIALLY DEFERRED)" >/dev/null
  "$ferry" init "dbname=$db" --track fk_parent,fk_child >/dev/null
done
"$ferry" full-sync --from dbname=fkda --to dbname=fkdb --tables fk_parent,fk_child --quiet >/dev/null
q fkda "BEGIN; INSERT INTO fk_child SELECT g, g FROM generate_series(1, 30) g;
       INSERT INTO fk_parent SELECT generate_series(1, 30); COMMIT;
       INSERT INTO fk_child VALUES (31, 1)" >/dev/null
link --from dbname=fkda --to dbname=fkdb --tables fk_parent,fk_child --batch 8
expect_status 0 "children logged before their parents, past a batch, arrive"
expect_equal "$(report changes 0)" "61" "every change counted once"
expect_equal "$(q fkdb "SELECT count(*) FROM fk_child")" "31" "with every child"
q fkdb "ALTER TABLE fk_child DROP CONSTRAINT fk_child_parent_fkey;
       DELETE FROM fk_parent WHERE id = 2;
       ALTER TABLE fk_child ADD CONSTRAINT fk_child_parent_fkey FOREIGN KEY (parent)
         REFERENCES fk_parent NOT VALID" >/dev/null
q fkda "UPDATE fk_child SET parent = 2 WHERE id = 3" >/dev/null
link --from dbname=fkda --to dbname=fkdb --tables fk_parent,fk_child --batch 8
expect_status 1 "a parent only the target lacks still stops the link"
expect_contains "$err" "violates foreign key constraint" "with the database's error"


# --- one link however --tables lists its tables: in another order, or one
# named twice, it is the same link (one checkpoint, sorted names). A consumer
# that never reads keeps every change in the log, so a second checkpoint
# starting from the full sync would apply the first change again.
synced_databases order_a order_b "CREATE TABLE p (id int PRIMARY KEY, v text);
                                  CREATE TABLE q (id int PRIMARY KEY, v text)" "p,q" \
  "INSERT INTO p VALUES (1, 'a'); INSERT INTO q VALUES (1, 'a')"
q order_a "SELECT ferry.register_consumer('keeps everything', 'pg:0:0', ARRAY['p']::regclass[])" >/dev/null
q order_a "UPDATE p SET v = 'b' WHERE id = 1" >/dev/null
link --from dbname=order_a --to dbname=order_b --tables p,q
early_position=$(q order_b "SELECT position::text FROM ferry.checkpoints WHERE job LIKE 'sync from %'")
q order_a "UPDATE p SET v = 'c' WHERE id = 1" >/dev/null
link --from dbname=order_a --to dbname=order_b --tables q,p,q
expect_status 0 "the link run with its tables in another order, one named twice"
expect_equal "$(report changes)" "1" "goes on from its checkpoint: the change applied before is not read again"
order_links() { q order_b "SELECT string_agg(scope, ' | ' ORDER BY scope) FROM ferry.checkpoints WHERE job LIKE 'sync from %'"; }
expect_equal "$(order_links)" "public.p,public.q" "one checkpoint, its tables sorted"
# A checkpoint an older ferry wrote in the order of its --tables is the
# link's checkpoint whatever the order now.
q order_b "UPDATE ferry.checkpoints SET scope = 'public.q,public.p' WHERE job LIKE 'sync from %'" >/dev/null
q order_a "UPDATE q SET v = 'd' WHERE id = 1" >/dev/null
link --from dbname=order_a --to dbname=order_b --tables p,q
expect_equal "$(report changes)" "1" "a checkpoint in another order goes on from where it stands"
expect_equal "$(order_links)" "public.q,public.p" "and stays the link's only checkpoint"
# Two checkpoints of the set, as an older ferry left them after runs in
# either order: the one last attempted is where the link stands; an
# earlier one, even sorted, is stale and would apply every change again.
q order_b "INSERT INTO ferry.checkpoints (job, scope, status, position, last_attempt_at)
           SELECT job, 'public.p,public.q', 'running', '$early_position'::jsonb,
                  last_attempt_at - interval '1 day'
           FROM ferry.checkpoints WHERE job LIKE 'sync from %'" >/dev/null
q order_a "UPDATE q SET v = 'e' WHERE id = 1" >/dev/null
link --from dbname=order_a --to dbname=order_b --tables q,p
expect_equal "$(report changes)" "1" "of two checkpoints of the set, the one last attempted goes on"
link --from dbname=order_a --to dbname=order_b --tables p,q
expect_equal "$(report changes)" "0" "and stays the one every order goes on from"
same_pq() { "$ferry" diff dbname=order_a dbname=order_b --tables p,q --quiet >/dev/null; }
same_pq && pass "the peers are equal" || fail "the peers are equal"
# A comma inside a quoted table name is part of the name, in scopes too:
# the link finds the full sync that copied the table, and --tables takes
# the quoted name whole.
for db in comma_a comma_b; do
  createdb "$db"
  q "$db" "CREATE EXTENSION ferry; CREATE TABLE \"c,d\" (id int PRIMARY KEY);
           SELECT ferry.track('\"c,d\"')" >/dev/null
done
q comma_a 'INSERT INTO "c,d" VALUES (1)' >/dev/null
"$ferry" full-sync --from dbname=comma_a --to dbname=comma_b --quiet >/dev/null
q comma_a 'INSERT INTO "c,d" VALUES (2)' >/dev/null
link --from dbname=comma_a --to dbname=comma_b
expect_status 0 "a link over a table whose name holds a comma starts from its full sync"
expect_equal "$(q comma_b 'SELECT count(*) FROM "c,d"')" "2" "and applies its change"
q comma_a 'INSERT INTO "c,d" VALUES (3)' >/dev/null
link --from dbname=comma_a --to dbname=comma_b --tables '"c,d"'
expect_status 0 "--tables takes a quoted name holding a comma whole"
expect_equal "$(q comma_b 'SELECT count(*) FROM "c,d"')" "3" "and that link goes on from the same checkpoint"
expect_equal "$(q comma_b "SELECT count(*) FROM ferry.checkpoints WHERE job LIKE 'sync %'")" "1" \
  "one checkpoint for the table, whichever way it was named"
run "$ferry" diff dbname=comma_a dbname=comma_b --tables '"c,d"' --quiet
expect_status 0 "ferry diff --tables takes it too"
run "$ferry" diff dbname=comma_a dbname=comma_b --tables 'c,d' --quiet
expect_status 1 "unquoted, c,d is two tables that do not exist"

finish
