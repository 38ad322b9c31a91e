#!/usr/bin/env python3
"""Encoder parity fixtures for ctxwin (BERT / RoBERTa), made with transformers itself.

Needs torch, transformers (5.x) and safetensors, CPU float32. On this project's machines:

  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --no-index \
      --find-links /opt/pypi/files --find-links /opt/wheels torch transformers safetensors
  /tmp/venv/bin/python scripts/encoder-fixtures.py test/fixtures/encoders

Writes OUT/<case>/{config.json, model.safetensors, expected.json} for small random-weight models
(hidden 32, 2 layers, 4 heads, vocab 100):
  bert             BertModel, hidden_act "gelu" (exact erf GELU), token type ids used
  bert-tanh        BertModel, hidden_act "gelu_new" (tanh approximation)
  roberta          RobertaModel (positions offset by padding_idx + 1)
  bert-seqcls      BertForSequenceClassification (3 labels, classifier on the pooler output)
  bert-tokcls      BertForTokenClassification (5 labels)
  roberta-seqcls   RobertaForSequenceClassification (classifier.dense + out_proj on <s>)
  llama-seqcls     LlamaForSequenceClassification (score on the last non-pad token; no lm_head)
  llama-tokcls     LlamaForTokenClassification (score with bias on every position)
  bert-mlm         BertForMaskedLM (cls.predictions transform + bias, decoder tied to the word
                   embeddings; logits [2, T, 100])
  roberta-mlm      RobertaForMaskedLM (lm_head dense / layer_norm / bias, decoder tied)
  (the cases are made in this order from one torch seed: new ones go last so the others stay
  byte-identical)
expected.json: the padded batch of 2 sequences (input_ids, attention_mask, token_type_ids,
lengths), last_hidden_state [2, T, 32], pooler_output [2, 32] (models with a pooler) and logits
(heads). Values are stored with 9 significant digits (exact for float32).
test/models/encoder.test.ts compares ctxwin's outputs on the non-padding positions (1e-4 abs).

  python3 scripts/encoder-fixtures.py check DIR
      The other direction: DIR/<case>/ holds an encoder saved by ctxwin's saveModel and ctxwin's
      outputs (ctxwin.json; scripts/encoder-export.mjs writes them; decoder heads saved by
      saveDecoderClassifier too); loads each with transformers' Auto classes (no missing or
      unexpected weights allowed) and compares the last hidden states (encoders) and logits on
      the non-padding positions. Exit status 1 when a case disagrees.
"""
import json
import os
import sys

import torch
import transformers
from transformers import (
    LlamaConfig,
    LlamaForSequenceClassification,
    LlamaForTokenClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForSequenceClassification,
    RobertaModel,
)

