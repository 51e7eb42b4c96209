#!/usr/bin/env bash
# The ferry CLI against a real cluster: init, status, connection strings,
# .pgpass and service files, errors, exit codes and password redaction.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}

pg_cluster_start cli

psql -X -q -d postgres -c "CREATE DATABASE app" -c "CREATE DATABASE empty"
psql -X -q -d app <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
CREATE TABLE "Order Lines" (order_id int, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE no_key (a int);
SQL
app="host=127.0.0.1 port=$PGPORT dbname=app user=postgres"

# --- init
run "$ferry" init "$app" --track 'orders,"Order Lines"'
expect_status 0 "init creates the extension and tracks tables"
expect_contains "$out" "ferry 0.15 created" "init reports the extension it created"
expect_contains "$out" 'tracking "Order Lines"' "init reports quoted table names"
tracked=$(psql -X -Atd app -c "SELECT string_agg(table_name::text, ',' ORDER BY table_name::text) FROM ferry.tracked")
expect_equal "$tracked" '"Order Lines",orders' "both tables are tracked"

run "$ferry" init "$app" --track orders --json
expect_status 0 "init is idempotent"
action=$(json_query "$out" "SELECT j #>> '{extension,action}' FROM input")
expect_equal "$action" "unchanged" "init --json says the extension was unchanged"

# an older version is upgraded in place, tracked tables kept
createdb old_version
psql -X -q -d old_version -c "CREATE EXTENSION ferry VERSION '0.1'" \
  -c "CREATE TABLE kept (id int PRIMARY KEY)" -c "SELECT ferry.track('kept')"
old="host=127.0.0.1 port=$PGPORT dbname=old_version user=postgres"
run "$ferry" init "$old"
expect_status 0 "init upgrades an older extension"
expect_contains "$out" "ferry 0.15 updated" "init reports the upgrade"
kept=$(psql -X -Atd old_version -c "SELECT count(*) FROM ferry.tracked_tables" \
  -c "SELECT rows FROM ferry.table_hash('kept')")
expect_equal "$kept" "$(printf '1\n0')" "the upgrade keeps tracking and adds 0.2's functions"
# ferry sync into a PostgreSQL target of 0.8 is refused before anything is
# written, and says how to upgrade it
createdb old_target
psql -X -q -d old_target -c "CREATE EXTENSION ferry VERSION '0.8'" \
  -c "CREATE TABLE orders (id int PRIMARY KEY, total numeric)"
run "$ferry" sync --from "$app" --to "host=127.0.0.1 port=$PGPORT dbname=old_target user=postgres" --tables orders
expect_status 1 "ferry sync into a 0.8 target is refused"
expect_contains "$err" "ferry 0.8 in" "the error names the old version"
expect_contains "$err" "Run: ferry init" "and says how to upgrade"

# bad input changes nothing: the extension is not even created
empty="host=127.0.0.1 port=$PGPORT dbname=empty user=postgres"
run "$ferry" init "$empty" --track missing_table
expect_status 1 "init with a missing table fails"
expect_contains "$err" 'table "missing_table" does not exist' "the error names the table"
installed=$(psql -X -Atd empty -c "SELECT count(*) FROM pg_extension WHERE extname = 'ferry'")
expect_equal "$installed" "0" "a failed init leaves nothing behind"

run "$ferry" init "$app" --track no_key
expect_status 1 "init refuses a table without a primary key"
expect_contains "$err" "has no primary key" "the error says why"
expect_contains "$err" "HINT: Add one with ALTER TABLE" "the error says what to do"

# --- status
psql -X -q -d app -c "INSERT INTO orders VALUES (1, 9.99), (2, 19.5)"
run "$ferry" status "$app"
expect_status 0 "status runs"
expect_contains "$out" "TABLE" "status prints a table header"
expect_contains "$out" "orders" "status lists tracked tables"
run "$ferry" status "$app" --json
expect_status 0 "status --json runs"
pending=$(json_query "$out" \
  "SELECT t->>'pending_changes' FROM input, jsonb_array_elements(j->'tables') t WHERE t->>'table' = 'orders'")
expect_equal "$pending" "2" "status --json reports pending changes"
run "$ferry" status "$empty"
expect_status 1 "status on a database without ferry fails"
expect_contains "$err" "ferry init" "and says to run ferry init"

# --- dump and restore keep capture working (triggers name no OIDs)
"$PG_BIN/pg_dump" -Fc -d app -f "$_tmp/app.dump"
psql -X -q -d postgres -c "CREATE DATABASE restored"
run "$PG_BIN/pg_restore" --exit-on-error -d restored "$_tmp/app.dump"
expect_status 0 "pg_restore of a database with tracked tables succeeds"
psql -X -q -d restored -c "INSERT INTO orders VALUES (3, 1.5)"
restored=$(psql -X -At -d restored -c \
  "SELECT string_agg(table_name::text, ',' ORDER BY table_name::text) FROM ferry.tracked")
expect_equal "$restored" '"Order Lines",orders' "the restored database tracks the same tables"
captured=$(psql -X -At -d restored -c \
  "SELECT count(*) FROM ferry.change_log WHERE table_name = 'orders'::regclass AND key->>'id' = '3'")
expect_equal "$captured" "1" "a write in the restored database is captured"

# --- URIs, service files, .pgpass; passwords never printed
psql -X -q -d postgres -c "CREATE ROLE syncer LOGIN SUPERUSER PASSWORD 'Sup3r-S3cret'"
hba="$PG_CLUSTER_DIR/data/pg_hba.conf"
{ echo "host all syncer 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$_tmp/hba" && cat "$_tmp/hba" >"$hba"
psql -X -q -d postgres -c "SELECT pg_reload_conf()" >/dev/null

run "$ferry" status "postgresql://syncer:Sup3r-S3cret@127.0.0.1:$PGPORT/app"
expect_status 0 "a URI with a password connects"
run "$ferry" status "postgresql://syncer:Wr0ng-S3cret@127.0.0.1:$PGPORT/app"
expect_status 1 "a wrong password fails"
expect_not_contains "$out$err" "Wr0ng-S3cret" "the password of a URI is not printed"
expect_contains "$err" "postgresql://syncer:********@127.0.0.1" "the peer is shown redacted"
run "$ferry" status "host=127.0.0.1 port=$PGPORT dbname=app user=syncer password='Wr0ng-S3cret'"
expect_not_contains "$out$err" "Wr0ng-S3cret" "the password of a keyword string is not printed"

echo "127.0.0.1:$PGPORT:app:syncer:Sup3r-S3cret" >"$_tmp/pgpass"
chmod 600 "$_tmp/pgpass"
run env PGPASSFILE="$_tmp/pgpass" "$ferry" status "host=127.0.0.1 port=$PGPORT dbname=app user=syncer"
expect_status 0 ".pgpass supplies the password"
expect_not_contains "$out$err" "Sup3r-S3cret" "the .pgpass password is not printed"

printf '[ferry-app]\nhost=127.0.0.1\nport=%s\ndbname=app\nuser=postgres\n' "$PGPORT" >"$_tmp/services"
run env PGSERVICEFILE="$_tmp/services" "$ferry" status "service=ferry-app"
expect_status 0 "service= uses the service file"
expect_contains "$out" "orders" "the service points at the right database"

run env PGHOST=127.0.0.1 PGPORT="$PGPORT" PGDATABASE=app "$ferry" status ""
expect_status 1 "an empty peer is refused"

# --- connection failures and usage errors
run "$ferry" status "host=127.0.0.1 port=1 dbname=app user=postgres connect_timeout=3"
expect_status 1 "an unreachable peer fails with exit 1"
expect_contains "$err" "cannot connect to host=127.0.0.1 port=1" "the error names the peer"
run "$ferry"
expect_status 2 "no command is a usage error"
run "$ferry" status
expect_status 2 "a missing peer is a usage error"
run "$ferry" frobnicate
expect_status 2 "an unknown command is a usage error"
expect_contains "$err" "unknown command \"frobnicate\"" "named as unknown, not as missing"
run "$ferry" --version
expect_status 0 "--version works"

finish
