#!/usr/bin/env bash
# Each demo target needs only its own language: `make demo` (C), `make demo-rust`, `make
# demo-python`, `make demo-ruby` and `make demo-go` each run with the other languages' tools
# (python3, ruby, gem, go, ...) and the test-only tools (PostgreSQL, valgrind, cbindgen, apt-get)
# replaced on PATH by stubs that record the call and fail. A demo passes when it succeeds, its
# task completes and no stub was called. Uses the release library (`make lib`, built once).
# Ends with "demos: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/tasker-demos.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset TASKER_LIB TASKER_LIB_DIR TASKER_DATABASE_URL

python_tools=(python python3 pip pip3)
ruby_tools=(ruby gem irb bundle)
go_tools=(go gofmt)
test_tools=(valgrind cbindgen initdb pg_ctl pg_config postgres psql apt-get apt dpkg)

# Every demo ends with "task <id>: complete ...".
expected='^task [0-9]+: complete'
passed=0 failed=0
# demo TARGET [TOOL...]: runs `make TARGET` with stubs for TOOL... on PATH.
demo() {
  local target=$1 stubs=$tmp/$1/stubs log=$tmp/$1/stub-calls.log
  shift
  mkdir -p "$stubs"
  : >"$log"
  for tool in "$@"; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\necho "%s: not available to this demo" >&2\nexit 127\n' \
      "$tool" "$log" "$tool" >"$stubs/$tool"
    chmod +x "$stubs/$tool"
  done
  local out rc start=$SECONDS
  out=$(PATH="$stubs:$PATH" TASKER_DATABASE_URL="sqlite://$tmp/$target/demo.db" \
    make --no-print-directory "$target" 2>&1)
  rc=$?
  sed 's/^/    /' <<<"$out" | tail -15
  if [ -s "$log" ]; then
    echo "  FAIL $target: it ran tools of other languages or of the tests:"; sed 's/^/    /' "$log"
    failed=$((failed + 1))
  elif [ "$rc" -ne 0 ] || ! grep -qE -- "$expected" <<<"$out"; then
    echo "  FAIL $target (exit $rc; expected a line matching: $expected)"; failed=$((failed + 1))
  else
    echo "  ok   $target ($((SECONDS - start)) s)"; passed=$((passed + 1))
  fi
}

demo demo "${python_tools[@]}" "${ruby_tools[@]}" "${go_tools[@]}" "${test_tools[@]}"
demo demo-rust "${python_tools[@]}" "${ruby_tools[@]}" "${go_tools[@]}" "${test_tools[@]}"
demo demo-python "${ruby_tools[@]}" "${go_tools[@]}" "${test_tools[@]}"
demo demo-ruby "${python_tools[@]}" "${go_tools[@]}" "${test_tools[@]}"
demo demo-go "${python_tools[@]}" "${ruby_tools[@]}" "${test_tools[@]}"
echo "demos: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
