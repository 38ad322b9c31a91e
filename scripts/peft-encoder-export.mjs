#!/usr/bin/env node
/**
 * Direction (b) of scripts/peft-encoder-fixtures.py: ctxwin attaches adapters to the encoder
 * fixtures (test/fixtures/encoders), randomises every trainable weight (LoRA B too, and the
 * head), saves them with saveAdapter (PEFT's layout) to OUT/<case>/ and writes its own logits for
 * the fixture batch to OUT/<case>/ctxwin.json; then
 *   python scripts/peft-encoder-fixtures.py check OUT
 * loads each adapter with peft 0.21 and stores peft's logits in OUT/<case>/expected.json.
 *
 *   npm run build:ts && node scripts/peft-encoder-export.mjs test/fixtures/peft-encoders/ctxwin
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEncoder, addLora, addPrefix, saveAdapter, Tensor } from "../dist/index.js";
import { Rng } from "../dist/util/rng.js";

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures", "encoders");
const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/peft-encoder-export.mjs OUT");
  process.exit(2);
}
const cases = [
  ["bert-tokcls-lora", "bert-tokcls", (m) => addLora(m, { r: 3, alpha: 6, targetModules: ["query", "key", "value", "dense"], seed: 1 })],
  ["roberta-seqcls-prefix", "roberta-seqcls", (m) => addPrefix(m, { numVirtualTokens: 3, seed: 2 })],
  ["bert-seqcls-prefix-proj", "bert-seqcls", (m) => addPrefix(m, { numVirtualTokens: 2, projection: { hiddenSize: 8 }, seed: 3 })],
  ["roberta-seqcls-lora", "roberta-seqcls", (m) => addLora(m, { r: 2, alpha: 3, targetModules: ["query", "value", "dense"], seed: 4 })],
];
const rng = new Rng(5);
for (const [name, base, attach] of cases) {
  const e = JSON.parse(await readFile(path.join(FIX, base, "expected.json"), "utf8"));
  const model = await loadEncoder(path.join(FIX, base), { device: "cpu" });
  attach(model);
  for (const p of model.trainable()) {
    const v = await p.value.data();
    const noise = rng.normals(v.length, 0.1);
    p.set(Tensor.from(v.map((x, i) => x + noise[i]), [...p.value.shape], { device: "cpu" }));
  }
  const dir = path.join(out, name);
  await saveAdapter(model, dir, { baseModelNameOrPath: base });
  const lg = await model.forward(e.input_ids, { keyLengths: e.lengths, tokenTypeIds: e.token_type_ids ?? undefined });
  const res = { base, input_ids: e.input_ids, attention_mask: e.attention_mask, token_type_ids: e.token_type_ids, lengths: e.lengths, logits: Array.from(await lg.data()) };
  lg.dispose();
  await writeFile(path.join(dir, "ctxwin.json"), `${JSON.stringify(res)}\n`);
  model.dispose();
  console.log(name, "saved");
}
