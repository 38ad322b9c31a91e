"""What the same-run PyTorch peers of the CPU benches share (bench/peft_torch.py, bench/sft_torch.py):
the command line (--config JSON, --threads), the set-up, and best-of-n step timing."""
import argparse
import json
import time


def setup(torch, extra=None):
    """Parses --config / --threads (and `extra(ap)` options), sets threads and the seed; returns (config, args)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=0)
    if extra:
        extra(ap)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    return json.loads(a.config), a


def attention_mask(torch, ids, lengths):
    """1 for each row's first lengths[b] positions (right padding), else 0."""
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    return mask


def best_step_ms(step, warmup, steps):
    """Runs step() warmup + steps times; the fastest timed step in ms."""
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * min(times)
