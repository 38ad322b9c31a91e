#!/usr/bin/env python3
"""PyTorch baselines for the CUDA attention benchmark (bench/attention-cuda.py, the companion of
`cuda_attention_test --bench`): same shapes, same FLOP formula, same table format.

Shapes: B*T = 16384 tokens, 16 heads, D = 128, bf16, T = 1k..16k, causal and not.
FLOPs: fwd = 4*B*H*T*T*D (halved when causal; with a window: 4*B*H*D*visible pairs), fwd+bwd = 3.5x fwd.
Baselines:
  sdpa-flash        torch SDPA, FLASH_ATTENTION backend, no positional scheme
  sdpa-cudnn        torch SDPA, CUDNN_ATTENTION backend, no positional scheme
  flex-alibi        FlexAttention (torch.compile) with an ALiBi score_mod (+ causal block mask)
  flex-window       FlexAttention with a sliding-window mask_mod (window 1024)
  yarn+sdpa-flash   YaRN rotary (rotate-half, attention factor) applied to q and k in PyTorch, then
                    SDPA flash; timed together; "effective" TFLOP/s with the attention FLOPs only
  alibi-bias-sdpa   ALiBi as a materialised additive bias, SDPA (efficient-attention backend); fwd only
Inputs are random (never zeros), in the [B, T, H, D] layout of ctxwin, viewed as [B, H, T, D].

FlexAttention is compiled once per shape and mode (forward / forward + backward): its score_mod and
mask_mods are made once (make_mods), the ALiBi slopes and the window being tensors they capture, so
no case brings a new function for Dynamo to guard on; the recompile limit is raised to the number of
(shape, mode) pairs and hitting it raises instead of running Flex eagerly. A counting backend (the
inductor backend behind a counter) counts the compiles of each row: a Flex row that compiled other
than once, compiled while being timed, or ran eagerly (PyTorch's "without torch.compile" warning) is
marked INVALID (TFLOP/s nan, the reason in the row's note), and the script exits with status 3.
Usage: python3 bench/torch_baselines.py [--T 4096 8192] [--causal yes|no|both] [--only flex-alibi ...]
       [--no-backward]
"""
import argparse
import math
import sys
import warnings

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print("torch_baselines: PyTorch is not installed: skipped")
    sys.exit(0)

H, D, TOKENS, WINDOW = 16, 128, 16384, 1024


def alibi_slopes(n):
    def pow2(m):
        start = 2.0 ** (-8.0 / m)
        return [start ** (i + 1) for i in range(m)]

    if n & (n - 1) == 0:
        return pow2(n)
    c = 1 << (n.bit_length() - 1)
    return pow2(c) + pow2(2 * c)[0::2][: n - c]


def visible_pairs(T, causal, window):
    if window <= 0:
        return T * T * (0.5 if causal else 1.0)
    total = 0
    for p in range(T):
        if causal:
            lo, hi = max(0, p - window + 1), p
        else:
            lo, hi = max(0, p - window + 1), min(T - 1, p + window - 1)
        total += max(0, hi - lo + 1)
    return float(total)


