#!/usr/bin/env bash
# The order-fulfillment workflow through the Ruby binding, on the embedded SQLite default
# (tasker.db in the current directory) or TASKER_DATABASE_URL. TASKER_LIB_DIR picks the library.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec ruby "$here/examples/order_fulfillment.rb" "$@"
