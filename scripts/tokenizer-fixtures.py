#!/usr/bin/env python3
"""Pair-encoding and WordPiece parity fixtures for ctxwin, made with HF `tokenizers` itself.

  /tmp/h6venv/bin/python scripts/tokenizer-fixtures.py test/fixtures/tokenizer_pairs

Writes OUT/<case>/tokenizer.json and OUT/<case>/expected.json for small tokenizers trained here
on a few sentences (no download):
  bert-uncased   WordPiece (vocab from WordPieceTrainer), BertNormalizer (lowercase, accents
                 stripped, CJK chars isolated, text cleaned), BertPreTokenizer, TemplateProcessing
                 "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1", WordPiece decoder,
                 max_input_chars_per_word 24 (so the long words become [UNK])
  bert-cased     the same vocabulary cased (lowercase False, strip_accents None), BertProcessing
  roberta-bpe    byte-level BPE (BpeTrainer), ByteLevel pre-tokenizer without prefix space,
                 RobertaProcessing (<s> A </s></s> B </s>), "<mask>" with lstrip
expected.json: {"cases": [{"a", "b" (or null), "ids", "type_ids", "decoded"}]} with
add_special_tokens on, over fixed tricky texts, 24 random strings from a pool of accents, CJK,
punctuation, control and whitespace characters, 16 random word mixes, and pairs of them; "decoded" is tokenizers' decode(ids) (special tokens skipped).
test/tokenizer/wordpiece.test.ts compares loadTokenizer + encodePair with these.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Jumping foxes aren't lazy; they're quick, brown and clever!",
    "Café au lait costs 3.50 euros in Zürich, naïvely priced.",
    "我爱中文和日本語の文字。 한국어도 좋아요.",
    "Unbelievably, the tokenizers tokenized tokens (tokenizing) quickly.",
    "Hello, world!! Hello? World... \"quoted\" text - with dashes — and ‘smart’ quotes.",
    "Numbers like 12345 and 2026-12-03 are split, as are e-mail@example.com addresses.",
    "He said: don't, won't, can't; she's, we've, they'd.",
]

TEXTS = [
    "The quick brown fox.",
    "CAFÉ Naïve résumé Zürich",
    "我爱中文 and 日本語テキスト",
    "Hello,world!!(really?)",
    "unbelievablytokenizedsupercalifragilistic words",
    "ξenophobic ☃ snowman 🙂 emoji",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic space",
    "zero\u0000width\u200bjoin\ufeffbom\ufffdreplacement",
    "  leading and trailing spaces  ",
    "",
    "jumping jumps jumped jumper",
    "don't stop-believing... 3.50€",
    "ﬁ ligature and Ａ fullwidth",
    "<mask> masked <mask>word",
]

# random strings over a pool of tricky characters (seeded: the fixtures are reproducible)
POOL = list("abcdefghijklmnopqrstuvwxyz ABCXYZ   .,;:!?'\"()-—–…#$%&*+/<=>@[]^_`{|}~0123456789") + list("éüñçøåÉÜ中文日本語한국ξλΣσς🙂☃\t\n\u00a0\u200b\u0301\ufb01\uff21\u0000\u007f")
_rng = random.Random(4)
RANDOM = ["".join(_rng.choice(POOL) for _ in range(_rng.randint(1, 40))) for _ in range(24)]
WORDS = " ".join(CORPUS).split()
RANDOM_WORDS = [" ".join(_rng.choice(WORDS) + _rng.choice(["", "s", "ing", "ed", "ly", "ness", "QQ"]) for _ in range(_rng.randint(1, 8))) for _ in range(16)]

PAIRS = [
    ("The quick brown fox.", "Jumps over the lazy dog!"),
    ("CAFÉ Naïve", "我爱中文"),
    ("", "only b"),
    ("only a", ""),
    ("unbelievablytokenizedsupercalifragilistic", "ξ 🙂 tokens (tokenizing)"),
    ("Is it <mask>?", "Yes, it's <mask>."),
]


def wordpiece(lowercase, post):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=24))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(CORPUS * 3, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if post == "template":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
    else:
        tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def roberta():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), add_prefix_space=False)
    return tok


def write(out, name, tok):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    cases = []
    for a in TEXTS + RANDOM + RANDOM_WORDS:
        e = tok.encode(a)
        cases.append({"a": a, "b": None, "ids": e.ids, "type_ids": e.type_ids, "decoded": tok.decode(e.ids)})
    for a, b in PAIRS + list(zip(RANDOM[:8], RANDOM_WORDS[:8])):
        e = tok.encode(a, b)
        cases.append({"a": a, "b": b, "ids": e.ids, "type_ids": e.type_ids, "decoded": tok.decode(e.ids)})
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"tokenizers": tokenizers.__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(name, tok.get_vocab_size(), "tokens,", len(cases), "cases")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/tokenizer_pairs"
    write(out, "bert-uncased", wordpiece(True, "template"))
    write(out, "bert-cased", wordpiece(False, "bert"))
    write(out, "roberta-bpe", roberta())


if __name__ == "__main__":
    main()
