#!/usr/bin/env node
// scripts/hf-export.mjs OUT: the export half of the HF parity check. Builds tiny random models
// with ctxwin (Llama GQA + YaRN + tied embeddings, Mistral with a sliding window, Qwen2 with qkv
// bias, BLOOM with 6 heads) and adapters (LoRA on every Llama linear, prefix tuning, LoRA on
// BLOOM's fused query_key_value), saves them with saveModel / saveAdapter, and writes ctxwin's
// logits for fixed ids to OUT/<case>/ctxwin_expected.json. Then, where transformers and peft are
// installed: `python3 scripts/hf-parity.py check OUT` loads each with transformers / PEFT and
// compares (scripts/gpu-check.sh, step "hf"). Needs the built package (dist/).
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tensor, addLora, addPrefix, createModel, saveAdapter, saveModel } from "../dist/index.js";

const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/hf-export.mjs OUT");
  process.exit(2);
}

const V = 96, B = 2, T = 20;

// A small deterministic generator (LCG + Box-Muller): the values only need to be reproducible.
function rng(seed) {
  let s = BigInt(seed) | 1n;
  const next = () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(s >> 11n) / 2 ** 53;
  };
  return {
    uniform: next,
    normal() {
      const u = Math.max(next(), 1e-12), v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/** Random weights everywhere, as scripts/hf-parity.py perturbs transformers' models. */
function perturb(model, seed, filter = () => true) {
  const g = rng(seed);
  for (const [name, p] of model.namedParameters()) {
    if (!filter(name)) continue;
    const n = p.value.shape.reduce((a, b) => a * b, 1);
    const isNorm = /norm|ln_f|layernorm/.test(name) && p.value.shape.length === 1 && !/bias$/.test(name);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = p.value.shape.length >= 2 ? g.normal() * 0.15 : isNorm ? 1 + g.normal() * 0.1 : g.normal() * 0.1;
    p.set(Tensor.from(data, [...p.value.shape], { device: p.value.device, dtype: p.value.dtype }));
  }
}

function ids(seed) {
  const g = rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(g.uniform() * V)));
}

async function writeCase(name, model, { adapter = false } = {}) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await saveModel(model, join(dir, "model"));
  if (adapter) await saveAdapter(model, join(dir, "adapter"));
  const x = ids(name.length * 7919);
  const logits = await model.forward(x);
  const flat = Array.from(await logits.data(), (v) => Number(v.toPrecision(9)));
  const exp = { case: name, model: "model", adapter: adapter ? "adapter" : null, ids: x, shape: [...logits.shape], logits: flat };
  logits.dispose();
  const file = join(dir, "ctxwin_expected.json");
  writeFileSync(`${file}.tmp`, JSON.stringify(exp));
  renameSync(`${file}.tmp`, file);
  console.log(`${name.padEnd(20)} [${exp.shape.join(", ")}]`);
}

const llama = { family: "llama", vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, eps: 1e-5 };
const cases = [
  ["llama-yarn-tied", () => createModel({ ...llama, modelType: "llama", tieWordEmbeddings: true, positional: { type: "rope", theta: 10000, scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } } })],
  ["llama-linear", () => createModel({ ...llama, modelType: "llama", positional: { type: "rope", theta: 500000, scaling: { type: "linear", factor: 2 } } })],
  ["mistral-window", () => createModel({ ...llama, modelType: "mistral", slidingWindow: 6, positional: { type: "rope", theta: 10000 } })],
  ["qwen2-bias", () => createModel({ ...llama, modelType: "qwen2", qkvBias: true, tieWordEmbeddings: true, positional: { type: "rope", theta: 1e6 } })],
  ["bloom", () => createModel({ family: "bloom", modelType: "bloom", vocabSize: V, hiddenSize: 48, numLayers: 2, numHeads: 6, eps: 1e-5, positional: { type: "alibi" } })],
];

let seed = 1;
for (const [name, make] of cases) {
  const m = make();
  perturb(m, seed++);
  await writeCase(name, m);
  m.dispose();
}

const loraTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const adapters = [
  ["llama-lora", () => createModel({ ...llama, modelType: "llama", positional: { type: "rope", theta: 10000 } }), (m) => addLora(m, { r: 4, alpha: 8, targetModules: loraTargets })],
  ["llama-rslora", () => createModel({ ...llama, modelType: "llama", positional: { type: "rope", theta: 10000 } }), (m) => addLora(m, { r: 8, alpha: 4, targetModules: ["q_proj", "v_proj"], useRslora: true })],
  ["llama-prefix", () => createModel({ ...llama, modelType: "llama", positional: { type: "rope", theta: 10000 } }), (m) => addPrefix(m, { numVirtualTokens: 3 })],
  ["bloom-lora", () => createModel({ family: "bloom", modelType: "bloom", vocabSize: V, hiddenSize: 48, numLayers: 2, numHeads: 6, eps: 1e-5, positional: { type: "alibi" } }), (m) => addLora(m, { r: 4, alpha: 16, targetModules: ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"] })],
];
for (const [name, make, attach] of adapters) {
  const m = make();
  perturb(m, seed++);
  attach(m);
  // LoRA B starts at zero (an identity adapter): random adapter weights make the check meaningful
  perturb(m, seed++, (n) => /lora_[AB]|prefix_/.test(n));
  await writeCase(name, m, { adapter: true });
  m.dispose();
}
console.log(`wrote ${cases.length + adapters.length} cases to ${out}; check them with: python3 scripts/hf-parity.py check ${out}`);
