#!/usr/bin/env node
// bench/peft: training throughput of a BERT-style encoder classifier per fine-tuning method —
// full, LoRA, P-tuning v2 (prefix; and with its MLP reparameterisation), APT (per-token and
// pooled gates) — one optimizer step = tape forward + backward of the classification loss on a
// right-padded batch + AdamW over the trainable parameters, as lib/tasks' trainer runs it.
// Same-run peer: transformers + peft 0.21 on PyTorch (CPU, SDPA, float32) for the methods peft
// has (bench/peft_torch.py; APT has no peer: its ratio is against ctxwin's own P-tuning v2), when
// a Python with them is found ($CTXWIN_BENCH_PYTHON, else python3); otherwise the table says so.
// tokens/s counts real (non-padding) tokens; the best of --steps timed steps after a warm-up.
// ctxwin runs each method twice: packed (the default: projections, MLP and norms on the real
// tokens only, lib/nn/packing.ts) and unpacked (`pack: false`, every padded row computed, as the
// PyTorch peer does); "packed gain" is unpacked ms / packed ms in the same run.
//
//   node bench/peft.mjs [--quick] [--hidden 256] [--layers 4] [--seq 128] [--batch 16] [--prefix 16]
import { cpus } from "node:os";
import { addApt, addLora, addPrefix, AdamW, createEncoder, parameterCounts, synchronize, Tape, backendInfo } from "../dist/index.js";
import { flag, opt } from "./args.mjs";
import { runPythonPeer } from "./python_peer.mjs";

const quick = flag("quick");
const hidden = Number(opt("hidden", quick ? "128" : "256"));
const layers = Number(opt("layers", quick ? "2" : "4"));
const heads = Number(opt("heads", "4"));
const T = Number(opt("seq", quick ? "64" : "128"));
const B = Number(opt("batch", "16"));
const P = Number(opt("prefix", "16"));
const steps = Number(opt("steps", quick ? "3" : "5"));
const vocab = 8000;
const labels = 4;

// a deterministic batch: lengths spread over [T/2, T]
let seed = 12345;
const next = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
const lengths = Array.from({ length: B }, (_, b) => Math.round(T / 2 + ((T / 2) * b) / Math.max(1, B - 1)));
const ids = lengths.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 + Math.floor(next() * (vocab - 1)) : 0)));
const labelIds = lengths.map((_, b) => b % labels);
const real = lengths.reduce((a, b) => a + b, 0);
const config = { model_type: "bert", vocab_size: vocab, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, intermediate_size: 4 * hidden, max_position_embeddings: T + P + 2, type_vocab_size: 2, architectures: ["BertForSequenceClassification"], num_labels: labels };

const METHODS = {
  full: () => {},
  lora: (m) => addLora(m, { r: 8, alpha: 16, targetModules: ["query", "value"] }),
  ptv2: (m) => addPrefix(m, { numVirtualTokens: P }),
  "ptv2-mlp": (m) => addPrefix(m, { numVirtualTokens: P, projection: { hiddenSize: hidden } }),
  "apt-token": (m) => addApt(m, { numVirtualTokens: P, gate: "token" }),
  "apt-pooled": (m) => addApt(m, { numVirtualTokens: P, gate: "pooled" }),
};

async function ctxwinRate(method, pack) {
  const m = createEncoder(config, { seed: 1 });
  METHODS[method](m);
  const opt = new AdamW(m.namedParameters().filter(([, p]) => !p.frozen), { lr: 1e-4 });
  let best = Infinity;
  for (let s = 0; s < 1 + steps; s++) {
    const t0 = performance.now();
    const tape = new Tape();
    const loss = tape.run(() => m.loss(ids, labelIds, { keyLengths: lengths, pack }));
    tape.backward(loss);
    loss.release();
    opt.step();
    m.zeroGrad();
    await synchronize(); // the step's queued work done
    if (s > 0) best = Math.min(best, performance.now() - t0);
  }
  const trainable = parameterCounts(m).trainable;
  m.dispose();
  return { ms: best, tps: (real / best) * 1000, trainable };
}

function torchRates() {
  const cfg = { vocab, hidden, layers, heads, ffn: 4 * hidden, maxPositions: T + P + 2, labels, ids, lengths, labelIds, loraR: 8, loraAlpha: 16, prefix: P, warmup: 1, steps };
  const r = runPythonPeer("peft_torch.py", cfg, ["--methods", "full", "lora", "ptv2", "ptv2-mlp"]);
  return r.skipped ? r : Object.fromEntries(r.lines.map((j) => [j.method, j]));
}

const info = backendInfo();
console.log(`ctxwin bench/peft — ${info.cpu?.isa ?? "cpu"}, ${cpus().length} threads, f32; BERT d=${hidden}, ${layers} layers, ${heads} heads, ffn ${4 * hidden}, vocab ${vocab}`);
console.log(`batch ${B} × ${T} (lengths ${lengths[0]}..${lengths[B - 1]}, ${real} real tokens), prefix ${P}, LoRA r=8 on query/value; best of ${steps} steps\n`);
const torch = torchRates();
const rows = [];
for (const method of Object.keys(METHODS)) {
  const c = await ctxwinRate(method, true);
  const unpacked = await ctxwinRate(method, false);
  const peer = torch.skipped ? undefined : torch[method];
  rows.push({ method, ...c, unpackedMs: unpacked.ms, peer });
}
const ptv2 = rows.find((r) => r.method === "ptv2");
const pad = (s, n) => String(s).padStart(n);
const head = ["method", "trainable", "ctxwin ms", "tok/s", "unpacked ms", "packed gain", "PyTorch ms", "tok/s", "ratio"];
console.log([pad(head[0], 10), ...head.slice(1).map((h) => pad(h, 11))].join(" "));
for (const r of rows) {
  const ratio = r.peer ? `${(r.peer.ms_per_step / r.ms).toFixed(2)}×` : r.method.startsWith("apt") ? `${(ptv2.ms / r.ms).toFixed(2)}× ptv2` : "—";
  console.log([pad(r.method, 10), pad(r.trainable.toLocaleString("en-US"), 11), pad(r.ms.toFixed(1), 11), pad(Math.round(r.tps), 11), pad(r.unpackedMs.toFixed(1), 11), pad(`${(r.unpackedMs / r.ms).toFixed(2)}×`, 11), pad(r.peer ? r.peer.ms_per_step.toFixed(1) : "—", 11), pad(r.peer ? Math.round(r.peer.tokens_per_s) : "—", 11), pad(ratio, 11)].join(" "));
}
if (torch.skipped) console.log(`\nPyTorch peer not run: ${torch.skipped} (set CTXWIN_BENCH_PYTHON to a Python with torch, transformers and peft)`);
console.log("\nratio: PyTorch ms / ctxwin ms (> 1: ctxwin faster); APT rows: ctxwin P-tuning v2 ms / APT ms (the gates' cost)");
