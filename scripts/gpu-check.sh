#!/usr/bin/env bash
# scripts/gpu-check.sh: checks the CUDA code on a GPU host in one call that fits a time limit: the
# standalone attention test against float64, the CUDA addon's suites with every tensor on CUDA,
# the benchmarks beside the PyTorch baselines. Never needs the network.
#
# FIRST CALL on the device tool (10 minutes per command, 15 minutes per task in all):
#   here:   scripts/pack-device.sh                 # .device/: node, dist/, the addons, test
#                                                  # node_modules, cuda_attention_test for sm_90
#           scripts/gpu-check.sh --dry-run first   # the plan, each step's budget and commands
#   device: run(command="scripts/gpu-check.sh first", carry=[".device"], timeout_s=600)
#   The first plan is done in at most 480 s (8 min) of a 540 s budget; then, in the same session,
#   `scripts/gpu-check.sh second` (about 4 min: sanitizer, GEMM, models, HF parity).
#
#   scripts/gpu-check.sh [--dry-run] [PLAN | STEP ...]
#     PLAN  first   env bin long test doctor suites bench torch merge        (<= 480 s)
#           second  env bin sanitize gemm models hf                           (<= 240 s)
#           all     every step (default); with the default budget the last ones are skipped
#     STEP  one or more of the steps below, in the order given (budgets of the plan "all")
#     --dry-run  prints the plan: each step's time budget, its timeout and the commands it would
#                run; runs nothing, writes nothing, needs neither a GPU nor Python nor Node
#
# Steps:
#   env       nvidia-smi; node unpacked from .device/node.xz, dist/, addons and node_modules from
#             .device/bundle.tar.xz; cuBLAS looked for in Python's site-packages (PyTorch's
#             nvidia-cublas wheel) when the dynamic loader has none: CTXWIN_CUBLAS_PATH for the
#             later steps (scripts/find-cublas.py); tool versions
#   smi       nvidia-smi only
#   bin       the carried .device/cuda_attention_test.xz (pack-device.sh: sm_90, built from the
#             same sources, checked by hash), else what `build` does
#   build     nvcc: native/src/cuda/attention*.cu + native/test/cuda_attention_test.cu (no warnings)
#   long      cuda_attention_test --long per dtype (bf16, f16, f32): T = 4096..16384, every kernel
#             path against float64 and the tensor-core path against the SIMT one
#   test      cuda_attention_test: host self-check, then every short case x dtype x kernel path
#   sanitize  compute-sanitizer memcheck, racecheck, synccheck, initcheck on small cases
#   doctor    `ctxwin doctor` with CTXWIN_CUBLAS_PATH and without it (the addon's own search):
#             says which GEMM ran and where cuBLAS was loaded from
#   suites    vitest with CTXWIN_TEST_DEVICE=cuda: test/gpu, the op / attention / nn / model /
#             training / HF-parity suites (float64 references), then the matmul suite again
#             with CTXWIN_CUBLAS=0 (the fallback GEMM)
#   bench     cuda_attention_test --bench (B*T = 16k, 16 heads, D = 128, bf16)
#   torch     bench/torch_baselines.py: SDPA flash / cuDNN, FlexAttention (compiled once per
#             shape; recompiles counted, eager fallbacks marked invalid), YaRN + SDPA. Plan
#             "first": --T 8192 --causal yes (the issue's targets); BENCH_T sets the T values
#   merge     bench/attention-cuda.py: one markdown table with ratios -> results.md
#   addon     the CUDA addon: carried (pack-device.sh) or built with scripts/build-cuda.mjs
#   hf        scripts/hf-parity.py make + test/hf-parity.test.ts on CPU and CUDA, then
#             hf-export.mjs + hf-parity.py check; fixtures come back as hf-fixtures.tar.xz
#   gemm      bench/gemm-cuda.mjs (fallback kernels vs cuBLAS)
#   models    bench/train.mjs and bench/forward.mjs --device cuda (d=1024, 8 layers)
#
# Time: the whole run keeps within GPU_CHECK_BUDGET seconds (default 540, for a 600 s call:
# GPU_CHECK_CALL_LIMIT), GPU_CHECK_MARGIN (15 s) of it kept for the final packing. Each step runs
# under `timeout` = min(its budget, time left); a step that cannot get its minimum is skipped and
# recorded as skipped, with why. Commands inside a step get what is left of the step's time.
# Results: $GPU_CHECK_BUILD/logs/<step>.log (default /tmp/ctxwin-gpu-check). With $OUT set (the
# device tool brings back at most 8 files of $OUT), after every step: $OUT/summary.txt (every
# step's status, time and note, and which one is running) and $OUT/gpu-check-logs.tar.gz (the
# logs of the finished steps); while a step runs its output goes to $OUT/running-step.log, so a
# call cut short still brings back what it did; results.md after merge, hf-fixtures.tar.xz after
# hf. Exit 1 when a step failed or timed out.
# Other environment: CTXWIN_CUDA_ARCHS (default 90), BENCH_T (e.g. "4096 8192"), GPU_CHECK_CARRY
# (default .device).
set -uo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
ARCH=${CTXWIN_CUDA_ARCHS:-90}
ARCH=${ARCH%%,*}
BUILD=${GPU_CHECK_BUILD:-/tmp/ctxwin-gpu-check}
LOG=$BUILD/logs
BIN=$BUILD/cuda_attention_test
CARRY=${GPU_CHECK_CARRY:-.device}
CALL_LIMIT=${GPU_CHECK_CALL_LIMIT:-600}
BUDGET=${GPU_CHECK_BUDGET:-540}
MARGIN=${GPU_CHECK_MARGIN:-15}
OUTDIR=${OUT:-}
DRY=0
VITEST=(node node_modules/vitest/vitest.mjs run)  # no npx: the GPU host may have node but no npm

