#!/usr/bin/env bash
# Benchmarks dgclust's sgemm (native/cpu/gemm*.cc) against Debian's OpenBLAS cblas_sgemm.
# Usage: bench/gemm/run.sh [--quick] [args for gemm_vs_openblas, e.g. --threads 2 --reps 11 --shape 3025x1870x500]
# --quick: one shape, 3 repetitions. The last line printed is RESULTS_JSON=<path> (read by bench/run.ts).
# Installs libopenblas-dev with apt-get when missing, compiles with the addon's flags (plain -O3, no -march)
# into bench/.build/, prints a markdown table and writes bench/results/gemm-<host>-<date>.json.
# The machine should be quiet: other processes on the cores make the numbers noisy (rerun if they look so).
set -euo pipefail
cd "$(dirname "$0")/../.."

CBLAS_H=/usr/include/x86_64-linux-gnu/cblas.h
OPENBLAS_SO=/usr/lib/x86_64-linux-gnu/libopenblas.so  # the link-time name, from libopenblas-dev
have_openblas() { [ -f "$CBLAS_H" ] && [ -e "$OPENBLAS_SO" ]; }
if ! have_openblas; then
  echo "OpenBLAS headers or library missing: installing libopenblas-dev with apt-get" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  if ! { $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y libopenblas-dev; } || ! have_openblas; then
    echo "error: could not install libopenblas-dev (need apt-get and root); the benchmark needs OpenBLAS's cblas.h and libopenblas.so" >&2
    exit 1
  fi
fi

mkdir -p bench/.build bench/results
BIN=bench/.build/gemm_vs_openblas
g++ -O3 -std=c++17 -pthread -Inative -I"$(dirname "$CBLAS_H")" \
  bench/gemm/gemm_vs_openblas.cc native/cpu/gemm*.cc native/cpu/isa.cc native/core/thread_pool.cc \
  -o "$BIN" -lopenblas

args=()
for a in "$@"; do
  if [ "$a" = "--quick" ]; then args+=(--reps 3 --shape 3025x1870x500); else args+=("$a"); fi
done

OUT="bench/results/gemm-$(hostname)-$(date +%F).json"
"$BIN" --json "$OUT" "${args[@]}"
echo "RESULTS_JSON=$OUT"
