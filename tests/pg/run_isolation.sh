#!/usr/bin/env bash
# pg_isolation_regress over tests/pg/specs against a throwaway cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
out=${FERRY_BUILD_DIR:-$here/../../build}/pg_isolation
mkdir -p "$out"
# wakeup.spec prepares a transaction.
pg_cluster_start isolation -c max_prepared_transactions=2
"$PG_BIN/createdb" ferry_isolation
specs=$(cd "$here/specs" && ls *.spec | sed 's/\.spec$//' | sort)
"$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/isolation/pg_isolation_regress" \
  --use-existing --host=127.0.0.1 --port="$PGPORT" --user=postgres \
  --bindir="$PG_BIN" --inputdir="$here" --outputdir="$out" --dbname=ferry_isolation \
  $specs || { cat "$out/regression.diffs" 2>/dev/null | head -200; exit 1; }
