#!/usr/bin/env bash
# make bench: every benchmark, each comparing ferry with what a user would
# otherwise use, in the same run. Results land in bench/results/ and are
# copied by hand into docs/benchmarks.md with the date and machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for bench in "$here"/capture.sh "$here"/hashing.sh "$here"/sqlite.sh "$here"/full_sync.sh "$here"/incremental_sync.sh "$here"/follow.sh "$here"/scheduling.sh; do
  echo "== $(basename "$bench")"
  bash "$bench"
done
