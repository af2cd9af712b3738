#!/usr/bin/env bash
# Prints `ffi_us_per_step=<float>`: N (BENCH_N, default 2000) one-step tasks with a ~1 KB context
# and a no-op Python handler, run inline through the binding on a SQLite file, time / N.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export TASKER_LIB_DIR=${TASKER_LIB_DIR:-$REPO/target/clib/debug}
unset TASKER_LIB
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" "$HERE/tools/bench.py" "${BENCH_N:-2000}"
