#!/usr/bin/env bash
# Data-parallel training speed of rnnlab-lm, one configuration after the other
# on this machine (never two at once), with the same global batch:
#
#   1 process x 1 thread | 1 process x 2 threads | 2 processes x 1 thread (--nproc 2)
#
# Each run is the quickstart LM (experiments/lm/quickstart.yaml) for a fixed
# number of updates from scratch, without validation; updates/s and
# chars/s come from summary.json (training time only). The ratios against
# 1 process x 1 thread are the figures to read; timings vary from run to run.
# (The Multi30k translation model of issue 23 is not here yet:
# rnnlab-translate does not train data-parallel yet.)
#
# Usage: scripts/bench_parallel.sh [--updates N] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RNNLAB_BUILD_DIR:-$root/build}/bin/rnnlab-lm
updates=150 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --updates) updates=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option '$1' (see the usage in $0)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "error: $bin not found (scripts/build.sh --target rnnlab-lm)" >&2; exit 1; }
[ -f "$root/data/tinyshakespeare/input.txt" ] || { echo "error: no data/tinyshakespeare (scripts/get_data.sh tinyshakespeare)" >&2; exit 1; }
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
cd "$root"
common=(--set train.max_steps="$updates" --set train.max_epochs=0 --set train.eval_every=1000000
        --set train.log_every=50 --set run.progress=lines --set sample.length=0)
run() {  # name threads nproc
  timeout 1800 "$bin" train experiments/lm/quickstart.yaml "${common[@]}" --set run.threads="$2" \
    --nproc "$3" --run-dir "$out/$1" > "$out/$1.log" 2>&1 ||
    { echo "error: run $1 failed; see $out/$1.log" >&2; tail -3 "$out/$1.log" >&2; exit 1; }
}
rates() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['steps']/s['train_seconds'], s['chars_per_sec'])" "$1/summary.json"; }
printf '%-24s %10s %12s %8s\n' configuration updates/s chars/s ratio
base=""
for cfg in "1x1 1 1" "1x2 2 1" "2x1 1 2"; do
  set -- $cfg
  run "$1" "$2" "$3"
  read -r ups cps < <(rates "$out/$1")
  [ -z "$base" ] && base=$ups
  label="$3 process(es) x $2 thread(s)"
  printf '%-24s %10.2f %12.0f %8.2f\n' "$label" "$ups" "$cps" "$(python3 -c "print($ups/$base)")"
done
