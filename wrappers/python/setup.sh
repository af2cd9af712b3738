#!/usr/bin/env bash
# Installs or checks what the Python wrapper's tests need: python3 (>= 3.9), msgpack, pytest, nm.
# With --runtime only what the binding itself needs (python3, msgpack): the demo's part.
# Idempotent and quiet when everything is there.
set -euo pipefail
PY=${PYTHON:-python3}
runtime=0
[ "${1:-}" = --runtime ] && runtime=1

die() { echo "wrappers/python/setup.sh: $*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3.9 or newer"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || die "$("$PY" --version 2>&1) is too old: Python 3.9 or newer is needed"

missing=()
"$PY" -c 'import msgpack' >/dev/null 2>&1 || missing+=(msgpack)
[ "$runtime" = 1 ] || "$PY" -c 'import pytest' >/dev/null 2>&1 || missing+=(pytest)
if [ ${#missing[@]} -gt 0 ]; then
  echo "wrappers/python/setup.sh: installing ${missing[*]} with pip"
  "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${missing[@]}" \
    || "$PY" -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
    || die "could not install ${missing[*]} (try: $PY -m pip install ${missing[*]})"
  for m in "${missing[@]}"; do
    "$PY" -c "import $m" >/dev/null 2>&1 || die "$m still not importable by $PY"
  done
fi
[ "$runtime" = 1 ] && exit 0

# nm (binutils) lets the tests compare the ctypes table with the library's exported symbols.
if ! command -v nm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "wrappers/python/setup.sh: installing binutils (nm)"
    apt-get install -y -qq binutils >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq binutils >/dev/null 2>&1; } \
      || die "could not install binutils (nm)"
  else
    die "nm not found: install binutils"
  fi
fi
