#!/usr/bin/env bash
# ferry run end to end on a real PostgreSQL cluster and real SQLite files:
# config validation, due jobs in dependency and priority order, nothing due
# (quiet), freshness, delta checks, leases across two processes started at
# the same instant (every due job exactly once), pause and resume (also of a
# running job), recovery of a job whose ferry was killed, fleets with a
# failing member, a fleet of sources sharing the hub's lease, and the job
# views of ferry status.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-scheduling-XXXXXX)
_tmp=$work
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
pg_cluster_start scheduling

tables='customers,orders,"Line Items"'
source "$here/../lib/shop_fixture.sh"

config=$work/ferry.toml  # FERRY_CONFIG once it is written
# age DB JOB KIND INTERVAL: the job's last run of KIND happened INTERVAL ago.
age() {
  q "$1" "UPDATE ferry.checkpoints SET last_attempt_at = last_attempt_at - interval '$4',
                                      last_completed_at = last_completed_at - interval '$4'
          WHERE job = 'job $2' AND scope = '$3'" >/dev/null
}
sessions() { q "$1" "SELECT count(*) FROM ferry.sessions WHERE kind = '$2'"; }
# line_of TEXT PATTERN: the number of the first line of TEXT that contains PATTERN.
line_of() { printf '%s\n' "$1" | grep -n -m1 -- "$2" | cut -d: -f1; }

# --- config validation: errors name the file, the line and the key
write_bad() { printf '%s\n' '[peers.hub]' 'url = "dbname=hub"' "$@" >"$work/bad.toml"; }
bad() { run "$ferry" run --config "$work/bad.toml"; }
write_bad '[jobs.a]' 'source = "hub"' 'target = "dbname=b"' 'mode = "full"' 'full_every = "soon"'
bad
expect_status 1 "a duration that is not one is refused"
expect_contains "$err" "bad.toml: line 7: jobs.a.full_every: \"soon\" is not a duration" \
  "the error names file, line and key"
write_bad '[jobs.a]' 'source = "hub"' 'target = "dbname=b"' 'mode = "full"' 'full_every = "1h"' \
  'colour = "blue"'
bad
expect_contains "$err" "line 8: jobs.a.colour: unknown setting" "an unknown setting is refused"
write_bad '[jobs.a]' 'source = "nowhere"' 'target = "dbname=b"' 'mode = "full"' 'full_every = "1h"'
bad
expect_contains "$err" "jobs.a.source: no peer named \"nowhere\"" "an unknown peer is refused"
write_bad '[jobs.a]' 'source = "hub"' 'target = "dbname=b"' 'mode = "incremental"' \
  'full_every = "1h"'
bad
expect_contains "$err" "an incremental job needs delta_every" "a job without its period is refused"
write_bad '[jobs.a]' 'source = "hub"' 'target = "dbname=b"' 'mode = "full"' 'full_every = "1h"' \
  'after = ["b"]' '[jobs.b]' 'source = "hub"' 'target = "dbname=c"' 'mode = "full"' \
  'full_every = "1h"' 'after = ["a"]'
bad
expect_contains "$err" "the after settings of jobs a, b form a cycle" "a cycle of after is refused"
write_bad '[jobs.a]' 'source = "hub"' 'target = "sqlite:/x/{user}.db"' 'mode = "full"' \
  'full_every = "1h"'
bad
expect_contains "$err" "a fleet job needs exactly one of members_query and members_glob" \
  "a fleet without members is refused"
write_bad '[jobs.a]' 'source = "hub"' 'target = "dbname=b"' 'mode = "full"' 'full_every = "1h"' \
  'after = ["nope"]'
bad
expect_contains "$err" 'line 8: jobs.a.after: "nope" is not a job' "an unknown after names its line"
write_bad '[jobs.a]' 'source = "hub"' 'target = "sqlite:/x/{user}.db"' 'mode = "full"' \
  'full_every = "1h"' 'members_query = "SELECT id FROM users"' \
  "where = [\"notes:tags @> '{vip}' AND user_id = {usr}\"]"
bad
expect_contains "$err" "line 9: jobs.a.where: \"notes:tags @> '{vip}' AND user_id = {usr}\" names {usr}, but the fleet's parameter is {user}" \
  "a misspelt fleet parameter in where is refused (a quoted '{vip}' is not one)"
printf '[peers.hub]\nurl = "postgresql://syncer:s3cret@db/hub"\n' >"$work/bad.toml"
bad
expect_contains "$err" "peers.hub.url holds a password" "a password in the config file is refused"
expect_not_contains "$err" "s3cret" "without printing it"
write_bad '[jobs.a]' 'source = "host=db dbname=hub password=s3cret"' 'target = "dbname=b"' \
  'mode = "full"' 'full_every = "1h"'
bad
expect_contains "$err" "jobs.a.source: holds a password" "a password in a job's inline address is refused"
expect_not_contains "$err" "s3cret" "without printing it either"
run "$ferry" run --config "$work/missing.toml"
expect_status 1 "a missing config file is an error"
run "$ferry" status sqlite:/nonexistent.db --config "$work/missing.toml"
expect_contains "$err" "config file $work/missing.toml does not exist" \
  "a missing --config file is an error even when no name needs it"
