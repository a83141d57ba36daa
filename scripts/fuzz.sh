#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with Debian's clang and runs them, seeded from
# tests/fuzz/corpus/<target>/, printing per target the executions and the result.
#   scripts/fuzz.sh                        every target for 60 s
#   scripts/fuzz.sh -t 1800 config         one target for 30 minutes
#   scripts/fuzz.sh -n 10000000            every target for 10 million executions (or -t, whichever first)
#   scripts/fuzz.sh --regressions          only run the saved inputs of tests/fuzz/regressions/<target>/
#   scripts/fuzz.sh --build-only
# Options:
#   -t SECONDS      time per target (default 60; with -n, an upper bound)
#   -n RUNS         executions per target (default: no limit, -t decides)
#   -j N            targets run side by side (default 1; each is one process)
#   --known 'A|B'   substrings of reported, not yet fixed defects to fuzz past (RNNLAB_FUZZ_KNOWN,
#                   see tests/fuzz/fuzz_util.h)
#   --keep-going    fork mode with -ignore_crashes/-ignore_timeouts/-ignore_ooms: run the whole
#                   time even after a crash, saving each crashing input
# Targets: config idx labeled_table parallel word2vec_corpus word_vectors
# Environment: RNNLAB_FUZZ_BUILD (default /var/tmp/rnnlab-fuzz), RNNLAB_FUZZ_OUT (default
#   <build>/runs: grown corpora, crash-*, timeout-*, logs), RNNLAB_NICE (default 19; 0 turns it off),
#   CXX (default clang++).
# A crash, sanitizer report, timeout (-timeout=10 s per input), out-of-memory (-rss_limit_mb=2048,
# -malloc_limit_mb=2048: an absurd allocation is a defect too) or an escaping non-rnnlab exception
# fails the target; its input is saved as <out>/<target>/crash-* (or timeout-*, oom-*). Minimise it with
#   <build>/bin/rnnlab_fuzz_<target> -minimize_crash=1 -runs=20000 -exact_artifact_path=min <input>
# and put it under tests/fuzz/regressions/<target>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RNNLAB_FUZZ_BUILD:-/var/tmp/rnnlab-fuzz}
out=${RNNLAB_FUZZ_OUT:-$build/runs}
nice_level=${RNNLAB_NICE:-19}
all_targets=(config idx labeled_table parallel word2vec_corpus word_vectors)
seconds=60 runs=-1 jobs=1 build_only=0 regressions=0 keep_going=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) seconds=$2; shift 2 ;;
    -n) runs=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    --known) export RNNLAB_FUZZ_KNOWN=$2; shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --build-only) build_only=1; shift ;;
    --regressions) regressions=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -f "$root/tests/fuzz/fuzz_$t.cpp" ] || { echo "fuzz: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done
run() { if [ "$nice_level" != 0 ]; then nice -n "$nice_level" "$@"; else "$@"; fi; }

cxx=${CXX:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found (scripts/setup.sh --fuzz)" >&2; exit 2; }
generator=()
if command -v ninja >/dev/null && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
# Instrumented: rnnlab's sources (rnnlab_data, the config code, the targets), with libFuzzer's coverage,
# ASan and UBSan; a UBSan report aborts (-fno-sanitize-recover) so that libFuzzer keeps the input.
# libtorch, yaml-cpp and the other Debian libraries are used as they are.
run cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=all" \
  -DRNNLAB_FUZZ=ON -DRNNLAB_BUILD_TESTS=OFF -DRNNLAB_SANITIZE=fuzzer-no-link,address,undefined >/dev/null
run cmake --build "$build" -j 2 --target $(printf 'rnnlab_fuzz_%s ' "${targets[@]}")
[ "$build_only" = 1 ] && exit 0

# ASan: leak checking off, as in scripts/sanitize.sh (uninstrumented libtorch's process-lifetime
# allocations); libFuzzer's own -detect_leaks stays off with it. UBSan: the stack of each report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
common=(-max_len=4096 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=0 -print_final_stats=1)

if [ "$regressions" = 1 ]; then
  status=0
  for t in "${targets[@]}"; do
    dir=$root/tests/fuzz/regressions/$t
    files=()
    [ -d "$dir" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$dir" -type f ! -name '*.md' | sort)
    if [ ${#files[@]} -eq 0 ]; then echo "fuzz: $t: no regression input"; continue; fi
    for f in "${files[@]}"; do
      # 256 MiB per allocation here: no reader needs more for these small files (tiny_file_reserves_512mib).
      if run "$build/bin/rnnlab_fuzz_$t" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 "$f" >"$out.$t.regression.log" 2>&1; then
        echo "fuzz: $t: $(basename "$f"): ok"
      else
        echo "fuzz: $t: $(basename "$f"): FAILS (log: $out.$t.regression.log)"; status=1
      fi
    done
  done
  exit $status
fi

fuzz_one() {
  local t=$1 dir=$out/$1
  mkdir -p "$dir/corpus"
  local args=("${common[@]}" -max_total_time="$seconds" -artifact_prefix="$dir/")
  [ "$runs" != -1 ] && args+=(-runs="$runs")
  if [ "$keep_going" = 1 ]; then
    args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  local start=$SECONDS rc=0
  (cd "$dir" && run "$build/bin/rnnlab_fuzz_$t" "${args[@]}" "$dir/corpus" "$root/tests/fuzz/corpus/$t") \
    >"$dir/log" 2>&1 || rc=$?
  local execs
  # One process: its final stats. Fork mode: the parent's last "#<total execs>:" line.
  if [ "$keep_going" = 1 ]; then
    execs=$(grep -oE '^#[0-9]+' "$dir/log" | tail -1 | tr -d '#' || true)
  else
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*$' || true)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$dir/log" | tail -1 | tr -d '#' || true)
  fi
  local found
  found=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  local result="no crash, hang or sanitizer report"
  if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
    result="FOUND $found input(s) (rc $rc): $(grep -m1 -E '==rnnlab-fuzz==|ERROR: (AddressSanitizer|libFuzzer)|runtime error' "$dir/log" || true)"
  fi
  printf 'fuzz: %-16s %12s executions in %5d s: %s (log: %s)\n' "$t" "${execs:-?}" $((SECONDS - start)) "$result" "$dir/log"
  if [ "$rc" = 0 ] && [ "$found" = 0 ]; then echo ok >"$dir/result"; else echo failed >"$dir/result"; fi
}

for t in "${targets[@]}"; do rm -f "$out/$t/result"; done
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait
status=0
for t in "${targets[@]}"; do [ "$(cat "$out/$t/result" 2>/dev/null)" = ok ] || status=1; done
exit $status
