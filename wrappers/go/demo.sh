#!/usr/bin/env bash
# The order-fulfillment workflow through the Go binding, on TASKER_DATABASE_URL or an
# embedded SQLite file (default: $TMPDIR/tasker-go-demo.db).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
need_lib
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/demo" ./cmd/tasker-demo)
"$bin/demo" -template "$repo/examples/templates/order_fulfillment.yaml" -db "${TASKER_GO_DEMO_DB:-${TMPDIR:-/tmp}/tasker-go-demo.db}"
