#!/usr/bin/env bash
# scripts/prebuild.sh: the prebuilt addons that `npm pack` puts in the package, so that
# `npm install ctxwin` on linux-x64 compiles nothing (no C++ compiler, python, node-gyp or nvcc):
#
#   prebuilds/linux-x64/node.napi.node          the CPU addon, built by prebuildify (Node-API 8, so
#                                               one file serves every Node >= 20). Portable: the base
#                                               objects are plain x86-64 (checked below: no ymm/zmm
#                                               register in them); the AVX2 and AVX-512 kernels are
#                                               in their own objects and picked at run time.
#   prebuilds/linux-x64/cuda/ctxwin_cuda.node   the CUDA addon: SASS for sm_80, sm_86, sm_89, sm_90
#                                               and compute_90 PTX that newer GPUs JIT-compile
#                                               (CTXWIN_CUDA_ARCHS overrides), CUDA runtime linked
#                                               statically. In a folder of its own so that
#                                               node-gyp-build never takes it for the CPU addon;
#                                               lib/backend.ts looks there after build-cuda/Release.
#
# Usage: scripts/prebuild.sh [--cpu-only]      then `npm pack` (ctxwin-<version>.tgz), and
#        scripts/pack-smoke.sh ctxwin-<version>.tgz installs it as a user would, without compilers.
# --cpu-only also removes a CUDA prebuild left from an earlier run, so that none is packed stale.
# The release set is `npm run release:prebuilds && npm pack` (this script, then the tarball: ~7 MB,
# 22 MB of it the CUDA addon before compression). Measured on the 2-core development machine while
# other jobs ran: CPU ~100 s; CUDA 14-23 min wall, 12-13 min of CPU time (five architectures of
# every kernel); so CI builds the CPU prebuild only (.ci/run), and a release makes the CUDA one.
#
# The CUDA addon is built in build-cuda/ (scripts/build-cuda.mjs, incremental: a build-cuda/
# already made for these architectures is reused); a later plain `npm run build:cuda` goes back
# to its default architectures. JOBS=N limits parallel compiles (node-gyp and the CUDA build).
#
# Binaries built here need glibc >= 2.34 and libstdc++ from GCC >= 12 (GLIBCXX_3.4.30), as on
# this build machine (Debian 12); where they do not load, `npm install` compiles from source
# (node-gyp-build tests the CPU prebuild first; scripts/build-cuda.mjs tests the CUDA one).
set -euo pipefail
cd "$(dirname "$0")/.."
cpu_only=0
case "${1:-}" in
  --cpu-only) cpu_only=1 ;;
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "prebuild: unknown argument $1 (--cpu-only, --help)" >&2; exit 2 ;;
esac
[ -d node_modules ] || { echo "prebuild: run npm install first" >&2; exit 1; }
tuple=$(node -p 'process.platform + "-" + process.arch')
out=prebuilds/$tuple
mkdir -p "$out"
now() { date +%s; }

# ---- CPU ----------------------------------------------------------------------------------------
t0=$(now)
echo "== prebuild: CPU addon (prebuildify) -> $out/node.napi.node"
rm -f "$out"/*.node
npm run --silent prebuildify
cpu=$out/node.napi.node
[ -f "$cpu" ] || { echo "prebuild: prebuildify made no $cpu" >&2; exit 1; }
if [ "$tuple" = linux-x64 ]; then
  # No -march/-mtune=native in the generated makefiles, and no AVX register in the base objects
  # (only the avx2/avx512 static libraries may use them: cpu_features.cpp dispatches to those).
  if grep -lE -- '-m(arch|tune)=' build/*.mk >/dev/null 2>&1; then
    echo "prebuild: a makefile sets -march/-mtune: $(grep -lE -- '-m(arch|tune)=' build/*.mk)" >&2; exit 1
  fi
  wide=$(find build/Release/obj.target/ctxwin -name '*.o' -print0 | xargs -0 objdump -d --no-show-raw-insn | grep -cE '%[yz]mm[0-9]' || true)
  if [ "$wide" != 0 ]; then echo "prebuild: $wide AVX/AVX-512 instructions in the base objects (not portable)" >&2; exit 1; fi
  echo "portable: no -march, no ymm/zmm in the base objects"
fi
node -e '
  const a = require(process.argv[1]);
  const i = JSON.parse(a.info());
  console.log(`loads: kernels ${i.isa} on this CPU, ${a.opNames().length} ops`);
' "$PWD/$cpu"
echo "CPU prebuild: $(du -h "$cpu" | cut -f1) in $(( $(now) - t0 )) s"

# ---- CUDA ---------------------------------------------------------------------------------------
if [ "$cpu_only" = 1 ]; then
  rm -rf "$out/cuda"
  echo "== prebuild: CUDA addon skipped (--cpu-only)"
  exit 0
fi
t0=$(now)
archs=${CTXWIN_CUDA_ARCHS:-80-real,86-real,89-real,90-real,90-virtual}
echo "== prebuild: CUDA addon for $archs -> $out/cuda/ctxwin_cuda.node"
CTXWIN_CUDA_ARCHS=$archs node scripts/build-cuda.mjs --force
mkdir -p "$out/cuda"
cp build-cuda/Release/ctxwin_cuda.node "$out/cuda/ctxwin_cuda.node"
strip --strip-unneeded "$out/cuda/ctxwin_cuda.node"
# Which device code is in it: the fatbinary's entry headers (what `cuobjdump --list-elf/--list-ptx`
# shows; read here directly, since a minimal toolkit has no cuobjdump): kind and sm of each entry.
node -e '
  const d = require("fs").readFileSync(process.argv[1]);
  const seen = new Map();
  for (let i = d.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba])); i >= 0; ) {
    const end = i + d.readUInt16LE(i + 6) + Number(d.readBigUInt64LE(i + 8));
    for (let p = i + d.readUInt16LE(i + 6); p < end; p += d.readUInt32LE(p + 4) + Number(d.readBigUInt64LE(p + 8))) {
      const key = (d.readUInt16LE(p) === 1 ? "PTX compute_" : "SASS sm_") + d.readUInt32LE(p + 28);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    i = d.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]), end);
  }
  if (seen.size === 0) { console.error("prebuild: no device code found in " + process.argv[1]); process.exit(1); }
  console.log("device code: " + [...seen].map(([k, n]) => `${k} (${n} units)`).join(", "));
' "$out/cuda/ctxwin_cuda.node"
# It must load without a GPU (static CUDA runtime); probe() then says why CUDA is unusable here.
node -e '
  const a = require(process.argv[1]);
  let why = "CUDA usable";
  try { a.probe(); } catch (e) { why = "probe: " + e.message; }
  console.log(`loads: compiled for ${JSON.parse(a.info()).compiledArchs}; ${why}`);
' "$PWD/$out/cuda/ctxwin_cuda.node"
echo "CUDA prebuild: $(du -h "$out/cuda/ctxwin_cuda.node" | cut -f1) in $(( $(now) - t0 )) s"
