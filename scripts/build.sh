#!/usr/bin/env bash
# Configures and builds rnnlab into build/ (Release).
#   scripts/build.sh                      every target: the apps, tests and fuzz drivers
#   scripts/build.sh --target rnnlab-lm   only what that target needs (repeatable)
# Other arguments go to cmake's configure step, e.g. -DRNNLAB_USE_PCH=OFF.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RNNLAB_BUILD_DIR:-$root/build}
targets=()
configure=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      [ $# -ge 2 ] || { echo "error: --target needs a target name (scripts/build.sh --target rnnlab-lm)" >&2; exit 2; }
      targets+=(--target "$2"); shift 2 ;;
    *) configure+=("$1"); shift ;;
  esac
done
generator=()
if command -v ninja >/dev/null && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${configure[@]}"
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
