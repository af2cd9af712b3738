#!/usr/bin/env bash
# One version and one licence for everything: every manifest and version constant must agree
# with Cargo.toml's version, and every licence field with Cargo.toml's licence and LICENSE.
# Ends with "manifests: N passed, N failed"; exits non-zero on any disagreement.
set -uo pipefail
cd "$(dirname "$0")/.."

first() { sed -n "$1" "$2" | head -1; } # first() SED-PRINT-EXPRESSION FILE
version=$(first 's/^version = "\(.*\)"$/\1/p' Cargo.toml)
license=$(first 's/^license = "\(.*\)"$/\1/p' Cargo.toml)
passed=0 failed=0
agree() { # what expected actual
  if [ -n "$2" ] && [ "$2" = "$3" ]; then
    passed=$((passed + 1))
  else
    echo "  FAIL $1 is '$3', Cargo.toml says '$2'"; failed=$((failed + 1))
  fi
}

agree "include/tasker.h TASKER_VERSION_STRING" "$version" "$(first 's/^#define TASKER_VERSION_STRING "\(.*\)"$/\1/p' include/tasker.h)"
agree "wrappers/python/pyproject.toml version" "$version" "$(first 's/^version = "\(.*\)"$/\1/p' wrappers/python/pyproject.toml)"
agree "wrappers/python/tasker/__init__.py __version__" "$version" "$(first 's/^__version__ = "\(.*\)"$/\1/p' wrappers/python/tasker/__init__.py)"
agree "wrappers/python/tasker/_bindings.py HEADER_VERSION" "$version" "$(first 's/^HEADER_VERSION = "\(.*\)"$/\1/p' wrappers/python/tasker/_bindings.py)"
agree "wrappers/ruby/lib/tasker/version.rb VERSION" "$version" "$(first 's/^ *VERSION = "\(.*\)"$/\1/p' wrappers/ruby/lib/tasker/version.rb)"
agree "wrappers/ruby/lib/tasker/version.rb LIBTASKER_VERSION" "$version" "$(first 's/^ *LIBTASKER_VERSION = "\(.*\)"$/\1/p' wrappers/ruby/lib/tasker/version.rb)"

agree "cli/Cargo.toml version" "$version" "$(first 's/^version = "\(.*\)"$/\1/p' cli/Cargo.toml)"

agree "LICENSE (first line)" "$license License" "$(head -1 LICENSE 2>/dev/null)"
agree "wrappers/python/pyproject.toml license" "$license" "$(first 's/^license = "\(.*\)"$/\1/p' wrappers/python/pyproject.toml)"
agree "cli/Cargo.toml license" "$license" "$(first 's/^license = "\(.*\)"$/\1/p' cli/Cargo.toml)"
agree "wrappers/ruby/tasker.gemspec license" "$license" "$(first 's/^ *spec.license = "\(.*\)"$/\1/p' wrappers/ruby/tasker.gemspec)"

echo "manifests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
