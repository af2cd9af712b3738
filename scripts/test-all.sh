#!/usr/bin/env bash
# `make test`: every suite, one throwaway PostgreSQL shared by all of them, a summary at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

LOGS=target/test-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
failed_suites=()
declare -A status

run_suite() { # name command...
  local name=$1; shift
  echo "=== $name"
  if "$@" 2>&1 | tee "$LOGS/$name.log"; then status[$name]=passed; else status[$name]=FAILED; failed_suites+=("$name"); fi
}

PGDIR=""
cleanup() { [ -n "$PGDIR" ] && { scripts/pg-test-server.sh stop "$PGDIR"; rm -rf "$PGDIR"; }; }
trap cleanup EXIT
if [ -z "${TASKER_TEST_DATABASE_URL:-}" ]; then
  PGDIR=$(mktemp -d /tmp/tasker-pg.XXXXXX)
  TASKER_TEST_DATABASE_URL=$(scripts/pg-test-server.sh start "$PGDIR") || { echo "cannot start PostgreSQL" >&2; exit 1; }
  export TASKER_TEST_DATABASE_URL
fi
pg_db() { # a fresh database on the test server
  local name="t_$1_$$"
  if [ -n "$PGDIR" ]; then scripts/pg-test-server.sh createdb "$PGDIR" "$name"; else
    psql "$TASKER_TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null && echo "${TASKER_TEST_DATABASE_URL%/*}/$name"; fi
}

run_suite lint make --no-print-directory lint
run_suite header make --no-print-directory check-header
run_suite manifests scripts/check-manifests.sh
run_suite rust env RUST_BACKTRACE=0 cargo test --lib --tests
run_suite cli env RUST_BACKTRACE=0 cargo test -p tasker-cli

# C ABI: build the library and the tests, run under valgrind on SQLite and natively on PostgreSQL.
make --no-print-directory lib PROFILE=debug >/dev/null
CLIB=target/clib/debug
c_abi() {
  gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Iffi-tests/c ffi-tests/c/test_abi.c \
    -o target/test_abi -L$CLIB -ltasker $(pkg-config --libs msgpack) -lpthread -Wl,-rpath,"$PWD/$CLIB"
}
run_suite c-build c_abi
if [ "${status[c-build]}" = passed ]; then
  run_suite c-abi-sqlite-valgrind valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite target/test_abi
  C_PG_URL=$(pg_db c_abi)
  run_suite c-abi-postgres env TASKER_C_TEST_DATABASE_URL="$C_PG_URL" target/test_abi
  # A sentinel password never appears in any output (errors, trace logs), SQLite and PostgreSQL.
  run_suite c-secrets env TASKER_C_TEST_DATABASE_URL="$C_PG_URL" scripts/check-secrets.sh "$CLIB"
fi

# Conformance: the C runner over every scenario, on SQLite and PostgreSQL.
conformance_c() {
  gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude ffi-tests/conformance/c/runner.c \
    -o target/conformance_c -L$CLIB -ltasker $(pkg-config --libs msgpack) -lpthread -Wl,-rpath,"$PWD/$CLIB" &&
  rm -rf target/conformance && mkdir -p target/conformance/sqlite &&
  python3 scripts/scenarios-to-msgpack.py target/conformance/msgpack >/dev/null
}
run_suite c-conformance-build conformance_c
if [ "${status[c-conformance-build]}" = passed ]; then
  run_suite c-conformance-sqlite target/conformance_c sqlite target/conformance/sqlite target/conformance/msgpack/*.msgpack
  run_suite c-conformance-postgres target/conformance_c postgres "$(pg_db conf_c)" target/conformance/msgpack/*.msgpack
fi

# Language wrappers: each provides run-tests.sh (own suite + conformance on both backends).
for lang in python ruby go; do
  if [ -x "wrappers/$lang/run-tests.sh" ]; then
    run_suite "$lang" env TASKER_LIB_DIR="$PWD/$CLIB" TASKER_CONFORMANCE_PG_URL="$(pg_db "conf_$lang")" \
      "wrappers/$lang/run-tests.sh"
  fi
done

# The web dashboard in a headless chromium (tests/browser), on SQLite and PostgreSQL.
run_suite dashboard env TASKER_BROWSER_PG_URL="$(pg_db browser)" tests/browser/run.sh

# The release build, installed into a temporary prefix, used by an app in each language built
# outside the checkout; then each demo with the other languages' tools stubbed off PATH.
run_suite installed scripts/test-installed.sh
run_suite demos scripts/test-demos.sh

echo
echo "suite                      result"
for s in lint header manifests rust cli c-build c-abi-sqlite-valgrind c-abi-postgres c-secrets c-conformance-build \
         c-conformance-sqlite c-conformance-postgres python ruby go installed demos dashboard; do
  [ -n "${status[$s]:-}" ] && printf '%-26s %s\n' "$s" "${status[$s]}"
done
echo
printf '%-13s %-22s %s\n' conformance sqlite postgres
for lang in c python ruby go; do
  row=$(printf '%-13s' "$lang")
  for backend in sqlite postgres; do
    line=$(grep -h "^$lang-conformance-$backend: " "$LOGS"/*.log 2>/dev/null | tail -1)
    cell=${line#*: }
    printf -v row '%s %-22s' "$row" "${cell:-not run}"
  done
  echo "$row"
done
passed=0; failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  cat "$LOGS"/*.log | sed -n -e 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' \
                             -e 's/^[a-z-]*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p')
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failed suites: ${failed_suites[*]}"
  failed=$((failed > 0 ? failed : ${#failed_suites[@]}))
fi
echo "make test: ${passed} passed, ${failed} failed"
[ ${#failed_suites[@]} -eq 0 ]
