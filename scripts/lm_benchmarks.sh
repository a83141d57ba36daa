#!/usr/bin/env bash
# The long language-model runs, trained in slices: PTB and WikiText-2
# (docs/lm.md#ptb-and-wikitext-2), then the language model of movie reviews
# that experiments/sentiment/imdb_lstm512_lm.yaml starts from (it needs
# runs/vectors/reviews300: docs/sentiment.md). Each call starts or resumes
# them, a few at a time, and stops them all (each saves its checkpoint) by a
# deadline. A run that finishes hands its lane the next one, so no core idles
# until the next call.
#
#   scripts/lm_benchmarks.sh --minutes 140             # in the foreground
#   nohup scripts/lm_benchmarks.sh --minutes 140 > /var/tmp/rnnlab-logs/lm_benchmarks.log 2>&1 &
#   scripts/lm_benchmarks.sh --dry-run                 # what a call would do
#   scripts/lm_benchmarks.sh --status                  # where each run stands
#
# Other options: --bin DIR (rnnlab-lm and rnnlab-word2vec; default build/bin,
# built when missing), --vectors DIR (the review vectors; default
# runs/vectors/reviews300), --no-fetch (data/ is left as it is, for tests and
# machines set up by hand).
#
# Run directories: RUNS/NAME (--runs, default /var/tmp/rnnlab-runs), each
# run's output appended to LOGS/NAME.log (--logs, default /var/tmp/rnnlab-logs).
# A run directory with summary.json is finished and skipped; one with
# checkpoint_last.pt is resumed with train.max_minutes=0 (no limit: the
# deadline stops it); otherwise the run starts from its config. Each run
# trains at one thread (OPENBLAS_NUM_THREADS=1), one run a lane (--lanes,
# default 2: this machine's two cores). Exit 0 when every lane stopped at the
# deadline or ran out of runs, 1 when a run failed (its log says why).
#
# On a new machine (after scripts/setup.sh) this one command is enough: it
# builds rnnlab-lm if missing and fetches the data (ptb, wikitext-2, imdb),
# and the lane that reaches imdb_lm_512 first makes the review vectors it
# starts from (rnnlab-word2vec, about 25 min) if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# NAME=CONFIG (experiments/lm/CONFIG.yaml), in the order the lanes take them.
# A new machine loses /var/tmp (2026-12-07: ptb_medium at epoch 23.9 and
# ptb_awd at 19.5 went with it), so the shorter runs come early, where a
# finished figure is banked in docs/lm.md sooner: the AWD-style model (issue
# 24's target) beside WikiText-2 (about 5 h), then the same without weight
# drop, characters, Zaremba medium (about 13.6 h) and the review LM.
RUNS_LIST=(
  ptb_awd=ptb_awd
  wt2_awd=wt2_awd
  ptb_awd_no_wdrop=ptb_awd_no_wdrop
  ptb_char=ptb_char
  ptb_medium=ptb_zaremba_medium
  imdb_lm_512=imdb_lm_512
)

minutes=140 lanes=2 runs=/var/tmp/rnnlab-runs logs=/var/tmp/rnnlab-logs dry=0 status_only=0
bin=build/bin vectors=runs/vectors/reviews300 fetch=1
while (($#)); do
  case "$1" in
    --minutes | --lanes | --runs | --logs | --bin | --vectors)
      (($# >= 2)) || { echo "error: $1 needs a value (see --help)" >&2; exit 2; }
      declare "${1#--}=$2"
      shift 2 ;;
    --dry-run) dry=1; shift ;;
    --status) status_only=1; shift ;;
    --no-fetch) fetch=0; shift ;;
    -h | --help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$minutes" =~ ^[0-9]+$ && "$minutes" -gt 0 ]] ||
  { echo "error: --minutes must be a positive whole number, not '$minutes'" >&2; exit 2; }
