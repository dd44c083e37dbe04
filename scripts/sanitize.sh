#!/usr/bin/env bash
# Builds the standalone native tests (test/native/*_test.cc: every CPU kernel family and the thread-pool stress
# test, with the whole of native/core and native/cpu) with AddressSanitizer (+ LeakSanitizer) and
# UndefinedBehaviorSanitizer, and runs each one. Any report fails the run: UBSan does not recover
# (-fno-sanitize-recover=all), ASan halts on the first error, and leaks are errors.
#
#   scripts/sanitize.sh               build into build-sanitize/ and run every test
#   scripts/sanitize.sh gemm_test     only the named tests
#   SANITIZE_JOBS=N                   parallel compile jobs (default 2)
#
# Needs cmake and g++ (or CXX=clang++). The tests run in their default (full) mode; the kNN test also checks
# SDCN's USPS graphs when DGCLUST_DATA points at the shared data.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-sanitize
jobs="${SANITIZE_JOBS:-2}"
# -O1 keeps the run time reasonable and the stack traces exact; frame pointers for fast unwinding.
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"

# Release build type with our own flags: CMakeLists.txt sets CMAKE_CXX_FLAGS_RELEASE to -O3, replaced here.
cmake -S . -B "$build" -DDGCLUST_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null

if [ "$#" -gt 0 ]; then
  tests=("$@")
else
  tests=()
  for f in test/native/*_test.cc; do tests+=("$(basename "$f" .cc)"); done
fi
echo "sanitize: building ${tests[*]} (ASan + LSan + UBSan, $jobs jobs)"
cmake --build "$build" -j "$jobs" --target "${tests[@]}" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# The sanitizers must be live here, or "no reports" means nothing (LeakSanitizer, for one, stops working under
# ptrace): a program with a leak, a heap overflow and a signed overflow must fail with each report.
cat >"$build/sanity.cc" <<'CC'
#include <climits>
#include <cstdlib>
int main(int argc, char** argv) {
  int which = std::atoi(argv[1]);
  if (which == 0) { int* p = new int[4]; p[0] = argc; p = nullptr; return 0; }
  if (which == 1) { int* p = new int[4]; int v = p[argc + 2]; delete[] p; return v; }
  int x = INT_MAX - 2 + argc; return (x + argc) & 1;
}
CC
${CXX:-g++} $flags "$build/sanity.cc" -o "$build/sanity"
for which in 0 1 2; do
  # (UBSan's object-size check may see the heap overflow before ASan does: either report will do.)
  want=("LeakSanitizer: detected memory leaks" "AddressSanitizer: heap-buffer-overflow|insufficient space for an object" "runtime error: signed integer overflow")
  if "$build/sanity" "$which" >/dev/null 2>"$build/sanity.log" || ! grep -qE "${want[$which]}" "$build/sanity.log"; then
    echo "sanitize: the sanitizers do not report here (expected \"${want[$which]}\"):"; cat "$build/sanity.log"; exit 1
  fi
done
echo "sanitize: sanitizers live (a planted leak, heap overflow and signed overflow are each reported)"

failed=()
for t in "${tests[@]}"; do
  start=$(date +%s)
  log="$build/$t.log"
  if "$build/$t" >"$log" 2>&1; then status=0; else status=$?; fi
  # A sanitizer report with exit status 0 cannot happen with these options, but check the log anyway.
  if [ "$status" -ne 0 ] || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer" "$log"; then
    failed+=("$t")
    echo "sanitize: $t FAILED (exit $status, $(( $(date +%s) - start )) s); last lines of $log:"
    tail -40 "$log"
  else
    echo "sanitize: $t ok ($(( $(date +%s) - start )) s)"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "sanitize: ${#failed[@]} of ${#tests[@]} failed: ${failed[*]}"
  exit 1
fi
echo "sanitize: all ${#tests[@]} clean (no AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report)"