# ---- plans and budgets ---------------------------------------------------------------------------
plan_steps() {
  case $1 in
    first) echo "env bin long test doctor suites bench torch merge" ;;
    second) echo "env bin sanitize gemm models hf" ;;
    all) echo "env build long test sanitize addon doctor suites bench torch merge hf gemm models" ;;
    *) return 1 ;;
  esac
}

# budget_of PLAN STEP -> "BUDGET MIN" (seconds): the step's timeout when time allows, and the least
# time it is started with. bin: the carried binary's numbers, or a build's when none fits.
budget_of() {
  local plan=$1 step=$2
  if [ "$step" = bin ]; then
    if carried_bin_ok; then
      case $plan in first) echo "30 5" ;; second) echo "20 5" ;; *) echo "30 5" ;; esac
    else
      budget_of "$plan" build
    fi
    return
  fi
  case "$plan:$step" in
    first:env) echo "20 5" ;;
    first:long) echo "90 30" ;;
    first:test) echo "50 15" ;;
    first:doctor) echo "15 5" ;;
    first:suites) echo "110 40" ;;
    first:bench) echo "60 20" ;;
    first:torch) echo "95 40" ;;
    first:merge) echo "10 3" ;;
    first:build | second:build) echo "240 120" ;;
    second:env) echo "15 5" ;;
    second:sanitize) echo "60 25" ;;
    second:gemm) echo "30 15" ;;
    second:models) echo "60 30" ;;
    second:hf) echo "55 30" ;;
    *:env) echo "20 5" ;;
    *:smi) echo "10 3" ;;
    *:build) echo "300 120" ;;
    *:long) echo "180 30" ;;
    *:test) echo "120 20" ;;
    *:sanitize) echo "300 30" ;;
    *:doctor) echo "15 5" ;;
    *:suites) echo "300 40" ;;
    *:bench) echo "120 20" ;;
    *:torch) echo "600 40" ;;
    *:merge) echo "10 3" ;;
    *:addon) echo "600 30" ;;
    *:hf) echo "300 30" ;;
    *:gemm) echo "120 15" ;;
    *:models) echo "300 40" ;;
    *) echo "60 10" ;;
  esac
}

