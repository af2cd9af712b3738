#!/usr/bin/env bash
# The Python wrapper's pytest suite, then the conformance scenarios on SQLite and (when
# TASKER_CONFORMANCE_PG_URL is set) PostgreSQL. Ends with the three closing lines and exits
# non-zero on any failure. Uses TASKER_LIB_DIR (default <repo>/target/clib/debug).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
export TASKER_LIB_DIR=${TASKER_LIB_DIR:-$REPO/target/clib/debug}
unset TASKER_LIB TASKER_DATABASE_URL   # the suite picks the library from TASKER_LIB_DIR
export PYTHONDONTWRITEBYTECODE=1

if [ ! -e "$TASKER_LIB_DIR/libtasker.so" ]; then
  echo "run-tests.sh: $TASKER_LIB_DIR/libtasker.so not found (run 'make lib' or set TASKER_LIB_DIR)" >&2
  echo "python-tests: 0 passed, 1 failed"
  echo "python-conformance-sqlite: 0 passed, 1 failed"
  echo "python-conformance-postgres: 0 passed, $([ -n "${TASKER_CONFORMANCE_PG_URL:-}" ] && echo 1 || echo 0) failed"
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$HERE"

# (1) pytest; counts come from its JUnit report. Exit code 5 (no tests collected) is a failure.
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$tmp/junit.xml" tests
pytest_rc=$?
read -r t_pass t_fail t_skip < <("$PY" - "$tmp/junit.xml" "$pytest_rc" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
try:
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
except (OSError, ET.ParseError):
    pass
if rc != 0 and failed == 0:
    failed = 1  # no tests (rc 5), interrupted, internal error, collection error
print(passed, failed, skipped)
PYEOF
)
[ "${t_skip:-0}" != 0 ] && echo "note: $t_skip test(s) skipped"

# (2) conformance
conformance() {  # backend [url]
  local backend=$1 out="$tmp/conformance-$1.txt"
  if [ "$backend" = postgres ]; then
    "$PY" conformance/runner.py postgres --url "$2" | tee "$out"
  else
    "$PY" conformance/runner.py sqlite | tee "$out"
  fi
  local rc=${PIPESTATUS[0]} line
  line=$(grep -E "^python-conformance-$backend: [0-9]+ passed, [0-9]+ failed$" "$out" | tail -1)
  local p f
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  p=${p:-0}; f=${f:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  echo "$p $f"  >"$tmp/counts-$backend"
}
conformance sqlite
read -r s_pass s_fail <"$tmp/counts-sqlite"
if [ -n "${TASKER_CONFORMANCE_PG_URL:-}" ]; then
  conformance postgres "$TASKER_CONFORMANCE_PG_URL"
  read -r p_pass p_fail <"$tmp/counts-postgres"
else
  echo "TASKER_CONFORMANCE_PG_URL is not set: conformance ran on SQLite only"
  p_pass=0; p_fail=0
fi

echo "python-tests: $t_pass passed, $t_fail failed"
echo "python-conformance-sqlite: $s_pass passed, $s_fail failed"
echo "python-conformance-postgres: $p_pass passed, $p_fail failed"
[ "$t_fail" = 0 ] && [ "$s_fail" = 0 ] && [ "$p_fail" = 0 ]
