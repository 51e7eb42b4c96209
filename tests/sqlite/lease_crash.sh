#!/usr/bin/env bash
# A lease outlives the process that held it: a sqlite3 process with ferry
# loaded takes a lease (ttl 2 seconds) and starts a session, and is killed
# with SIGKILL while it holds them. Another process cannot take the lease
# while it is live, and takes it once it has expired; the session stays
# running while its process lives and is closed as failed once it is gone;
# the database is intact.
#
#   tests/sqlite/lease_crash.sh        (FERRY_BUILD_DIR: where ferry.so is; default build/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/assert.sh"
build=$(cd "${FERRY_BUILD_DIR:-$here/../../build}" && pwd)
extension=$build/ferry
[[ -f $extension.so ]] || { echo "lease_crash.sh: $extension.so is missing: build first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-lease-crash-XXXXXX")
holder_pid=
cleanup() {
  if [[ -n $holder_pid ]] && kill -0 "$holder_pid" 2>/dev/null; then
    kill -KILL "$holder_pid" 2>/dev/null || true
  fi
  rm -rf "$work" "$_tmp"
}
trap cleanup EXIT
db=$work/peer.db

ferry() { sqlite3 -init /dev/null -batch -cmd ".load $extension" -cmd '.timeout 5000' "$db" "$@"; }
now="strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

ferry >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
SELECT ferry_init();
SQL

# The holder takes the lease, then runs a query that never ends; it is
# killed while it runs, so it never gets to release the lease.
cat >"$work/holder.sql" <<'SQL'
SELECT ferry_try_lock('nightly sync', 'worker-1 (pid to be killed)', 2);
SELECT ferry_session_start('full', 'pull', 'hub', 'site');
SELECT count(*) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT i FROM c);
SQL
# It sets a busy timeout as docs/sqlite.md says every writer should: the
# polling below opens and closes connections, and the last close of a WAL
# file checkpoints it, which can briefly lock out a writer without one.
sqlite3 -init /dev/null -batch -cmd ".load $extension" -cmd '.timeout 5000' "$db" <"$work/holder.sql" \
  >"$work/holder.out" 2>"$work/holder.err" &
holder_pid=$!

# Wait until the lease is committed (at most 10 seconds).
for _ in $(seq 100); do
  [[ $(ferry "SELECT count(*) FROM ferry_locks WHERE holder LIKE 'worker-1%'") == 1 ]] && break
  sleep 0.1
done
expect_equal "$(ferry "SELECT holder FROM ferry_locks WHERE name = 'nightly sync'")" \
  "worker-1 (pid to be killed)" "the first process holds the lease"
if kill -0 "$holder_pid" 2>/dev/null; then pass "the holder is still running"; else fail "the holder is still running"; fi
for _ in $(seq 100); do
  [[ $(ferry "SELECT count(*) FROM ferry_sessions") == 1 ]] && break
  sleep 0.1
done
expect_equal "$(ferry "SELECT json_extract(recorder, '$.pid') FROM ferry_sessions")" "$holder_pid" \
  "the session names the process that started it"
expect_equal "$(ferry "SELECT ferry_close_abandoned_sessions(), status FROM ferry_sessions")" "0|running" \
  "a session whose process runs is not closed"

kill -KILL "$holder_pid"
set +e
{ wait "$holder_pid"; } 2>/dev/null  # no "Killed" message from bash
holder_status=$?
set -e
holder_pid=
expect_equal "$holder_status" "137" "the holder was killed by SIGKILL"

# Its session is closed by the next session start (or by hand).
expect_equal "$(ferry "SELECT ferry_session_start('diff', NULL, 'a', 'b') > 1, (SELECT status || ': ' || error FROM ferry_sessions WHERE id = 1)")" \
  "1|failed: abandoned: the ferry process that ran it stopped without finishing it (that process is gone; recorder shows which it was)" \
  "the dead process's session is closed as failed when another starts"

# The lease is still there, and live: another process is refused.
run ferry "SELECT ferry_try_lock('nightly sync', 'worker-2', 60), (SELECT expires_at > $now FROM ferry_locks)"
expect_status 0 "a second process asks for the lease"
expect_equal "$out" "0|1" "it is refused while the dead holder's lease is live"
expect_equal "$(ferry "SELECT holder FROM ferry_locks WHERE name = 'nightly sync'")" \
  "worker-1 (pid to be killed)" "the lease still names the dead holder"
expect_equal "$(ferry "SELECT (julianday(expires_at) - julianday(since)) * 86400 BETWEEN 1.99 AND 2.01 FROM ferry_locks")" \
  "1" "the lease was taken for 2 seconds"

# Wait for it to expire (ttl 2 seconds: at most 5 seconds).
for _ in $(seq 50); do
  [[ $(ferry "SELECT expires_at <= $now FROM ferry_locks") == 1 ]] && break
  sleep 0.1
done
expect_equal "$(ferry "SELECT expires_at <= $now FROM ferry_locks")" "1" "the lease expires by itself"

run ferry "SELECT ferry_try_lock('nightly sync', 'worker-2', 60)"
expect_status 0 "the second process asks again"
expect_equal "$out" "1" "it takes the expired lease over"
expect_equal "$(ferry "SELECT holder || ' ' || (since > '2000') || ' ' || (expires_at > $now) FROM ferry_locks")" \
  "worker-2 1 1" "ferry_locks shows the new holder and a live lease"
expect_equal "$(ferry "SELECT ferry_try_lock('nightly sync', 'worker-1 (pid to be killed)', 2)")" "0" \
  "the old holder's name cannot take it back"
expect_equal "$(ferry "SELECT ferry_unlock('nightly sync', 'worker-2')")" "1" "the new holder releases it"
expect_equal "$(ferry 'SELECT count(*) FROM ferry_locks')" "0" "no lease is left"
expect_equal "$(ferry 'PRAGMA integrity_check')" "ok" "the database is intact after the kill"
expect_equal "$(cat "$work/holder.err")" "" "the holder printed no error before it was killed"

# A process killed but not yet collected by its parent (a zombie) is gone
# too: its parent here is a `sleep` that never waits for it.
cat >"$work/zombie.sql" <<'SQL'
SELECT ferry_session_start('full', 'pull', 'hub', 'zombie');
SELECT count(*) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT i FROM c);
SQL
bash -c '"$@" <"$0" >/dev/null 2>&1 & exec sleep 600' "$work/zombie.sql" \
  sqlite3 -init /dev/null -batch -cmd ".load $extension" -cmd '.timeout 5000' "$db" &
parent_pid=$!
for _ in $(seq 100); do
  [[ $(ferry "SELECT count(*) FROM ferry_sessions WHERE target = 'zombie'") == 1 ]] && break
  sleep 0.1
done
zombie_pid=$(ferry "SELECT json_extract(recorder, '$.pid') FROM ferry_sessions WHERE target = 'zombie'")
kill -KILL "$zombie_pid"
for _ in $(seq 50); do
  [[ $(awk '{ print $3 }' "/proc/$zombie_pid/stat" 2>/dev/null) == Z ]] && break
  sleep 0.1
done
expect_equal "$(awk '{ print $3 }' "/proc/$zombie_pid/stat")" "Z" "the killed process is a zombie"
expect_equal "$(ferry "SELECT ferry_close_abandoned_sessions(), (SELECT status FROM ferry_sessions WHERE target = 'zombie')")" \
  "1|failed" "its session is closed as failed"
kill "$parent_pid"; wait "$parent_pid" 2>/dev/null || true

finish
