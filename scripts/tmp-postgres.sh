#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and local runs.
#   scripts/tmp-postgres.sh start DIR  -> prints postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/tmp-postgres.sh stop DIR   -> stops the cluster and removes DIR
#   scripts/tmp-postgres.sh down DIR [fast|immediate] -> stops the server, keeps the cluster
#   scripts/tmp-postgres.sh up DIR     -> starts it again on the same port
# As root, the server runs as the `postgres` system user (PostgreSQL refuses root).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
usage() { echo "usage: $0 start|stop|up DIR, or down DIR [fast|immediate]" >&2; exit 2; }
[[ $# -eq 2 || ( $# -eq 3 && $1 == down ) ]] || usage
cmd=$1
dir=$2
mode=${3:-fast}

if [[ $(id -u) -eq 0 ]]; then
  as_pg=(runuser -u postgres --)
else
  as_pg=()
fi

free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start() {
  mkdir -p "$dir"
  local data=$dir/data
  if [[ ${#as_pg[@]} -gt 0 ]]; then
    # mktemp makes 0700 root-owned dirs; the postgres user must reach and own DIR.
    chmod 755 "$dir"
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "tmp-postgres: user postgres cannot reach $dir (a parent is not traversable)" >&2
      exit 1
    fi
  fi
  # --no-locale: a minimal image may lack the locale named by LANG.
  "${as_pg[@]}" "$PGBIN/initdb" -D "$data" --auth=trust -U postgres -E UTF8 \
    --no-locale --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" >"$dir/server.opts"
    if "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "$(cat "$dir/server.opts")" start >/dev/null; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    # The port may have been taken between probing and binding: try another.
    echo "tmp-postgres: start attempt $attempt on port $port failed" >&2
  done
  cat "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  if [[ -f $dir/data/postmaster.pid ]]; then
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

down() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
}

up() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "$(cat "$dir/server.opts")" start >/dev/null
}

dir=$(realpath -m "$dir")
cd /  # the postgres user may not be able to enter the caller's directory

case $cmd in
  start) start ;;
  stop) stop ;;
  down) down ;;
  up) up ;;
  *) usage ;;
esac
