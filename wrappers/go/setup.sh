#!/usr/bin/env bash
# Checks what the Go wrapper needs: Go >= 1.22 with cgo (gcc, pkg-config: cgo.go finds libtasker
# through tasker.pc) and the Go modules of go.mod (downloaded from the Go module proxy).
# Idempotent and quiet when everything is there. The demo and the tests need the same, so
# --runtime (passed by scripts/setup.sh for the demo) changes nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if ! command -v gcc >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq gcc pkg-config >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq gcc pkg-config >/dev/null; } \
      || { echo "go wrapper setup: cannot install gcc and pkg-config (needed by cgo)" >&2; exit 1; }
  else
    echo "go wrapper setup: gcc or pkg-config is missing (needed by cgo); install them (apt-get install gcc pkg-config)" >&2; exit 1
  fi
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go wrapper setup: Go >= 1.22 is required and was not found (Debian 12's golang-go is 1.19, too old): install Go from go.dev into /usr/local/go" >&2
  exit 1
fi
ver=$(go env GOVERSION | sed 's/^go//')
major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 22 ]; }; then
  echo "go wrapper setup: Go $ver found, >= 1.22 required" >&2
  exit 1
fi
cd "$here"
go mod download || { echo "go wrapper setup: 'go mod download' failed (is the Go module proxy reachable?)" >&2; exit 1; }
