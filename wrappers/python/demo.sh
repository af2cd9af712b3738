#!/usr/bin/env bash
# The order-fulfillment workflow through the Python binding, on the embedded SQLite default
# (tasker.db in the current directory) or TASKER_DATABASE_URL. The library: TASKER_LIB_DIR, else
# the checkout's staged build (see README "Library lookup").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" "$HERE/examples/order_fulfillment.py"
