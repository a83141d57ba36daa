#!/usr/bin/env bash
# The README's test command: set-up, build, then the default (fast) test suite.
#   scripts/test.sh            unit tests (label "unit", minutes)
#   scripts/test.sh -L slow    the long runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
"$root/scripts/get_data.sh" tinyshakespeare mnist
build=${RNNLAB_BUILD_DIR:-$root/build}
if [ $# -eq 0 ]; then set -- -L unit; fi
cd "$build" && ctest --output-on-failure -j 2 "$@"
