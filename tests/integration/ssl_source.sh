#!/usr/bin/env bash
# A full sync from a source that admits only client certificates, with the
# client's key encrypted and its passphrase in the connection string
# (sslpassword): pg_dump must get the passphrase, and never on its command
# line, where every user of the machine can read it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/pg_cluster.sh"
source "$here/../lib/assert.sh"
ferry=${FERRY_BIN:-$here/../../build/ferry}
work=$(mktemp -d /tmp/ferry-ssl-XXXXXX)
trap 'rm -rf "$work"; pg_cluster_stop_all' EXIT
pg_cluster_start ssl
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# --- a CA, the server's certificate, and a client certificate for "syncer"
# whose key is encrypted with a passphrase.
passphrase='Key pass#7 =x'
(
  cd "$work"
  openssl req -x509 -new -nodes -newkey rsa:2048 -keyout ca.key -out ca.crt -days 2 \
    -subj "/CN=ferry test CA" 2>/dev/null
  openssl req -new -nodes -newkey rsa:2048 -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out server.crt -days 2 2>/dev/null
  openssl genrsa -aes256 -passout "pass:$passphrase" -out client.key 2048 2>/dev/null
  openssl req -new -key client.key -passin "pass:$passphrase" -out client.csr \
    -subj "/CN=syncer" 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out client.crt -days 2 2>/dev/null
  # The same certificate's key again, under a passphrase that ends in a space.
  openssl rsa -in client.key -passin "pass:$passphrase" -aes256 -passout "pass:trailing space " \
    -out spaced.key 2>/dev/null
  chmod 600 client.key spaced.key
)
install -m 600 "$work/server.key" "$work/server.crt" "$work/ca.crt" "$PG_CLUSTER_DIR/data/"
[[ $(id -u) -eq 0 ]] && chown postgres: "$PG_CLUSTER_DIR"/data/{server.key,server.crt,ca.crt}

# syncer may connect only over TLS with its certificate; everyone else as before.
hba="$PG_CLUSTER_DIR/data/pg_hba.conf"
{ printf 'hostssl all syncer 127.0.0.1/32 cert\nhost all syncer 127.0.0.1/32 reject\n'; cat "$hba"; } \
  >"$work/pg_hba.conf"
cat "$work/pg_hba.conf" >"$hba"
q postgres "ALTER SYSTEM SET ssl = on" >/dev/null
q postgres "ALTER SYSTEM SET ssl_ca_file = 'ca.crt'" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
q postgres "CREATE ROLE syncer LOGIN SUPERUSER" >/dev/null

createdb src
createdb dst
for db in src dst; do
  q "$db" "CREATE TABLE items (id int PRIMARY KEY, label text)" >/dev/null
  "$ferry" init "dbname=$db" --track items >/dev/null
done
q src "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 500) i" >/dev/null

client="sslmode=verify-ca sslrootcert=$work/ca.crt sslcert=$work/client.crt sslkey=$work/client.key"
source_peer="host=127.0.0.1 port=$PGPORT dbname=src user=syncer $client sslpassword='$passphrase'"

# The connection really needs the passphrase.
run psql -X -At -d "host=127.0.0.1 port=$PGPORT dbname=src user=syncer $client sslpassword=wrong" \
  -c "SELECT 1"
expect_status 2 "the source refuses syncer with a wrong passphrase"
expect_equal "$(psql -X -At -d "$source_peer" -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")" \
  "t" "and admits it over TLS with the right one"

# pg_dump through a wrapper that records the command line it was given.
cat >"$work/pg_dump" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$work/pg_dump.argv"
exec "$PG_BIN/pg_dump" "\$@"
EOF
chmod 755 "$work/pg_dump"

FERRY_PG_DUMP=$work/pg_dump run "$ferry" full-sync --quiet --from "$source_peer" --to dbname=dst \
  --tables items --verify --json
expect_status 0 "a full sync from a certificate-only source with an encrypted key"
expect_equal "$(q dst "SELECT count(*) FROM items")" "500" "every row arrived"
expect_contains "$(cat "$work/pg_dump.argv")" "--snapshot=" "pg_dump was the one that read them"
expect_not_contains "$(cat "$work/pg_dump.argv")" "Key pass" "pg_dump's command line holds no passphrase"
expect_not_contains "$out$err" "Key pass" "nor does ferry's output"

# A service the user named is resolved before the passphrase's own takes
# its place: its options still apply.
printf '[shop]\nhost=127.0.0.1\nport=%s\ndbname=src\nuser=syncer\nsslmode=verify-ca\nsslrootcert=%s\nsslcert=%s\nsslkey=%s\n' \
  "$PGPORT" "$work/ca.crt" "$work/client.crt" "$work/client.key" >"$work/services.conf"
q src "UPDATE items SET label = 'changed' WHERE id <= 10" >/dev/null
PGSERVICEFILE=$work/services.conf FERRY_PG_DUMP=$work/pg_dump run "$ferry" full-sync --quiet \
  --from "service=shop sslpassword='$passphrase'" --to dbname=dst --tables items --verify --json
expect_status 0 "the same through the user's service and an inline passphrase"
expect_equal "$(q dst "SELECT count(*) FROM items WHERE label = 'changed'")" "10" "the changed rows arrived"
expect_not_contains "$(cat "$work/pg_dump.argv")" "Key pass" "pg_dump's command line holds no passphrase"

# A passphrase a service file cannot carry is refused before anything is written.
q src "UPDATE items SET label = 'not copied' WHERE id <= 10" >/dev/null
spaced_peer="host=127.0.0.1 port=$PGPORT dbname=src user=syncer sslmode=verify-ca sslrootcert=$work/ca.crt sslcert=$work/client.crt sslkey=$work/spaced.key sslpassword='trailing space '"
expect_equal "$(psql -X -At -d "$spaced_peer" -c "SELECT 1")" "1" "a key whose passphrase ends in a space opens"
run "$ferry" full-sync --quiet --from "$spaced_peer" --to dbname=dst --tables items
expect_status 1 "a passphrase ending in a space is refused"
expect_contains "$err" "sslpassword cannot be handed to pg_dump" "the error says why"
expect_contains "$err" "service=NAME" "and what to do"
expect_not_contains "$out$err" "trailing space" "without showing it"
expect_equal "$(q dst "SELECT count(*) FROM items WHERE label = 'not copied'")" "0" "nothing was written"

finish