FERRY_CONFIG=$work/missing.toml run "$ferry" run
expect_contains "$err" "does not exist" "so is a FERRY_CONFIG naming no file"
expect_contains "$err" "FERRY_CONFIG" "naming the variable"
printf '%s\n' '[peers.hub]' 'url = "dbname=hub"' 'sslmode = "require"' >"$work/bad.toml"
bad
expect_contains "$err" "line 3: unknown setting \"sslmode\" of peer \"hub\"" \
  "an unknown setting of a peer is refused"
printf '%s\n' '[peers.hub]' 'url = 5' >"$work/bad.toml"
bad
expect_contains "$err" "peers.hub.url must be a string" "a url of another type says so"

# --- the shop: a hub and a PostgreSQL site; a SQLite file for line items
new_pg hub
fill_shop hub 3000
new_pg site
new_lite "$work/items.db"
cat >"$config" <<EOF
[peers.hub]
url = "dbname=hub"
[peers.site]
url = "dbname=site"
[peers.items]
url = "sqlite:items.db"

[jobs.orders]                  # needs its customers first
source = "hub"
target = "site"
tables = ["orders"]
mode = "full"
full_every = "1h"
delta_every = "10m"
after = ["customers"]
priority = 50

[jobs.customers]
source = "hub"
target = "site"
tables = ["customers"]
mode = "incremental"
delta_every = "30m"
priority = 10

[jobs.items]
source = "hub"
target = "items"
tables = ['"Line Items"']
mode = "full"
full_every = "2h"
fresh_within = "1h"
priority = 20
EOF
export FERRY_CONFIG=$config

run "$ferry" run --dry-run
expect_status 0 "dry run"
expect_contains "$out" "would run" "the dry run says what would run"
expect_contains "$out" "due: no full copy has completed yet" "and why"
expect_equal "$(sessions site full)" 0 "the dry run ran nothing"

run "$ferry" run
expect_status 0 "the first run: every job is due"
expect_contains "$err" "job customers: dbname=hub -> dbname=site: no starting point, copying the tables first" \
  "a link without a starting point is copied first"
c=$(line_of "$err" "job customers: delta run")
i=$(line_of "$err" "job items: full run")
o=$(line_of "$err" "job orders: full run")
if [[ -n $c && -n $i && -n $o && $i -lt $c && $c -lt $o ]]; then
  pass "jobs ran by priority, orders (the highest) after the customers it depends on"
else fail "run order (items $i, customers $c, orders $o)" "$err"; fi
check() { if same "$1" "$2"; then pass "$3"; else fail "$3"; fi; }
tables=customers check dbname=hub dbname=site "customers synced"
tables=orders check dbname=hub dbname=site "orders copied"
tables='"Line Items"' check dbname=hub "sqlite:$work/items.db" "line items copied to SQLite"

run "$ferry" run
expect_status 0 "a second run right after"
expect_equal "$out$err" "" "nothing due: ferry run prints nothing"

run "$ferry" status
expect_contains "$out" "customers  incremental" "ferry status lists the jobs"
expect_contains "$out" "full succeeded" "with their outcome"
expect_contains "$out" "in 2" "and when they are due next"
run "$ferry" status --json
expect_equal "$(json_query "$out" "SELECT count(*) FROM input, jsonb_array_elements(j->'jobs') x WHERE (x->>'due')::boolean")" \
  0 "status --json: nothing due"
run "$ferry" status --prometheus
expect_contains "$out" 'ferry_job_last_success_timestamp_seconds{job="orders",mode="full",home="dbname=site"}' \
  "status --prometheus: the last success per job"
expect_contains "$out" 'ferry_job_due{job="items",mode="full",home="sqlite:' "and due flags"

run "$ferry" history customers --json
expect_equal "$(json_query "$out" "SELECT string_agg(DISTINCT x->>'kind' || ' ' || (x->>'source') || ' ' || (x->>'status'), ', ') FROM input, jsonb_array_elements(j->'sessions') x")" \
  "full dbname=hub succeeded, incremental dbname=hub failed, incremental dbname=hub succeeded" \
  "ferry history JOB: the job's sessions in its target (the link without a start failed, was copied, then synced)"

run "$ferry" sync
expect_status 0 "ferry sync without peers: the config's links, now"
expect_contains "$out" "customers  unchanged  delta  run by ferry sync" "it ran the incremental job"
expect_not_contains "$out" "orders" "and left the full jobs alone"
run "$ferry" sync --to dbname=site
expect_status 2 "--to without --from is a usage error"

# --- freshness: items is fresh for an hour although due every two
q_lite() { sqlite3 "$1" "$2"; }
q_lite "$work/items.db" "UPDATE ferry_checkpoints SET
  last_completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 minutes')
  WHERE job = 'job items'"
run "$ferry" run --once items
expect_status 0 "--once of a fresh job"
expect_contains "$err" "job items: fresh (fresh: succeeded" "says why it did not run"
run "$ferry" run --once items --json
expect_equal "$(json_query "$out" "SELECT j->'jobs'->0->>'outcome' FROM input")" "fresh" \
  "a job completed within fresh_within is skipped, even with --once"
q_lite "$work/items.db" "UPDATE ferry_checkpoints SET
  last_completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-150 minutes')
  WHERE job = 'job items'"
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'items'")" \
  "unchanged" "a due full job whose tables are equal writes nothing"

# --- delta checks: a full job's delta run compares table hashes first
before=$(sessions site full)
age site orders full "15 minutes"
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' || ' ' || (x->>'work') FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'orders'")" \
  "unchanged delta" "delta run of equal tables: skipped, unchanged"