# The sources the carried cuda_attention_test is built from, with every header they include
# (pack-device.sh stamps the binary with this).
src_hash() {
  find native/include/ctxwin native/src/cuda native/src/common native/test -maxdepth 1 -type f \
    \( -path 'native/include/ctxwin/*.h' -o -path 'native/src/cuda/attention*' -o -name cuda_check.h -o -name positional.cpp \
    -o -name cuda_attention_test.cu \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16
}

carried_bin_ok() {
  [ -f "$CARRY/cuda_attention_test.xz" ] && [ -f "$CARRY/cuda_attention_test.stamp" ] || return 1
  grep -q "^sources $(src_hash)\$" "$CARRY/cuda_attention_test.stamp" && grep -q "^arch ${ARCH}\$" "$CARRY/cuda_attention_test.stamp"
}

# ---- running commands ----------------------------------------------------------------------------
# show CMD...: prints "$ CMD"; x CMD...: prints it and runs it (in --dry-run: prints it only).
show() {
  local a line='$'
  for a in "$@"; do
    case $a in
      *[!A-Za-z0-9_./:=,+@%*-]* | '') line+=" '${a//\'/\'\\\'\'}'" ;;
      *) line+=" $a" ;;
    esac
  done
  echo "$line"
}
x() {
  show "$@"
  [ "$DRY" = 1 ] && return 0
  "$@"
}

# Seconds left to the step's commands (kept 3 s short of the step's own timeout).
left() {
  if [ "$DRY" = 1 ]; then
    echo $((STEP_TIMEOUT - 3))
  else
    echo $((STEP_DEADLINE - $(date +%s) - 3))
  fi
}

# t CMD...: CMD under `timeout` for what is left of the step; skipped when less than 5 s are left.
# Each `timeout` leads a process group of its own, which the step's TERM trap (at --run-step)
# ends too: a step stopped from outside leaves nothing running.
KIDS=()
t() {
  local s rc
  s=$(left)
  if [ "$s" -lt 5 ]; then
    echo "skipped (${s} s left in this step): $*"
    return 124
  fi
  if [ "$DRY" = 1 ]; then
    x timeout -k 3 "$s" "$@"
    return
  fi
  show timeout -k 3 "$s" "$@"
  timeout -k 3 "$s" "$@" &  # not through x: $! must be timeout's own pid
  KIDS+=($!)
  wait $!
  rc=$?
  unset 'KIDS[${#KIDS[@]}-1]'
  return $rc
}

# worse RC1 RC2: a failure (1) over a timeout (124) over success (0), for steps of several commands.
worse() {
  if { [ "$1" != 0 ] && [ "$1" != 124 ] && [ "$1" != 137 ]; } || { [ "$2" != 0 ] && [ "$2" != 124 ] && [ "$2" != 137 ]; }; then
    echo 1
  elif [ "$1" != 0 ] || [ "$2" != 0 ]; then
    echo 124
  else
    echo 0
  fi
}

end_kids() {
  local p
  for p in ${KIDS[@]+"${KIDS[@]}"}; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
}

need_node() {
  [ "$DRY" = 1 ] && return 0
  command -v node >/dev/null 2>&1 || { echo "node not found (run scripts/pack-device.sh and carry $CARRY): skipped"; return 2; }
  [ -d node_modules ] || { echo "node_modules missing (carry $CARRY/bundle.tar.xz): skipped"; return 2; }
  [ -f dist/index.js ] || { echo "dist/ missing (carry $CARRY/bundle.tar.xz, or build it): skipped"; return 2; }
}

need_bin() {
  [ "$DRY" = 1 ] && return 0
  [ -x "$BIN" ] || { echo "no $BIN: the bin or build step did not run or failed: skipped"; return 2; }
}

