#!/usr/bin/env node
// bench/sft-step: one supervised fine-tuning step of a Llama-like decoder on a right-padded batch
// (every row one example: prompt + response, padded to the longest; only response tokens are
// scored), as `ctxwin sft-study` trains: tape forward + backward of model.loss + AdamW.
// Same run:
//   - packed   (the default): loss() skips each row's positions after its last scored target, so
//              projections, MLP, norms and the LM head run on real tokens only (lib/nn/packing.ts);
//   - padded   (`pack: false`): every position of the padded batch computed;
//   - PyTorch  transformers LlamaForCausalLM (SDPA) + torch.optim.AdamW on the same batch with
//              attention_mask and -100 labels (bench/sft_torch.py), when a Python with torch and
//              transformers is found ($CTXWIN_BENCH_PYTHON, else python3).
// tokens/s counts real tokens; the best of --steps timed steps after a warm-up.
//
//   node bench/sft-step.mjs [--quick] [--hidden 256] [--layers 4] [--seq 256] [--batch 8] [--vocab 4096]
import { cpus } from "node:os";
import { AdamW, createModel, synchronize, Tape, backendInfo } from "../dist/index.js";
import { flag, opt } from "./args.mjs";
import { runPythonPeer } from "./python_peer.mjs";

const quick = flag("quick");
const hidden = Number(opt("hidden", quick ? "128" : "256"));
const layers = Number(opt("layers", quick ? "2" : "4"));
const heads = Number(opt("heads", "4"));
const T = Number(opt("seq", quick ? "128" : "256"));
const B = Number(opt("batch", "8"));
const vocab = Number(opt("vocab", "4096"));
const steps = Number(opt("steps", quick ? "3" : "5"));
const ffn = Math.round((8 * hidden) / 3 / 8) * 8;

// a deterministic batch: lengths spread over [T/4, T], the first third of each row a prompt
let seed = 4242;
const next = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
const lengths = Array.from({ length: B }, (_, b) => Math.round(T / 4 + ((3 * T) / 4) * (b / Math.max(1, B - 1))));
const ids = lengths.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 + Math.floor(next() * (vocab - 1)) : 0)));
const prompt = lengths.map((n) => Math.floor(n / 3));
// ctxwin targets: position t predicts ids[t + 1] when t + 1 is a response token of the row
const targets = ids.map((r, b) => r.map((_, t) => (t + 1 < lengths[b] && t + 1 >= prompt[b] ? r[t + 1] : -100)));
// transformers labels (unshifted): labels[t] = ids[t] for response tokens
const labels = ids.map((r, b) => r.map((id, t) => (t < lengths[b] && t >= prompt[b] ? id : -100)));
const real = lengths.reduce((a, n) => a + n, 0);
const config = { vocabSize: vocab, hiddenSize: hidden, numLayers: layers, numHeads: heads, intermediateSize: ffn, tieWordEmbeddings: true, positional: { type: "rope", theta: 10000 } };

async function ctxwinStep(pack) {
  const m = createModel(config, { seed: 1 });
  const optim = new AdamW(m.namedParameters(), { lr: 1e-4 });
  let best = Infinity;
  let loss0 = NaN;
  for (let s = 0; s < 1 + steps; s++) {
    const t0 = performance.now();
    const tape = new Tape();
    const loss = tape.run(() => m.loss(ids, targets, { pack }));
    tape.backward(loss);
    if (s === 0) loss0 = (await loss.value.data())[0];
    loss.release();
    optim.step();
    m.zeroGrad();
    await synchronize();
    if (s > 0) best = Math.min(best, performance.now() - t0);
  }
  m.dispose();
  return { ms: best, tps: (real / best) * 1000, loss0 };
}

function torchStep() {
  const r = runPythonPeer("sft_torch.py", { vocab, hidden, layers, heads, ffn, seq: T, ids, lengths, labels, warmup: 1, steps });
  return r.skipped ? r : r.lines[r.lines.length - 1];
}

const info = backendInfo();
console.log(`ctxwin bench/sft-step — ${info.cpu?.isa ?? "cpu"}, ${cpus().length} threads, f32; Llama d=${hidden}, ${layers} layers, ${heads} heads, ffn ${ffn}, vocab ${vocab} (tied)`);
console.log(`batch ${B} × ${T} (lengths ${lengths[0]}..${lengths[B - 1]}: ${real} real tokens of ${B * T}; responses = the last two thirds), full fine-tuning, AdamW; best of ${steps} steps\n`);
const packed = await ctxwinStep(true);
const padded = await ctxwinStep(false);
const torch = torchStep();
const pad = (s, n) => String(s).padStart(n);
console.log([pad("", 18), pad("ms/step", 10), pad("tok/s", 10), pad("vs PyTorch", 11)].join(" "));
const row = (name, ms) => console.log([pad(name, 18), pad(ms.toFixed(1), 10), pad(Math.round((real / ms) * 1000), 10), pad(torch.skipped ? "—" : `${(torch.ms_per_step / ms).toFixed(2)}×`, 11)].join(" "));
row("ctxwin packed", packed.ms);
row("ctxwin padded", padded.ms);
if (!torch.skipped) row("PyTorch (SDPA)", torch.ms_per_step);
console.log(`\npacked / padded: ${(padded.ms / packed.ms).toFixed(2)}× (same losses: ${packed.loss0.toFixed(5)} vs ${padded.loss0.toFixed(5)})`);
if (torch.skipped) console.log(`PyTorch peer not run: ${torch.skipped} (set CTXWIN_BENCH_PYTHON to a Python with torch and transformers)`);
console.log("vs PyTorch: PyTorch ms / ctxwin ms (> 1: ctxwin faster)");