SMALL = dict(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=2,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def r9(x):
    if isinstance(x, list):
        return [r9(v) for v in x]
    return float(f"{x:.9g}")


def randomize(model, seed):
    # transformers' init leaves LayerNorms at 1/0 and biases at 0: perturb everything so that a
    # swapped or missing tensor shows in the outputs
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def batch(pad_id, bos, eos, with_types):
    # two sequences, right padded: lengths 9 and 6
    a = [bos, 11, 23, 35, 47, 59, 71, 83, eos]
    b = [bos, 12, 24, 36, 48, eos]
    T = len(a)
    ids = [a, b + [pad_id] * (T - len(b))]
    mask = [[1] * len(a), [1] * len(b) + [0] * (T - len(b))]
    types = [[0] * 5 + [1] * 4, [0] * 3 + [1] * 3 + [0] * 3] if with_types else [[0] * T, [0] * T]
    return ids, mask, types, [len(a), len(b)]


def make(out, name, model, pad_id, bos, eos, with_types, seed):
    randomize(model, seed)
    model.eval()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    ids, mask, types, lengths = batch(pad_id, bos, eos, with_types)
    kw = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    if with_types:
        kw["token_type_ids"] = torch.tensor(types)
    exp = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types if with_types else None, "lengths": lengths}
    with torch.no_grad():
        o = model(**kw, output_hidden_states=True)
    if hasattr(o, "last_hidden_state"):
        exp["last_hidden_state"] = r9(o.last_hidden_state.tolist())
        if getattr(o, "pooler_output", None) is not None:
            exp["pooler_output"] = r9(o.pooler_output.tolist())
    else:
        exp["last_hidden_state"] = r9(o.hidden_states[-1].tolist())
        exp["logits"] = r9(o.logits.tolist())
    exp["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f)
        f.write("\n")
    print(name, sorted(os.listdir(d)), os.path.getsize(os.path.join(d, "model.safetensors")), "bytes")


def check(root):
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoModelForTokenClassification

    bad = 0
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.exists(os.path.join(d, "ctxwin.json")):
            continue
        arch = AutoConfig.from_pretrained(d).architectures[0]
        cls = (
            AutoModelForSequenceClassification if arch.endswith("ForSequenceClassification")
            else AutoModelForTokenClassification if arch.endswith("ForTokenClassification")
            else AutoModelForMaskedLM if arch.endswith("ForMaskedLM")
            else AutoModel
        )
        model, info = cls.from_pretrained(d, output_loading_info=True)
        model.eval()
        c = json.load(open(os.path.join(d, "ctxwin.json")))
        kw = dict(input_ids=torch.tensor(c["input_ids"]), attention_mask=torch.tensor(c["attention_mask"]))
        if c["token_type_ids"]:
            kw["token_type_ids"] = torch.tensor(c["token_type_ids"])
        with torch.no_grad():
            o = model(**kw, output_hidden_states=True)
        valid = torch.tensor(c["attention_mask"]).bool()
        dh = 0.0
        if "last_hidden_state" in c:
            h = o.hidden_states[-1] if getattr(o, "hidden_states", None) is not None else o.last_hidden_state
            dh = (h - torch.tensor(c["last_hidden_state"]).reshape(h.shape)).abs()[valid].max().item()
        dl = 0.0
        if "logits" in c:
            lg = o.logits
            diff = (lg - torch.tensor(c["logits"]).reshape(lg.shape)).abs()
            dl = (diff[valid] if lg.dim() == 3 else diff).max().item()
        problems = {k: v for k, v in info.items() if v}
        ok = dh < 1e-4 and dl < 1e-4 and not problems
        bad += not ok
        print(f"{name:16s} {arch:36s} hidden {dh:.2e}  logits {dl:.2e}  {'ok' if ok else 'MISMATCH'} {problems if problems else ''}")
    sys.exit(1 if bad else 0)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "check":
        return check(sys.argv[2])
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/encoders"
    torch.manual_seed(0)
    bert = dict(SMALL, pad_token_id=0, hidden_act="gelu")
    make(out, "bert", BertModel(BertConfig(**bert)), 0, 1, 2, True, 1)
    make(out, "bert-tanh", BertModel(BertConfig(**dict(bert, hidden_act="gelu_new"))), 0, 1, 2, True, 2)
    rob = dict(SMALL, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1, max_position_embeddings=42, hidden_act="gelu")
    make(out, "roberta", RobertaModel(RobertaConfig(**rob)), 1, 0, 2, False, 3)
    make(out, "bert-seqcls", BertForSequenceClassification(BertConfig(**dict(bert, num_labels=3))), 0, 1, 2, True, 4)
    make(out, "bert-tokcls", BertForTokenClassification(BertConfig(**dict(bert, num_labels=5))), 0, 1, 2, True, 5)
    make(out, "roberta-seqcls", RobertaForSequenceClassification(RobertaConfig(**dict(rob, num_labels=3))), 1, 0, 2, False, 6)
    llama = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    make(out, "llama-seqcls", LlamaForSequenceClassification(LlamaConfig(**dict(llama, num_labels=3))), 0, 1, 2, False, 7)
    make(out, "llama-tokcls", LlamaForTokenClassification(LlamaConfig(**dict(llama, num_labels=5))), 0, 1, 2, False, 8)
    make(out, "bert-mlm", BertForMaskedLM(BertConfig(**bert)), 0, 1, 2, True, 9)
    make(out, "roberta-mlm", RobertaForMaskedLM(RobertaConfig(**rob)), 1, 0, 2, False, 10)


if __name__ == "__main__":
    main()
