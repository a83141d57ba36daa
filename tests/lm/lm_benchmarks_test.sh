#!/usr/bin/env bash
# scripts/lm_benchmarks.sh, the lanes that train the long language-model runs
# in slices, with stand-ins for rnnlab-lm and rnnlab-word2vec (no training):
# which command each run gets (start, --resume, finished), that every run is
# taken once by one of the lanes, that the review vectors are made before
# imdb_lm_512, the deadline, a signal (each run stopped, exit 0) and a failed
# run (its error line, exit 1). ctest: lm_benchmarks (label unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
script=$root/scripts/lm_benchmarks.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() {  # expect NAME TEXT FILE: FILE has the line fragment TEXT
  grep -qF -- "$2" "$3" || { fail "$1: no '$2' in:"; sed 's/^/  | /' "$3"; }
}

# rnnlab-lm stand-in: logs its arguments, then per $FAKE_LM: "finish" writes
# the run's metrics.jsonl and summary.json and exits 0, "sleep" waits for a
# signal (exit 143 like the real one after its checkpoint), "fail" exits 1
# with an error line.
mkdir -p "$tmp/bin"
cat > "$tmp/bin/rnnlab-lm" <<'EOF'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_CALLS"
dir=
while (($#)); do
  case "$1" in
    --run-dir | --resume) dir=$2; shift 2 ;;
    *) shift ;;
  esac
done
case "$FAKE_LM" in
  finish)
    mkdir -p "$dir"
    echo '{"type":"train","epoch":1.0,"step":10,"train_seconds":60}' > "$dir/metrics.jsonl"
    echo '{"type":"valid","epoch":1.0,"step":10,"ppl":123.4,"bpc":1.0}' >> "$dir/metrics.jsonl"
    echo '{"val_ppl":123.4,"test_ppl":117.5,"train_seconds":60}' > "$dir/summary.json"
    echo "test_ppl 117.5" ;;
  sleep)
    trap 'kill "$nap"; echo "SIGTERM: checkpoint saved"; exit 143' TERM
    sleep 60 &
    nap=$!
    wait ;;
  fail) echo "error: '$dir': something is wrong"; exit 1 ;;
