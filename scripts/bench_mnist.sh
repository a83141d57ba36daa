#!/usr/bin/env bash
# Training speed of rnnlab-mnist's protocols, hand-written cells against
# torch::nn's, one run after the other in this script (never two at once):
#
#   protocol | impl | images/s | seconds per epoch (55,000 images) | custom / builtin time
#
# Each run is the experiment's own config (experiments/mnist/<protocol>_lstm.yaml,
# caption_strips.yaml) for a fixed number of updates from scratch; images/s
# is summary.json's images_per_sec (strips_per_sec for captions): training
# time only, without validation and test. Timings vary from run to run: the
# ratio is the figure to read.
#
# Usage: scripts/bench_mnist.sh [--threads N] [--rows N] [--pixels N] [--caption N] [--out DIR]
#   --threads N   run.threads (default 2)
#   --rows N      updates of the rows runs (default 300)
#   --pixels N    updates of the pixels and permuted runs (default 40)
#   --caption N   updates of the caption runs (default 200; 0: skip them)
#   --out DIR     where the runs go (default: a temporary folder, removed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RNNLAB_BUILD_DIR:-$root/build}/bin/rnnlab-mnist
threads=2 rows=300 pixels=40 caption=200 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --pixels) pixels=$2; shift 2 ;;
    --caption) caption=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option '$1' (see the usage in $0)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "error: $bin not found (scripts/build.sh --target rnnlab-mnist)" >&2; exit 1; }
[ -f "$root/data/mnist/train-images-idx3-ubyte" ] || { echo "error: no data/mnist (scripts/get_data.sh mnist)" >&2; exit 1; }
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"

# The per-second figure of a finished run.
rate() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s.get('images_per_sec') or s.get('strips_per_sec'))" "$1/summary.json"; }

printf '%-9s %-8s %10s %12s %8s\n' protocol impl "units/s" "s/epoch" ratio
for p in rows pixels permuted caption; do
  case $p in
    rows) cfg=rows_lstm.yaml; n=$rows; per_epoch=55000 ;;
    pixels) cfg=pixels_lstm.yaml; n=$pixels; per_epoch=55000 ;;
    permuted) cfg=permuted_lstm.yaml; n=$pixels; per_epoch=55000 ;;
    caption) cfg=caption_strips.yaml; n=$caption; per_epoch=60000 ;;
  esac
  [ "$n" -gt 0 ] || continue
  declare -A secs=()
  for impl in custom builtin; do
    run=$out/$p-$impl
    rm -rf "$run"
    "$bin" train "$root/experiments/mnist/$cfg" --run-dir "$run" --set model.rnn.impl=$impl \
      --set model.decoder.impl=$impl --set run.threads=$threads --set train.max_steps=$n \
      --set train.max_epochs=0 --set train.log_every=100000 --set run.progress=lines \
      --set data.val_size=1000 $( [ $p = caption ] && echo "--set strips.valid=200 --set strips.test=200" ) \
      > "$run.log" 2>&1 || { echo "error: $p $impl failed: see $run.log" >&2; exit 1; }
    r=$(rate "$run")
    secs[$impl]=$(python3 -c "print($per_epoch / $r)")
    printf '%-9s %-8s %10.1f %12.1f %8s\n' $p $impl "$r" "${secs[$impl]}" \
      "$( [ $impl = builtin ] && python3 -c "print(f'{${secs[custom]} / ${secs[builtin]}:.2f}')" || echo "")"
  done
done
