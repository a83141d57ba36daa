#!/usr/bin/env bash
# Training speed of rnnlab-lm's word-level benchmarks, one run after the other
# in this script (never two at once), each from scratch for a fixed number of
# updates; tokens/s is summary.json's tokens_per_sec (training time only):
#
#   softmax: WikiText-2 (wt2_awd.yaml's model, untied) with the full softmax
#            over its 33,280 ids, then with the adaptive softmax (cut-offs
#            2000 and 10000, as wt2_awd.yaml): seconds per epoch (2,088,628
#            tokens) and the ratio
#   impl:    PTB, ptb_zaremba_small.yaml with the hand-written cells, then with
#            torch::nn::LSTM: seconds per epoch (929,589 tokens) and the ratio
#
# Usage: scripts/bench_lm.sh [--updates N] [--only softmax|impl] [--out DIR]
#   --updates N   updates of each run (default 200)
#   --out DIR     where the runs go (default: a temporary folder, removed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RNNLAB_BUILD_DIR:-$root/build}/bin/rnnlab-lm
updates=200 only="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --updates) updates=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option '$1' (see the usage in $0)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "error: $bin not found (scripts/build.sh --target rnnlab-lm)" >&2; exit 1; }
for f in ptb/ptb.train.txt wikitext-2/wiki.train.tokens; do
  [ -f "$root/data/$f" ] || { echo "error: no data/$f (scripts/get_data.sh ptb wikitext-2)" >&2; exit 1; }
done
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
cd "$root"

# Validation and test on a few hundred lines only: the figure is training speed.
head -n 200 data/wikitext-2/wiki.valid.tokens >"$out/wt2_valid.txt"
head -n 200 data/ptb/ptb.valid.txt >"$out/ptb_valid.txt"

rate() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tokens_per_sec'])" "$1/summary.json"; }
# run NAME CONFIG [--set ...]: trains NAME for $updates updates, no validation
# until the end, no sample; prints its tokens/s
run() {
  local name=$1 config=$2
  shift 2
  "$bin" train "$config" --run-dir "$out/$name" --set train.max_steps="$updates" \
    --set train.max_epochs=0 --set train.eval_every=0 --set sample.length=0 \
    --set train.log_every=1000000 "$@" >"$out/$name.log" 2>&1 ||
    { echo "error: $name failed, see $out/$name.log" >&2; tail -3 "$out/$name.log" >&2; exit 1; }
  rate "$out/$name"
}

printf '%-8s | %-32s | %10s | %10s | %s\n' bench variant tokens/s s/epoch "time ratio"
if [ -z "$only" ] || [ "$only" = softmax ]; then
  wt2=(--set model.tie_weights=false --set data.valid="$out/wt2_valid.txt"
    --set data.test="$out/wt2_valid.txt")
  full=$(run wt2_full experiments/lm/wt2_awd.yaml "${wt2[@]}" --set "model.adaptive_softmax.cutoffs=[]")
  adaptive=$(run wt2_adaptive experiments/lm/wt2_awd.yaml "${wt2[@]}" \
    --set "model.adaptive_softmax.cutoffs=[2000, 10000]")
  python3 - "$full" "$adaptive" <<'PY'
import sys
full, adaptive = map(float, sys.argv[1:])
n = 2088628
print(f"softmax  | {'WikiText-2, full softmax':32} | {full:10.0f} | {n / full:10.0f} | 1")
print(f"softmax  | {'WikiText-2, adaptive 2000/10000':32} | {adaptive:10.0f} | {n / adaptive:10.0f} | {full / adaptive:.3f}")
PY
fi
if [ -z "$only" ] || [ "$only" = impl ]; then
  ptb=(--set data.valid="$out/ptb_valid.txt" --set data.test="$out/ptb_valid.txt")
  custom=$(run ptb_custom experiments/lm/ptb_zaremba_small.yaml "${ptb[@]}")
  builtin=$(run ptb_builtin experiments/lm/ptb_zaremba_small_builtin.yaml "${ptb[@]}")
  python3 - "$custom" "$builtin" <<'PY'
import sys
custom, builtin = map(float, sys.argv[1:])
n = 929589
print(f"impl     | {'PTB small, torch::nn::LSTM':32} | {builtin:10.0f} | {n / builtin:10.0f} | 1")
print(f"impl     | {'PTB small, hand-written':32} | {custom:10.0f} | {n / custom:10.0f} | {builtin / custom:.3f}")
PY
fi
