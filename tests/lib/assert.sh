# Minimal assertions for the shell integration tests. Each check prints one
# line; finish() prints the "N passed, N failed" summary and sets the status.
_passed=0
_failed=0

pass() { _passed=$((_passed + 1)); echo "ok - $1"; }
fail() { _failed=$((_failed + 1)); echo "not ok - $1"; if [[ -n "${2:-}" ]]; then printf "%s\n" "$2" | sed "s/^/    /"; fi; }

# json_query JSON SQL: runs SQL over a table input(j) holding the JSON (psql
# parses it, so the tests need no JSON tool beyond PostgreSQL itself). The
# document goes on stdin, dollar-quoted: it may be too long for an argument.
json_query() {
  printf 'WITH input AS (SELECT $json_doc$%s$json_doc$::jsonb AS j) %s;\n' "$1" "$2" |
    psql -X -At -d postgres
}

# run CMD...: runs a command, capturing stdout, stderr and the exit status.
run() {
  set +e
  "$@" >"$_tmp/out" 2>"$_tmp/err"
  status=$?
  set -e
  out=$(cat "$_tmp/out")
  err=$(cat "$_tmp/err")
}

expect_status() {  # expect_status CODE NAME
  if [[ $status -eq $1 ]]; then pass "$2"; else fail "$2 (exit $status, wanted $1)" "$out$err"; fi
}
expect_contains() {  # expect_contains HAYSTACK NEEDLE NAME
  if [[ "$1" == *"$2"* ]]; then pass "$3"; else fail "$3 (missing: $2)" "$1"; fi
}
expect_not_contains() {  # expect_not_contains HAYSTACK NEEDLE NAME
  if [[ "$1" != *"$2"* ]]; then pass "$3"; else fail "$3 (found: $2)" "$1"; fi
}
expect_equal() {  # expect_equal ACTUAL EXPECTED NAME
  if [[ "$1" == "$2" ]]; then pass "$3"; else fail "$3 (got '$1', wanted '$2')"; fi
}
expect_not_equal() {  # expect_not_equal ACTUAL UNWANTED NAME
  if [[ "$1" != "$2" ]]; then pass "$3"; else fail "$3 (both are '$1')"; fi
}

finish() {
  echo "$_passed passed, $_failed failed"
  [[ $_failed -eq 0 ]]
}

_tmp=$(mktemp -d)
