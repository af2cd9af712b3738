#!/usr/bin/env bash
# Prints one line, ffi_us_per_step=<float>: the per-step cost of N (default 2000; TASKER_BENCH_N or
# the first argument) no-op one-step tasks with a ~1 KB context on an SQLite file, through the
# Ruby binding. Details go to stderr. TASKER_LIB_DIR picks the library.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec ruby "$here/bench/bench.rb" "$@"
