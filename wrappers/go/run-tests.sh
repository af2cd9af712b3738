#!/usr/bin/env bash
# The Go wrapper's tests: go vet, `go test -race` of the package (counted per test and
# subtest), then the conformance runner on SQLite and, when TASKER_CONFORMANCE_PG_URL is
# set, on PostgreSQL. Ends with the three closing lines; exits non-zero on any failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
need_lib
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

echo "== go vet"
if ! go vet ./...; then
  echo "go vet failed"
  status=1
fi

echo "== go test -race"
go test -race -count=1 -v ./... >"$tmp/test.out" 2>&1
rc=$?
grep -vE '^tasker: (event subscriber|queue injector) panicked' "$tmp/test.out"
tp=$(grep -cE '^\s*--- PASS' "$tmp/test.out")
tf=$(grep -cE '^\s*--- FAIL' "$tmp/test.out")
if [ "$rc" -ne 0 ]; then
  status=1
  [ "$tf" -eq 0 ] && tf=1 # build failure or crash: no test result line
fi
[ "$tp" -eq 0 ] && { status=1; echo "no test ran"; }

echo "== go test -tags debug (a GC at every crossing of the C boundary)"
go test -tags debug -count=1 -v . >"$tmp/debug.out" 2>&1
rc=$?
grep -E '^(--- |ok|FAIL|panic)' "$tmp/debug.out"
dp=$(grep -cE '^\s*--- PASS' "$tmp/debug.out")
df=$(grep -cE '^\s*--- FAIL' "$tmp/debug.out")
if [ "$rc" -ne 0 ]; then
  status=1
  [ "$df" -eq 0 ] && df=1
  cat "$tmp/debug.out"
fi
tp=$((tp + dp)); tf=$((tf + df))

echo "== conformance"
if go build -o "$tmp/conformance" ./cmd/tasker-conformance; then
  "$tmp/conformance" -backend sqlite -scenarios "$repo/ffi-tests/conformance/scenarios" >"$tmp/sqlite.out" 2>&1 || status=1
  grep -v '^go-conformance-' "$tmp/sqlite.out"
  sp=$(grep -c '^PASS ' "$tmp/sqlite.out"); sf=$(grep -c '^FAIL ' "$tmp/sqlite.out")
  [ "$sp" -eq 0 ] && [ "$sf" -eq 0 ] && { sf=1; status=1; }
  if [ -n "${TASKER_CONFORMANCE_PG_URL:-}" ]; then
    "$tmp/conformance" -backend postgres -url "$TASKER_CONFORMANCE_PG_URL" \
      -scenarios "$repo/ffi-tests/conformance/scenarios" >"$tmp/pg.out" 2>&1 || status=1
    grep -v '^go-conformance-' "$tmp/pg.out"
    pp=$(grep -c '^PASS ' "$tmp/pg.out"); pf=$(grep -c '^FAIL ' "$tmp/pg.out")
    [ "$pp" -eq 0 ] && [ "$pf" -eq 0 ] && { pf=1; status=1; }
  else
    echo "TASKER_CONFORMANCE_PG_URL is not set: conformance ran on SQLite only (PostgreSQL skipped)"
    pp=0; pf=0
  fi
else
  echo "building the conformance runner failed"
  status=1; sp=0; sf=1; pp=0; pf=0
fi

echo "go-tests: $tp passed, $tf failed"
echo "go-conformance-sqlite: $sp passed, $sf failed"
echo "go-conformance-postgres: $pp passed, $pf failed"
exit $status