expect_equal "$(sessions site full)" "$before" "and no copy was started"
expect_equal "$(q site "SELECT position->>'outcome' FROM ferry.checkpoints WHERE job = 'job orders' AND scope = 'delta'")" \
  "skipped: unchanged" "the record says skipped: unchanged"
q hub "UPDATE orders SET note = 'changed' WHERE id = 7" >/dev/null
age site orders delta "15 minutes"
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT (x->>'written') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'orders'")" \
  "1 succeeded" "a delta run of a changed table writes the one row that differs"

# --- dependencies: a job whose predecessor fails waits
# deps_config FILE SOURCE TARGET: prices runs after products, which goes
# from SOURCE to TARGET.
deps_config() {
  cat >"$1" <<EOF
[jobs.products]
source = "$2"
target = "$3"
tables = ["customers"]
mode = "full"
full_every = "1h"
[jobs.prices]
source = "dbname=hub"
target = "dbname=site"
tables = ["orders"]
mode = "full"
full_every = "1h"
after = ["products"]
priority = 100
EOF
}
nowhere="host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2"
deps_config "$work/deps.toml" "$nowhere" dbname=site
run "$ferry" run --config "$work/deps.toml" --json
expect_status 1 "a failed job fails the run"
expect_equal "$(json_query "$out" "SELECT string_agg(x->>'job' || '=' || (x->>'outcome'), ' ' ORDER BY x->>'job') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "prices=waiting products=failed" "prices waits for products, which failed"
expect_contains "$err" "job prices: waiting: after products (failed)" "the log says what it waits for"
# A predecessor whose target cannot be reached to read its record: the job
# waits (this crashed ferry run).
deps_config "$work/deps-unreachable.toml" dbname=hub "$nowhere"
run "$ferry" run --config "$work/deps-unreachable.toml" --once prices --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'prices'")" \
  "waiting" "a job whose predecessor's peer is unreachable waits"
expect_contains "$err" "cannot be reached" "and says why"

# --- two ferry run at the same instant: every due job exactly once
for n in 1 2 3 4 5; do new_pg "c$n"; done
{
  for n in 1 2 3 4 5; do
    printf '[jobs.copy%s]\nsource = "dbname=hub"\ntarget = "dbname=c%s"\ntables = ["customers", "orders"]\nmode = "full"\nfull_every = "1h"\n' "$n" "$n"
  done
} >"$work/race.toml"
"$ferry" run --config "$work/race.toml" >"$work/r1.out" 2>"$work/r1.err" &
p1=$!
"$ferry" run --config "$work/race.toml" >"$work/r2.out" 2>"$work/r2.err" &
p2=$!
set +e; wait $p1; s1=$?; wait $p2; s2=$?; set -e
runs=$(cat "$work/r1.err" "$work/r2.err" | grep -c ": full run (" || true)
expect_equal "$runs" 5 "two concurrent runs: five jobs started in all"
total=0
for n in 1 2 3 4 5; do total=$((total + $(sessions "c$n" full))); done
expect_equal "$total" 5 "each target has exactly one copy session"
if [[ $s1 -eq 0 || $s1 -eq 4 ]] && [[ $s2 -eq 0 || $s2 -eq 4 ]]; then
  pass "both runs end with 0 or 4 (skipped because locked)"
else fail "exit codes $s1 $s2" "$(cat "$work"/r*.err)"; fi
for n in 1 2 3 4 5; do tables=customers,orders check dbname=hub "dbname=c$n" "copy $n equal"; done
run "$ferry" run --config "$work/race.toml"
expect_equal "$out$err" "" "a third run finds nothing due"

# --- pause and resume
run "$ferry" pause
expect_status 2 "ferry pause without a job or --all is a usage error"
expect_contains "$err" "ferry pause JOB, or ferry pause --all" "and shows both forms"
run "$ferry" resume customers --all
expect_status 2 "ferry resume with both a job and --all is a usage error"
run "$ferry" pause customers --reason "hub maintenance"
expect_status 0 "ferry pause JOB"
age site customers delta "40 minutes"
run "$ferry" run
expect_status 4 "a due paused job: exit 4"
expect_contains "$err" "job customers: paused: hub maintenance (by " "the reason is shown"
run "$ferry" status
expect_contains "$out" "paused: hub maintenance" "ferry status shows the pause"
expect_equal "$(q site "SELECT count(*) FROM ferry.locks WHERE name = 'pause customers'")" 1 \
  "the pause is a row in the home's ferry.locks"
run "$ferry" resume customers
expect_contains "$out" "resumed job customers" "ferry resume JOB"
run "$ferry" run --json
expect_status 0 "after resume the job runs"
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'customers'")" \
  "unchanged" "the resumed job ran (nothing had changed)"
