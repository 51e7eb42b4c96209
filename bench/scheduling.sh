#!/usr/bin/env bash
# ferry run (docs/benchmarks.md, "Scheduling"), in the same run as what a
# user would otherwise do:
#  1. 50 configured jobs, nothing due: `ferry run` against a cron script that
#     asks each job's home for its last completion with psql / sqlite3.
#  2. A fleet of per-user SQLite files fed from one PostgreSQL hub (20 rows a
#     user, filter user_id = {user}), FLEETS (default 100 1000 5000) members,
#     10 of them with changes: one `ferry run` against re-copying each
#     member's rows (psql COPY | sqlite3, delete and import in one
#     transaction), the way one refreshes such files without ferry.
# ROUNDS (default 5) for the first, medians reported.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib/pg_cluster.sh"
source "$here/lib.sh"
ferry=${FERRY_BIN:-$here/../build/ferry}
rounds=${ROUNDS:-5}
fleets=${FLEETS:-100 1000 5000}
work=$(mktemp -d /tmp/ferry-bench-sched-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
results=$here/results/scheduling.txt
mkdir -p "$here/results"
pg_cluster_start bench_sched -c max_connections=200
q() { psql -X -At -q -d "$1" -c "$2"; }
now() { date +%s.%N; }
minus() { echo "$1 - $2" | bc; }
ratio() { echo "scale=3; $1 / $2" | bc; }
ms() { echo "scale=0; $1 * 1000 / 1" | bc; }

# ---- 1. fifty jobs, nothing due ---------------------------------------------
createdb hub
q hub "CREATE TABLE items (id int PRIMARY KEY, name text);
       INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i"
"$ferry" init dbname=hub --track items >/dev/null
config=$work/jobs.toml
printf '[peers.hub]\nurl = "dbname=hub"\n' >"$config"
for s in 1 2 3 4; do  # four PostgreSQL homes with ten jobs each
  createdb "site$s"
  q "site$s" "CREATE TABLE items (id int PRIMARY KEY, name text)"
  "$ferry" init "dbname=site$s" >/dev/null
  printf '[peers.site%s]\nurl = "dbname=site%s"\n' "$s" "$s" >>"$config"
done
for f in $(seq 1 10); do  # ten SQLite homes with one job each
  sqlite3 "$work/home$f.db" "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"
  "$ferry" init "sqlite:$work/home$f.db" >/dev/null
done
for j in $(seq 1 40); do
  printf '[jobs.j%s]\nsource = "hub"\ntarget = "site%s"\ntables = ["items"]\nmode = "full"\nfull_every = "1h"\nwhere = ["items:id %% 10 = %s"]\n' \
    "$j" $((1 + j % 4)) $((j % 10)) >>"$config"
done
for f in $(seq 1 10); do
  printf '[jobs.f%s]\nsource = "hub"\ntarget = "sqlite:%s"\ntables = ["items"]\nmode = "full"\nfull_every = "1h"\n' \
    "$f" "$work/home$f.db" >>"$config"
done
"$ferry" run --config "$config" 2>/dev/null  # every job once: nothing is due after
ferry_times=() script_times=()
for _ in $(seq 1 "$rounds"); do
  start=$(now)
  out=$("$ferry" run --config "$config" 2>&1)
  ferry_times+=("$(minus "$(now)" "$start")")
  [[ -z $out ]] || { echo "ferry run was not quiet: $out" >&2; exit 1; }
  start=$(now)
  for j in $(seq 1 40); do
    q "site$((1 + j % 4))" "SELECT last_completed_at > now() - interval '1 hour'
                           FROM ferry.checkpoints WHERE job = 'job j$j' AND scope = 'full'" >/dev/null
  done
  for f in $(seq 1 10); do
    sqlite3 "$work/home$f.db" "SELECT 1 FROM ferry_checkpoints WHERE job = 'job f$f'" >/dev/null
  done
  script_times+=("$(minus "$(now)" "$start")")
done
nothing_ferry=$(printf '%s\n' "${ferry_times[@]}" | median)
nothing_script=$(printf '%s\n' "${script_times[@]}" | median)

# ---- 2. fleets -----------------------------------------------------------------
# fleet N: N users with 20 notes each on the hub, N member files already
# holding their user's rows, and the fleet's first run (which finds every
# member equal and records where its link starts).
fleet_setup() {
  local n=$1 dir=$work/fleet$1
  mkdir -p "$dir"
  dropdb --if-exists fleethub
  createdb fleethub
  q fleethub "CREATE TABLE notes (id int PRIMARY KEY, user_id text NOT NULL, body text);
              CREATE INDEX ON notes (user_id);
              CREATE TABLE users (id text PRIMARY KEY);
              INSERT INTO users SELECT 'u' || u FROM generate_series(1, $n) u;
              INSERT INTO notes SELECT i, 'u' || (1 + i % $n), 'note ' || i
              FROM generate_series(1, 20 * $n) i"
  "$ferry" init dbname=fleethub --track notes >/dev/null
  sqlite3 "$dir/template.db" "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT, body TEXT)"
  "$ferry" init "sqlite:$dir/template.db" >/dev/null
  psql -X -At -q -d fleethub -c "COPY (SELECT user_id, id, body FROM notes ORDER BY user_id) TO STDOUT" \
    >"$dir/notes.tsv"
  for u in $(seq 1 "$n"); do cp "$dir/template.db" "$dir/notes-u$u.db"; done
  # One sqlite3 fills every member with its rows.
  awk -F'\t' -v dir="$dir" '
    $1 != current { if (current != "") print "COMMIT; DETACH m;";
                    current = $1; print "ATTACH '\''" dir "/notes-" $1 ".db'\'' AS m; BEGIN;" }
    { gsub(/'\''/, "'\'''\''", $3); print "INSERT INTO m.notes VALUES (" $2 ", '\''" $1 "'\'', '\''" $3 "'\'');" }
    END { print "COMMIT; DETACH m;" }' "$dir/notes.tsv" | sqlite3 ":memory:"
  cat >"$dir/ferry.toml" <<EOF
[jobs.notes]
source = "dbname=fleethub"
target = "sqlite:notes-u{user}.db"
members_glob = "notes-u*.db"
tables = ["notes"]
where = ["notes:user_id = 'u' || {user}"]
mode = "incremental"
delta_every = "5m"
EOF
}
# 10 users' notes change (5 rows each); the fleet record is aged so it is due.
fleet_change() {
  local n=$1
  q fleethub "UPDATE notes SET body = body || ' edited'
              WHERE user_id IN (SELECT 'u' || (1 + k * ($n / 10)) FROM generate_series(0, 9) k)
                AND id % 2 = 0"
  q fleethub "UPDATE ferry.checkpoints SET last_completed_at = now() - interval '1 hour'
              WHERE job = 'job notes'"
}
recopy_all() {  # the user's alternative: every member's rows re-copied
  local n=$1 dir=$work/fleet$1 u
  for u in $(seq 1 "$n"); do
    psql -X -At -q -d fleethub -c "COPY (SELECT id, user_id, body FROM notes WHERE user_id = 'u$u') TO STDOUT" >"$dir/one.tsv"
    sqlite3 "$dir/notes-u$u.db" "BEGIN" "DELETE FROM notes" ".mode tabs" ".import $dir/one.tsv notes" "COMMIT"
  done
}

fleet_lines=()
for n in $fleets; do
  fleet_setup "$n"
  dir=$work/fleet$n
  start=$(now)
  "$ferry" run --config "$dir/ferry.toml" --jobs 4 --json >"$dir/first.json" 2>"$dir/first.err" ||
    { cat "$dir/first.err" >&2; exit 1; }
  first=$(minus "$(now)" "$start")
  fleet_change "$n"
  start=$(now)
  "$ferry" run --config "$dir/ferry.toml" --jobs 4 --json >"$dir/run.json" 2>"$dir/run.err" ||
    { cat "$dir/run.err" >&2; exit 1; }
  changed=$(minus "$(now)" "$start")
  unchanged=$(grep -o '"members_unchanged":[0-9]*' "$dir/run.json" | cut -d: -f2)
  if [[ $n == 100 ]]; then  # issue 6: 1,000 changes spread over 10 users, one round
    for _ in 1 2 3 4 5; do
      q fleethub "UPDATE notes SET body = body || '.'
                  WHERE user_id IN (SELECT 'u' || (1 + k * 10) FROM generate_series(0, 9) k)"
    done
    q fleethub "UPDATE ferry.checkpoints SET last_completed_at = now() - interval '1 hour'
                WHERE job = 'job notes'"
    start=$(now)
    "$ferry" run --config "$dir/ferry.toml" --jobs 4 --json >"$dir/run1000.json" 2>&1 ||
      { cat "$dir/run1000.json" >&2; exit 1; }
    round_1000=$(minus "$(now)" "$start")
    changes_1000=$(grep -o '"changes":[0-9]*' "$dir/run1000.json" | cut -d: -f2)
  fi
  start=$(now)
  recopy_all "$n"
  recopy=$(minus "$(now)" "$start")
  fleet_lines+=("$(printf '%6s members: first run %7.2f s; 10 changed: ferry run %6.2f s (%s unchanged), re-copy every member %7.2f s, ratio %s' \
    "$n" "$first" "$changed" "$unchanged" "$recopy" "$(ratio "$changed" "$recopy")")")
  rm -rf "$dir"
done

{
  echo "ferry run, $(date -u +%Y-%m-%d), $(nproc) cores"
  printf '50 jobs, nothing due: ferry run %s ms; cron script asking each home %s ms; ratio %s (median of %s)\n' \
    "$(ms "$nothing_ferry")" "$(ms "$nothing_script")" "$(ratio "$nothing_ferry" "$nothing_script")" "$rounds"
  printf '%s\n' "${fleet_lines[@]}"
  [[ -z ${round_1000:-} ]] ||
    printf '100 filtered SQLite peers, 1000 changes over 10 users (%s read by the members that had some): one round %.2f s (issue 6 target 2 s)\n' \
      "$changes_1000" "$round_1000"
} | tee "$results"
