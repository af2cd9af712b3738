#!/usr/bin/env bash
# libtasker as a user gets it: `make install PREFIX=<tmp>` (the release build), then a tiny app in
# C, Python, Ruby and Go (scripts/installed-apps/, ffi-tests/c/installed_smoke.c) copied into a
# temporary directory outside the checkout, built there the way each language's README says and
# run without LD_LIBRARY_PATH or TASKER_LIB_DIR: every app runs a task on SQLite and prints its
# result, which is checked here, and no binary may carry a runtime path into the checkout.
# Ends with "installed: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
apps=$repo/scripts/installed-apps
tmp=$(mktemp -d /tmp/tasker-installed.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
unset TASKER_LIB TASKER_LIB_DIR LD_LIBRARY_PATH TASKER_DATABASE_URL GOFLAGS CGO_LDFLAGS CGO_CFLAGS CGO_CPPFLAGS
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi

passed=0 failed=0
# check NAME EXPECTED: runs app_NAME in $tmp/NAME; passes when it succeeds and one line of its
# output contains EXPECTED (the app's output is indented so that no line of it is counted
# as a closing line by scripts/test-all.sh).
check() {
  local name=$1 expected=$2 out
  mkdir -p "$tmp/$name"
  out=$(cd "$tmp/$name" && "app_$name" 2>&1)
  local rc=$?
  sed 's/^/    /' <<<"$out"
  if [ "$rc" -eq 0 ] && grep -qF -- "$expected" <<<"$out"; then
    echo "  ok   $name"; passed=$((passed + 1))
  else
    echo "  FAIL $name (exit $rc; expected a line with: $expected)"; failed=$((failed + 1))
  fi
}
# Fails when the ELF file has a RUNPATH/RPATH into the checkout or none into the prefix.
runpath_ok() {
  local rp; rp=$(readelf -d "$1" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
  echo "runpath of $1: ${rp:-none}"
  [[ ":$rp:" == *":$prefix/lib:"* ]] && [[ "$rp" != *"$repo"* ]]
}

app_c() {
  cp "$repo/ffi-tests/c/installed_smoke.c" app.c &&
    gcc -std=c11 -Wall -Wextra -Werror app.c -o app $(pkg-config --cflags --libs tasker) &&
    runpath_ok app && ./app
}
app_python() {
  cp "$apps/app.py" "$apps/template.yaml" . &&
    python3 -m venv venv &&
    venv/bin/pip install --quiet --disable-pip-version-check "$repo/wrappers/python" &&
    venv/bin/pip show libtasker | grep -E '^(Name|Version):' &&
    venv/bin/python app.py template.yaml "$PWD/app.db"
}
# The same venv without pkg-config's help: the system loader finds the library (LD_LIBRARY_PATH
# here, as ldconfig's cache would for a system prefix).
app_python_loader() {
  cp "$apps/app.py" "$apps/template.yaml" . &&
    env -u PKG_CONFIG_PATH LD_LIBRARY_PATH="$prefix/lib" ../python/venv/bin/python app.py template.yaml "$PWD/app.db"
}
app_ruby() {
  cp "$apps/app.rb" "$apps/template.yaml" . &&
    (cd "$repo/wrappers/ruby" && gem build --silent tasker.gemspec --output "$tmp/ruby/tasker.gem") &&
    # GEM_HOME, not --install-dir: with the latter, gem looks for the dependencies (ffi, msgpack)
    # in that directory only and misses the system's.
    GEM_HOME=$PWD/gems GEM_PATH="$PWD/gems:$(gem env gempath)" gem install --local --no-document tasker.gem &&
    GEM_PATH="$PWD/gems:$(gem env gempath)" ruby app.rb template.yaml "$PWD/app.db"
}
app_go() {
  cp "$apps/go/main.go" "$apps/template.yaml" . &&
    sed "s|@WRAPPER@|$repo/wrappers/go|" "$apps/go/go.mod.in" >go.mod &&
    # As in wrappers/go/env.sh: Go's build cache ignores pkg-config's output, so without this a
    # build cached against an earlier run's (deleted) prefix would be reused.
    CGO_CPPFLAGS="-DTASKER_PC_ID=$(pkg-config --cflags --libs tasker | cksum | cut -d' ' -f1)" \
      CGO_ENABLED=1 go build -mod=mod -o app . &&
    runpath_ok app && ./app template.yaml "$PWD/app.db"
}

echo "== make install PREFIX=$prefix"
if ! make --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "installed: 0 passed, 1 failed"
  exit 1
fi
echo "tasker.pc: $(pkg-config --cflags --libs tasker)"
soname=$(readelf -d "$prefix/lib/libtasker.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libtasker.so.$version" ]; then
  echo "  ok   soname $soname"; passed=$((passed + 1))
else
  echo "  FAIL soname '$soname', expected libtasker.so.$version"; failed=$((failed + 1))
fi
check c "install: 1 passed, 0 failed"
check python "installed-python: complete HELLO ADA (libtasker $version from $prefix/lib/libtasker.so)"
check python_loader "installed-python: complete HELLO ADA (libtasker $version from libtasker.so"
check ruby "installed-ruby: complete HELLO ADA (libtasker $version from $prefix/lib/libtasker.so, gem $version)"
check go "installed-go: complete HELLO ADA (libtasker $version)"
echo "installed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