[[ "$lanes" =~ ^[1-9]$ ]] || { echo "error: --lanes must be 1 to 9, not '$lanes'" >&2; exit 2; }
# Where run NAME stands: finished (its figures), or the epochs and minutes
# trained and the validation perplexity after each validation so far.
status_of() {
  local name="$1" dir="$runs/$1"
  if [[ ! -f "$dir/metrics.jsonl" ]]; then
    echo "$name: not started"
    return
  fi
  python3 - "$name" "$dir" <<'PY'
import json, sys, pathlib
name, run = sys.argv[1], pathlib.Path(sys.argv[2])
rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
valid = [r for r in rows if r.get("type") == "valid"]
train = [r for r in rows if r.get("type") == "train"]
ppl = " ".join(f"{r['ppl']:.1f}" for r in valid)
if (run / "summary.json").exists():
    s = json.loads((run / "summary.json").read_text())
    figures = ", ".join(f"{k} {s[k]:.3f}" if "bpc" in k else f"{k} {s[k]:.2f}"
                        for k in ("val_ppl", "test_ppl", "val_bpc", "test_bpc") if k in s)
    print(f"{name}: finished: {figures}; {s.get('train_seconds', 0) / 60:.1f} min of training; validation ppl {ppl}")
else:
    last = train[-1] if train else {"epoch": 0, "step": 0, "train_seconds": 0}
    bpc = f" (bpc {valid[-1]['bpc']:.4f})" if valid else ""
    # what is left at the pace so far: train.max_epochs from the run's config
    import re
    config = run / "config.yaml"
    m = re.search(r"^\s+max_epochs:\s*(\d+)", config.read_text(), re.M) if config.exists() else None
    left = ""
    if m and last["epoch"] > 0:
        epochs = int(m.group(1))
        hours = (epochs - last["epoch"]) * last["train_seconds"] / last["epoch"] / 3600
        left = f" of {epochs}; about {hours:.1f} h of training left at this pace"
    print(f"{name}: epoch {last['epoch']:.2f}{left} (update {last['step']}), {last['train_seconds'] / 60:.1f} min "
          f"trained; validation ppl {ppl or '-'}{bpc}")
PY
}

if ((status_only)); then
  for spec in "${RUNS_LIST[@]}"; do status_of "${spec%%=*}"; done
  exit 0
fi

lm=$bin/rnnlab-lm
w2v=$bin/rnnlab-word2vec
# imdb_lm_512's embedding starts from the skip-gram vectors of review text
# ($vectors), made by the lane that takes it when they are missing (a new
# machine).
deadline=$(($(date +%s) + minutes * 60))
claims=$(mktemp -d)
trap 'rm -rf "$claims"' EXIT

# The command that starts or resumes run NAME (printed, one word a line).
command_for() {
  local name="$1" config="$2" dir="$runs/$1"
  if [[ -f "$dir/checkpoint_last.pt" ]]; then
    printf '%s\n' train --resume "$dir" --set train.max_minutes=0
  else
    printf '%s\n' train "experiments/lm/$config.yaml" --run-dir "$dir"
  fi
}

# An app into build/bin; with another --bin a missing binary is an error.
build_app() {
  if [[ "$bin" != build/bin ]]; then
    echo "error: $bin/$1 is missing (only build/bin is built here)"
    return 1
  fi
  scripts/build.sh --target "$1"
}

# The review vectors into $vectors (skipgram_reviews300.yaml: 73 M words,
# about 25 min at one thread), with rnnlab-word2vec and the corpora fetched
# first if missing; log LOGS/vectors.log. Returns 0 when made, 1 when a step
# failed, 2 when the deadline stopped it or leaves too little time (the next
# call starts it again).
make_vectors() {
  local id="$1" left="$2" tmp="$vectors.partial" rc=0
  if ((left < 40 * 60)); then
    echo "lane $id: under 40 minutes left; the review vectors imdb_lm_512 needs not started"
    return 2
  fi
  echo "lane $id: $(date -u +%H:%M) making the review vectors imdb_lm_512 needs into $vectors (log $logs/vectors.log)"
  if [[ ! -x "$w2v" ]] && ! build_app rnnlab-word2vec >> "$logs/vectors.log" 2>&1; then
    echo "lane $id: building rnnlab-word2vec failed (log $logs/vectors.log)"
    return 1
  fi
  if ((fetch)) &&
    ! scripts/get_data.sh imdb polarity_v2 gutenberg wikinews enwiki2015 wiki-corpus >> "$logs/vectors.log" 2>&1; then
    echo "lane $id: the corpora of the review vectors could not be fetched (log $logs/vectors.log)"
    return 1
  fi
  rm -rf "$tmp"
  left=$((deadline - $(date +%s)))
  OPENBLAS_NUM_THREADS=1 timeout --foreground -s TERM "$left" "$w2v" train \
    experiments/word2vec/skipgram_reviews300.yaml --run-dir "$tmp" >> "$logs/vectors.log" 2>&1 &
  echo $! > "$claims/lane$id.pid"
  wait $! || rc=$?
  case $rc in
    0) mkdir -p "$(dirname "$vectors")" && rm -rf "$vectors" && mv "$tmp" "$vectors"
       echo "lane $id: $(date -u +%H:%M) review vectors made: $vectors/vectors.bin" ;;
    124 | 143) echo "lane $id: $(date -u +%H:%M) the review vectors stopped by the deadline or a signal (made again next call)"; return 2 ;;
    *) echo "lane $id: making the review vectors failed (exit $rc; log $logs/vectors.log)"; return 1 ;;
  esac
}