run "$ferry" pause --all --reason "upgrade"
age site customers delta "40 minutes"
run "$ferry" run
expect_status 4 "pause --all stops every job"
run "$ferry" resume --all
expect_contains "$out" "resumed all jobs" "resume --all"
# With a home that cannot be reached, --all still does what it can and says
# where it could not.
deps_config "$work/twohomes.toml" dbname=hub "$nowhere"  # products is homed there
run "$ferry" pause --all --config "$work/twohomes.toml" --reason "two homes"
expect_status 1 "pause --all with an unreachable home exits 1"
expect_contains "$out" "paused the jobs of dbname=site" "saying where it paused"
expect_contains "$err" "not done in host=127.0.0.1 port=1 dbname=nowhere" "and where it could not"
expect_equal "$(q site "SELECT count(*) FROM ferry.locks WHERE name = 'pause *'")" 1 "the reachable home is paused"
run "$ferry" resume --all --config "$work/twohomes.toml"
expect_status 1 "resume --all likewise"
expect_equal "$(q site "SELECT count(*) FROM ferry.locks WHERE name = 'pause *'")" 0 "and resumes what it reaches"
run "$ferry" status --json --prometheus
expect_status 2 "--json and --prometheus exclude each other"
run "$ferry" status --config "$work/twohomes.toml" --prometheus
expect_contains "$out" 'ferry_job_up{job="products"' "an unreachable home's job is reported down"
expect_not_contains "$out" 'ferry_job_failed{job="products"' \
  "with no failed/due samples for it: a 0 would read as healthy"
expect_contains "$out" 'ferry_job_failed{job="prices"' "the reachable home's job has them"

# A running job is paused: it stops after its current batch, and resumes
# from its checkpoint after ferry resume.
new_lite "$work/big.db"
q hub "INSERT INTO orders SELECT i, 1 + i % 1000, repeat('x', 200) FROM generate_series(100001, 400000) i" >/dev/null
cat >>"$config" <<EOF
[jobs.big]
source = "hub"
target = "sqlite:big.db"
tables = ["customers", "orders"]
mode = "full"
full_every = "1d"
EOF
"$ferry" run --once big >"$work/big.out" 2>"$work/big.err" &
big=$!
for _ in $(seq 1 200); do
  [[ $(sqlite3 "$work/big.db" "SELECT count(*) FROM orders") -gt 1000 ]] && break
  sleep 0.05
done
run "$ferry" pause big --reason "stop now"
expect_contains "$out" "to stop after its batch" "pause asks the running session to stop"
set +e; wait $big; bs=$?; set -e
expect_equal "$bs" 4 "the paused run ends with exit 4"
expect_contains "$(cat "$work/big.err")" "stopped after its current batch" "and says it stopped"
rows_then=$(sqlite3 "$work/big.db" "SELECT count(*) FROM orders")
if [[ $rows_then -gt 0 && $rows_then -lt 303000 ]]; then pass "it stopped part way ($rows_then orders)"
else fail "it stopped part way ($rows_then orders)"; fi
run "$ferry" resume big
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'big'")" \
  "succeeded" "after resume the paused job is retried at once and completes"
tables=customers,orders check dbname=hub "sqlite:$work/big.db" "and the copy is whole"

# A delta run stopped by SIGTERM counts the batches it committed: its
# "written" is the rows the target holds from it (it said 0 before).
q hub "CREATE TABLE bulk (id int PRIMARY KEY, v int);
       INSERT INTO bulk SELECT i, 0 FROM generate_series(1, 200000) i" >/dev/null
q site "CREATE TABLE bulk (id int PRIMARY KEY, v int)" >/dev/null
"$ferry" init dbname=hub --track bulk >/dev/null
cat >>"$config" <<EOF
[jobs.bulk]
source = "hub"
target = "site"
tables = ["bulk"]
mode = "incremental"
delta_every = "1h"
EOF
"$ferry" run --once bulk >/dev/null 2>&1
q hub "UPDATE bulk SET v = 1" >/dev/null
"$ferry" run --once bulk --json >"$work/bulk.out" 2>"$work/bulk.err" &
bulk=$!
for _ in $(seq 1 400); do
  [[ $(q site "SELECT count(*) FROM bulk WHERE v = 1") -gt 20000 ]] && break
  sleep 0.05
done
kill -TERM $bulk
set +e; wait $bulk; set -e
moved=$(q site "SELECT count(*) FROM bulk WHERE v = 1")
expect_equal "$(json_query "$(cat "$work/bulk.out")" "SELECT x->>'outcome' || ' ' || (x->>'written') FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'bulk'")" \
  "failed $moved" "a stopped delta run reports the rows its committed batches wrote"
if [[ $moved -gt 0 && $moved -lt 200000 ]]; then pass "it stopped part way ($moved rows)"
else fail "it stopped part way ($moved rows)"; fi
expect_contains "$(cat "$work/bulk.err")" "rows written before it stopped" "and its log line says so"
"$ferry" run --once bulk >/dev/null 2>&1
tables=bulk check dbname=hub dbname=site "the next run finishes it"

