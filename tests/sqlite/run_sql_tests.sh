#!/usr/bin/env bash
# pg_regress for the SQLite extension: runs each tests/sqlite/sql/NAME.sql in
# the sqlite3 shell, against a fresh empty database file with build/ferry.so
# loaded, and compares what the shell printed (statements echoed, results,
# errors) with tests/sqlite/expected/NAME.out.
#
#   tests/sqlite/run_sql_tests.sh                 # every test
#   tests/sqlite/run_sql_tests.sh capture state   # some of them
#   tests/sqlite/run_sql_tests.sh --accept hashing
#       # copies the results over the expected files: read the diff first!
#
# FERRY_BUILD_DIR (default: build/ at the top of the repository) holds
# ferry.so; the results go to $FERRY_BUILD_DIR/sqlite_tests/NAME.out.
#
# The shell runs without -bail, so an error is printed and the script goes on:
# errors read "Runtime error near line N: ..." or "Parse error near line N:
# ...", N being the line of the .sql file. Its stdout is unbuffered (stdbuf)
# so that each error comes right after the statement that raised it, and
# ~/.sqliterc is not read (-init /dev/null), so that results do not depend on
# who runs the tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${FERRY_BUILD_DIR:-$here/../../build}
if [[ ! -d $build ]]; then
  echo "run_sql_tests.sh: no build directory $build: run make (or cmake --build build) first" >&2
  exit 2
fi
build=$(cd "$build" && pwd)
extension=$build/ferry
results=$build/sqlite_tests

accept=0
if [[ ${1:-} == --accept ]]; then
  accept=1
  shift
fi
if [[ ! -f $extension.so ]]; then
  echo "run_sql_tests.sh: $extension.so is missing: run make (or cmake --build build) first" >&2
  exit 2
fi
command -v sqlite3 >/dev/null || { echo "run_sql_tests.sh: sqlite3 is not installed" >&2; exit 2; }

if [[ $# -gt 0 ]]; then
  tests=("$@")
else
  tests=()
  for file in "$here"/sql/*.sql; do
    name=$(basename "$file" .sql)
    tests+=("$name")
  done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-sqlite-tests-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$results"

failed=()
for test in "${tests[@]}"; do
  sql=$here/sql/$test.sql
  expected=$here/expected/$test.out
  result=$results/$test.out
  if [[ ! -f $sql ]]; then
    echo "not ok $test (no file $sql)"
    failed+=("$test")
    continue
  fi
  mkdir "$work/$test"
  # sqlite3 exits 1 when a statement failed, which the tests do on purpose;
  # anything else (a crash) is recorded in the result, so it shows in the diff.
  set +e
  (cd "$work/$test" && LC_ALL=C.UTF-8 TZ=UTC stdbuf -o0 \
     sqlite3 -init /dev/null -batch -echo -cmd ".load $extension" "$work/$test/test.db") \
    <"$sql" >"$result" 2>&1
  status=$?
  set -e
  if [[ $status -gt 1 ]]; then
    echo "sqlite3 ended with status $status" >>"$result"
  fi
  if [[ $accept -eq 1 ]]; then
    cp "$result" "$expected"
    echo "accepted $test"
  elif [[ ! -f $expected ]]; then
    echo "not ok $test (no expected output $expected; the result is $result)"
    failed+=("$test")
  elif diff -u "$expected" "$result" >"$results/$test.diff"; then
    rm -f "$results/$test.diff"
    echo "ok $test"
  else
    echo "not ok $test"
    cat "$results/$test.diff"
    failed+=("$test")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "SQLite SQL tests failed: ${failed[*]} (results in $results)" >&2
  exit 1
fi
