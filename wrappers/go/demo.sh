#!/usr/bin/env bash
# The order-fulfillment workflow through the Go binding, on the embedded SQLite default
# (tasker.db in the current directory) or TASKER_DATABASE_URL, like the other demos.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
need_lib
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/demo" ./cmd/tasker-demo)
"$bin/demo" -template "$repo/examples/templates/order_fulfillment.yaml"
