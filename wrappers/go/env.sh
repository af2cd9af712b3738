# Sourced by the scripts of this directory: locates Go, the repository and libtasker, and
# points cgo at the library (TASKER_LIB_DIR overrides the default <repo>/target/clib/debug).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
TASKER_LIB_DIR=${TASKER_LIB_DIR:-$repo/target/clib/debug}
TASKER_LIB_DIR=$(cd "$TASKER_LIB_DIR" 2>/dev/null && pwd || echo "$TASKER_LIB_DIR")
export TASKER_LIB_DIR
# Flags from CGO_LDFLAGS come before the #cgo ones, so this directory wins over the default.
export CGO_LDFLAGS="-L$TASKER_LIB_DIR -Wl,-rpath,$TASKER_LIB_DIR${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
export CGO_ENABLED=1
export LD_LIBRARY_PATH="$TASKER_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOFLAGS="-mod=mod${GOFLAGS:+ $GOFLAGS}"

need_lib() {
  if [ ! -e "$TASKER_LIB_DIR/libtasker.so" ]; then
    echo "go wrapper: $TASKER_LIB_DIR/libtasker.so not found (run 'make lib' in $repo or set TASKER_LIB_DIR)" >&2
    exit 1
  fi
}