# One lane: take the next run no other lane has claimed (mkdir is atomic)
# that is not finished, train it until it finishes or the deadline comes.
lane() {
  local id="$1" spec name config left rc
  for spec in "${RUNS_LIST[@]}"; do
    name="${spec%%=*}" config="${spec#*=}"
    [[ -f "$runs/$name/summary.json" ]] && continue
    mkdir "$claims/$name" 2>/dev/null || continue
    left=$((deadline - $(date +%s)))
    if ((left < 120)); then
      echo "lane $id: under 2 minutes left; $name not started"
      return 0
    fi
    if [[ "$name" == imdb_lm_512 && ! -f "$vectors/vectors.bin" ]]; then
      rc=0
      make_vectors "$id" "$left" || rc=$?
      ((rc == 0)) || return $((rc == 1))
      left=$((deadline - $(date +%s)))
      ((left >= 120)) || { echo "lane $id: under 2 minutes left; $name not started"; return 0; }
    fi
    mapfile -t cmd < <(command_for "$name" "$config")
    echo "lane $id: $(date -u +%H:%M) $lm ${cmd[*]} (stopped in $((left / 60)) min at the latest; log $logs/$name.log)"
    rc=0
    OPENBLAS_NUM_THREADS=1 timeout --foreground -s TERM "$left" "$lm" "${cmd[@]}" \
      >> "$logs/$name.log" 2>&1 &
    echo $! > "$claims/lane$id.pid"
    wait $! || rc=$?
    case $rc in
      0) echo "lane $id: $(date -u +%H:%M) $name finished: $(tail -n 4 "$logs/$name.log" | tr '\n' ' ')" ;;
      124 | 143) echo "lane $id: $(date -u +%H:%M) $name stopped by the deadline or a signal (checkpoint saved)"; return 0 ;;
      *) echo "lane $id: $(date -u +%H:%M) $name failed (exit $rc): $(grep -m1 '^error:' "$logs/$name.log" || tail -n 1 "$logs/$name.log")"; return 1 ;;
    esac
  done
  echo "lane $id: no run left"
}

if ((dry)); then
  echo "the lanes take these in order (${lanes} at a time, stopped by $(date -u -d @$deadline +%H:%M) UTC):"
  for spec in "${RUNS_LIST[@]}"; do
    name="${spec%%=*}"
    if [[ -f "$runs/$name/summary.json" ]]; then
      echo "  $name: finished ($runs/$name/summary.json)"
    else
      echo "  $name: $lm $(command_for "$name" "${spec#*=}" | paste -sd ' ')"
    fi
  done
  exit 0
fi

# What a new machine lacks (its /var/tmp, build/ and data/ start empty):
# rnnlab-lm and the runs' data sets. Their time counts against the deadline.
mkdir -p "$runs" "$logs"
if [[ ! -x "$lm" ]]; then
  echo "prepare: $(date -u +%H:%M) building rnnlab-lm (log $logs/build.log)"
  build_app rnnlab-lm > "$logs/build.log" 2>&1 ||
    { echo "error: building rnnlab-lm failed (log $logs/build.log)" >&2; exit 1; }
fi
if ((fetch)) && ! scripts/get_data.sh ptb wikitext-2 imdb 2>&1 | sed 's/^/prepare: /'; then
  echo "error: scripts/get_data.sh ptb wikitext-2 imdb failed (above)" >&2
  exit 1
fi

# SIGINT / SIGTERM to this script: each run saves its checkpoint and stops.
# shellcheck disable=SC2317  # called by the trap
stop_runs() {
  local f
  for f in "$claims"/lane*.pid; do [[ -f "$f" ]] && kill -TERM "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap stop_runs INT TERM

pids=()
for ((i = 1; i <= lanes; ++i)); do
  lane "$i" &
  pids+=($!)
  sleep 1  # the lanes claim in order
done
status=0
for pid in "${pids[@]}"; do
  # a trapped signal ends `wait` early: wait again for the lane to finish
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
  wait "$pid" 2>/dev/null || status=1
done
for spec in "${RUNS_LIST[@]}"; do status_of "${spec%%=*}"; done
exit $status
