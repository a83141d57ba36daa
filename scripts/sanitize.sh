#!/usr/bin/env bash
# Builds rnnlab with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) into its own build directory and runs
# the unit tests (ctest -L unit) there. Not part of CI's default run: see the timing printed at the end.
#   scripts/sanitize.sh                 configure, build, ctest -L unit
#   scripts/sanitize.sh -R Config       extra arguments go to ctest
# Environment:
#   RNNLAB_ASAN_BUILD  build directory (default: <repo>/build-asan)
#   RNNLAB_JOBS        parallel build and test jobs (default: 2)
#   RNNLAB_NICE        nice level for the build and the tests (default: 19; 0 turns it off)
# Only rnnlab's own code is instrumented (-DRNNLAB_SANITIZE=address,undefined in the top-level CMakeLists.txt);
# libtorch, yaml-cpp and the other Debian libraries are not. rnnlab_spm (the sentencepiece bridge) is never
# instrumented: it is loaded with dlmopen() into a fresh link namespace that has no sanitizer runtime.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RNNLAB_ASAN_BUILD:-$root/build-asan}
jobs=${RNNLAB_JOBS:-2}
nice_level=${RNNLAB_NICE:-19}
run() { if [ "$nice_level" != 0 ]; then nice -n "$nice_level" "$@"; else "$@"; fi; }

# Sanitizer run-time options (each one with its reason):
#  ASan:
#   detect_leaks=0             LeakSanitizer reports allocations that uninstrumented libtorch, OpenBLAS and
#                              protobuf keep for the life of the process (registries, thread pools, static
#                              singletons); none of them is ours and they would fail every test binary at exit.
#   abort_on_error=0, halt_on_error=1 (defaults, stated): the first report ends the test with a non-zero status,
#                              which ctest counts as a failure.
#   strict_string_checks=1, check_initialization_order=1, detect_stack_use_after_return=1: stricter checks
#                              that cost little.
#  UBSan:
#   print_stacktrace=1         the stack of each report; halt_on_error=1: a report fails the test.
asan_default="detect_leaks=0:halt_on_error=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan_default}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

start=$(date +%s)
generator=()
if command -v ninja >/dev/null && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
# Debug with -O1: readable stacks, assertions kept, tests not unbearably slow.
# The torch PCH stays on: it is compiled in this build with the same sanitizer flags as its users.
run cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DRNNLAB_SANITIZE=address,undefined
run cmake --build "$build" -j "$jobs"
built=$(date +%s)
echo "sanitize: build took $((built - start)) s"

status=0
(cd "$build" && run ctest --output-on-failure -j "$jobs" -L unit "$@") || status=$?
end=$(date +%s)
echo "sanitize: build $((built - start)) s, ctest -L unit $((end - built)) s, total $((end - start)) s (status $status)"
exit $status
