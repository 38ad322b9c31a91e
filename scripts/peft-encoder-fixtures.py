#!/usr/bin/env python3
"""PEFT adapter parity fixtures for encoders (BERT / RoBERTa classifiers), both directions, made
with peft 0.21 + transformers 5.x (CPU float32). Base models: the random-weight checkpoints of
scripts/encoder-fixtures.py (test/fixtures/encoders/{bert-seqcls, bert-tokcls, roberta-seqcls}:
hidden 32, 2 layers, 4 heads).

  python scripts/peft-encoder-fixtures.py make test/fixtures/peft-encoders/peft
      (a) adapters made by peft: OUT/<case>/{adapter_config.json, adapter_model.safetensors,
      expected.json}; every trainable tensor randomised (LoRA B too, which PEFT zero-inits), then
      saved, loaded back with PeftModel.from_pretrained and run on a padded batch (lengths 9, 6).
      expected.json: base, input_ids, attention_mask, token_type_ids, lengths, logits. The script
      also checks that the reloaded adapter gives the in-memory model's logits.
  node scripts/peft-encoder-export.mjs test/fixtures/peft-encoders/ctxwin
      (b) adapters saved by ctxwin's saveAdapter, with ctxwin's logits (ctxwin.json), then
  python scripts/peft-encoder-fixtures.py check test/fixtures/peft-encoders/ctxwin
      loads each with peft (PeftModel.from_pretrained on the base model), writes peft's logits to
      <case>/expected.json and compares them with ctxwin.json (exit 1 past 1e-4).
test/peft/encoder-peft.test.ts checks ctxwin's logits against every expected.json (1e-4).
"""
import json
import os
import sys

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, PrefixTuningConfig, get_peft_model
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

HERE = os.path.dirname(os.path.abspath(__file__))
BASES = os.path.join(HERE, "..", "test", "fixtures", "encoders")


def r9(x):
    if isinstance(x, list):
        return [r9(v) for v in x]
    return float(f"{x:.9g}")


def base_model(name):
    cls = AutoModelForTokenClassification if "tokcls" in name else AutoModelForSequenceClassification
    m = cls.from_pretrained(os.path.join(BASES, name))
    m.eval()
    return m


def batch(name):
    # the batch of scripts/encoder-fixtures.py: two right-padded sequences, lengths 9 and 6
    exp = json.load(open(os.path.join(BASES, name, "expected.json")))
    return exp["input_ids"], exp["attention_mask"], exp["token_type_ids"], exp["lengths"]


def logits(model, name):
    ids, mask, types, _ = batch(name)
    kw = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    if types:
        kw["token_type_ids"] = torch.tensor(types)
    model.eval()
    with torch.no_grad():
        return model(**kw).logits


def write_expected(d, name, lg):
    ids, mask, types, lengths = batch(name)
    exp = {"base": name, "input_ids": ids, "attention_mask": mask, "token_type_ids": types, "lengths": lengths, "logits": r9(lg.tolist()),
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f)
        f.write("\n")


CASES = [
    ("bert-seqcls-lora", "bert-seqcls", lambda: LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value", "dense"])),
    ("roberta-seqcls-lora", "roberta-seqcls", lambda: LoraConfig(task_type="SEQ_CLS", r=2, lora_alpha=5, target_modules=["query", "key", "value", "dense"])),
    ("bert-tokcls-prefix", "bert-tokcls", lambda: PrefixTuningConfig(task_type="TOKEN_CLS", num_virtual_tokens=3)),
    ("bert-seqcls-prefix-proj", "bert-seqcls", lambda: PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=4, prefix_projection=True, encoder_hidden_size=16)),
    ("roberta-seqcls-prefix", "roberta-seqcls", lambda: PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=5)),
]


def make(out):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(11)
    for case, name, cfg in CASES:
        m = get_peft_model(base_model(name), cfg())
        with torch.no_grad():
            for pname, p in m.named_parameters():
                if p.requires_grad:
                    p.add_(torch.randn(p.shape, generator=g) * (0.3 if "prompt_encoder" in pname else 0.1))
        trained = logits(m, name)
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        m.save_pretrained(d)
        os.remove(os.path.join(d, "README.md"))  # peft's model card: not part of the adapter
        # the base model's path in the config is this machine's: keep the fixture machine-neutral
        cfgp = os.path.join(d, "adapter_config.json")
        c = json.load(open(cfgp))
        c["base_model_name_or_path"] = name
        if isinstance(c.get("target_modules"), list):  # peft keeps a set: its order varies run to run
            c["target_modules"] = sorted(c["target_modules"])
        json.dump(c, open(cfgp, "w"), indent=2, sort_keys=True)
        loaded = PeftModel.from_pretrained(base_model(name), d)
        lg = logits(loaded, name)
        diff = (lg - trained).abs().max().item()
        assert diff < 1e-5, f"{case}: reloaded adapter differs from the trained model by {diff}"
        write_expected(d, name, lg)
        print(f"{case:26s} {sorted(os.listdir(d))} reload diff {diff:.1e}")


def check(root):
    bad = 0
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        if not os.path.exists(os.path.join(d, "ctxwin.json")):
            continue
        c = json.load(open(os.path.join(d, "ctxwin.json")))
        name = c["base"]
        m = PeftModel.from_pretrained(base_model(name), d)
        lg = logits(m, name)
        write_expected(d, name, lg)
        mine = torch.tensor(c["logits"]).reshape(lg.shape)
        valid = torch.tensor(c["attention_mask"]).bool()
        diff = (lg - mine).abs()
        dl = (diff[valid] if lg.dim() == 3 else diff).max().item()
        ok = dl < 1e-4
        bad += not ok
        print(f"{case:26s} peft vs ctxwin logits {dl:.2e} {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit("usage: peft-encoder-fixtures.py make OUT | check DIR")
    (make if sys.argv[1] == "make" else check)(sys.argv[2])
