#!/usr/bin/env python3
"""HF parity fixtures for ctxwin, made and checked with transformers + peft themselves.

Needs torch, transformers and peft (the GPU machine has them; CPU float32 is used, no GPU needed).

  python3 scripts/hf-parity.py make OUT
      Builds tiny random checkpoints with transformers (Llama with GQA / tied embeddings / linear,
      dynamic and YaRN rope / explicit head_dim with biases, Mistral with a sliding window, Qwen2
      with qkv bias and windowed layers, BLOOM with a non-power-of-two head count) and PEFT adapters
      (LoRA, rsLoRA, prefix tuning, LoRA on BLOOM's fused query_key_value), saves them with
      save_pretrained, and writes each case's input ids and transformers' logits (and, for the
      base models, 12 greedily generated tokens from model.generate) to OUT/<case>/expected.json.
      Tokenizers: byte-level BPE tokenizer.json files trained with HF `tokenizers` (GPT-2 style,
      and Llama-3 style: NFC, a Split regex + ByteLevel, a BOS template) with their encodings and
      decodings of awkward strings in OUT/tok-*/expected.json.
      test/hf-parity.test.ts loads every case with ctxwin's loadModel / loadTokenizer and compares
      (logits 1e-4 relative; token ids exactly). Commit OUT as test/fixtures/hf.

  python3 scripts/hf-parity.py check DIR
      The other direction: DIR/<case>/ holds a model (and adapter) saved by ctxwin's saveModel /
      saveAdapter plus ctxwin's logits (scripts/hf-export.mjs writes them); loads each with
      transformers (and PeftModel) and compares. Exit status 1 when a case disagrees.

Logits are stored with 9 significant digits (exact for float32).
"""
import json
import os
import shutil
import sys

import torch

TOL = 1e-4  # relative (Frobenius) error allowed between ctxwin and transformers, f32 on CPU


def versions():
    import transformers

    out = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        out["peft"] = peft.__version__
    except ImportError:
        out["peft"] = None
    return out


def transformers_major():
    import transformers

    return int(transformers.__version__.split(".")[0])


def rope_kwargs(rope_type, theta, **params):
    """Config kwargs for a rope scheme, in the form the installed transformers expects."""
    if transformers_major() >= 5:
        return {"rope_parameters": {"rope_type": rope_type, "rope_theta": theta, **params}}
    return {"rope_theta": theta, "rope_scaling": None if rope_type == "default" else {"rope_type": rope_type, **params}}


