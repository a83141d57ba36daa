#!/usr/bin/env bash
# The README's first command: set-up, build rnnlab-lm (only what it needs: the
# tests and the other apps are built by scripts/test.sh), data, then a first real experiment:
# a character-level LSTM language model on tiny shakespeare (about 3 minutes),
# printing validation loss and bits per character, and a sample at the end.
# Extra arguments go to `rnnlab-lm train`, e.g. --set train.max_minutes=10
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" --target rnnlab-lm
"$root/scripts/get_data.sh" tinyshakespeare
build=${RNNLAB_BUILD_DIR:-$root/build}
cd "$root"
exec "$build/bin/rnnlab-lm" train experiments/lm/quickstart.yaml "$@"
