#!/usr/bin/env bash
# make bench: builds libtasker and the benchmark in release mode, starts a throwaway PostgreSQL
# with fsync on (scripts/bench-pg.sh), runs examples/bench.rs against it and an SQLite file on
# local disk, prints one table and stops the server. Extra arguments go to `bench run`
# (e.g. `scripts/bench.sh --runs 5` or `--only latency,fanout`). See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
CLIB=target/clib/release

echo "== building (release)" >&2
$CARGO build --quiet --release --lib --example bench
mkdir -p "$CLIB"
cp target/release/libtasker.so "$CLIB/libtasker.so.$VERSION"
ln -sf "libtasker.so.$VERSION" "$CLIB/libtasker.so"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/ffi_bench.c -o target/release/ffi_bench_c \
  -L"$CLIB" -ltasker $(pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc) -Wl,-rpath,"$(pwd)/$CLIB"

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
  --lib-dir "$(pwd)/$CLIB" "$@"
