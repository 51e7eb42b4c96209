#!/usr/bin/env bash
# `ferry diff` between two databases of a real cluster: equal and differing
# tables, exact keys (integer, composite text and uuid keys, keys printed
# differently by each peer), bucket descent, filters, sessions, and the error
# cases: missing table, no key, different columns, old extension, injection.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}

pg_cluster_start diff

for db in hub site; do
  createdb "$db"
  psql -X -q -d "$db" <<'SQL'
CREATE EXTENSION ferry;
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, opened date);
INSERT INTO accounts SELECT i, 'user' || (i % 7), i * 1.5, date '2024-01-01' + i % 365
FROM generate_series(1, 120000) i;
CREATE TABLE "Line Items" (order_ref text, item uuid, qty int, PRIMARY KEY (order_ref, item));
INSERT INTO "Line Items" SELECT 'order ' || (i % 40), md5(i::text)::uuid, i FROM generate_series(1, 600) i;
CREATE TABLE prices (sku text, price numeric, PRIMARY KEY (price, sku));
INSERT INTO prices VALUES ('A', 10.5), ('B', 1);
CREATE TABLE keyless (v int);
ANALYZE;
SQL
done
hub="host=127.0.0.1 port=$PGPORT dbname=hub user=postgres"
site="host=127.0.0.1 port=$PGPORT dbname=site user=postgres"
site_sql() { psql -X -q -d site -c "$1"; }

# --- equal tables
run "$ferry" diff "$hub" "$site" --tables 'accounts,"Line Items",prices'
expect_status 0 "equal tables: exit 0"
expect_contains "$out" "0 of 3 tables differ" "the summary says nothing differs"
run "$ferry" diff "$hub" "$site" --tables accounts --rows --json
expect_status 0 "equal tables with --rows: exit 0"
expect_equal "$(json_query "$out" "SELECT j->'equal' FROM input")" "true" "--json says equal"
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,0,levels}' FROM input")" "1" \
  "equal tables need one round of bucket digests"

# --- a few differences, found exactly
site_sql "UPDATE accounts SET balance = balance + 1 WHERE id IN (17, 9001)"
site_sql "DELETE FROM accounts WHERE id = 42"
site_sql "INSERT INTO accounts VALUES (120001, 'new', 0, NULL)"
site_sql "UPDATE \"Line Items\" SET qty = 0 WHERE item = md5('5')::uuid"
site_sql "UPDATE prices SET price = 10.50 WHERE sku = 'A'"   # same value, other scale
run "$ferry" diff "$hub" "$site" --tables 'accounts,"Line Items",prices'
expect_status 3 "differing tables: exit 3"
expect_contains "$out" "2 of 3 tables differ" "without --rows, tables are compared by digest"

run "$ferry" diff "$hub" "$site" --tables 'accounts,"Line Items",prices' --rows --json
expect_status 3 "--rows on differing tables: exit 3"
keys() {  # keys TABLE FIELD
  json_query "$out" "SELECT string_agg(k::text, ' ' ORDER BY k::text) FROM input,
    jsonb_array_elements(j->'tables') t, jsonb_array_elements(t->'$2') k WHERE t->>'table' = '$1'"
}
expect_equal "$(keys public.accounts changed)" '{"id": 17} {"id": 9001}' "changed rows are listed"
expect_equal "$(keys public.accounts only_in_a)" '{"id": 42}' "a row deleted in B is only in A"
expect_equal "$(keys public.accounts only_in_b)" '{"id": 120001}' "a row inserted in B is only in B"
expect_equal "$(keys 'public."Line Items"' changed)" \
  "{\"item\": \"$(psql -X -At -d hub -c "SELECT md5('5')::uuid")\", \"order_ref\": \"order 5\"}" \
  "composite text and uuid keys are listed"
