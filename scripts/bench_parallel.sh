#!/usr/bin/env bash
# Data-parallel training speed, one configuration after the other on this
# machine (never two at once), with the same global batch:
#
#   1 process x 1 thread (OMP_NUM_THREADS=1, run.threads 1)
#   1 process, run.threads 1, OMP_NUM_THREADS unset: OpenBLAS on every core
#     (what a plain `train` does)
#   1 process x 2 threads (OMP_NUM_THREADS=2, run.threads 2)
#   2 processes x 1 thread (--nproc 2, which sets OMP_NUM_THREADS=1)
#
# for two models: the quickstart LM (experiments/lm/quickstart.yaml, tiny
# shakespeare, 2 x 256 LSTM) and the Multi30k Bahdanau translation model
# (experiments/translation/multi30k_en_de_bahdanau.yaml: 3,000-token batches
# dealt out to the ranks by tokens), each for a fixed number of updates from
# scratch without validation. updates/s and units/s come from summary.json
# (training time only); "allreduce" is the share of rank 0's update time
# spent in the update's all-reduces (loss sums and the gradients' buckets,
# waiting for the slower rank included). The ratios against 1 process x 1
# thread (the first row) are the figures to read; timings vary from run to run.
#
# Usage: scripts/bench_parallel.sh [--updates N] [--updates-mt N] [--out DIR]
#   (--updates-mt 0 leaves the translation model out)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RNNLAB_BUILD_DIR:-$root/build}/bin
updates=150 updates_mt=40 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --updates) updates=$2; shift 2 ;;
    --updates-mt) updates_mt=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option '$1' (see the usage in $0)" >&2; exit 2 ;;
  esac
done
[ -x "$build/rnnlab-lm" ] || { echo "error: $build/rnnlab-lm not found (scripts/build.sh)" >&2; exit 1; }
[ -f "$root/data/tinyshakespeare/input.txt" ] || { echo "error: no data/tinyshakespeare (scripts/get_data.sh tinyshakespeare)" >&2; exit 1; }
if [ "$updates_mt" -gt 0 ]; then
  [ -x "$build/rnnlab-translate" ] || { echo "error: $build/rnnlab-translate not found (scripts/build.sh)" >&2; exit 1; }
  [ -f "$root/data/multi30k/train.en" ] || { echo "error: no data/multi30k (scripts/get_data.sh multi30k)" >&2; exit 1; }
fi
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
cd "$root"
run() {  # name threads nproc binary config settings...
  local name=$1 threads=$2 nproc=$3 binary=$4 config=$5
  shift 5
  timeout 1800 "$build/$binary" train "$config" "$@" --set run.threads="$threads" \
    --set run.progress=lines --nproc "$nproc" --run-dir "$out/$name" > "$out/$name.log" 2>&1 ||
    { echo "error: run $name failed; see $out/$name.log" >&2; tail -3 "$out/$name.log" >&2; exit 1; }
}
# updates/s, units/s, all-reduce share ("-" in one process)
rates() {
  python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
ups = s['steps'] / s['train_seconds']
share = s.get('allreduce_share')
print(ups, s[sys.argv[2]], '-' if share is None else '%.1f%%' % (100 * share))" "$1/summary.json" "$2"
}
table() {  # title unit-field binary config settings...
  local title=$1 field=$2 binary=$3 config=$4
  shift 4
  echo "$title"
  printf '  %-40s %10s %12s %10s %8s\n' configuration updates/s "$field" allreduce ratio
  local base=""
  # name, run.threads, processes, OMP_NUM_THREADS (- : unset, so that
  # OpenBLAS takes every core), label
  local rows=("1x1 1 1 1 1 process x 1 thread"
              "1xblas 1 1 - 1 process, OpenBLAS on all cores"
              "1x2 2 1 2 1 process x 2 threads"
              "2x1 1 2 1 2 processes x 1 thread")
  for row in "${rows[@]}"; do
    read -r key threads nproc omp label <<< "$row"
    local name="$binary-$key"
    if [ "$omp" = - ]; then
      (unset OMP_NUM_THREADS; run "$name" "$threads" "$nproc" "$binary" "$config" "${settings[@]}")
    else
      OMP_NUM_THREADS=$omp run "$name" "$threads" "$nproc" "$binary" "$config" "${settings[@]}"
    fi
    read -r ups cps share < <(rates "$out/$name" "$field")
    [ -z "$base" ] && base=$ups
    printf '  %-40s %10.2f %12.0f %10s %8.2f\n' "$label" "$ups" "$cps" "$share" \
      "$(python3 -c "print($ups/$base)")"
  done
}
settings=(--set train.max_steps="$updates" --set train.max_epochs=0 --set train.eval_every=1000000
          --set train.log_every=50 --set sample.length=0)
table "quickstart LM ($updates updates)" chars_per_sec rnnlab-lm experiments/lm/quickstart.yaml
if [ "$updates_mt" -gt 0 ]; then
  settings=(--set train.max_steps="$updates_mt" --set train.max_epochs=0
            --set train.eval_every=1000000 --set train.log_every=10 --set decode.beam=1)
  table "Multi30k en-de Bahdanau ($updates_mt updates of 3,000 tokens)" tokens_per_sec \
    rnnlab-translate experiments/translation/multi30k_en_de_bahdanau.yaml
fi
