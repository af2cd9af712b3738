#!/usr/bin/env bash
# Prints ffi_us_per_step=<float>: N (default 2000, env TASKER_BENCH_N) one-step tasks with a
# no-op handler and a ~1 KB context run through the Go binding on an SQLite file, / N; then
# ffi_us_per_call=<float>: CallHandler of a no-op handler with a ~1 KB context (no database),
# 200 warm-up calls, then N (default 20000, env TASKER_BENCH_CALLS) timed calls, / N.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
need_lib
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/bench" ./cmd/tasker-bench)
"$bin/bench" -n "${TASKER_BENCH_N:-2000}"
