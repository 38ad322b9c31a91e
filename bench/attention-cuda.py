#!/usr/bin/env python3
"""bench/attention-cuda: ctxwin's CUDA attention against the PyTorch baselines, one markdown table.

Reads the tables printed by `cuda_attention_test --bench` (ours) and `bench/torch_baselines.py`
(theirs) - both `scheme | causal | T | B | path | fwd ms | fwd TFLOP/s | f+b ms | f+b TFLOP/s` - and
prints, per (causal, T), our TFLOP/s per scheme next to the matching baseline and the ratio, plus the
issue's targets at T = 8192 causal. Paste the output into bench/RESULTS.md (it carries date and device).

  python3 bench/attention-cuda.py --ours gpu-check-logs/bench.log --torch gpu-check-logs/torch.log
  python3 bench/attention-cuda.py --run build-cuda-test/cuda_attention_test   # runs both itself
"""
import argparse
import datetime
import math
import os
import subprocess
import sys

# our scheme -> (baseline, what the ratio means)
PAIRS = [
    ("none", "sdpa-cudnn", "vs cuDNN SDPA (no positional)"),
    ("none", "sdpa-flash", "vs SDPA flash (no positional)"),
    ("alibi", "flex-alibi", "vs FlexAttention + ALiBi"),
    ("alibi-pi", "flex-alibi", "vs FlexAttention + ALiBi"),
    ("alibi", "alibi-bias-sdpa", "vs ALiBi bias + SDPA (mem-eff)"),
    ("yarn", "yarn+sdpa-flash", "vs YaRN in PyTorch + SDPA flash"),
    ("window", "flex-window", "vs FlexAttention + window mask"),
]
TARGETS = [  # (ours, baseline, column, minimum ratio) at T = 8192, causal
    ("alibi", "flex-alibi", "fwd", 1.2),
    ("yarn", "yarn+sdpa-flash", "fwd", 1.5),
    ("alibi", "flex-alibi", "fb", 1.1),
    ("none", "sdpa-cudnn", "fwd", 0.9),
]


def parse(text):
    rows, device = {}, ""
    for line in text.splitlines():
        if line.startswith("== "):
            device = device or line[3:].split(",")[0].replace("bench: ", "").replace("torch baselines: ", "")
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 9 or parts[0] in ("scheme",):
            continue
        try:
            T = int(parts[2])
            fwd, fb = float(parts[6]), float(parts[8].split("#")[0])
        except ValueError:
            continue
        rows[(parts[0], parts[1] == "yes", T)] = {"fwd": fwd, "fb": fb, "path": parts[4]}
    return rows, device


def fmt(x):
    return "-" if x is None or x != x else f"{x:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours")
    ap.add_argument("--torch")
    ap.add_argument("--run", help="path of cuda_attention_test: run it and bench/torch_baselines.py")
    args = ap.parse_args()
    if args.run:
        ours_text = subprocess.run([args.run, "--bench"], capture_output=True, text=True).stdout
        here = os.path.dirname(os.path.abspath(__file__))
        torch_text = subprocess.run([sys.executable, os.path.join(here, "torch_baselines.py")], capture_output=True,
                                    text=True).stdout
    else:
        ours_text = open(args.ours).read() if args.ours else ""
        torch_text = open(args.torch).read() if args.torch else ""
    ours, dev = parse(ours_text)
    theirs, dev2 = parse(torch_text)
    if not ours:
        print("attention-cuda: no benchmark rows from cuda_attention_test --bench")
        return 1
    print(f"## CUDA attention vs PyTorch — {dev or dev2}, {datetime.date.today().isoformat()}")
    print()
    print("bf16, D = 128, 16 heads, B*T = 16384 tokens; TFLOP/s with fwd = 4·B·H·T²·D (/2 causal; window 1024: "
          "visible pairs), fwd+bwd = 3.5× fwd. ratio = ours / baseline.")
    print()
    print("| causal | T | ours | baseline | ours fwd | base fwd | ratio | ours f+b | base f+b | ratio | path |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for causal in (True, False):
        for T in sorted({k[2] for k in ours}):
            for mine, base, _ in PAIRS:
                o = ours.get((mine, causal, T))
                b = theirs.get((base, causal, T))
                if not o:
                    continue
                rf = o["fwd"] / b["fwd"] if b and b["fwd"] == b["fwd"] and b["fwd"] > 0 else None
                rb = o["fb"] / b["fb"] if b and b["fb"] == b["fb"] and b["fb"] > 0 else None
                print(f"| {'yes' if causal else 'no'} | {T} | {mine} | {base} | {fmt(o['fwd'])} | "
                      f"{fmt(b['fwd']) if b else '-'} | {fmt(rf) if rf is None else f'{rf:.2f}'} | {fmt(o['fb'])} | "
                      f"{fmt(b['fb']) if b else '-'} | {'-' if rb is None else f'{rb:.2f}'} | {o['path']} |")
    print()
    print("Targets (issue 4), T = 8192, causal:")
    for mine, base, col, need in TARGETS:
        o, b = ours.get((mine, True, 8192)), theirs.get((base, True, 8192))
        if not o or not b or not (b[col] == b[col]) or b[col] <= 0:
            print(f"- {mine} {col} vs {base} >= {need}x: not measured")
            continue
        r = o[col] / b[col]
        print(f"- {mine} {col} vs {base} >= {need}x: {r:.2f}x ({o[col]:.1f} vs {b[col]:.1f} TFLOP/s) "
              f"{'MET' if r >= need else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
