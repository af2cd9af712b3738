#!/usr/bin/env bash
# make bench: builds libtasker and the benchmark in release mode, starts a throwaway PostgreSQL
# with fsync on (scripts/bench-pg.sh), runs examples/bench.rs against it and an SQLite file on
# local disk, prints one table and stops the server. Extra arguments go to `bench run`
# (e.g. `scripts/bench.sh --runs 5` or `--only latency,fanout`). See docs/PERFORMANCE.md.
# The peers scenario also needs graphile-worker (npm ci in benches/peers/graphile) and River
# (go build of benches/peers/river into target/peers); when node/npm/go is missing or an install
# fails, their rows say "skipped: why" and everything else runs as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
CLIB=target/clib/release

echo "== building (release)" >&2
$CARGO build --quiet --release --lib --example bench
make --no-print-directory lib PROFILE=release CARGO="$CARGO" >/dev/null # staged with its tasker.pc
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/ffi_bench.c -o target/release/ffi_bench_c \
  -L"$CLIB" -ltasker $(pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc) -Wl,-rpath,"$(pwd)/$CLIB"

# Peers: only when the peers scenario runs (no --only, or --only naming it).
only=""; prev=""
for a in "$@"; do [ "$prev" = --only ] && only=$a; prev=$a; done
peer_args=()
if [ -z "$only" ] || [[ ",$only," == *,peers,* ]]; then
  mkdir -p target/peers
  g=benches/peers/graphile
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    peer_args+=(--graphile "skip:node/npm not found")
  elif cmp -s "$g/package-lock.json" "$g/node_modules/.bench-lock" ||
    { echo "== npm ci (graphile-worker)" >&2
      (cd "$g" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >target/peers/npm.log 2>&1 &&
      cp "$g/package-lock.json" "$g/node_modules/.bench-lock"; }; then
    peer_args+=(--graphile "$(pwd)/$g")
  else
    peer_args+=(--graphile "skip:npm ci failed (target/peers/npm.log)")
  fi
  if ! command -v go >/dev/null 2>&1; then
    peer_args+=(--river "skip:go not found")
  elif echo "== go build (River)" >&2 &&
    (cd benches/peers/river && GOTOOLCHAIN=local go build -o ../../../target/peers/river-peer .) >target/peers/go.log 2>&1; then
    peer_args+=(--river "$(pwd)/target/peers/river-peer")
  else
    peer_args+=(--river "skip:go build failed (target/peers/go.log)")
  fi
fi

# The build just wrote hundreds of MB (a fresh clone's release build: GBs); flushed now, their
# writeback does not compete with the fsyncs measured below (suspected when a fresh-clone run
# measured pgbench -N at 0.4x the day before's rate).
sync

# Both databases live on local disk (TMPDIR, default /tmp; not tmpfs here — see PERFORMANCE.md).
work=$(mktemp -d "${TMPDIR:-/tmp}/tasker-bench.XXXXXX")
chmod 755 "$work" # the server runs as the postgres user when we are root
cleanup() { scripts/bench-pg.sh stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
echo "== starting PostgreSQL (fsync on) in $work/pg" >&2
url=$(scripts/bench-pg.sh start "$work/pg")
mkdir -p "$work/sqlite"
target/release/examples/bench run --pg "$url" --pg-bin "$(scripts/bench-pg.sh bindir)" \
  --dir "$work/sqlite" --c-bench target/release/ffi_bench_c --wrappers wrappers \
  --lib-dir "$(pwd)/$CLIB" "${peer_args[@]}" "$@"
