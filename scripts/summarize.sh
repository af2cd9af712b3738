#!/usr/bin/env bash
# Sums the "test result:" lines of cargo test logs into one closing line: "N passed, N failed".
set -euo pipefail
passed=0; failed=0
for log in "$@"; do
  while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f))
  done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
done
echo "make test: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
