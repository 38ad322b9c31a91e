#!/usr/bin/env python3
"""The same-run CPU peer of bench/sft-step.mjs: transformers' LlamaForCausalLM (random weights, the
bench's config, SDPA attention, float32) trained on the same right-padded batch with
torch.optim.AdamW: input_ids + attention_mask, labels -100 on prompt and padding (transformers
shifts labels itself, so the bench passes ids as labels with the same positions masked). Prints
one JSON line {"ms_per_step", "tokens_per_s"} (tokens = real tokens of the batch).

  python3 bench/sft_torch.py --config '{"vocab":4096,...}' --threads 2
"""
import json
import sys

try:
    import torch
    import transformers
except ImportError as e:  # pragma: no cover
    print(json.dumps({"skipped": f"PyTorch / transformers not importable: {e}"}))
    sys.exit(0)
from torch_peer import attention_mask, best_step_ms, setup


def main():
    c, _ = setup(torch)
    cfg = transformers.LlamaConfig(vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
                                   num_attention_heads=c["heads"], num_key_value_heads=c["heads"],
                                   intermediate_size=c["ffn"], max_position_embeddings=c["seq"],
                                   tie_word_embeddings=True, attn_implementation="sdpa")
    model = transformers.LlamaForCausalLM(cfg)
    model.train()
    ids = torch.tensor(c["ids"], dtype=torch.long)
    mask = attention_mask(torch, ids, c["lengths"])
    # labels[b][t] = ids[b][t] where the bench scores the prediction of token t (from position t-1)
    labels = torch.tensor(c["labels"], dtype=torch.long)
    real = int(sum(c["lengths"]))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    last = {}

    def step():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        last["loss"] = float(out.loss)

    ms = best_step_ms(step, c["warmup"], c["steps"])
    print(json.dumps({"ms_per_step": ms, "tokens_per_s": real / ms * 1000, "loss": last["loss"]}), flush=True)


if __name__ == "__main__":
    main()