def perturb_(model, seed):
    """Random weights everywhere (HF's std 0.02 init gives nearly uniform logits, and norms of ones
    or zero biases would hide a missing norm weight or bias): normal(0, 0.15) for matrices,
    1 + normal(0, 0.1) for norm weights, normal(0, 0.1) for biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.15)
            elif "norm" in name or "ln" in name or "layernorm" in name:
                p.copy_(1 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def build(kind, seed, **cfg):
    import transformers as tf

    cls = {
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
        "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
        "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
        "bloom": (tf.BloomConfig, tf.BloomForCausalLM),
    }[kind]
    config = cls[0](**cfg)
    torch.manual_seed(seed)
    model = cls[1]._from_config(config, attn_implementation="eager") if hasattr(cls[1], "_from_config") else cls[1](config)
    model = model.to(torch.float32).eval()
    if model.config.tie_word_embeddings and hasattr(model, "tie_weights"):
        model.tie_weights()
    perturb_(model, seed)
    return model


def ids_for(vocab, batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g)


def logits_of(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return out.logits.to(torch.float32)


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def expected(ids, logits, **extra):
    flat = logits.reshape(-1).tolist()
    return {
        **extra,
        **versions(),
        "ids": ids.tolist(),
        "shape": list(logits.shape),
        # 9 significant digits identify a float32 exactly
        "logits": [float(f"{v:.9g}") for v in flat],
    }


def greedy(model, ids, new_tokens=12):
    """Greedy continuation of ids[0] (no EOS stop, so every run yields new_tokens tokens)."""
    gc = model.generation_config
    gc.eos_token_id = None
    gc.pad_token_id = 0
    with torch.no_grad():
        out = model.generate(input_ids=ids[:1], attention_mask=torch.ones_like(ids[:1]), max_new_tokens=new_tokens,
                             do_sample=False, generation_config=gc)
    return out[0, ids.shape[1]:].tolist()


# Strings that break naive tokenizers: whitespace runs, tabs and CRLF, digits, contractions in
# both cases, accents (composed and decomposed), CJK, emoji, an added special token inside text.
TOKENIZER_TEXTS = [
    "Hello world! This is a test.",
    "  leading spaces, trailing spaces   ",
    "a  b   c\n\n\td\r\ne\t\t f",
    "12345 678 3.14159 1,000,000",
    "I'm sure they'll say WE'VE done it; don't CAN'T won't",
    "naïve café Ünïcödé — “quotes” …",
    "cafe\u0301 and café (decomposed and composed)",
    "日本語のテキストと中文字符",
    "emoji 😀🎉👩‍👩‍👧 mixed with text",
    "before<|endoftext|>after",
    "",
    " ",
    "\n",
]


def tokenizer_corpus():
    words = ("the of and to in is was for on that with as by at from it an be this which or are have not had his but "
             "they were all one their been has more when there if will so no out what up about who them can some time "
             "could these two may then do first any my now such like our over man me even most made after also did").split()
    g = torch.Generator().manual_seed(11)
    lines = []
    for _ in range(400):
        n = int(torch.randint(4, 16, (1,), generator=g))
        idx = torch.randint(0, len(words), (n,), generator=g).tolist()
        lines.append(" ".join(words[i] for i in idx) + ".")
    return lines + TOKENIZER_TEXTS * 3


def make_tokenizers(out, rows, failures):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    llama3_split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                    r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    cases = {
        "tok-gpt2": "GPT-2 style: ByteLevel pre-tokenizer (its regex), ByteLevel decoder, <|endoftext|> special",
        "tok-llama3": "Llama-3 style: NFC, Split(regex, isolated) + ByteLevel(use_regex=False), BOS template",
    }

    def one(name, note, d):
        os.makedirs(d)
        tok = Tokenizer(models.BPE())
        if name == "tok-gpt2":
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            specials = ["<|endoftext|>"]
        else:
            tok.normalizer = normalizers.NFC()
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(llama3_split), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ])
            specials = ["<|begin_of_text|>", "<|endoftext|>"]
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(tokenizer_corpus(), trainer)
        if name == "tok-gpt2":
            tok.post_processor = processors.ByteLevel(trim_offsets=False)
        else:
            bos = tok.token_to_id("<|begin_of_text|>")
            tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                               special_tokens=[("<|begin_of_text|>", bos)])
        tok.save(os.path.join(d, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # what a user of the file gets
        entries = []
        for text in TOKENIZER_TEXTS:
            with_special = tok.encode(text).ids
            plain = tok.encode(text, add_special_tokens=False).ids
            entries.append({
                "text": text,
                "ids": with_special,
                "idsNoSpecial": plain,
                "decoded": tok.decode(with_special, skip_special_tokens=False),
                "decodedSkipSpecial": tok.decode(with_special, skip_special_tokens=True),
            })
        import tokenizers

        save_json(os.path.join(d, "expected.json"), {"case": name, "tokenizer": True, "note": note,
                                                     "tokenizers": tokenizers.__version__, **versions(), "texts": entries})
        rows.append((name, note, (len(entries), tok.get_vocab_size())))

    for name, note in cases.items():
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        attempt(name, d, failures, lambda: one(name, note, d))


def save_model(model, path):
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    if not any(f.endswith(".safetensors") for f in os.listdir(path)):
        raise SystemExit(f"{path}: save_pretrained wrote no safetensors file")


V, B, T = 96, 2, 20
SMALL = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, rms_norm_eps=1e-5)


def base_cases():
    """name -> (kind, config kwargs, note)."""
    return {
        "llama-gqa": ("llama", dict(SMALL, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
                                    **rope_kwargs("default", 10000.0)), "GQA 4/2, plain rope"),
        "llama-tied-linear": ("llama", dict(SMALL, num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=True,
                                            **rope_kwargs("linear", 500000.0, factor=2.0)), "tied embeddings, linear rope x2"),
        "llama-dynamic": ("llama", dict(SMALL, num_key_value_heads=2, max_position_embeddings=12, tie_word_embeddings=False,
                                        **rope_kwargs("dynamic", 10000.0, factor=2.0)), "dynamic NTK, T=20 > max_position_embeddings=12"),
        "llama-yarn": ("llama", dict(SMALL, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
                                     **rope_kwargs("yarn", 10000.0, factor=4.0, original_max_position_embeddings=16)), "YaRN x4 from 16"),
        "llama-headdim-bias": ("llama", dict(SMALL, num_key_value_heads=2, head_dim=16, attention_bias=True, mlp_bias=True,
                                             max_position_embeddings=64, tie_word_embeddings=False, **rope_kwargs("default", 10000.0)),
                               "head_dim 16 != hidden/heads, attention_bias, mlp_bias"),
        "mistral-window": ("mistral", dict(SMALL, num_key_value_heads=2, sliding_window=6, max_position_embeddings=64,
                                           tie_word_embeddings=False, **rope_kwargs("default", 10000.0)), "sliding window 6 < T"),
        "qwen2": ("qwen2", dict(SMALL, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
                                use_sliding_window=False, **rope_kwargs("default", 1000000.0)), "qkv bias, tied"),
        "qwen2-window": ("qwen2", dict(SMALL, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
                                       use_sliding_window=True, sliding_window=5, max_window_layers=1,
                                       **rope_kwargs("default", 10000.0)), "window 5 on layers >= max_window_layers=1"),
        "bloom": ("bloom", dict(vocab_size=V, hidden_size=48, n_layer=2, n_head=6, layer_norm_epsilon=1e-5,
                                apply_residual_connection_post_layernorm=False), "6 heads: ALiBi slopes of a non-power of two"),
    }


def adapter_cases():
    """name -> (base case, peft config factory, note)."""
    from peft import LoraConfig, PrefixTuningConfig

    llama_targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return {
        "llama-lora": ("llama-gqa", lambda: LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0,
                                                       target_modules=llama_targets, init_lora_weights=False),
                       "LoRA r=4 alpha=8 on every linear, random A and B"),
        "llama-rslora": ("llama-tied-linear", lambda: LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=4, lora_dropout=0.0,
                                                                 target_modules=["q_proj", "v_proj"], use_rslora=True,
                                                                 init_lora_weights=False), "rsLoRA (alpha/sqrt(r))"),
        "llama-prefix": ("llama-gqa", lambda: PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3),
                         "prefix tuning, 3 virtual tokens, GQA"),
        "bloom-lora": ("bloom", lambda: LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=16, lora_dropout=0.0,
                                                   target_modules=["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
                                                   init_lora_weights=False), "LoRA on the fused query_key_value"),
    }


def load_pretrained(path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32) \
        if transformers_major() >= 5 else AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", torch_dtype=torch.float32)
    return model.to(torch.float32).eval()  # some Auto paths have ignored dtype (transformers#46459)


def attempt(name, d, failures, fn):
    """Runs one case; a failure (an API difference in this transformers/peft, say) is reported and
    its half-written directory removed, and the other cases still run: one device run should
    bring back every case that works."""
    import traceback

    try:
        fn()
    except Exception as e:  # noqa: BLE001 - report and go on
        shutil.rmtree(d, ignore_errors=True)
        failures.append((name, f"{type(e).__name__}: {e}"))
        print(f"FAILED {name}: {type(e).__name__}: {e}")
        traceback.print_exc(limit=3)


def make(out):
    os.makedirs(out, exist_ok=True)
    rows, failures = [], []

    def base_case(i, name, kind, cfg, note, d):
        model = build(kind, 1000 + i, **cfg)
        save_model(model, d)
        # logits of the model as transformers loads it back (what a user of the checkpoint gets)
        model = load_pretrained(d)
        ids = ids_for(V, B, T, 7 + i)
        lg = logits_of(model, ids)
        gen = {"prompt": ids[0, :8].tolist(), "tokens": greedy(model, ids[:, :8])}
        save_json(os.path.join(d, "expected.json"), expected(ids, lg, case=name, modelType=kind, note=note, generate=gen))
        rows.append((name, note, tuple(lg.shape)))

    def adapter_case(i, name, base, factory, note, d):
        from peft import PeftModel, get_peft_model

        if not os.path.isfile(os.path.join(out, base, "expected.json")):
            raise RuntimeError(f"its base case {base} failed")
        torch.manual_seed(2000 + i)
        peft_model = get_peft_model(load_pretrained(os.path.join(out, base)), factory())
        if "prefix" not in name:
            perturb_lora_(peft_model, 3000 + i)
        adapter_dir = os.path.join(d, "adapter")
        peft_model.save_pretrained(adapter_dir)
        # logits of the adapter as PEFT loads it back onto a fresh base
        model = PeftModel.from_pretrained(load_pretrained(os.path.join(out, base)), adapter_dir).eval()
        ids = ids_for(V, B, T, 70 + i)
        lg = logits_of(model, ids)
        save_json(os.path.join(d, "expected.json"), expected(ids, lg, case=name, base=base, adapter="adapter", note=note))
        rows.append((name, note, tuple(lg.shape)))

    for i, (name, (kind, cfg, note)) in enumerate(base_cases().items()):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        attempt(name, d, failures, lambda: base_case(i, name, kind, cfg, note, d))
    try:
        adapters = adapter_cases()
    except Exception as e:  # noqa: BLE001 - peft missing or changed: the base cases still count
        adapters = {}
        failures.append(("adapters", f"{type(e).__name__}: {e}"))
    for i, (name, (base, factory, note)) in enumerate(adapters.items()):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        attempt(name, d, failures, lambda: adapter_case(i, name, base, factory, note, d))
    make_tokenizers(out, rows, failures)
    with open(os.path.join(out, "README.md"), "w") as f:
        v = versions()
        f.write("# HF parity fixtures\n\nWritten by `python3 scripts/hf-parity.py make` with "
                f"transformers {v['transformers']}, peft {v['peft']}, torch {v['torch']} (CPU, float32, eager attention).\n"
                "Checked by test/hf-parity.test.ts.\n\n| case | what | logits shape / (texts, vocab) |\n|---|---|---|\n")
        for name, note, shape in rows:
            f.write(f"| {name} | {note} | {list(shape)} |\n")
    for name, note, shape in rows:
        print(f"{name:20s} {str(list(shape)):14s} {note}")
    print(f"wrote {len(rows)} cases to {out} ({versions()})")
    for name, why in failures:
        print(f"FAILED {name}: {why}")
    return 1 if failures else 0


def perturb_lora_(peft_model, seed):
    """LoRA B defaults to zeros (an identity adapter): random A and B make the check meaningful."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def rel_err(got, want):
    return float(torch.linalg.vector_norm((got - want).double()) / torch.linalg.vector_norm(want.double()))


