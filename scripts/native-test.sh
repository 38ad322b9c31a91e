#!/usr/bin/env bash
# Builds and runs the native CPU kernel tests (native/test) with g++ directly, no node-gyp:
# the portable sources with plain flags, native/src/cpu/avx2 and avx512 with their -m flags
# (as binding.gyp does), so every SIMD build is compiled and the ones this CPU runs are tested.
#
#   scripts/native-test.sh             build + run the accuracy tests (exit 1 on failure), and
#                                      native/test/cublas_search_test.cpp
#   scripts/native-test.sh --bench     build + print GFLOP/s (args after --bench are passed on:
#                                      quick, bf16, f16)
# Env: CXX (default g++), BUILD_DIR (default: a per-checkout folder under $TMPDIR, since node-gyp
# and cmake-js wipe build/), CTXWIN_NUM_THREADS, CTXWIN_CPU_ISA.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX="${CXX:-g++}"
OUT="${BUILD_DIR:-${TMPDIR:-/tmp}/ctxwin-native-test-$(pwd | cksum | cut -d" " -f1)}"
mkdir -p "$OUT"
FLAGS=(-O3 -std=c++17 -Wall -Wextra -Wno-unused-function -fno-math-errno -Inative/include -Inative/src -pthread)
ARCH="$(uname -m)"

objs=()
compile() {  # compile SRC [extra flags...] -> object in $OUT (rebuilt when any header is newer)
  local src="$1"; shift
  local obj="$OUT/$(echo "$src" | tr '/' '_').o"
  if [[ ! -f "$obj" || "$src" -nt "$obj" || -n "$(find native/src native/include native/test -name '*.h' -newer "$obj" -print -quit)" ]]; then
    echo "  CXX $src" >&2
    "$CXX" "${FLAGS[@]}" "$@" -c "$src" -o "$obj"
  fi
  objs+=("$obj")
}

# Only the sources the attention test needs (other kernels in native/src/cpu build with the addon).
CPU=native/src/cpu
for src in $CPU/attention.cpp $CPU/attention_plan.cpp $CPU/attention_generic.cpp $CPU/cpu_features.cpp \
           $CPU/dtype_convert.cpp native/src/common/positional.cpp native/src/runtime/thread_pool.cpp \
           native/test/*.cpp; do
  [[ "$src" == native/test/cublas_search_test.cpp ]] && continue  # its own program, below
  compile "$src"
done
if [[ "$ARCH" == "x86_64" ]]; then
  compile $CPU/avx2/attention_avx2.cpp -mavx2 -mfma -mf16c
  compile $CPU/avx512/attention_avx512.cpp -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
fi
"$CXX" -pthread "${objs[@]}" -o "$OUT/attention_test" -ldl
# The CUDA addon's search for PyTorch's cuBLAS under site-packages (plain C++, no GPU needed).
if [[ "${1:-}" != --bench ]]; then
  "$CXX" "${FLAGS[@]}" native/test/cublas_search_test.cpp native/src/cuda/ops/cublas_search.cpp -o "$OUT/cublas_search_test"
  "$OUT/cublas_search_test"
fi
exec "$OUT/attention_test" "$@"
