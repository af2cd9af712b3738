#!/usr/bin/env bash
# The order-fulfillment workflow through the Python binding, on the embedded SQLite default
# (tasker.db in the current directory) or TASKER_DATABASE_URL.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export TASKER_LIB_DIR=${TASKER_LIB_DIR:-$REPO/target/clib/debug}
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" "$HERE/examples/order_fulfillment.py"
