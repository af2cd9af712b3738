#!/usr/bin/env bash
# A throwaway PostgreSQL for the non-Rust suites (the Rust harness can start its own).
#   scripts/pg-test-server.sh start DIR   -> prints the admin URL, server data in DIR
#   scripts/pg-test-server.sh stop DIR
#   scripts/pg-test-server.sh createdb DIR NAME -> prints the URL of a new database
# Runs the server as the postgres user when invoked as root (initdb refuses root).
set -euo pipefail
cmd=${1:?start|stop|createdb}; dir=${2:?directory}

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  local d; d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$d" ]; then echo "$d"; return; fi
  dirname "$(command -v initdb)"
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
BIN=$(bindir)

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null
    echo "$port" >"$dir/port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  createdb)
    name=${3:?name}; port=$(cat "$dir/port")
    "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name"
    echo "postgres://postgres@127.0.0.1:$port/$name"
    ;;
  *) echo "usage: $0 start|stop|createdb DIR [NAME]" >&2; exit 2 ;;
esac