expect_equal "$(keys public.prices changed)" "" "10.50 and 10.5 are the same price"
digest=$(psql -X -At -d hub -c "SELECT digest FROM ferry.table_hash('accounts')")
expect_equal "$(json_query "$out" "SELECT t->>'digest_a' FROM input, jsonb_array_elements(j->'tables') t
  WHERE t->>'table' = 'public.accounts'")" "$digest" "the buckets add up to ferry.table_hash's digest"
bytes=$(json_query "$out" "SELECT j->'bytes_received' FROM input")
[[ $bytes -lt 200000 ]] && pass "a few differences move little data ($bytes bytes)" ||
  fail "a few differences move little data" "$bytes bytes received"

run "$ferry" diff "$hub" "$site" --tables accounts --rows
expect_contains "$out" 'only in A   {"id": 42}' "the human output lists keys"
expect_contains "$err" "buckets differ, holding up to" "long tables print progress lines"
expect_contains "$err" "public.accounts: 1 only in A, 1 only in B, 2 changed" "the last one sums up"
run "$ferry" diff "$hub" "$site" --tables accounts --rows --quiet
expect_equal "$err" "" "--quiet prints no progress"
run "$ferry" diff "$hub" "$site" --tables '"Line Items"' --rows
[[ "$err" != *"buckets differ"* ]] && pass "small tables print no progress" ||
  fail "small tables print no progress" "$err"

