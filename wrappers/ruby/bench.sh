#!/usr/bin/env bash
# Prints two lines. ffi_us_per_step=<float>: the per-step cost of N (default 2000; TASKER_BENCH_N or
# the first argument) no-op one-step tasks with a ~1 KB context on an SQLite file, through the
# Ruby binding. Then ffi_us_per_call=<float>: the cost of one Client#call_handler (the handler
# round trip without the database; TASKER_BENCH_CALLS calls, default 20000). Details go to
# stderr. TASKER_LIB_DIR picks the library.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec ruby "$here/bench/bench.rb" "$@"
