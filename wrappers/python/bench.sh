#!/usr/bin/env bash
# Prints `ffi_us_per_step=<float>`: N (BENCH_N, default 2000) one-step tasks with a ~1 KB context
# and a no-op Python handler, run inline through the binding on a SQLite file, time / N.
# Then `ffi_us_per_call=<float>`: TASKER_BENCH_CALLS (default 20000) client.call_handler calls of a
# no-op handler with the same ~1 KB context, no database, time / calls.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export TASKER_LIB_DIR=${TASKER_LIB_DIR:-$REPO/target/clib/debug}
unset TASKER_LIB
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" "$HERE/tools/bench.py" "${BENCH_N:-2000}"
