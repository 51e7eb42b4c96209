#!/usr/bin/env bash
# pg_regress over tests/pg/sql against a throwaway cluster. Each test file
# gets a fresh database, so one file's leftovers cannot leak into the next.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
out=${FERRY_BUILD_DIR:-$here/../../build}/pg_regress
rm -rf "$out"
mkdir -p "$out"
pg_cluster_start regress
regress="$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/regress/pg_regress"
failed=()
# FERRY_REGRESS_ONLY="sessions upgrade" runs those files only.
for test in ${FERRY_REGRESS_ONLY:-$(cd "$here/sql" && ls *.sql | sed 's/\.sql$//' | sort)}; do
  db="ferry_regress_$test"
  "$PG_BIN/createdb" "$db"
  "$regress" --use-existing --host=127.0.0.1 --port="$PGPORT" --user=postgres \
    --bindir="$PG_BIN" --inputdir="$here" --outputdir="$out/$test" --dbname="$db" \
    "$test" | grep -E '^(test|ok|not ok|     )' || true
  if [[ -s "$out/$test/regression.diffs" ]]; then
    failed+=("$test")
    head -150 "$out/$test/regression.diffs"
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "pg_regress: failed: ${failed[*]}" >&2
  exit 1
fi
