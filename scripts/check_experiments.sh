#!/usr/bin/env bash
# Every config under experiments/ must load and validate in the app it is
# for (`APP COMMAND CONFIG --print-config`: includes, key names, types,
# ranges and the checks between keys, without data or a run directory), so
# that a changed key or default cannot leave an experiment broken unnoticed.
#   scripts/check_experiments.sh [BIN_DIR]   (BIN_DIR: build/bin; a unit test)
# Prints one line per failing config with the app's error and exits 1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${RNNLAB_BUILD_DIR:-$root/build}/bin}

# The app and command of a config, from its folder (and name).
command_of() {
  case "$1" in
    cells/gradflow.yaml) echo "rnnlab-cells gradflow" ;;
    cells/*) echo "rnnlab-cells compare" ;;
    mnist/gradflow.yaml) echo "rnnlab-mnist gradflow" ;;
    lm/* | mnist/* | word2vec/* | sentiment/*) echo "rnnlab-${1%%/*} train" ;;
    translation/*) echo "rnnlab-translate train" ;;
    *) return 1 ;;
  esac
}

failed=0 checked=0
cd "$root/experiments"
for config in */*.yaml; do
  if ! cmd=$(command_of "$config"); then
    echo "error: experiments/$config: no app for its folder (add it to $0)"
    failed=1
    continue
  fi
  read -r app sub <<<"$cmd"
  if ! out=$("$bin/$app" "$sub" "$config" --print-config 2>&1 >/dev/null); then
    line=$(grep -m1 '^error:' <<<"$out" || tail -n1 <<<"$out")
    echo "error: experiments/$config ($app $sub --print-config): ${line#error: }"
    failed=1
  fi
  checked=$((checked + 1))
done
echo "$checked experiment configs checked"
exit $failed