# ---- steps ---------------------------------------------------------------------------------------
step_env() {
  local rc=0 envfile=$BUILD/env.sh
  x nvidia-smi || rc=1
  x nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
  [ "$DRY" = 1 ] || { : > "$envfile"; mkdir -p "$BUILD/bin"; }
  if ! command -v node >/dev/null 2>&1 || [ "$DRY" = 1 ]; then
    if [ -f "$CARRY/node.xz" ] || [ "$DRY" = 1 ]; then
      x sh -c "xz -dc \"$CARRY/node.xz\" > \"$BUILD/bin/node\" && chmod +x \"$BUILD/bin/node\"" || rc=1
      [ "$DRY" = 1 ] || echo "export PATH='$BUILD/bin':\"\$PATH\"" >> "$envfile"
      export PATH="$BUILD/bin:$PATH"
    fi
  fi
  if [ ! -d node_modules ] || [ ! -f dist/index.js ] || [ "$DRY" = 1 ]; then
    if [ -f "$CARRY/bundle.tar.xz" ] || [ "$DRY" = 1 ]; then
      # a dangling node_modules link (a worktree's) would send tar through it
      [ -L node_modules ] && [ ! -e node_modules ] && x rm -f node_modules
      x tar -xJf "$CARRY/bundle.tar.xz" || rc=1
    fi
  fi
  # cuBLAS: the dynamic loader's, else PyTorch's wheel under site-packages (CTXWIN_CUBLAS_PATH)
  if [ -z "${CTXWIN_CUBLAS_PATH:-}" ]; then
    if [ "$DRY" = 0 ] && ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.[0-9]'; then
      echo "cuBLAS: the dynamic loader finds $(ldconfig -p | grep -o 'libcublas\.so\.[0-9]*' | sort -u | tr '\n' ' ')"
    else
      x python3 scripts/find-cublas.py 13
      if [ "$DRY" = 0 ]; then
        local found
        found=$(python3 scripts/find-cublas.py 13 2>/dev/null | head -1)
        if [ -n "$found" ]; then
          echo "export CTXWIN_CUBLAS_PATH='$found'" >> "$envfile"
          echo "cuBLAS for the addon: CTXWIN_CUBLAS_PATH=$found"
        else
          echo "cuBLAS: none found (the fallback GEMM will run)"
        fi
      fi
    fi
  fi
  x node --version || true
  x nvcc --version || true
  x python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "python", sys.version.split()[0])' || true
  return $rc
}

step_smi() { x nvidia-smi; }

