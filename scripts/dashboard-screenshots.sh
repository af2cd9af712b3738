#!/usr/bin/env bash
# Retakes docs/dashboard-overview.png and docs/dashboard-task.png (shown in the README) with the
# browser suite's headless chromium, on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKER_SCREENSHOTS_DIR="$PWD/docs" tests/browser/run.sh -k "diamond_dag and sqlite"
ls -l docs/dashboard-overview.png docs/dashboard-task.png