def yarn_cos_sin(T, dim, factor=4.0, L0=None, beta_fast=32.0, beta_slow=1.0, theta=10000.0, device="cuda"):
    """cos/sin [T, dim/2] * attention factor, as docs/design.md, "Positional conventions"
    (truncate = True)."""
    L0 = L0 or max(256, T // 4)
    R = dim
    inv = 1.0 / (theta ** (torch.arange(0, R, 2, dtype=torch.float64) / R))

    def corr(rot):
        return (R * math.log(L0 / (rot * 2 * math.pi))) / (2 * math.log(theta))

    low, high = math.floor(corr(beta_fast)), math.ceil(corr(beta_slow))
    low, high = max(low, 0), min(high, R - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(R // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    inv = (inv / factor) * ramp + inv * (1 - ramp)
    af = 0.1 * math.log(factor) + 1.0
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return (ang.cos() * af).float().to(device), (ang.sin() * af).float().to(device)


def rotate_half(x, cos, sin):
    # x [B, T, H, D]; cos/sin [T, D/2]
    h = x.shape[-1] // 2
    c = cos[None, :, None, :].to(x.dtype)
    s = sin[None, :, None, :].to(x.dtype)
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)


def time_ms(fn, compiles=lambda: 0):
    """Mean ms of fn over up to 50 calls after two warm-up calls; and how many compiles happened
    during the timed calls (0 unless something recompiled there)."""
    fn()
    fn()
    torch.cuda.synchronize()
    c0 = compiles()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    fn()
    e1.record()
    e1.synchronize()
    one = max(e0.elapsed_time(e1), 0.01)
    reps = int(min(50, max(3, 300.0 / one)))
    e0.record()
    for _ in range(reps):
        fn()
    e1.record()
    e1.synchronize()
    return e0.elapsed_time(e1) / reps, compiles() - c0


class CompileCounter:
    """A torch.compile backend: counts the graphs Dynamo hands over, compiles each with inductor."""

    def __init__(self):
        self.count = 0
        try:
            from torch._dynamo.backends.registry import lookup_backend

            self.inner = lookup_backend("inductor")
        except Exception:  # pragma: no cover - older layouts
            from torch._inductor.compile_fx import compile_fx

            self.inner = compile_fx

    def __call__(self, gm, example_inputs):
        self.count += 1
        return self.inner(gm, example_inputs)


def configure_dynamo(limit):
    """Room for one compile per (shape, mode) of flex_attention (one code object, so they all count
    against one recompile limit), and an error instead of the silent eager fallback past it."""
    cfg = torch._dynamo.config
    got = {}
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(int(getattr(cfg, name)), limit))
            got[name] = getattr(cfg, name)
    for name in ("accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(int(getattr(cfg, name)), 4 * limit))
    for name in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):
        if hasattr(cfg, name) and not getattr(cfg, "suppress_errors", False):
            setattr(cfg, name, True)
            got[name] = True
    try:  # why each recompile happened, in the log
        torch._logging.set_logs(recompiles=True)
    except Exception:
        pass
    return got


def make_mods(slopes, window):
    """FlexAttention's score_mod (ALiBi) and mask_mods, made once per run: slopes [H] and window
    (a 0-d tensor) are captured tensors, so every shape sees the same functions."""

    def alibi(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (q_idx - kv_idx).abs()

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def window_causal(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx < window)

    def window_both(b, h, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() < window

    return alibi, causal, window_causal, window_both


def reset_flex_warnings():
    """PyTorch warns once per process that flex_attention ran without torch.compile: forget that
    it did, so that each row's own eager run warns again."""
    try:
        import torch.nn.attention.flex_attention as fa

        for name in ("_WARNINGS_SHOWN", "_warnings_shown"):
            reg = getattr(fa, name, None)
            if hasattr(reg, "clear"):
                reg.clear()
    except Exception:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, nargs="*", default=[1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--causal", choices=("yes", "no", "both"), default="both")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--no-backward", action="store_true")
    args = ap.parse_args()
    args.T = list(dict.fromkeys(args.T))  # each shape once: a repeated one would not compile again
    if not torch.cuda.is_available():
        print("torch_baselines: no CUDA device: skipped")
        return 0
    from torch.nn.attention import SDPBackend, sdpa_kernel

    causals = {"yes": (True,), "no": (False,), "both": (True, False)}[args.causal]
    dev = torch.device("cuda")
    counter = CompileCounter()
    n_keys = len(args.T) * len(causals) * 2 * 2  # (T, causal, flex-alibi / flex-window, fwd / f+b)
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        dyn = configure_dynamo(n_keys + 8)
        flex = torch.compile(flex_attention, dynamic=False, backend=counter)
        print(f"== flex setup: one torch.compile(flex_attention, dynamic=False) with a counting inductor backend; "
              f"dynamo {dyn}")
    except Exception as e:  # pragma: no cover
        print(f"# FlexAttention unavailable: {e}")
        flex = None
    print(f"== torch baselines: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, bf16, D={D}, H={H}, "
          f"B*T={TOKENS}; FLOPs fwd = 4*B*H*T*T*D (/2 causal; window: exact visible pairs), fwd+bwd = 3.5x fwd")
    print(f"{'scheme':<17} | {'causal':<6} | {'T':>5} | {'B':>3} | {'path':<10} | {'fwd ms':>9} | {'fwd TFLOP/s':>11} | "
          f"{'f+b ms':>9} | {'f+b TFLOP/s':>11}")
    slopes = torch.tensor(alibi_slopes(H), device=dev, dtype=torch.float32)
    alibi_mod, causal_mod, window_causal_mod, window_both_mod = make_mods(
        slopes, torch.tensor(WINDOW, device=dev, dtype=torch.int32))
    flex_rows, flex_invalid = 0, []
    g = torch.Generator(device=dev)
    g.manual_seed(0)

    def rnd(B, T, amp):
        x = (torch.rand(B, T, H, D, device=dev, generator=g) * 2 - 1) * amp
        x = torch.where(x == 0, torch.full_like(x, 1e-3), x)
        return x.to(torch.bfloat16)

    for T in args.T:
        B = TOKENS // T
        q0, k0, v0, do0 = rnd(B, T, 2.0), rnd(B, T, 2.0), rnd(B, T, 1.0), rnd(B, T, 1.0)
        for causal in causals:
            baselines = {}

            def sdpa_with(backend):
                def run(q, k, v):
                    with sdpa_kernel([backend]):
                        return F.scaled_dot_product_attention(
                            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal).transpose(1, 2)
                return run

            baselines["sdpa-flash"] = (sdpa_with(SDPBackend.FLASH_ATTENTION), 0)
            baselines["sdpa-cudnn"] = (sdpa_with(SDPBackend.CUDNN_ATTENTION), 0)
            if flex is not None:
                # block masks: one per (T, causal), from the mask_mods made once above
                causal_mask = create_block_mask(causal_mod, None, None, T, T, device=dev) if causal else None
                win_mask = create_block_mask(window_causal_mod if causal else window_both_mod, None, None, T, T,
                                             device=dev)

                def flex_alibi(q, k, v, bm=causal_mask):
                    return flex(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), score_mod=alibi_mod,
                                block_mask=bm).transpose(1, 2)

                def flex_window(q, k, v, bm=win_mask):
                    return flex(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=bm).transpose(1, 2)

                baselines["flex-alibi"] = (flex_alibi, 0)
                baselines["flex-window"] = (flex_window, WINDOW)
            cos, sin = yarn_cos_sin(T, D)
            flash = sdpa_with(SDPBackend.FLASH_ATTENTION)

            def yarn_flash(q, k, v):
                return flash(rotate_half(q, cos, sin), rotate_half(k, cos, sin), v)

            baselines["yarn+sdpa-flash"] = (yarn_flash, 0)

            bias_cache = {}

            def alibi_bias(q, k, v):
                # the bias is built once (as a model would cache it); only the attention is timed
                if "b" not in bias_cache:
                    pos = torch.arange(T, device=dev)
                    dist = (pos[:, None] - pos[None, :]).abs().to(torch.bfloat16)
                    bias = -slopes.to(torch.bfloat16)[:, None, None] * dist[None]
                    if causal:
                        bias = bias.masked_fill(pos[None, :, None] < pos[None, None, :], float("-inf"))
                    bias_cache["b"] = bias[None].expand(B, H, T, T)
                with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
                    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                          attn_mask=bias_cache["b"]).transpose(1, 2)

            baselines["alibi-bias-sdpa"] = (alibi_bias, -1)

            for name, (fn, window) in baselines.items():
                bias_cache.clear()
                if args.only and name not in args.only:
                    continue
                pairs = visible_pairs(T, causal, max(window, 0))
                flops = 4.0 * B * H * D * pairs
                fwd_ms = fb_ms = float("nan")
                is_flex = name.startswith("flex-")
                invalid = []
                compiles = {}
                caught = []
                note = ""
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        reset_flex_warnings()
                        c0 = counter.count
                        with torch.no_grad():
                            fwd_ms, timed_c = time_ms(lambda: fn(q0, k0, v0), lambda: counter.count)
                        compiles["fwd"] = counter.count - c0
                        if timed_c:
                            invalid.append(f"fwd recompiled {timed_c}x while timed")
                        if not args.no_backward and window != -1:
                            q, k, v = (x.detach().clone().requires_grad_(True) for x in (q0, k0, v0))

                            def fb():
                                out = fn(q, k, v)
                                torch.autograd.grad(out, (q, k, v), do0)

                            c1 = counter.count
                            fb_ms, timed_c = time_ms(fb, lambda: counter.count)
                            compiles["f+b"] = counter.count - c1
                            if timed_c:
                                invalid.append(f"f+b recompiled {timed_c}x while timed")
                except Exception as e:  # unsupported backend / OOM / recompile limit: report and go on
                    kind = type(e).__name__
                    note = f"  # {kind}: {str(e).splitlines()[0][:100] if str(e) else ''}"
                    if is_flex and ("Recompile" in kind or "CacheLimit" in kind or "recompile" in str(e)):
                        invalid.append("recompile limit hit (Flex would have run eagerly)")
                    torch.cuda.empty_cache()
                if is_flex:
                    flex_rows += 1
                    if any("without torch.compile" in str(w.message) for w in caught):
                        invalid.append("ran eagerly (flex_attention called without torch.compile)")
                    for mode, c in compiles.items():
                        if c != 1:  # every (shape, mode) here is new: exactly one compile expected
                            invalid.append(f"{mode} compiled {c}x (expected once per shape)")
                    note += "  # compiles " + ", ".join(f"{m} {c}" for m, c in compiles.items())
                tf = flops / (fwd_ms * 1e-3) / 1e12 if fwd_ms == fwd_ms else float("nan")
                tfb = 3.5 * flops / (fb_ms * 1e-3) / 1e12 if fb_ms == fb_ms else float("nan")
                if invalid:
                    flex_invalid.append(f"{name} causal={causal} T={T}: {'; '.join(invalid)}")
                    tf = tfb = float("nan")
                    note += "  # INVALID: " + "; ".join(invalid)
                print(f"{name:<17} | {'yes' if causal else 'no':<6} | {T:>5} | {B:>3} | {'torch':<10} | {fwd_ms:>9.3f} | "
                      f"{tf:>11.1f} | {fb_ms:>9.3f} | {tfb:>11.1f}{note}", flush=True)
    if flex is not None:
        print(f"== flex compiles: {counter.count} for {flex_rows} rows (one per row and mode expected); "
              f"invalid rows: {len(flex_invalid)}")
        for line in flex_invalid:
            print(f"== flex INVALID: {line}")
    return 3 if flex_invalid else 0


if __name__ == "__main__":
    sys.exit(main())