step_build() {
  local flags=(-std=c++17 -O3 -lineinfo -Inative/include -Inative/src -gencode "arch=compute_${ARCH},code=sm_${ARCH}" -Xcompiler -Wall -Xcompiler -pthread)
  local obj=$BUILD/obj pids=() files=(native/src/cuda/attention*.cu native/test/cuda_attention_test.cu) f rc=0 s
  [ "$DRY" = 1 ] || mkdir -p "$obj"
  s=$(left)
  for f in "${files[@]}"; do  # in parallel: one nvcc per file
    if [ "$DRY" = 1 ]; then
      x timeout -k 3 "$s" nvcc "${flags[@]}" -c "$f" -o "$obj/$(basename "$f").o"
      continue
    fi
    show timeout -k 3 "$s" nvcc "${flags[@]}" -c "$f" -o "$obj/$(basename "$f").o"
    timeout -k 3 "$s" nvcc "${flags[@]}" -c "$f" -o "$obj/$(basename "$f").o" > "$obj/$(basename "$f").log" 2>&1 &
    pids+=($!)
    KIDS+=($!)
  done
  x g++ -std=c++17 -O2 -Wall -Inative/include -c native/src/common/positional.cpp -o "$obj/positional.o" || rc=1
  for f in "${pids[@]}"; do wait "$f" || rc=1; done
  [ "$DRY" = 1 ] || cat "$obj"/*.log
  [ $rc -eq 0 ] || return 1
  x nvcc -o "$BIN" "$obj"/attention*.cu.o "$obj/cuda_attention_test.cu.o" "$obj/positional.o" -lpthread || return 1
  [ "$DRY" = 1 ] && return 0
  local warnings
  warnings=$(cat "$obj"/*.log | grep -ci "warning")
  echo "warnings: $warnings"
  [ "$warnings" -eq 0 ]
}

step_bin() {
  if carried_bin_ok; then
    echo "carried: $CARRY/cuda_attention_test.xz ($(head -2 "$CARRY/cuda_attention_test.stamp" | tr '\n' ' '))"
    x sh -c "xz -dc \"$CARRY/cuda_attention_test.xz\" > \"$BIN.part\" && chmod +x \"$BIN.part\" && mv \"$BIN.part\" \"$BIN\"" || return 1
    command -v cuobjdump >/dev/null 2>&1 && x cuobjdump --list-elf "$BIN"
    return 0
  fi
  if [ -f "$CARRY/cuda_attention_test.xz" ]; then
    echo "$CARRY/cuda_attention_test.xz is stale (other sources or arch than $ARCH): building here"
  else
    echo "no carried $CARRY/cuda_attention_test.xz (scripts/pack-device.sh makes it): building here"
  fi
  step_build
}

step_long() {
  need_bin || return $?
  local rc=0 dt
  for dt in bf16 f16 f32; do  # the tensor-core dtypes first: what a short call must bring back
    t "$BIN" --long --dtype "$dt" || rc=$(worse $rc $?)
  done
  return $rc
}

step_test() {
  need_bin || return $?
  t "$BIN"
}

step_sanitize() {
  need_bin || return $?
  [ "$DRY" = 1 ] || command -v compute-sanitizer >/dev/null || { echo "compute-sanitizer not found"; return 2; }
  local rc=0
  t compute-sanitizer --error-exitcode 3 --tool memcheck "$BIN" --quick --dtype bf16 || rc=$(worse $rc $?)
  t compute-sanitizer --error-exitcode 3 --tool memcheck "$BIN" --quick --dtype f32 || rc=$(worse $rc $?)
  t compute-sanitizer --error-exitcode 3 --tool racecheck --racecheck-report hazard "$BIN" --cases tiny --dtype f16 || rc=$(worse $rc $?)
  t compute-sanitizer --error-exitcode 3 --tool racecheck --racecheck-report hazard "$BIN" --cases window-alibi --dtype bf16 || rc=$(worse $rc $?)
  t compute-sanitizer --error-exitcode 3 --tool synccheck "$BIN" --quick --dtype bf16 || rc=$(worse $rc $?)
  t compute-sanitizer --error-exitcode 3 --tool initcheck "$BIN" --cases decode --dtype bf16 || rc=$(worse $rc $?)
  return $rc
}

step_doctor() {
  need_node || return $?
  local rc=0
  t node dist/cli.js doctor || rc=$(worse $rc $?)
  if [ -n "${CTXWIN_CUBLAS_PATH:-}" ] || [ "$DRY" = 1 ]; then
    echo "== without CTXWIN_CUBLAS_PATH: the addon's own search (sonames, then python site-packages)"
    t env -u CTXWIN_CUBLAS_PATH node dist/cli.js doctor || rc=$(worse $rc $?)
  fi
  return $rc
}

step_suites() {
  need_node || return $?
  local rc=0
  t env CTXWIN_TEST_DEVICE=cuda CTXWIN_GPU_TESTS=1 "${VITEST[@]}" test/gpu test/ops test/attention.forward.test.ts \
    test/attention.backward.test.ts test/attention.lowp.test.ts test/attention.padding.test.ts test/nn test/models test/train test/hf-parity.test.ts || rc=$(worse $rc $?)
  t env CTXWIN_CUBLAS=0 CTXWIN_TEST_DEVICE=cuda "${VITEST[@]}" test/ops/matmul.test.ts || rc=$(worse $rc $?)
  return $rc
}

step_bench() {
  need_bin || return $?
  t "$BIN" --bench
}

step_torch() {
  local targs=()
  case $PLAN in first) targs=(--T 8192 --causal yes) ;; esac
  [ -n "${BENCH_T:-}" ] && targs=(--T $BENCH_T)
  t env PYTHONUNBUFFERED=1 python3 bench/torch_baselines.py "${targs[@]}"
}

step_merge() {
  if [ "$DRY" = 0 ] && ! grep -qE '^[a-z-]+ +\| (yes|no) +\|' "$LOG/bench.log" 2>/dev/null; then
    echo "no benchmark rows in bench.log (the bench step did not run on a GPU): skipped"
    return 2
  fi
  local theirs=()
  [ "$DRY" = 0 ] && [ ! -f "$LOG/torch.log" ] || theirs=(--torch "$LOG/torch.log")
  t python3 bench/attention-cuda.py --ours "$LOG/bench.log" "${theirs[@]}"
}

step_addon() {
  need_node || return $?
  if [ "$DRY" = 0 ] && [ -f build-cuda/Release/ctxwin_cuda.node ]; then
    echo "== using the carried build-cuda/Release/ctxwin_cuda.node"
  else
    t env CTXWIN_CUDA_ARCHS="$ARCH" node scripts/build-cuda.mjs --force || return 1
  fi
  t node -e 'import("./dist/index.js").then(m => console.log(JSON.stringify(m.backendInfo().cuda)))'
}

step_hf() {
  local fx=$BUILD/hf-fixtures ex=$BUILD/hf-export rc=0 dev
  [ "$DRY" = 1 ] || rm -rf "$fx" "$ex"
  # a failed case is reported and left out; the cases that worked are still checked below
  t env PYTHONUNBUFFERED=1 python3 scripts/hf-parity.py make "$fx" || rc=$(worse $rc $?)
  [ "$DRY" = 1 ] || [ -d "$fx" ] || return 1
  if [ -n "$OUTDIR" ]; then
    x tar -cJf "$OUTDIR/hf-fixtures.tar.xz" -C "$fx" . && echo "fixtures packed: \$OUT/hf-fixtures.tar.xz (unpack into test/fixtures/hf)"
  fi
  need_node || return $?
  for dev in cpu cuda; do
    t env CTXWIN_TEST_DEVICE=$dev CTXWIN_HF_FIXTURES="$fx" "${VITEST[@]}" test/hf-parity.test.ts || rc=$(worse $rc $?)
  done
  t node scripts/hf-export.mjs "$ex" || rc=$(worse $rc $?)
  t env PYTHONUNBUFFERED=1 python3 scripts/hf-parity.py check "$ex" || rc=$(worse $rc $?)
  return $rc
}

step_gemm() {
  need_node || return $?
  t node bench/gemm-cuda.mjs
}

step_models() {
  need_node || return $?
  local rc=0
  t node bench/train.mjs --device cuda --d 1024 --layers 8 --heads 16 --seq 1024 --batch 8 --vocab 32000 || rc=$(worse $rc $?)
  t node bench/forward.mjs --device cuda --d 1024 --layers 8 --heads 16 --seq 1024 --batch 8 --prompt 512 --gen 64 --vocab 32000 || rc=$(worse $rc $?)
  return $rc
}

# One line of notes per step, read from its log.
note_of() {
  local s=$1 f=$LOG/$1.log
  [ -f "$f" ] || return 0
  case $s in
    long | test) grep -E "^== [0-9]+ runs|FAIL|ERROR|no CUDA device|skipped \(" "$f" | head -8 ;;
    build) grep -E "^warnings:" "$f" ;;
    bin) grep -E "^carried|stale|no carried|^warnings:" "$f" | head -2 ;;
    env) grep -E "^cuBLAS|^v[0-9]+\.|^torch " "$f" ;;
    doctor) grep -E "^ *(gemm|smoke test|device|name) |^cuda backend" "$f" | tr -s ' ' ;;
    suites | hf) grep -E "^ *(Tests|Test Files) " "$f" | tr -s ' ' ;;
    sanitize) grep -E "ERROR SUMMARY" "$f" | sort | uniq -c | tr -s ' ' ;;
    torch) grep -E "^== flex|INVALID" "$f" | head -4 ;;
    merge) grep -E "MET|not measured" "$f" | cut -c1-80 ;;
  esac
}

# ---- arguments -----------------------------------------------------------------------------------
ARGS=()
for a in "$@"; do
  case $a in
    --dry-run) DRY=1 ;;
    --src-hash) src_hash; exit 0 ;;
    --run-step) ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$a") ;;
  esac
done

# A step in its own process (the driver below runs it under `timeout`).
if [ "${1:-}" = --run-step ]; then
  PLAN=${GPU_CHECK_PLAN:-all}
  STEP_DEADLINE=${GPU_CHECK_STEP_DEADLINE:?}
  # shellcheck disable=SC1091
  [ -f "$BUILD/env.sh" ] && . "$BUILD/env.sh"
  trap 'end_kids; exit 143' TERM INT HUP
  "step_${ARGS[0]}"
  exit $?
fi

PLAN=all
STEPS=()
if [ ${#ARGS[@]} -eq 0 ]; then
  read -r -a STEPS <<< "$(plan_steps all)"
elif [ ${#ARGS[@]} -eq 1 ] && plan_steps "${ARGS[0]}" >/dev/null; then
  PLAN=${ARGS[0]}
  read -r -a STEPS <<< "$(plan_steps "$PLAN")"
else
  PLAN=custom
  STEPS=("${ARGS[@]}")
fi
for s in "${STEPS[@]}"; do
  declare -F "step_$s" >/dev/null || { echo "gpu-check: unknown step or plan: $s (plans: first, second, all)" >&2; exit 2; }
done
case "$BUDGET$CALL_LIMIT$MARGIN" in *[!0-9]*) echo "gpu-check: GPU_CHECK_BUDGET, _CALL_LIMIT, _MARGIN must be whole seconds" >&2; exit 2 ;; esac
if [ "$BUDGET" -ge "$CALL_LIMIT" ]; then
  echo "gpu-check: GPU_CHECK_BUDGET=$BUDGET is not below the call limit $CALL_LIMIT: using $((CALL_LIMIT * 9 / 10))" >&2
  BUDGET=$((CALL_LIMIT * 9 / 10))
fi
USABLE=$((BUDGET - MARGIN))
export GPU_CHECK_PLAN=$PLAN

# ---- dry run -------------------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  plan_total=0
  for s in "${STEPS[@]}"; do read -r b _ <<< "$(budget_of "$PLAN" "$s")"; plan_total=$((plan_total + b)); done
  echo "gpu-check plan $PLAN (dry run: nothing is run): budget ${BUDGET} s of a ${CALL_LIMIT} s call, ${MARGIN} s of it kept for packing; the plan's budgets add up to ${plan_total} s"
  if carried_bin_ok; then echo "carried: $CARRY/cuda_attention_test.xz matches the sources (sm_$ARCH)"; else echo "carried: no up-to-date $CARRY/cuda_attention_test.xz: the bin step builds (scripts/pack-device.sh avoids it)"; fi
  used=0
  for s in "${STEPS[@]}"; do
    read -r b m <<< "$(budget_of "$PLAN" "$s")"
    avail=$((USABLE - used))
    to=$((b < avail ? b : avail))
    if [ "$to" -lt "$m" ]; then
      echo "skip $s budget=$b min=$m: only ${avail} s left if every earlier step uses its whole budget"
      continue
    fi
    echo "step $s budget=$b timeout=$to min=$m log=logs/$s.log"
    STEP_TIMEOUT=$to "step_$s" 2>&1 | sed 's/^/    /'
    used=$((used + to))
  done
  echo "total: ${used} s scheduled of ${USABLE} s usable (budget ${BUDGET} s - margin ${MARGIN} s); call limit ${CALL_LIMIT} s"
  echo "out: after every step \$OUT/summary.txt and \$OUT/gpu-check-logs.tar.gz (logs/<step>.log of each finished step); while a step runs \$OUT/running-step.log; results.md after merge, hf-fixtures.tar.xz after hf (at most 5 files: the device tool brings back 8)"
  exit 0
fi

# ---- run -----------------------------------------------------------------------------------------
START=$(date +%s)
mkdir -p "$LOG"
# this run's steps start afresh; logs of other steps (an earlier run's bench.log for merge) stay
for s in "${STEPS[@]}"; do rm -f "$LOG/$s.log"; done
rm -f "$LOG/summary.txt"
[ "${STEPS[0]}" = env ] && rm -f "$BUILD/env.sh"
[ -n "$OUTDIR" ] && mkdir -p "$OUTDIR"
declare -A ST SEC LIM NOTE
for s in "${STEPS[@]}"; do ST[$s]=pending; SEC[$s]=""; read -r b _ <<< "$(budget_of "$PLAN" "$s")"; LIM[$s]=$b; NOTE[$s]=""; done
RUNNING=""

summary() {
  local now s
  now=$(date +%s)
  echo "gpu-check plan $PLAN on $(hostname 2>/dev/null || echo '?'): budget ${BUDGET} s (call limit ${CALL_LIMIT} s), started $(date -u -d "@$START" '+%F %T' 2>/dev/null || echo "$START") UTC, $((now - START)) s elapsed"
  printf '%-9s | %-9s | %5s | %5s | %s\n' step status sec limit note
  for s in "${STEPS[@]}"; do
    printf '%-9s | %-9s | %5s | %5s | %s\n' "$s" "${ST[$s]}" "${SEC[$s]}" "${LIM[$s]}" "${NOTE[$s]}"
  done
  [ -n "$RUNNING" ] && echo "running: $RUNNING (its output so far: running-step.log)"
  [ -f "$LOG/results.md" ] && grep -E "^- " "$LOG/results.md"
  echo "logs: gpu-check-logs.tar.gz (logs/<step>.log)"
}

# After every step: summary.txt and the tarball of the finished steps' logs (a log over 4 MiB keeps
# its last 4 MiB; the tarball must stay under the tool's 16 MiB per file).
publish() {
  [ -n "$OUTDIR" ] || return 0
  summary > "$OUTDIR/summary.txt.part" && mv -f "$OUTDIR/summary.txt.part" "$OUTDIR/summary.txt"
  local f
  for f in "$LOG"/*.log; do
    [ -f "$f" ] || continue
    if [ "$(stat -c %s "$f")" -gt 4194304 ]; then
      tail -c 4194304 "$f" > "$f.cut" && mv -f "$f.cut" "$f"
    fi
  done
  tar -czf "$OUTDIR/gpu-check-logs.tar.gz.part" -C "$BUILD" logs 2>/dev/null &&
    mv -f "$OUTDIR/gpu-check-logs.tar.gz.part" "$OUTDIR/gpu-check-logs.tar.gz"
  [ -f "$LOG/results.md" ] && cp -f "$LOG/results.md" "$OUTDIR/results.md"
  return 0
}

# Stopped from outside (the call's own limit, ^C): end the running step's process group, say so.
STEP_PID=""
on_signal() {
  trap - TERM INT HUP
  if [ -n "$STEP_PID" ]; then
    kill -TERM -- "-$STEP_PID" 2>/dev/null || kill -TERM "$STEP_PID" 2>/dev/null
  fi
  [ -n "$RUNNING" ] && RUNNING="$RUNNING; INTERRUPTED by a signal after $(($(date +%s) - START)) s"
  publish
  exit 143
}
trap on_signal TERM INT HUP

echo "gpu-check plan $PLAN: ${STEPS[*]}; budget ${BUDGET} s (call limit ${CALL_LIMIT} s)"
for s in "${STEPS[@]}"; do
  read -r b m <<< "$(budget_of "$PLAN" "$s")"
  now=$(date +%s)
  avail=$((START + USABLE - now))
  to=$((b < avail ? b : avail))
  if [ "$to" -lt "$m" ]; then
    ST[$s]=skipped
    NOTE[$s]="no time: needs >= $m s, ${avail} s left"
    echo "================ $s: skipped (${NOTE[$s]})"
    publish
    continue
  fi
  LIM[$s]=$to
  RUNNING="$s since $(date -u '+%T') UTC, timeout $to s"
  ST[$s]=running
  publish
  echo
  echo "================ $s (timeout $to s)"
  live=$LOG/$s.log
  [ -n "$OUTDIR" ] && live=$OUTDIR/running-step.log
  t0=$(date +%s)
  # `timeout` leads its own process group: on expiry it signals the whole step (vitest's workers
  # too), and so does the trap above when this script is stopped
  GPU_CHECK_STEP_DEADLINE=$((t0 + to)) timeout -k 5 "$to" bash "$SELF" --run-step "$s" < /dev/null > >(tee "$live") 2>&1 &
  STEP_PID=$!
  wait "$STEP_PID"
  rc=$?
  STEP_PID=""
  wait  # tee
  [ "$live" != "$LOG/$s.log" ] && mv -f "$live" "$LOG/$s.log"
  SEC[$s]=$(($(date +%s) - t0))
  case $rc in
    0) ST[$s]=ok ;;
    2) ST[$s]=skipped ;;
    124 | 137) ST[$s]=timeout ;;
    *) ST[$s]="FAIL($rc)" ;;
  esac
  # the attention test exits 0 without a GPU: say so
  [ "$rc" = 0 ] && grep -q "^no CUDA device: skipped" "$LOG/$s.log" && ST[$s]="no-gpu"
  [ "$s" = merge ] && [ "$rc" = 0 ] && grep -v '^\$ ' "$LOG/merge.log" > "$LOG/results.md"
  NOTE[$s]=$(note_of "$s" | awk '!seen[$0]++' | paste -sd ';' - | cut -c1-300)
  case $rc in
    124 | 137) NOTE[$s]="timed out at $to s; ${NOTE[$s]:-last line: $(grep -v '^ *$' "$LOG/$s.log" | tail -1 | cut -c1-150)}" ;;
    2) [ -n "${NOTE[$s]}" ] || NOTE[$s]=$(grep -v '^ *$' "$LOG/$s.log" | tail -1 | cut -c1-200) ;;
  esac
  RUNNING=""
  publish
done

echo
summary | tee "$LOG/summary.txt"
publish
for s in "${STEPS[@]}"; do
  case ${ST[$s]} in FAIL* | timeout) exit 1 ;; esac
done
exit 0
