#!/usr/bin/env node
/**
 * The other direction of scripts/encoder-fixtures.py: ctxwin loads each encoder fixture (and a
 * bare RoBERTa under a new, seeded sequence head), saves it with saveModel to OUT/<case>/ and
 * writes its own outputs for the fixture batch to OUT/<case>/ctxwin.json (the Llama classification
 * fixtures too, through loadDecoderClassifier / saveDecoderClassifier: logits only); then
 *   python3 scripts/encoder-fixtures.py check OUT
 * loads every case with transformers' Auto classes and compares (exit 1 past 1e-4).
 *
 *   npm run build:ts && node scripts/encoder-export.mjs /tmp/encoders-out [PRETRAINED_DIR]
 *
 * With PRETRAINED_DIR (a pretrainEncoder checkpoint), its files are copied unchanged to
 * OUT/pretrained/ with ctxwin's MLM logits for a padded pair batch made by its own tokenizer.
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEncoder, saveModel, noGrad, loadDecoderClassifier, saveDecoderClassifier, loadTokenizer, encodePair, specialTokenIds } from "../dist/index.js";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures", "encoders");
const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/encoder-export.mjs OUT");
  process.exit(2);
}
const cases = [
  ["bert", "bert", undefined],
  ["roberta", "roberta", undefined],
  ["bert-seqcls", "bert-seqcls", undefined],
  ["bert-tokcls", "bert-tokcls", undefined],
  ["roberta-seqcls", "roberta-seqcls", undefined],
  ["roberta-newhead", "roberta", { kind: "sequence", numLabels: 4 }],
  ["bert-mlm", "bert-mlm", undefined],
  ["roberta-mlm", "roberta-mlm", undefined],
];
for (const [name, src, head] of cases) {
  const e = JSON.parse(await readFile(path.join(FIX, src, "expected.json"), "utf8"));
  const m = await loadEncoder(path.join(FIX, src), { head, seed: 5 });
  const dir = path.join(out, name);
  await saveModel(m, dir);
  const opts = { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined };
  const read = async (v) => {
    const d = Array.from(await v.value.data());
    v.release();
    return d;
  };
  const res = { input_ids: e.input_ids, attention_mask: e.attention_mask, token_type_ids: e.token_type_ids, lengths: e.lengths };
  res.last_hidden_state = await read(noGrad(() => m.hidden(e.input_ids, opts)));
  if (m.classifier || m.mlmHead) res.logits = await read(noGrad(() => m.logits(e.input_ids, opts)));
  await writeFile(path.join(dir, "ctxwin.json"), JSON.stringify(res) + "\n");
  m.dispose();
  console.log(name, "->", dir);
}
for (const name of ["llama-seqcls", "llama-tokcls"]) {
  const e = JSON.parse(await readFile(path.join(FIX, name, "expected.json"), "utf8"));
  const h = await loadDecoderClassifier(path.join(FIX, name));
  const dir = path.join(out, name);
  await saveDecoderClassifier(h, dir);
  const l = noGrad(() => h.logits(e.input_ids, { keyLengths: e.lengths }));
  const logits = Array.from(await l.value.data());
  l.release();
  await writeFile(path.join(dir, "ctxwin.json"), JSON.stringify({ input_ids: e.input_ids, attention_mask: e.attention_mask, token_type_ids: null, lengths: e.lengths, logits }) + "\n");
  h.model.dispose();
  h.dispose();
  console.log(name, "->", dir);
}

if (process.argv[3]) {
  const src = process.argv[3];
  const dir = path.join(out, "pretrained");
  await mkdir(dir, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) await copyFile(path.join(src, f), path.join(dir, f));
  const tok = await loadTokenizer(src);
  const enc = [encodePair(tok, "The jury said it did find that the election was conducted.", "It was a quiet day."), encodePair(tok, "A short one.")];
  const T = Math.max(...enc.map((e) => e.ids.length));
  const pad = specialTokenIds(tok).pad;
  const input_ids = enc.map((e) => [...e.ids, ...new Array(T - e.ids.length).fill(pad)]);
  const token_type_ids = enc.map((e) => [...e.typeIds, ...new Array(T - e.ids.length).fill(0)]);
  const lengths = enc.map((e) => e.ids.length);
  const attention_mask = lengths.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0)));
  const m = await loadEncoder(src);
  const l = noGrad(() => m.logits(input_ids, { keyLengths: lengths, tokenTypeIds: token_type_ids }));
  const logits = Array.from(await l.value.data());
  l.release();
  m.dispose();
  await writeFile(path.join(dir, "ctxwin.json"), JSON.stringify({ input_ids, attention_mask, token_type_ids, lengths, logits }) + "\n");
  console.log("pretrained", "->", dir);
}
