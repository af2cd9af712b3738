# Sourced by the scripts of this directory: locates Go, the repository and libtasker, and
# points cgo's `#cgo pkg-config: tasker` at the library's tasker.pc: $TASKER_LIB_DIR/pkgconfig
# (`make lib` writes one next to the staged library; an installed PREFIX/lib has one too).
# TASKER_LIB_DIR overrides the default: <repo>/target/clib/debug, else .../release when only the
# release build is staged.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if [ -z "${TASKER_LIB_DIR:-}" ]; then
  TASKER_LIB_DIR=$repo/target/clib/debug
  [ -e "$TASKER_LIB_DIR/libtasker.so" ] || [ ! -e "$repo/target/clib/release/libtasker.so" ] ||
    TASKER_LIB_DIR=$repo/target/clib/release
fi
TASKER_LIB_DIR=$(cd "$TASKER_LIB_DIR" 2>/dev/null && pwd || echo "$TASKER_LIB_DIR")
export TASKER_LIB_DIR
export PKG_CONFIG_PATH="$TASKER_LIB_DIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CGO_ENABLED=1
export GOFLAGS="-mod=mod${GOFLAGS:+ $GOFLAGS}"

need_lib() {
  if [ ! -e "$TASKER_LIB_DIR/libtasker.so" ] || [ ! -e "$TASKER_LIB_DIR/pkgconfig/tasker.pc" ]; then
    echo "go wrapper: $TASKER_LIB_DIR/libtasker.so or its pkgconfig/tasker.pc not found (run 'make lib' in $repo or set TASKER_LIB_DIR)" >&2
    exit 1
  fi
  # Go's build cache keys a cgo package on the CGO_* variables, not on pkg-config's output: this
  # define keys it on tasker.pc's flags, so a build against another library directory (debug,
  # release, an install) never reuses objects linked against the previous one.
  CGO_CPPFLAGS="-DTASKER_PC_ID=$(pkg-config --cflags --libs tasker | cksum | cut -d' ' -f1)${CGO_CPPFLAGS:+ $CGO_CPPFLAGS}"
  export CGO_CPPFLAGS
}
