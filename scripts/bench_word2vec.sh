#!/usr/bin/env bash
# Side-by-side word2vec benchmark: rnnlab (hogwild and autograd engines),
# gensim (Debian python3-gensim) and fastText (Debian fasttext, no subwords)
# train on the same normalised corpus with the same settings, one after the
# other, and one table compares them:
#
#   tool / engine | words/s | ratio to gensim | analogy | WS-353 | wall s
#
# Every tool's vectors are evaluated by the same code (rnnlab-word2vec analogy
# and similarity, which agree with gensim's evaluations to 9 digits):
# analogies restricted to the 30,000 most frequent words, case-insensitive,
# as word2vec's compute-accuracy; WordSim-353 Spearman.
#
# words/s is in-vocabulary corpus words x epochs / training seconds, without
# reading the corpus and building the vocabulary (rnnlab: summary.json's
# words_per_sec; gensim: the time of train() alone). fastText's training
# cannot be timed apart from its vocabulary pass, so its figure is its own
# final "words/sec/thread" x threads (it counts every token read, also those
# below min count, and line ends).
#
# Usage: scripts/bench_word2vec.sh [--arch skipgram|cbow|both] [--epochs N]
#          [--threads N] [--lr X | --lr-skipgram X --lr-cbow X] [--corpus FILE]
#          [--out DIR] [--no-autograd]
#          [--autograd-epochs N]
# Defaults: both architectures, the issue's settings (dim 100, window 5,
# 5 negatives, sample 1e-4, min count 5, 3 epochs, 2 threads; learning rate
# 0.05 for skip-gram and 0.1 for CBOW, the same for every tool) on
# data/wiki-corpus/enwiki_extract.txt. The autograd engine is about 20x slower
# than the hogwild one, so it trains 1 epoch by default (its words/s does not
# depend on the epochs; its scores then are those of 1 epoch): pass
# --autograd-epochs 3 for the full comparison (about 30 more minutes).
# Peers that are not installed are skipped with a note. Takes about 15
# minutes on 2 cores. Do not run other timings at the same time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Debian's python3-gensim is installed for the system Python.
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3

ARCHS="skipgram cbow" EPOCHS=3 THREADS=2 LR_SG=0.05 LR_CBOW=0.1 AUTOGRAD=1 AUTOGRAD_EPOCHS=1
CORPUS=data/wiki-corpus/enwiki_extract.txt
OUT=runs/bench-word2vec/$(date +%Y%m%d-%H%M%S)
DIM=100 WINDOW=5 NEG=5 SAMPLE=1e-4 MINCOUNT=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) ARCHS=$([[ $2 == both ]] && echo "skipgram cbow" || echo "$2"); shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --lr) LR_SG=$2; LR_CBOW=$2; shift 2 ;;
    --lr-skipgram) LR_SG=$2; shift 2 ;;
    --lr-cbow) LR_CBOW=$2; shift 2 ;;
    --corpus) CORPUS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-autograd) AUTOGRAD=0; shift ;;
    --autograd-epochs) AUTOGRAD_EPOCHS=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for a in $ARCHS; do
  [[ $a == skipgram || $a == cbow ]] || { echo "error: --arch must be skipgram, cbow or both" >&2; exit 2; }
