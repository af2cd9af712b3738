#!/usr/bin/env bash
# Checks (and where possible installs) what `make test` and `make demo` need.
# Prints a clear message and fails when something is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1"); }

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo (Rust) is required: install it with rustup (https://rustup.rs) and re-run." >&2
  exit 1
fi

# PostgreSQL server binaries (initdb, pg_ctl) for the throwaway test server.
have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $* with apt-get"
    (apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1) || {
      apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$@" >/dev/null
    }
  else
    return 1
  fi
}
if [ -z "${TASKER_TEST_DATABASE_URL:-}" ] && ! have_pg; then
  apt_install postgresql || {
    echo "setup: PostgreSQL server binaries (initdb, pg_ctl) are required for the tests." >&2
    echo "       Install the 'postgresql' package, or set TASKER_TEST_DATABASE_URL to a server you own." >&2
    exit 1
  }
fi
# C toolchain pieces for the ABI tests and the demo: msgpack-c, pkg-config, valgrind.
if ! pkg-config --exists msgpack 2>/dev/null || ! command -v valgrind >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
  apt_install libmsgpack-dev pkg-config valgrind gcc libc6-dev || {
    echo "setup: the C tests need gcc, pkg-config, valgrind and msgpack-c (Debian: libmsgpack-dev)." >&2
    exit 1
  }
fi
# cbindgen, pinned: the header check compares against this exact version's output.
CBINDGEN_VERSION=0.29.4
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "setup: installing cbindgen $CBINDGEN_VERSION (cargo install)"
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet || {
    echo "setup: cannot install cbindgen $CBINDGEN_VERSION" >&2; exit 1; }
fi
# Python msgpack converts the JSON conformance scenarios for the C runner.
if ! python3 -c 'import msgpack' 2>/dev/null; then
  python3 -m pip install --quiet msgpack || { echo "setup: cannot install the Python msgpack package (pip install msgpack)" >&2; exit 1; }
fi
# Each language wrapper checks or installs its own toolchain and packages.
for w in wrappers/*/setup.sh; do
  [ -x "$w" ] || continue
  "$w" || { echo "setup: $w failed" >&2; exit 1; }
done
if [ "$(id -u)" = 0 ] && [ -z "${TASKER_TEST_DATABASE_URL:-}" ]; then
  # As root the test server runs as the postgres user (initdb refuses root).
  id postgres >/dev/null 2>&1 || { echo "setup: running as root needs a 'postgres' user (from the postgresql package)." >&2; exit 1; }
  need runuser
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rustfmt'; then
  rustup component add rustfmt >/dev/null 2>&1 || true
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
  rustup component add clippy >/dev/null 2>&1 || true
fi
need rustfmt
need cargo-clippy

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: missing tools: ${missing[*]}" >&2
  exit 1
fi
echo "setup: ok"