esac
EOF
cat > "$tmp/bin/rnnlab-word2vec" <<'EOF'
#!/usr/bin/env bash
echo "word2vec $*" >> "$FAKE_CALLS"
while (($#)); do [[ "$1" == --run-dir ]] && dir=$2; shift; done
mkdir -p "$dir" && echo vectors > "$dir/vectors.bin"
EOF
chmod +x "$tmp/bin/rnnlab-lm" "$tmp/bin/rnnlab-word2vec"
export FAKE_CALLS=$tmp/calls

lanes() {  # lanes CASE [options]: the script on fresh run dirs of CASE; its exit status in $tmp/CASE.rc
  local name=$1
  shift
  rc=0
  "$script" --bin "$tmp/bin" --runs "$tmp/$name/runs" --logs "$tmp/$name/logs" \
    --vectors "$tmp/$name/vectors" --no-fetch "$@" > "$tmp/$name.out" 2>&1 || rc=$?
  echo $rc > "$tmp/$name.rc"
}

# 1. Every run trained once, in two lanes; the vectors before imdb_lm_512.
: > "$FAKE_CALLS"
FAKE_LM=finish lanes all --minutes 60
[[ $(cat "$tmp/all.rc") == 0 ]] || fail "all: exit $(cat "$tmp/all.rc")"
for run in ptb_awd wt2_awd ptb_awd_no_wdrop ptb_char ptb_medium imdb_lm_512; do
  n=$(grep -c -- "--run-dir $tmp/all/runs/$run\$" "$FAKE_CALLS" || true)
  [[ $n == 1 ]] || fail "all: $run trained $n times"
  expect all "$run: finished: val_ppl 123.40, test_ppl 117.50; 1.0 min of training" "$tmp/all.out"
done
expect all "train experiments/lm/ptb_zaremba_medium.yaml --run-dir $tmp/all/runs/ptb_medium" "$FAKE_CALLS"
expect all "review vectors made: $tmp/all/vectors/vectors.bin" "$tmp/all.out"
w2v_line=$(grep -n "^word2vec train experiments/word2vec/skipgram_reviews300.yaml" "$FAKE_CALLS" | cut -d: -f1 || true)
lm_line=$(grep -n "imdb_lm_512.yaml" "$FAKE_CALLS" | cut -d: -f1 || true)
[[ -n "$w2v_line" && -n "$lm_line" && "$w2v_line" -lt "$lm_line" ]] ||
  fail "all: the vectors were not made before imdb_lm_512 (lines '$w2v_line', '$lm_line')"
[[ -f "$tmp/all/vectors/vectors.bin" && ! -e "$tmp/all/vectors.partial" ]] ||
  fail "all: the vectors are not where --vectors says, or the partial dir is left"

# 2. What a second call would do: finished runs skipped, checkpointed ones resumed.
mkdir -p "$tmp/dry/runs/ptb_awd" "$tmp/dry/runs/wt2_awd"
touch "$tmp/dry/runs/ptb_awd/checkpoint_last.pt" "$tmp/dry/runs/wt2_awd/summary.json"
lanes dry --dry-run
[[ $(cat "$tmp/dry.rc") == 0 ]] || fail "dry: exit $(cat "$tmp/dry.rc")"
expect dry "ptb_awd: $tmp/bin/rnnlab-lm train --resume $tmp/dry/runs/ptb_awd --set train.max_minutes=0" "$tmp/dry.out"
expect dry "wt2_awd: finished ($tmp/dry/runs/wt2_awd/summary.json)" "$tmp/dry.out"
expect dry "ptb_char: $tmp/bin/rnnlab-lm train experiments/lm/ptb_char.yaml --run-dir $tmp/dry/runs/ptb_char" "$tmp/dry.out"
# --status: an unfinished run's epochs, the time left at its pace, its validations.
printf 'train:\n  max_epochs: 40\n' > "$tmp/dry/runs/ptb_awd/config.yaml"
{
  echo '{"type":"train","epoch":1.0,"step":664,"train_seconds":120}'
  echo '{"type":"valid","epoch":1.0,"step":664,"ppl":339.04,"bpc":1.55}'
  echo '{"type":"train","epoch":2.0,"step":1328,"train_seconds":240}'
  echo '{"type":"valid","epoch":2.0,"step":1328,"ppl":210.2,"bpc":1.4235}'
} > "$tmp/dry/runs/ptb_awd/metrics.jsonl"
"$script" --runs "$tmp/dry/runs" --status > "$tmp/status.out" 2>&1 || fail "status: exit $?"
expect status "ptb_awd: epoch 2.00 of 40; about 1.3 h of training left at this pace (update 1328), 4.0 min trained; validation ppl 339.0 210.2 (bpc 1.4235)" "$tmp/status.out"
expect status "ptb_char: not started" "$tmp/status.out"

# 3. SIGTERM to the script: both lanes' runs stop (their checkpoints), exit 0, at once.
: > "$FAKE_CALLS"
FAKE_LM="sleep" "$script" --bin "$tmp/bin" --runs "$tmp/sig/runs" --logs "$tmp/sig/logs" \
  --vectors "$tmp/sig/vectors" --no-fetch --minutes 30 > "$tmp/sig.out" 2>&1 &
pid=$!
for _ in $(seq 300); do (($(wc -l < "$FAKE_CALLS") >= 2)) && break; sleep 0.1; done
sleep 0.5
start=$(date +%s)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 0 ]] || fail "signal: exit $rc"
(($(date +%s) - start < 20)) || fail "signal: the lanes took $(($(date +%s) - start)) s to stop after SIGTERM"
expect signal "ptb_awd stopped by the deadline or a signal (checkpoint saved)" "$tmp/sig.out"
expect signal "wt2_awd stopped by the deadline or a signal (checkpoint saved)" "$tmp/sig.out"
expect signal "SIGTERM: checkpoint saved" "$tmp/sig/logs/ptb_awd.log"
[[ $(wc -l < "$FAKE_CALLS") == 2 ]] || fail "signal: $(wc -l < "$FAKE_CALLS") runs started, not 2"

# 4. A failed run: its error line, exit 1.
FAKE_LM=fail lanes failed --minutes 30 --lanes 1
[[ $(cat "$tmp/failed.rc") == 1 ]] || fail "failed: exit $(cat "$tmp/failed.rc"), not 1"
expect failed "ptb_awd failed (exit 1): error: '$tmp/failed/runs/ptb_awd': something is wrong" "$tmp/failed.out"

# 5. Under 2 minutes to the deadline: nothing starts.
: > "$FAKE_CALLS"
FAKE_LM=finish lanes late --minutes 1
[[ $(cat "$tmp/late.rc") == 0 ]] || fail "late: exit $(cat "$tmp/late.rc")"
expect late "under 2 minutes left; ptb_awd not started" "$tmp/late.out"
[[ ! -s "$FAKE_CALLS" ]] || fail "late: a run started"

# 6. Usage errors: exit 2, one line.
lanes usage --lanes 0
[[ $(cat "$tmp/usage.rc") == 2 ]] || fail "usage: exit $(cat "$tmp/usage.rc"), not 2"
expect usage "error: --lanes must be 1 to 9, not '0'" "$tmp/usage.out"
rc=0
"$script" --runs > "$tmp/usage2.out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "usage2: exit $rc, not 2"
expect usage2 "error: --runs needs a value (see --help)" "$tmp/usage2.out"

if ((failures)); then
  echo "lm_benchmarks_test: $failures failed"
  exit 1
fi
echo "lm_benchmarks_test: all passed"