def check(root):
    from peft import PeftModel

    cases = sorted(c for c in os.listdir(root) if os.path.isfile(os.path.join(root, c, "ctxwin_expected.json")))
    if not cases:
        raise SystemExit(f"{root}: no <case>/ctxwin_expected.json (run scripts/hf-export.mjs first)")
    failed = 0
    print(f"{'case':22s} {'rel err':>10s} {'max abs':>10s}  status  ({versions()})")
    for c in cases:
        d = os.path.join(root, c)
        with open(os.path.join(d, "ctxwin_expected.json")) as f:
            exp = json.load(f)
        try:
            model = load_pretrained(os.path.join(d, exp.get("model", "model")))
            if exp.get("adapter"):
                model = PeftModel.from_pretrained(model, os.path.join(d, exp["adapter"])).eval()
            ids = torch.tensor(exp["ids"], dtype=torch.long)
            got = logits_of(model, ids)
            want = torch.tensor(exp["logits"], dtype=torch.float32).reshape(exp["shape"])
            if list(got.shape) != list(want.shape):
                raise ValueError(f"logits shape {list(got.shape)}, ctxwin's {list(want.shape)}")
            r = rel_err(got, want)
            m = float((got - want).abs().max())
            ok = r < TOL
            print(f"{c:22s} {r:10.2e} {m:10.2e}  {'ok' if ok else 'FAIL'}")
        except Exception as e:  # a load failure is a parity failure: report it and go on
            ok = False
            print(f"{c:22s} {'-':>10s} {'-':>10s}  FAIL: {type(e).__name__}: {e}")
        failed += 0 if ok else 1
    print(f"{len(cases) - failed} of {len(cases)} ctxwin-saved cases load in transformers/peft with logits within {TOL:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        print(__doc__)
        sys.exit(2)
    sys.exit(make(sys.argv[2]) or 0 if sys.argv[1] == "make" else check(sys.argv[2]))
