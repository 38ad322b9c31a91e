#!/usr/bin/env python3
"""The same-run CPU peer of bench/sft-step.mjs: transformers' LlamaForCausalLM (random weights, the
bench's config, SDPA attention, float32) trained on the same right-padded batch with
torch.optim.AdamW: input_ids + attention_mask, labels -100 on prompt and padding (transformers
shifts labels itself, so the bench passes ids as labels with the same positions masked). Prints
one JSON line {"ms_per_step", "tokens_per_s"} (tokens = real tokens of the batch).

  python3 bench/sft_torch.py --config '{"vocab":4096,...}' --threads 2
"""
import argparse
import json
import sys
import time

try:
    import torch
    import transformers
except ImportError as e:  # pragma: no cover
    print(json.dumps({"skipped": f"PyTorch / transformers not importable: {e}"}))
    sys.exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    c = json.loads(a.config)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
                                   num_attention_heads=c["heads"], num_key_value_heads=c["heads"],
                                   intermediate_size=c["ffn"], max_position_embeddings=c["seq"],
                                   tie_word_embeddings=True, attn_implementation="sdpa")
    model = transformers.LlamaForCausalLM(cfg)
    model.train()
    ids = torch.tensor(c["ids"], dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(c["lengths"]):
        mask[b, :n] = 1
    # labels[b][t] = ids[b][t] where the bench scores the prediction of token t (from position t-1)
    labels = torch.tensor(c["labels"], dtype=torch.long)
    real = int(sum(c["lengths"]))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for step in range(c["warmup"] + c["steps"]):
        t0 = time.perf_counter()
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= c["warmup"]:
            times.append(time.perf_counter() - t0)
    ms = 1000 * min(times)
    print(json.dumps({"ms_per_step": ms, "tokens_per_s": real / ms * 1000, "loss": float(out.loss)}), flush=True)


if __name__ == "__main__":
    main()