# --- stuck-job recovery: a ferry run killed with -9 mid-job
sqlite3 "$work/big.db" "DELETE FROM orders WHERE id > 200000"
age_lite() { sqlite3 "$work/big.db" "UPDATE ferry_checkpoints SET last_completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 days') WHERE job = 'job big'"; }
age_lite
"$ferry" run --once big >/dev/null 2>&1 &
victim=$!
# Killed once its session runs and the job's record names it (a kill between
# the two leaves the session to the next session start, which closes it).
for _ in $(seq 1 200); do
  [[ $(sqlite3 "$work/big.db" "SELECT count(*) FROM ferry_sessions WHERE status = 'running'") -gt 0 &&
     $(sqlite3 "$work/big.db" "SELECT count(*) FROM ferry_checkpoints WHERE job = 'job big' AND scope = 'full'
                                 AND json_array_length(position, '$.sessions') > 0") -gt 0 ]] && break
  sleep 0.05
done
kill -9 $victim; wait $victim 2>/dev/null || true
expect_equal "$(sqlite3 "$work/big.db" "SELECT status FROM ferry_checkpoints WHERE job = 'job big' AND scope = 'full'")" \
  "running" "the killed run left its record running"
run "$ferry" status --json
expect_equal "$(json_query "$out" "SELECT (x->>'outcome') || ' ' || (x->>'due') FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'big'")" \
  "abandoned (retried on the next run) true" \
  "ferry status knows the run's ferry is gone before its lease expires"
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'big'")" \
  "succeeded" "the next run takes the dead run's lease and retries the job"
expect_contains "$err" "abandoned: the run ferry run (pid $victim on" "and says the old run was abandoned"
expect_equal "$(sqlite3 "$work/big.db" "SELECT count(*) FROM ferry_sessions WHERE status = 'running'")" 0 \
  "the dead run's session is finished"
tables=customers,orders check dbname=hub "sqlite:$work/big.db" "the copy is whole again"
# A record left running by another machine's ferry whose lease expired.
q site "UPDATE ferry.checkpoints SET status = 'running', position = '{\"holder\": \"ferry run (pid 1 on elsewhere)\", \"sessions\": []}'
        WHERE job = 'job customers' AND scope = 'delta'" >/dev/null
run "$ferry" run --json
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x WHERE x->>'job' = 'customers'")" \
  "unchanged" "a job abandoned elsewhere (lease expired) is retried"
expect_equal "$(q site "SELECT status FROM ferry.checkpoints WHERE job = 'job customers' AND scope = 'delta'")" \
  "completed" "and its record completes"

# --- fleets: one SQLite file per user, a failing member reported apart
q hub "CREATE TABLE users (id text PRIMARY KEY); INSERT INTO users VALUES ('u1'), ('u2'), ('u3'), ('u4');
       CREATE TABLE notes (id int PRIMARY KEY, user_id text REFERENCES users, body text);
       CREATE INDEX ON notes (user_id);
       INSERT INTO notes SELECT i, 'u' || (1 + i % 4), 'note ' || i FROM generate_series(1, 400) i" >/dev/null
"$ferry" init dbname=hub --track notes >/dev/null
mkdir -p "$work/fleet"
for u in u1 u2 u3; do  # u4 has no file: that member fails
  sqlite3 "$work/fleet/notes-$u.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT, body TEXT)"
  "$ferry" init "sqlite:$work/fleet/notes-$u.db" --track notes >/dev/null
done
cat >"$work/fleet.toml" <<EOF
[peers.hub]
url = "dbname=hub"
[jobs.notes]
source = "hub"
target = "sqlite:fleet/notes-{user}.db"
members_query = "SELECT id FROM users ORDER BY id"
tables = ["notes"]
where = ["notes:user_id = {user}"]
mode = "incremental"
delta_every = "5m"
EOF
run "$ferry" run --config "$work/fleet.toml" --json --jobs 2
expect_status 1 "a fleet with a failing member fails the run"
expect_equal "$(json_query "$out" "SELECT (x->>'members') || ' ' || (x->'failed_members' ? 'u4')::text FROM input, jsonb_array_elements(j->'jobs') x")" \
  "4 true" "all four members were tried; u4 is reported"
expect_contains "$err" "member u4 failed" "the log names the failing member"
expect_equal "$(sqlite3 "$work/fleet/notes-u2.db" "SELECT count(*), min(user_id), max(user_id) FROM notes")" \
  "100|u2|u2" "each member holds only its user's rows"
expect_equal "$(q hub "SELECT count(*) FROM ferry.consumers WHERE peer LIKE 'sqlite:%'")" 3 \
  "each member consumes the hub's changes"
# Changes for one user: the others are found unchanged by their hashes.
# (user of note i: u(1 + i % 4))
q hub "UPDATE notes SET body = 'edited' WHERE id IN (4, 8); UPDATE notes SET user_id = 'u2' WHERE id = 12" >/dev/null
sed -i "s/members_query = .*/members_query = \"SELECT id FROM users WHERE id <> 'u4'\"/" "$work/fleet.toml"
run "$ferry" run --config "$work/fleet.toml" --json
expect_status 0 "the failed fleet is retried at once"
expect_equal "$(json_query "$out" "SELECT (x->>'members') || ' ' || (x->>'members_unchanged') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "3 1 succeeded" "u1 and u2 took changes, u3 was unchanged"
expect_equal "$(sqlite3 "$work/fleet/notes-u1.db" "SELECT count(*) FROM notes WHERE body = 'edited'")" 2 \
  "u1 got its edited notes"
expect_equal "$(sqlite3 "$work/fleet/notes-u1.db" "SELECT count(*) FROM notes WHERE id = 12")" 0 \
  "the note moved to u2 left u1"
expect_equal "$(sqlite3 "$work/fleet/notes-u2.db" "SELECT user_id FROM notes WHERE id = 12")" "u2" \
  "and arrived at u2"
# The same fleet listed by a glob of the files.
sed -i 's/^members_query = .*/members_glob = "fleet\/notes-*.db"/' "$work/fleet.toml"
q hub "UPDATE notes SET body = 'again' WHERE id = 2" >/dev/null
q hub "UPDATE ferry.checkpoints SET last_completed_at = now() - interval '1 hour' WHERE job = 'job notes'" >/dev/null
run "$ferry" run --config "$work/fleet.toml" --json
expect_equal "$(json_query "$out" "SELECT (x->>'members') || ' ' || (x->>'members_unchanged') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "3 2" "members_glob finds the three files; only u3 had a change"
expect_equal "$(sqlite3 "$work/fleet/notes-u3.db" "SELECT body FROM notes WHERE id = 2")" "again" \
  "u3 got its change"
run "$ferry" run --config "$work/fleet.toml"
expect_equal "$out$err" "" "the fleet is not due again"
run "$ferry" history notes --config "$work/fleet.toml"
expect_contains "$err" "job notes is a fleet: its sessions are in each member" "history of a fleet points at its members"
# Nothing changed: members whose rows on the hub hash as they did when they
# last received them are not opened at all; their consumers still move on.
age_fleet() { q hub "UPDATE ferry.checkpoints SET last_completed_at = now() - interval '1 hour' WHERE job = 'job notes'" >/dev/null; }
age_fleet
run "$ferry" run --config "$work/fleet.toml" --json
expect_equal "$(json_query "$out" "SELECT (x->>'members_unchanged') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "3 unchanged" "nothing changed: every member unchanged"
u1_peer=$(sqlite3 "$work/fleet/notes-u1.db" "SELECT value FROM ferry_meta WHERE key = 'peer_id'")
u1_sessions=$(sqlite3 "$work/fleet/notes-u1.db" "SELECT count(*) FROM ferry_sessions")
u1_acked=$(q hub "SELECT cursor FROM ferry.consumers WHERE peer = '$u1_peer'")
q hub "INSERT INTO notes VALUES (1000, 'u3', 'new for u3')" >/dev/null
age_fleet
run "$ferry" run --config "$work/fleet.toml" --json
expect_equal "$(json_query "$out" "SELECT (x->>'members_unchanged') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "2 succeeded" "one member with a change"
expect_equal "$(sqlite3 "$work/fleet/notes-u1.db" "SELECT count(*) FROM ferry_sessions")" "$u1_sessions" \
  "an unchanged member's file was not opened for a sync"
expect_not_equal "$(q hub "SELECT cursor FROM ferry.consumers WHERE peer = '$u1_peer'")" "$u1_acked" \
  "but its consumer on the hub was acknowledged further"
q hub "UPDATE notes SET body = 'late edit' WHERE id = 4" >/dev/null
age_fleet
run "$ferry" run --config "$work/fleet.toml" --json
expect_equal "$(sqlite3 "$work/fleet/notes-u1.db" "SELECT body FROM notes WHERE id = 4")" "late edit" \
  "a member skipped for several runs still receives its next change"
expect_equal "$(sqlite3 "$work/fleet/notes-u3.db" "SELECT body FROM notes WHERE id = 1000")" "new for u3" \
  "and the other member its new row"
tables=notes
for u in u1 u2 u3; do
  expect_equal "$(sqlite3 "$work/fleet/notes-$u.db" "SELECT count(*) || ' ' || group_concat(DISTINCT user_id) FROM notes")" \
    "$(q hub "SELECT count(*) || ' ' || '$u' FROM notes WHERE user_id = '$u'")" "member $u holds exactly its rows"
done

# --- a fleet's memory of its members lasts until the next full run: a row
# the full copy gave a member and the hub deleted since must leave it,
# although the hub's rows of that member hash as the memory says.
createdb mhub
q mhub "CREATE TABLE users (id text PRIMARY KEY); INSERT INTO users VALUES ('u1'), ('u2');
        CREATE TABLE notes (id int PRIMARY KEY, user_id text, body text);
        INSERT INTO notes SELECT i, 'u' || (1 + i % 2), 'note ' || i FROM generate_series(1, 20) i" >/dev/null
"$ferry" init dbname=mhub --track notes >/dev/null
mkdir -p "$work/mfleet"
for u in u1 u2; do
  sqlite3 "$work/mfleet/notes-$u.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT, body TEXT)"
  "$ferry" init "sqlite:$work/mfleet/notes-$u.db" --track notes >/dev/null
done
cat >"$work/mfleet.toml" <<EOF
[peers.mhub]
url = "dbname=mhub"
[jobs.mnotes]
source = "mhub"
target = "sqlite:mfleet/notes-{user}.db"
members_query = "SELECT id FROM users"
tables = ["notes"]
where = ["notes:user_id = {user}"]
mode = "incremental"
full_every = "1d"
delta_every = "10m"
EOF
mage() { q mhub "UPDATE ferry.checkpoints SET last_attempt_at = last_attempt_at - interval '$1',
                   last_completed_at = last_completed_at - interval '$1' WHERE job = 'job mnotes'" >/dev/null; }
mrun() { run "$ferry" run --config "$work/mfleet.toml" --json; }
mrun; mage '1 hour'; mrun; mage '1 hour'; mrun  # full, then deltas: the memory holds the hub's digests
q mhub "INSERT INTO notes VALUES (100, 'u1', 'temporary')" >/dev/null
mage '2 days'; mrun
expect_equal "$(json_query "$out" "SELECT x->>'work' FROM input, jsonb_array_elements(j->'jobs') x")" "full" "a full run"
expect_equal "$(sqlite3 "$work/mfleet/notes-u1.db" "SELECT count(*) FROM notes WHERE id = 100")" "1" \
  "copies the new row to u1"
q mhub "DELETE FROM notes WHERE id = 100" >/dev/null
mage '1 hour'; mrun
expect_equal "$(sqlite3 "$work/mfleet/notes-u1.db" "SELECT count(*) FROM notes WHERE id = 100")" "0" \
  "the next delta run deletes it there, though the hub hashes as before the full run"
mage '1 hour'; mrun
expect_equal "$(json_query "$out" "SELECT (x->>'members_unchanged') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "2 unchanged" "after which the memory is trusted again"

# --- members_query runs read-only on a SQLite hub too
sqlite3 "$work/rohub.db" "CREATE TABLE users (id TEXT PRIMARY KEY); INSERT INTO users VALUES ('u1'), ('u2');
                          CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT, body TEXT)"
"$ferry" init "sqlite:$work/rohub.db" --track notes >/dev/null
cat >"$work/rohub.toml" <<EOF
[jobs.ronotes]
source = "sqlite:rohub.db"
target = "sqlite:ro-{user}.db"
members_query = "DELETE FROM users RETURNING id"
tables = ["notes"]
where = ["notes:user_id = {user}"]
mode = "full"
full_every = "1h"
EOF
run "$ferry" run --config "$work/rohub.toml"
expect_status 1 "a members_query that writes fails"
expect_contains "$err" "readonly" "SQLite refuses the write"
expect_contains "$err" "members_query of job" "the error says it came from members_query"
expect_equal "$(sqlite3 "$work/rohub.db" "SELECT count(*) FROM users")" "2" "and the hub's rows are untouched"

# --- a job whose tables another sync holds is skipped as locked (exit 4)
cat >"$work/held.toml" <<EOF
[jobs.held]
source = "dbname=hub"
target = "dbname=site"
tables = ["orders"]
mode = "full"
full_every = "1h"
EOF
q site "SELECT ferry.try_lock('sync public.orders', 'a ferry follow elsewhere', '1 hour')" >/dev/null
run "$ferry" run --config "$work/held.toml" --json
expect_status 4 "a job whose tables another sync holds exits 4"
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x")" "locked" \
  "and is reported locked"
expect_contains "$err" "a ferry follow elsewhere" "naming the holder"
cat >"$work/held-both.toml" <<EOF
[jobs.both]
source = "dbname=hub"
target = "dbname=site"
tables = ["orders"]
mode = "bidirectional"
delta_every = "1h"
EOF
run "$ferry" run --config "$work/held-both.toml" --json
expect_status 4 "a bidirectional job whose tables another sync holds exits 4 too"
expect_equal "$(json_query "$out" "SELECT x->>'outcome' FROM input, jsonb_array_elements(j->'jobs') x")" "locked" \
  "and is reported locked, not failed"
expect_contains "$(json_query "$out" "SELECT x->>'error' FROM input, jsonb_array_elements(j->'jobs') x")" \
  "Lease \"sync public.orders\" is held" "with the error's detail"
run "$ferry" sync --config "$work/held-both.toml" --policy manual
expect_status 2 "ferry sync without --from/--to refuses an option it would ignore"
expect_contains "$err" "--policy: applies to one link" "naming it"
q site "SELECT ferry.unlock('sync public.orders', 'a ferry follow elsewhere')" >/dev/null

# --- a pause given while ferry run is busy with another job holds the
# paused job, which that run has not started yet
createdb phub; createdb psite
for d in phub psite; do
  q $d "CREATE TABLE big (id int PRIMARY KEY, body text); CREATE TABLE small (id int PRIMARY KEY, body text)" >/dev/null
  "$ferry" init "dbname=$d" --track big,small >/dev/null
done
q phub "INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 300000) i; INSERT INTO small VALUES (1, 'v1')" >/dev/null
cat >"$work/pauses.toml" <<EOF
[jobs.first]
source = "dbname=phub"
target = "dbname=psite"
tables = ["big"]
mode = "full"
full_every = "1h"
priority = 10
[jobs.second]
source = "dbname=phub"
target = "dbname=psite"
tables = ["small"]
mode = "full"
full_every = "1h"
EOF
"$ferry" run --config "$work/pauses.toml" --json >"$work/pauses.json" 2>/dev/null &
runner=$!
for i in $(seq 1 200); do
  [[ $(q psite "SELECT count(*) FROM ferry.checkpoints WHERE job = 'job first' AND status = 'running'") == 1 ]] && break
  sleep 0.05
done
"$ferry" pause second --config "$work/pauses.toml" --reason "price import" >/dev/null
set +e; wait $runner; status=$?; set -e
out=$(cat "$work/pauses.json")
expect_status 4 "a job paused while the run did another exits 4"
expect_equal "$(json_query "$out" "SELECT string_agg(x->>'job' || '=' || (x->>'outcome'), ' ' ORDER BY x->>'job') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "first=succeeded second=paused" "and the paused job did not run"
expect_equal "$(q psite "SELECT count(*) FROM small")" "0" "nothing of it was written"

# --- a fleet whose glob finds no file says so
cat >"$work/nomembers.toml" <<EOF
[jobs.nobody]
source = "dbname=hub"
target = "sqlite:nowhere/notes-{user}.db"
members_glob = "nowhere/notes-*.db"
tables = ["notes"]
where = ["notes:user_id = {user}"]
mode = "full"
full_every = "1h"
EOF
run "$ferry" run --config "$work/nomembers.toml"
expect_contains "$err" "job nobody: the fleet has no members: its members_glob found none" \
  "a fleet without members is reported"

# --- a file name that is not UTF-8 (a stray Latin-1 file among the members):
# the member fails, the JSON report stays JSON and the run is recorded
mkdir -p "$work/l1fleet"
sqlite3 "$work/l1fleet/notes-u1.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT, body TEXT)"
"$ferry" init "sqlite:$work/l1fleet/notes-u1.db" --track notes >/dev/null
cp "$work/l1fleet/notes-u1.db" "$work/l1fleet/notes-caf"$'\xe9'".db"
sed -e 's/jobs.nobody/jobs.latin1/' -e 's/nowhere/l1fleet/g' "$work/nomembers.toml" >"$work/latin1.toml"
run "$ferry" run --config "$work/latin1.toml" --json
expect_status 1 "a member whose name is not UTF-8 fails"
expect_equal "$(json_query "$out" "SELECT (x->>'members') || ' ' || (x->>'outcome') FROM input, jsonb_array_elements(j->'jobs') x")" \
  "2 failed" "the --json report is still JSON"
expect_equal "$(q hub "SELECT status FROM ferry.checkpoints WHERE job = 'job latin1'")" "failed" \
  "and the failure is recorded in the home"

# --- a fleet of sources (one SQLite file per site into one hub table): the
# members share the hub's table lease, which stays taken until the last of
# them is done, so no other sync writes the table meanwhile
q hub "CREATE TABLE readings (id int PRIMARY KEY, site text, value int)" >/dev/null
mkdir -p "$work/sites"
for s in s1 s2; do
  sqlite3 "$work/sites/$s.db" "CREATE TABLE readings (id INTEGER PRIMARY KEY, site TEXT, value INTEGER)"
  "$ferry" init "sqlite:$work/sites/$s.db" --track readings >/dev/null
done
sqlite3 "$work/sites/s1.db" "INSERT INTO readings VALUES (11, 's1', 1)"
sqlite3 "$work/sites/s2.db" "INSERT INTO readings VALUES (21, 's2', 1)"
cat >"$work/sites.toml" <<EOF2
[peers.hub]
url = "dbname=hub"
[jobs.readings]
source = "sqlite:sites/{user}.db"
target = "hub"
members_glob = "sites/*.db"
tables = ["readings"]
mode = "incremental"
delta_every = "5m"
EOF2
run "$ferry" run --config "$work/sites.toml" --json --jobs 2
expect_status 0 "a fleet of sources runs"
expect_equal "$(q hub "SELECT string_agg(id::text, ',' ORDER BY id) FROM readings")" "11,21" \
  "each site's rows reach the hub"
# s2's next change waits on the hub behind a transaction that holds its key
# until the test lets it go; s1's is applied meanwhile and its member ends.
sqlite3 "$work/sites/s1.db" "INSERT INTO readings VALUES (12, 's1', 2)"
sqlite3 "$work/sites/s2.db" "INSERT INTO readings VALUES (22, 's2', 2)"
q hub "CREATE TABLE let_go (done boolean)" >/dev/null
psql -X -q -d hub -c "BEGIN" -c "INSERT INTO readings VALUES (22, 'blocker', 0)" -c "
  DO \$\$ BEGIN
    FOR i IN 1..1200 LOOP
      EXIT WHEN EXISTS (SELECT FROM let_go);
      PERFORM pg_sleep(0.05);
    END LOOP;
  END \$\$" -c "ROLLBACK" >/dev/null &
blocker=$!
until [[ $(q hub "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%let_go%' AND pid <> pg_backend_pid()") == 1 ]]; do
  sleep 0.05
done
s1_runs() { q hub "SELECT count(*) FROM ferry.sessions WHERE source LIKE '%s1.db' AND status = 'succeeded'"; }
s1_before=$(s1_runs)
q hub "UPDATE ferry.checkpoints SET last_completed_at = now() - interval '1 hour' WHERE job = 'job readings'" >/dev/null
"$ferry" run --config "$work/sites.toml" --json --jobs 2 >"$work/sites.out" 2>"$work/sites.err" &
fleet=$!
for i in $(seq 1 600); do  # until s1's member is done
  [[ $(s1_runs) != "$s1_before" ]] && break
  sleep 0.05
done
sleep 0.5
expect_equal "$(q hub "SELECT count(*) FROM ferry.locks WHERE name LIKE 'sync %readings'")" "1" \
  "the lease stays taken while a member still writes the table"
run "$ferry" sync --from "sqlite:$work/sites/s1.db" --to dbname=hub --tables readings --quiet
expect_status 4 "another sync of the table waits its turn (exit 4)"
q hub "INSERT INTO let_go VALUES (true)" >/dev/null
wait "$blocker"
set +e; wait "$fleet"; status=$?; set -e
expect_status 0 "the fleet finishes once the hub's key is free"
expect_equal "$(q hub "SELECT string_agg(id || ':' || site, ',' ORDER BY id) FROM readings")" \
  "11:s1,12:s1,21:s2,22:s2" "every row arrived once"
expect_equal "$(q hub "SELECT count(*) FROM ferry.locks WHERE name LIKE 'sync %readings'")" "0" \
  "and the last member let the lease go"

finish
