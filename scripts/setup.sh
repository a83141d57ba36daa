#!/usr/bin/env bash
# Installs the Debian packages rnnlab needs to build and run, only those missing.
# Non-interactive and idempotent; runs apt-get as root, or through sudo otherwise.
# Works on a minimal Debian 12 image (nothing assumed beyond apt and dpkg).
#   scripts/setup.sh           what builds, tests and runs need
#   scripts/setup.sh --peers   also the tools scripts/bench_word2vec.sh compares against:
#                              gensim (python3-gensim) and fastText
#   scripts/setup.sh --fuzz    also clang and its libFuzzer/sanitizer runtime (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-pthread    # optimised BLAS: the reference BLAS is ~24x slower (measured on this stack)
  libsentencepiece-dev    # subword tokenizers
  libyaml-cpp-dev         # experiment configs
  libgtest-dev            # tests
  libcli11-dev            # command lines
  libfmt-dev libspdlog-dev  # formatting and logging
  nlohmann-json3-dev      # metrics.jsonl, summary.json, vocabularies
  gnuplot-nox             # learning-curve plots
  libpng-dev              # PNG images (rnnlab-mnist predict, pictures)
  libgloo-dev             # Gloo headers: c10d's CPU process group (data-parallel training)
  python3-torch           # tests: exported weights load in Python's PyTorch, and Python's in rnnlab
  ca-certificates curl    # scripts/get_data.sh downloads over https
  unzip gzip              # ... and unpacks what it downloads
)
if [ "${1:-}" = "--peers" ]; then
  packages+=(python3-gensim fasttext)  # benchmark peers (python3-torch, with torchrun, is above)
elif [ "${1:-}" = "--fuzz" ]; then
  packages+=(clang libclang-rt-14-dev)  # scripts/fuzz.sh: clang++ with libFuzzer, ASan, UBSan
elif [ $# -gt 0 ]; then
  echo "error: unknown option '$1' (scripts/setup.sh [--peers|--fuzz])" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
else
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# libtorch calls whatever libblas.so.3 the alternatives system selects; make sure it is OpenBLAS.
blas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [ -e "$blas" ] && command -v update-alternatives >/dev/null; then
  current=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/ {print $2}')
  if [ "$current" != "$blas" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas"
  fi
fi
