#!/usr/bin/env bash
# Builds ffi-tests/c/test_secrets.c against the library in $1 (default target/clib/debug), runs it
# with libtasker's logging at trace level and fails when the sentinel password appears anywhere
# in its output, or when no masked URL does (the error paths did not run).
set -uo pipefail
cd "$(dirname "$0")/.."
CLIB=${1:-target/clib/debug}
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude ffi-tests/c/test_secrets.c \
  -o target/test_secrets -L"$CLIB" -ltasker -Wl,-rpath,"$PWD/$CLIB" || exit 1
out=$(TASKER_LOG=trace target/test_secrets 2>&1)
rc=$?
echo "$out" | grep -v '^\s*$' | tail -n 12
fail() { echo "c-secrets: $*"; echo "c-secrets: 0 passed, 1 failed"; exit 1; }
[ $rc -eq 0 ] || fail "the program failed ($rc)"
if grep -q 'S3NT1NEL-pw' <<<"$out"; then
  grep -n 'S3NT1NEL-pw' <<<"$out" | head -5; fail "the sentinel password appears in the output"
fi
grep -q ':\*\*\*@' <<<"$out" || fail "no masked URL in the output"
echo "c-secrets: $(grep -c . <<<"$out") lines of output searched, no password"
echo "c-secrets: 1 passed, 0 failed"