done
[[ -f $CORPUS ]] || { echo "error: corpus '$CORPUS' not found (scripts/get_data.sh --all fetches wiki-corpus)" >&2; exit 1; }
BIN=$ROOT/build/bin/rnnlab-word2vec
[[ -x $BIN ]] || { echo "error: $BIN not built (scripts/build.sh)" >&2; exit 1; }
QUESTIONS=$ROOT/data/analogy/questions-words.txt
PAIRS=$ROOT/data/wordsim353/combined.csv
[[ -f $QUESTIONS && -f $PAIRS ]] || { echo "error: evaluation sets missing (scripts/get_data.sh)" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
NORM=$OUT/corpus.norm.txt
echo "normalising $CORPUS -> $NORM"
"$BIN" normalize --in "$CORPUS" --out "$NORM"
ROWS=$OUT/rows.tsv
: > "$ROWS"

# evaluate NAME VECTORS WORDS_PER_SEC WALL: one row of the table.
evaluate() {
  local name=$1 vec=$2 wps=$3 wall=$4 an ws
  an=$("$BIN" analogy --vectors "$vec" --questions "$QUESTIONS" --restrict 30000 | awk '/^total/ {print $2}')
  ws=$("$BIN" similarity --vectors "$vec" --pairs "$PAIRS" | awk '{print $2}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wps" "$an" "$ws" "$wall" >> "$ROWS"
  echo "  $name: $(printf '%.0f' "$wps") words/s, analogy $an %, WS-353 $ws, ${wall} s"
}

now() { date +%s.%N; }

for ARCH in $ARCHS; do
  SG=$([[ $ARCH == skipgram ]] && echo 1 || echo 0)
  LR=$([[ $ARCH == skipgram ]] && echo "$LR_SG" || echo "$LR_CBOW")
  COMMON=(--set "data.corpus=[$NORM]" --set data.normalize=false --set data.min_count=$MINCOUNT
          --set model.arch=$ARCH --set model.dim=$DIM --set model.window=$WINDOW
          --set model.negative=$NEG --set model.sample=$SAMPLE --set train.max_epochs=$EPOCHS
          --set optim.lr=$LR --set "optim.min_lr=$("$PY" -c "print($LR * 1e-4)")"
          --set run.threads=$THREADS --set run.progress=lines --set run.data_root=/
          --set eval.analogy=\"\" --set eval.wordsim353=\"\" --set eval.simlex999=\"\" --set eval.rarewords=\"\"
          --set output.text=false)

  echo "== $ARCH: rnnlab hogwild"
  t0=$(now)
  "$BIN" train experiments/word2vec/skipgram_wiki.yaml "${COMMON[@]}" \
    --run-dir "$OUT/rnnlab-$ARCH" > "$OUT/rnnlab-$ARCH.log" 2>&1
  wall=$("$PY" -c "print(round($(now) - $t0, 1))")
  wps=$("$PY" -c "import json; print(json.load(open('$OUT/rnnlab-$ARCH/summary.json'))['words_per_sec'])")
  evaluate "rnnlab $ARCH (hogwild)" "$OUT/rnnlab-$ARCH/vectors.bin" "$wps" "$wall"

  if [[ $AUTOGRAD == 1 ]]; then
    AE=$AUTOGRAD_EPOCHS
    echo "== $ARCH: rnnlab autograd"
    t0=$(now)
    "$BIN" train experiments/word2vec/skipgram_wiki.yaml "${COMMON[@]}" --set train.engine=autograd \
      --set train.max_epochs=$AE --run-dir "$OUT/rnnlab-$ARCH-autograd" > "$OUT/rnnlab-$ARCH-autograd.log" 2>&1
    wall=$("$PY" -c "print(round($(now) - $t0, 1))")
    wps=$("$PY" -c "import json; print(json.load(open('$OUT/rnnlab-$ARCH-autograd/summary.json'))['words_per_sec'])")
    label="rnnlab $ARCH (autograd)"
    [[ $AE != "$EPOCHS" ]] && label="rnnlab $ARCH (autograd, $AE epochs)"
    evaluate "$label" "$OUT/rnnlab-$ARCH-autograd/vectors.bin" "$wps" "$wall"
  fi

  if "$PY" -c "import gensim" 2>/dev/null; then
    echo "== $ARCH: gensim $("$PY" -c 'import gensim; print(gensim.__version__)')"
    t0=$(now)
    wps=$("$PY" - "$NORM" "$OUT/gensim-$ARCH.bin" <<EOF
import sys, time
from gensim.models import Word2Vec
m = Word2Vec(vector_size=$DIM, window=$WINDOW, negative=$NEG, sample=$SAMPLE, min_count=$MINCOUNT,
             epochs=$EPOCHS, workers=$THREADS, sg=$SG, alpha=$LR, min_alpha=$LR * 1e-4, seed=1)
m.build_vocab(corpus_file=sys.argv[1])
words = sum(m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key)  # in-vocabulary words
t = time.time()
m.train(corpus_file=sys.argv[1], total_words=m.corpus_total_words, epochs=$EPOCHS)
print(words * $EPOCHS / (time.time() - t))
m.wv.save_word2vec_format(sys.argv[2], binary=True)
EOF
    )
    wall=$("$PY" -c "print(round($(now) - $t0, 1))")
    evaluate "gensim $ARCH" "$OUT/gensim-$ARCH.bin" "$wps" "$wall"
  else
    echo "note: gensim not installed (apt-get install python3-gensim): skipped"
  fi

  if command -v fasttext > /dev/null; then
    echo "== $ARCH: fastText"
    t0=$(now)
    fasttext $([[ $ARCH == skipgram ]] && echo skipgram || echo cbow) -input "$NORM" \
      -output "$OUT/fasttext-$ARCH" -dim $DIM -ws $WINDOW -neg $NEG -t $SAMPLE -minCount $MINCOUNT \
      -epoch $EPOCHS -thread $THREADS -lr $LR -minn 0 -maxn 0 -verbose 2 \
      > "$OUT/fasttext-$ARCH.log" 2>&1
    wall=$("$PY" -c "print(round($(now) - $t0, 1))")
    per_thread=$(tr '\r' '\n' < "$OUT/fasttext-$ARCH.log" | awk '/words\/sec\/thread/ {for (i = 1; i < NF; i++) if ($i == "words/sec/thread:") v = $(i + 1)} END {print v}')
    evaluate "fastText $ARCH" "$OUT/fasttext-$ARCH.vec" "$((per_thread * THREADS))" "$wall"
  else
    echo "note: fastText not installed (apt-get install fasttext): skipped"
  fi
done

# The table: ratios against gensim of the same architecture.
"$PY" - "$ROWS" "$OUT/bench.md" <<EOF
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
gensim = {r[0].split()[1]: float(r[1]) for r in rows if r[0].startswith("gensim")}
lines = ["| tool | words/s | vs gensim | analogy | WS-353 | wall s |", "|---|---|---|---|---|---|"]
for name, wps, an, ws, wall in rows:
    arch = "skipgram" if "skipgram" in name else "cbow"
    ratio = "%.2fx" % (float(wps) / gensim[arch]) if arch in gensim else "-"
    lines.append("| %s | %.0fk | %s | %s %% | %s | %s |" % (name, float(wps) / 1e3, ratio, an, ws, wall))
note = ("settings: dim $DIM, window $WINDOW, $NEG negatives, sample $SAMPLE, min count $MINCOUNT, "
        "$EPOCHS epochs, $THREADS threads, lr $LR_SG (skip-gram) and $LR_CBOW (CBOW) for every tool; "
        "corpus $CORPUS (normalised); "
        "analogy restricted to 30k words")
text = "\n".join(lines) + "\n\n" + note + "\n"
open(sys.argv[2], "w").write(text)
print()
print(text)
EOF
echo "results in $OUT (bench.md, one log per tool)"