# --- many differences: buckets are split before rows are read
site_sql "UPDATE accounts SET owner = 'moved' WHERE id % 9 = 0"
run "$ferry" diff "$hub" "$site" --tables accounts --rows --json
expect_status 3 "many differences: exit 3"
expect_equal "$(json_query "$out" "SELECT jsonb_array_length(j#>'{tables,0,changed}') FROM input")" \
  "$(psql -X -At -d site -c "SELECT count(*) FROM accounts WHERE id % 9 = 0 OR id IN (17, 9001)")" \
  "every changed row is found"
levels=$(json_query "$out" "SELECT j#>>'{tables,0,levels}' FROM input")
[[ $levels -ge 2 ]] && pass "differing buckets were split ($levels levels)" ||
  fail "differing buckets were split" "levels: $levels"

# --- filters
run "$ferry" diff "$hub" "$site" --tables accounts --rows --json --where 'accounts:id < 100 AND id % 9 <> 0'
expect_equal "$(keys public.accounts changed)" '{"id": 17}' "--where limits the comparison"
expect_equal "$(json_query "$out" "SELECT j#>>'{tables,0,rows_a}' FROM input")" "88" \
  "--where counts only matching rows"
run "$ferry" diff "$hub" "$site" --tables accounts --where 'accounts:true; DROP TABLE accounts'
expect_status 1 "a second statement in --where is refused"
expect_contains "$err" "invalid where condition" "the error says the condition is invalid"
run "$ferry" diff "$hub" "$site" --tables accounts --where 'accounts:id IN (SELECT 1)'
expect_contains "$err" "contains a subquery" "a subquery in --where is refused"
run "$ferry" diff "$hub" "$site" --tables accounts --where 'accounts:id <'
expect_contains "$err" "invalid where condition: it ends too early" "an incomplete condition is refused"
expect_equal "$(psql -X -At -d hub -c "SELECT count(*) FROM accounts")" "120000" "the table is intact"
run "$ferry" diff "$hub" "$site" --tables accounts --where 'prices:true'
expect_status 1 "--where on a table not compared is refused"
run "$ferry" diff "$hub" "$site" --tables accounts --where 'id = 1'
expect_contains "$err" "Write TABLE:CONDITION" "--where without a table says how to write it"

# --- sessions
sessions=$(psql -X -At -d hub -c "SELECT count(*) FILTER (WHERE status = 'succeeded'),
  count(*) FILTER (WHERE status = 'failed'), min(kind), bool_and(target LIKE '%dbname=site%')
  FROM ferry.sessions")
expect_equal "$sessions" "9|3|diff|t" "every diff is a session in A: succeeded or failed"

# --- default tables: those A tracks
run "$ferry" diff "$hub" "$site"
expect_status 1 "no tracked tables and no --tables is an error"
expect_contains "$err" "no tables to compare" "the error says so"
psql -X -q -At -d hub -c "SELECT ferry.track('prices')" >/dev/null
run "$ferry" diff "$hub" "$site"
expect_status 0 "A's tracked tables are compared by default"
expect_contains "$out" "public.prices" "the tracked table is listed"

# --- errors, each before anything is compared
run "$ferry" diff "$hub" "$site" --tables no_such_table
expect_status 1 "an unknown table fails"
expect_contains "$err" 'table "no_such_table" does not exist in host=127.0.0.1' "the error names table and peer"
run "$ferry" diff "$hub" "$site" --tables keyless
expect_status 1 "a table without a primary key fails"
expect_contains "$err" "HINT: Add one with ALTER TABLE public.keyless" "the error says what to do"
site_sql "ALTER TABLE accounts ADD COLUMN note text, DROP COLUMN opened"
run "$ferry" diff "$hub" "$site" --tables accounts
expect_status 1 "different columns fail"
expect_contains "$err" "dbname=hub user=postgres): opened" "the error names the column only in A"
expect_contains "$err" "dbname=site user=postgres): note" "and the column only in B"
site_sql "ALTER TABLE prices DROP CONSTRAINT prices_pkey, ADD PRIMARY KEY (sku)"
run "$ferry" diff "$hub" "$site" --tables prices
expect_contains "$err" "different primary keys" "different primary keys fail"
createdb old
psql -X -q -d old -c "CREATE EXTENSION ferry VERSION '0.1'"
run "$ferry" diff "$hub" "host=127.0.0.1 port=$PGPORT dbname=old user=postgres" --tables prices
expect_status 1 "a peer with ferry 0.1 fails"
expect_contains "$err" "ferry 0.1 in host=127.0.0.1" "the error names the old version"
expect_contains "$err" "HINT: Run: ferry init" "and says how to update it"

# --- a boolean in the key, printed true by PostgreSQL and 1 by SQLite: the
# changed row pairs up, and a mirror by --method diff keeps it
createdb boolkey
psql -X -q -d boolkey -c "CREATE EXTENSION ferry" \
  -c "CREATE TABLE flags (user_id int, archived boolean, v int, PRIMARY KEY (user_id, archived))" \
  -c "INSERT INTO flags VALUES (1, true, 10), (1, false, 20), (2, false, 30)"
boolfile=$(mktemp /tmp/ferry-diff-bool-XXXXXX.db)
sqlite3 "$boolfile" "CREATE TABLE flags (user_id INTEGER, archived BOOLEAN, v INTEGER, PRIMARY KEY (user_id, archived));
  INSERT INTO flags VALUES (1, 1, 99), (1, 0, 20), (2, 0, 30);"
"$ferry" init "sqlite:$boolfile" >/dev/null
run "$ferry" diff dbname=boolkey "sqlite:$boolfile" --tables flags --rows --json
expect_status 3 "a changed row under a boolean key is a difference"
expect_equal "$(json_query "$out" "SELECT concat_ws(' ', jsonb_array_length(t->'only_in_a'), jsonb_array_length(t->'only_in_b'), jsonb_array_length(t->'changed')) FROM input, jsonb_array_elements(j->'tables') t")" \
  "0 0 1" "one changed row, not a row only in each"
run "$ferry" full-sync --from dbname=boolkey --to "sqlite:$boolfile" --tables flags --method diff --delete-missing --quiet
expect_status 0 "a mirror by --method diff"
expect_equal "$(sqlite3 "$boolfile" "SELECT group_concat(user_id || archived || v, ' ') FROM (SELECT * FROM flags ORDER BY 1, 2)")" \
  "1020 1110 2030" "writes the row and deletes nothing"
rm -f "$boolfile"

finish
