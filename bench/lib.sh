# Shared by the benchmark scripts: source after tests/lib/pg_cluster.sh.

# pgbench_database NAME: a pgbench scale-10 database (1,000,000 accounts)
# whose pgbench_history has a primary key, as ferry needs one; the same in
# every configuration so that they stay comparable.
pgbench_database() {
  createdb "$1"
  "$PG_BIN/pgbench" -q -i -s 10 "$1" >/dev/null 2>&1
  psql -X -q -d "$1" -c \
    "ALTER TABLE pgbench_history ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
}

# track_pgbench NAME: ferry installed and tracking the four pgbench tables.
track_pgbench() {
  psql -X -q -d "$1" -c "CREATE EXTENSION ferry" -c \
    "SELECT ferry.track(t) FROM unnest(ARRAY['pgbench_accounts', 'pgbench_branches',
       'pgbench_tellers', 'pgbench_history']::regclass[]) t" >/dev/null
}

# reset_pgbench_run DB [LOG_TABLE...]: empties pgbench_history and the
# given logs, then VACUUM ANALYZE and CHECKPOINT, so that every timed run of
# the capture benchmarks starts alike.
reset_pgbench_run() {
  local db=$1
  shift
  local sql="TRUNCATE pgbench_history${*:+, $(IFS=,; echo "$*")}"
  psql -X -q -d "$db" -c "$sql" -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

# median: the median of the numbers on stdin, one a line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
