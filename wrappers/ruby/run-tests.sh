#!/usr/bin/env bash
# The Ruby binding's checks: (1) its minitest suite, (2) the conformance runner over every scenario
# on SQLite and, when TASKER_CONFORMANCE_PG_URL is set, on that PostgreSQL database.
# Env: TASKER_LIB_DIR (directory with libtasker.so; default <repo>/target/clib/debug).
# Ends with the lines ruby-tests / ruby-conformance-sqlite / ruby-conformance-postgres:
# N passed, N failed; exits non-zero on any failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export TASKER_LIB_DIR="${TASKER_LIB_DIR:-$repo/target/clib/debug}"
unset TASKER_LIB # TASKER_LIB_DIR decides
if [ ! -e "$TASKER_LIB_DIR/libtasker.so" ]; then
  echo "run-tests.sh: $TASKER_LIB_DIR/libtasker.so not found (run 'make lib' or set TASKER_LIB_DIR)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0

# (1) minitest
echo "== ruby tests (minitest)"
timeout -k 20 900 ruby -w -I"$here/lib" -I"$here/test" \
  -e 'Dir[File.join(ARGV.shift, "test", "*_test.rb")].sort.each { |f| require f }' "$here" \
  2>&1 | tee "$tmp/tests.log"
summary="$(grep -E '^[0-9]+ runs, [0-9]+ assertions, [0-9]+ failures, [0-9]+ errors, [0-9]+ skips' "$tmp/tests.log" | tail -1)"
if [ -n "$summary" ]; then
  read -r runs _ _ _ failures _ errors _ skips _ <<<"$summary"
  t_failed=$((failures + errors))
  t_passed=$((runs - t_failed - skips))
  [ "$t_failed" -eq 0 ] && [ "$skips" -eq 0 ] || status=1
else
  echo "run-tests.sh: the minitest suite did not finish" >&2
  t_passed=0 t_failed=1 status=1
fi

# (2) conformance
conformance() { # backend [url] -> prints "P F"
  local backend=$1
  shift
  echo "== ruby conformance ($backend)" >&2
  timeout -k 20 900 ruby "$here/conformance/runner.rb" "$backend" "$@" >"$tmp/conf-$backend.log" 2>&1
  local rc=$?
  grep -v '^ruby-conformance-' "$tmp/conf-$backend.log" >&2
  local line
  line="$(grep -E "^ruby-conformance-$backend: [0-9]+ passed, [0-9]+ failed$" "$tmp/conf-$backend.log" | tail -1)"
  if [ -z "$line" ]; then
    echo "run-tests.sh: the $backend conformance runner did not finish (exit $rc)" >&2
    echo "0 1"
    return 1
  fi
  [ "$rc" -eq 0 ] || { echo "$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line")"; return 1; }
  sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line"
}

read -r s_passed s_failed < <(conformance sqlite) 
[ "$s_failed" -eq 0 ] && [ "$s_passed" -gt 0 ] || status=1
if [ -n "${TASKER_CONFORMANCE_PG_URL:-}" ]; then
  read -r p_passed p_failed < <(conformance postgres "$TASKER_CONFORMANCE_PG_URL")
  [ "$p_failed" -eq 0 ] && [ "$p_passed" -gt 0 ] || status=1
else
  echo "== ruby conformance (postgres): skipped, TASKER_CONFORMANCE_PG_URL is not set (ran on SQLite only)"
  p_passed=0 p_failed=0
fi

echo "ruby-tests: $t_passed passed, $t_failed failed"
echo "ruby-conformance-sqlite: $s_passed passed, $s_failed failed"
echo "ruby-conformance-postgres: $p_passed passed, $p_failed failed"
exit $status
