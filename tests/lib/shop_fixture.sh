# A small shop schema for the sync tests (full_sync.sh, dump_restore.sh), in
# both engines: every type class that travels differently (json, bytea,
# boolean, float, timestamptz, numeric) and a quoted composite key. Source it
# after assert.sh and pg_cluster_start, with $ferry and $tables set (the
# tables, comma-separated, in the order the test wants them named).

q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

pg_schema='
CREATE TABLE customers (id int PRIMARY KEY, name text, data json, photo bytea, active boolean,
                        score float8, joined timestamptz, balance numeric);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE "Line Items" ("order" text, "No" int, qty int, PRIMARY KEY ("order", "No"));'
lite_schema='
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, data JSON, photo BLOB, active BOOLEAN,
                        score REAL, joined TIMESTAMPTZ, balance NUMERIC);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers, note TEXT);
CREATE TABLE "Line Items" ("order" TEXT, "No" INTEGER, qty INTEGER, PRIMARY KEY ("order", "No"))
  WITHOUT ROWID;'

new_pg() {  # new_pg DB: a database with the schema, ferry and tracking
  createdb "$1"
  q "$1" "$pg_schema" >/dev/null
  "$ferry" init "dbname=$1" --track "$tables" >/dev/null
}
new_lite() {  # new_lite FILE
  sqlite3 "$1" "$lite_schema"
  "$ferry" init "sqlite:$1" --track "$tables" >/dev/null
}
# Table hashes of both peers, as ferry diff sees them: exit 0 when equal.
same() { "$ferry" diff "$1" "$2" --tables "$tables" --quiet >/dev/null; }

# fill_shop DB ORDERS: 1,002 customers (NULLs, escapes, Infinity, -0.0
# included), ORDERS orders and 500 line items.
fill_shop() {
  q "$1" "INSERT INTO customers SELECT i, 'name ' || i, json_build_object('i', i, 'tags', json_build_array('a', 'ü')),
         decode(md5(i::text), 'hex'), i % 2 = 0, CASE WHEN i = 7 THEN 'Infinity' ELSE i * 0.5 END,
         '2024-01-01 00:00+02'::timestamptz + i * interval '1 hour', i * 1.25
       FROM generate_series(1, 1000) i;
       INSERT INTO customers VALUES (1001, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                                    (1002, E'tab\there, newline\nthere, back\\\\slash', '[]', '\\x00', true, -0.0, NULL, 0.000001);
       INSERT INTO orders SELECT i, 1 + i % 1000, 'order ' || i FROM generate_series(1, $2) i;
       INSERT INTO \"Line Items\" SELECT 'o' || (i % 50), i, i * 2 FROM generate_series(1, 500) i;" >/dev/null
}
