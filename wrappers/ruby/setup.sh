#!/usr/bin/env bash
# Installs or checks what the Ruby binding's suite needs: Ruby with the ffi, msgpack and minitest
# libraries, from Debian packages (ruby, ruby-ffi, ruby-msgpack, ruby-minitest). Idempotent and
# quiet when everything is there; exits non-zero with a message when something cannot be installed.
# With --runtime only what the binding itself needs (ruby, ffi, msgpack): the demo's part.
set -euo pipefail

libs=(ffi msgpack minitest)
pkgs=(ruby ruby-ffi ruby-msgpack ruby-minitest)
if [ "${1:-}" = --runtime ]; then
  libs=(ffi msgpack)
  pkgs=(ruby ruby-ffi ruby-msgpack)
fi
check() {
  command -v ruby >/dev/null 2>&1 &&
    ruby -e 'ARGV.each { |l| require l }' "${libs[@]}" >/dev/null 2>&1
}
check && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "wrappers/ruby/setup.sh: Ruby with ${libs[*]} is missing; run as root or install: apt-get install ${pkgs[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "wrappers/ruby/setup.sh: no apt-get; install Ruby >= 3.0 with the ${libs[*]} gems" >&2
  exit 1
fi
echo "wrappers/ruby/setup.sh: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  if ! apt-get install -y -qq "${pkgs[@]}" >/dev/null; then
    echo "wrappers/ruby/setup.sh: apt-get install ${pkgs[*]} failed" >&2
    exit 1
  fi
fi
if ! check; then
  echo "wrappers/ruby/setup.sh: Ruby still cannot load ${libs[*]} after installing ${pkgs[*]}" >&2
  exit 1
fi
