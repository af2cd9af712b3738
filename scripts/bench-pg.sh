#!/usr/bin/env bash
# A throwaway PostgreSQL for `make bench`: like scripts/pg-test-server.sh, but with the server's
# DEFAULT durability settings (fsync on, synchronous_commit on, full_page_writes on), because the
# benchmark compares libtasker against what this PostgreSQL can commit durably (pgbench -N).
#   scripts/bench-pg.sh start DIR   -> prints the admin URL; data, socket and log in DIR
#   scripts/bench-pg.sh stop DIR
#   scripts/bench-pg.sh bindir      -> prints the PostgreSQL bin directory (initdb, pgbench, ...)
# pg_stat_statements is preloaded (the peers scenario counts statements per job; the extension is
# created in the admin database by `bench run`); it adds a small cost to every statement, for
# libtasker and the peers alike.
# Runs the server as the postgres user when invoked as root (initdb refuses root).
set -euo pipefail
cmd=${1:?start|stop|bindir}

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  local d; d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$d" ]; then echo "$d"; return; fi
  dirname "$(command -v initdb)"
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
BIN=$(bindir)

case "$cmd" in
  bindir) echo "$BIN" ;;
  start)
    dir=${2:?directory}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # --no-sync only skips syncing initdb's own files; the server below runs with fsync on.
    if ! as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
      echo "bench-pg: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000" start >/dev/null; then
      echo "bench-pg: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1
    fi
    echo "$port" >"$dir/port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?directory}
    [ -d "$dir/data" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop DIR | bindir" >&2; exit 2 ;;
esac
