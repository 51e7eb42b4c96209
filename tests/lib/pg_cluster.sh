# Throwaway PostgreSQL 15 clusters on 127.0.0.1 for tests, demos and
# benchmarks. Source this file, then `pg_cluster_start NAME [postgres -c
# options...]`; it exports PGHOST, PGPORT, PGUSER and stops the cluster when
# the calling shell exits. As root (CI), the server runs as the postgres user.
# Each cluster has its own directory and a free port, so runs can overlap.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
_ferry_clusters=()

_as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_cluster_stop_all() {
  local dir
  for dir in "${_ferry_clusters[@]}"; do
    _as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  done
  _ferry_clusters=()
}

# pg_cluster_start NAME [extra postgres -c settings...]
# Sets PG_CLUSTER_DIR and PGPORT for the new cluster.
pg_cluster_start() {
  local name=$1
  shift
  local dir
  dir=$(mktemp -d "/tmp/ferry-pg-$name-XXXXXX")
  chmod 755 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  _ferry_clusters+=("$dir")
  # A caller's own EXIT trap that stops the clusters (and removes its work
  # directory) stays; replacing it would leave that directory behind.
  [[ $(trap -p EXIT) == *pg_cluster_stop_all* ]] || trap pg_cluster_stop_all EXIT
  _as_server_user "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  local settings=(-c listen_addresses=127.0.0.1 -c "unix_socket_directories=$dir" "$@")
  local attempt port
  for attempt in $(seq 1 20); do
    port=$((20000 + (RANDOM * 7 + $$) % 30000))
    if _as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port ${settings[*]}" start >/dev/null 2>&1; then
      export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
      PG_CLUSTER_DIR=$dir
      return 0
    fi
  done
  echo "could not start a PostgreSQL cluster for $name; server log:" >&2
  cat "$dir/server.log" >&2
  return 1
}
