#!/usr/bin/env python3
"""The same-run CPU peer of bench/peft.mjs: transformers' BertForSequenceClassification (random
weights, the bench's config, SDPA attention, float32) trained with torch.optim.AdamW, per method
as peft 0.21 makes it: full fine-tuning, LoRA (r, alpha, target query/value), PREFIX_TUNING (P
virtual tokens; with --projection the MLP reparameterisation). Prints one JSON line per method:
{"method", "ms_per_step", "tokens_per_s", "trainable"} (tokens = real tokens of the batch).

  python3 bench/peft_torch.py --config '{"hidden":256,...}' --methods full lora ptv2 ptv2-mlp
"""
import json
import sys

try:
    import torch
    import transformers
    import peft
except ImportError as e:  # pragma: no cover
    print(json.dumps({"skipped": f"PyTorch / transformers / peft not importable: {e}"}))
    sys.exit(0)
from torch_peer import attention_mask, best_step_ms, setup


def main():
    c, a = setup(torch, lambda ap: ap.add_argument("--methods", nargs="+", required=True))
    cfg = transformers.BertConfig(vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
                                  num_attention_heads=c["heads"], intermediate_size=c["ffn"],
                                  max_position_embeddings=c["maxPositions"], num_labels=c["labels"],
                                  attn_implementation="sdpa")
    ids = torch.tensor(c["ids"], dtype=torch.long)
    mask = attention_mask(torch, ids, c["lengths"])
    labels = torch.tensor(c["labelIds"], dtype=torch.long)
    real = int(sum(c["lengths"]))
    for method in a.methods:
        model = transformers.BertForSequenceClassification(cfg)
        model.train()
        if method == "lora":
            model = peft.get_peft_model(model, peft.LoraConfig(task_type="SEQ_CLS", r=c["loraR"], lora_alpha=c["loraAlpha"], target_modules=["query", "value"], lora_dropout=0.0))
        elif method in ("ptv2", "ptv2-mlp"):
            pc = peft.PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=c["prefix"], prefix_projection=method == "ptv2-mlp", encoder_hidden_size=c["hidden"])
            model = peft.get_peft_model(model, pc)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step():
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        ms = best_step_ms(step, c["warmup"], c["steps"])
        print(json.dumps({"method": method, "ms_per_step": ms, "tokens_per_s": real / ms * 1000, "trainable": sum(p.numel() for p in params)}), flush=True)


if __name__ == "__main__":
    main()
