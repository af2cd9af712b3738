#!/usr/bin/env bash
# Checks (and where possible installs) what one part of the project needs:
#   scripts/setup.sh [PART...]   PART: rust, c, python, ruby, go or test (the default: everything
#                                `make test` needs, i.e. every part plus the test-only tools).
# Each demo runs only its own part (`make demo` -> c, `make demo-ruby` -> ruby), so a missing
# Ruby never stops the C demo. Prints a clear message and fails when something is missing and
# cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup: $*" >&2; exit 1; }
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1) || {
      apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$@" >/dev/null
    }
  else
    return 1
  fi
}

# Every part builds libtasker: cargo, and a C compiler as Rust's linker.
setup_rust() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo (Rust) is required: install it with rustup (https://rustup.rs) and re-run."
  if ! command -v cc >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
    apt_install gcc libc6-dev || die "gcc is required (Rust links with it; Debian: gcc)."
  fi
}

# The C demo: gcc and pkg-config (reads tasker.pc); examples/c links only libtasker.
setup_c() {
  setup_rust
  if ! command -v pkg-config >/dev/null 2>&1; then
    apt_install pkg-config || die "the C demo needs gcc and pkg-config (Debian: pkg-config)."
  fi
}

# A wrapper's own setup.sh; --runtime checks only what its demo needs (no test libraries).
setup_wrapper() { # lang [--runtime]
  setup_rust
  "wrappers/$1/setup.sh" "${@:2}" || die "wrappers/$1/setup.sh failed"
}

# Everything `make test` needs beyond the parts: PostgreSQL, valgrind, cbindgen, the lints and
# each wrapper's test libraries (the Python part's msgpack also converts the conformance
# scenarios for the C runner).
setup_test() {
  setup_c
  local have_pg=0
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then have_pg=1
  elif command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then have_pg=1
  elif ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then have_pg=1; fi
  if [ -z "${TASKER_TEST_DATABASE_URL:-}" ] && [ "$have_pg" = 0 ]; then
    apt_install postgresql || die "PostgreSQL server binaries (initdb, pg_ctl) are required for the tests.
       Install the 'postgresql' package, or set TASKER_TEST_DATABASE_URL to a server you own."
  fi
  # The C ABI tests and the conformance runner decode documents with msgpack-c.
  if ! pkg-config --exists msgpack 2>/dev/null; then
    apt_install libmsgpack-dev || die "the C ABI tests need msgpack-c (Debian: libmsgpack-dev)."
  fi
  if ! command -v valgrind >/dev/null 2>&1; then
    apt_install valgrind || die "the C ABI tests run under valgrind (Debian: valgrind)."
  fi
  # cbindgen, pinned: the header check compares against this exact version's output.
  local cbindgen_version=0.29.4
  if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $cbindgen_version" ]; then
    echo "setup: installing cbindgen $cbindgen_version (cargo install)"
    cargo install cbindgen --version "$cbindgen_version" --locked --quiet ||
      die "cannot install cbindgen $cbindgen_version"
  fi
  for lang in python ruby go; do setup_wrapper "$lang"; done
  # scripts/test-installed.sh installs the Python wrapper into a fresh venv (Debian's python3
  # has no ensurepip without python3-venv).
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv || die "the tests need 'python3 -m venv' (Debian: python3-venv)."
  fi
  # tests/it/metrics.rs parses the Prometheus text output with the Prometheus Python client's
  # parser (PyPI prometheus-client, import prometheus_client).
  if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
    echo "setup: installing prometheus-client with pip"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore prometheus-client \
      || python3 -m pip install --quiet --disable-pip-version-check prometheus-client \
      || die "could not install prometheus-client (try: python3 -m pip install prometheus-client)"
    python3 -c 'import prometheus_client' >/dev/null 2>&1 || die "prometheus_client still not importable by python3"
  fi
  if [ "$(id -u)" = 0 ] && [ -z "${TASKER_TEST_DATABASE_URL:-}" ]; then
    # As root the test server runs as the postgres user (initdb refuses root).
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user (from the postgresql package)."
    command -v runuser >/dev/null 2>&1 || die "running as root needs runuser (util-linux)."
  fi
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" ||
      rustup component add "$component" >/dev/null 2>&1 || true
  done
  command -v rustfmt >/dev/null 2>&1 || die "rustfmt is missing (rustup component add rustfmt)"
  command -v cargo-clippy >/dev/null 2>&1 || die "clippy is missing (rustup component add clippy)"
  setup_browser
}

# The dashboard's browser tests (tests/browser): Debian's chromium and its WebDriver, and the
# Python WebDriver client and test runner from tests/browser/requirements.txt.
setup_browser() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver ||
      die "the dashboard's browser tests need chromium and chromium-driver (Debian packages)."
  fi
  if ! python3 -c 'import selenium, pytest' >/dev/null 2>&1; then
    echo "setup: installing tests/browser/requirements.txt with pip"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/browser/requirements.txt ||
      python3 -m pip install --quiet --disable-pip-version-check -r tests/browser/requirements.txt ||
      die "could not install selenium and pytest (try: python3 -m pip install -r tests/browser/requirements.txt)"
  fi
}

[ $# -gt 0 ] || set -- test
for part in "$@"; do
  case $part in
    rust) setup_rust ;;
    c) setup_c ;;
    python | ruby | go) setup_wrapper "$part" --runtime ;;
    test) setup_test ;;
    *) die "unknown part '$part' (rust, c, python, ruby, go or test)" ;;
  esac
done
echo "setup: ok ($*)"
