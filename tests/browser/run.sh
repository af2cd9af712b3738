#!/usr/bin/env bash
# The dashboard's browser suite: builds the debug library and CLI, then runs pytest with a
# headless Debian chromium. TASKER_BROWSER_PG_URL adds the PostgreSQL runs (scripts/test-all.sh
# passes a fresh database); TASKER_SCREENSHOTS_DIR saves the README's screenshots there.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
  { echo "tests/browser: chromium and chromium-driver are required (scripts/setup.sh test installs them)" >&2; exit 1; }
python3 -c 'import selenium, pytest' 2>/dev/null ||
  { echo "tests/browser: pip install -r tests/browser/requirements.txt" >&2; exit 1; }
cargo build --quiet -p tasker-cli
make --no-print-directory lib PROFILE=debug >/dev/null
export TASKER_LIB_DIR="$PWD/target/clib/debug"
python3 -m pytest -q -p no:cacheprovider tests/browser "$@"
