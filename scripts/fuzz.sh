#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer harnesses of tests/fuzz/ with clang in
# their own build directory, runs each for FUZZ_SECONDS, and merges what it
# found into tests/fuzz/corpus/<harness>/, minimised (docs/fuzzing.md).
#
#   FUZZ_SECONDS     how long each harness runs (default 180)
#   FUZZ_BUILD_DIR   where the harnesses are built (default build-fuzz)
#   FUZZ_HARNESSES   which ones (default: fuzz_sql_lexer fuzz_upsert)
#   FUZZ_ARGS        more libFuzzer options, e.g. "-jobs=2 -workers=2"
#
# A crash or broken invariant stops the run; libFuzzer saves the input as
# $FUZZ_BUILD_DIR/artifacts/<harness>/crash-* and prints how to replay it.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-180}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
harnesses=(${FUZZ_HARNESSES:-fuzz_sql_lexer fuzz_upsert})
extra_args=(${FUZZ_ARGS:-})
fuzz_dir=tests/fuzz

# cmake, clang, and the compiler-rt package that holds libFuzzer (installed
# as root on Debian 12, otherwise the command is printed).
scripts/install-deps.sh cmake clang libclang-rt-dev

cmake -S "$fuzz_dir" -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build_dir" -j "${JOBS:-2}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs always kept under their own names: hand-written seeds, and the
# reproducers of bugs fuzzing found.
kept_dirs=()
for dir in "$fuzz_dir/seeds" "$fuzz_dir/regressions"; do
  [[ -d "$dir" ]] && kept_dirs+=("$dir")
done

for harness in "${harnesses[@]}"; do
  binary=$build_dir/$harness
  corpus=$fuzz_dir/corpus/$harness
  artifacts=$build_dir/artifacts/$harness/
  log=$build_dir/$harness.log
  found=$work/$harness-found
  merged=$work/$harness-merged
  mkdir -p "$corpus" "$artifacts" "$found" "$merged"

  # New inputs go to the first directory; the others are only read.
  echo "== $harness: fuzzing for ${seconds}s (log: $log)" >&2
  if ! "$binary" -max_total_time="$seconds" -dict="$fuzz_dir/sql.dict" -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "${extra_args[@]}" \
      "$found" "$corpus" "${kept_dirs[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "== $harness: failed; the input is in $artifacts (replay: $binary <file>)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$log" >&2 || true

  # Minimise: start from the kept inputs and add only what reaches code they
  # do not. Edges only (-use_counters=0): hit-count variety would keep
  # thousands of files, and a run finds it again within seconds. The result
  # replaces the corpus.
  echo "== $harness: merging" >&2
  for dir in "${kept_dirs[@]}"; do
    cp "$dir"/* "$merged"/
  done
  "$binary" -merge=1 -use_counters=0 -timeout=10 "$merged" "$corpus" "$found" \
    >"$log.merge" 2>&1 ||
    { tail -n 30 "$log.merge" >&2; exit 1; }
  grep -E 'MERGE-OUTER: [0-9]+ new files' "$log.merge" >&2 || true
  for dir in "${kept_dirs[@]}"; do
    for file in "$dir"/*; do
      rm -f "$merged/$(basename "$file")"
    done
  done
  rm -f "$corpus"/*
  cp "$merged"/. "$corpus"/ -r
  echo "== $harness: corpus now $(ls "$corpus" | wc -l) files," \
    "$(cat "$corpus"/* | wc -c) bytes" >&2
done
