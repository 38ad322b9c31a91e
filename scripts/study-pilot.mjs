#!/usr/bin/env node
// The study pilot: trains the study's base models at one setting and prints what the gates
// need (paired NLL at L … 8L with document-bootstrap intervals, passkey by distance), with the
// time each model took. Used to size the quick preset (docs/study-pilot.md has the table).
//
//   node scripts/study-pilot.mjs [--L 64] [--d 128] [--layers 4] [--heads 8] [--vocab 512]
//        [--steps 1000] [--batch 16] [--lr 3e-3] [--warmup 0.1] [--passkey 0.5] [--weight 1]
//        [--digits 2] [--models nope,rope,alibi,window] [--evalDocs 24] [--perDoc 4]
//        [--trials 64] [--seed 0] [--corpus FILE,...]
//
// It uses the study's own modules (training mixture, trainer, paired evaluation, passkey,
// statistics), so what it measures is what `ctxwin study` would see at that setting.
import { parseArgs } from "node:util";
import { createModel } from "../dist/index.js";
import { trainBpe } from "../dist/models/tokenizer/index.js";
import {
  loadBrown, loadFiles, splitCorpus, buildTrainingRows, trainLM, selectWindows, scoreWindows, docSums, meanNll,
  passkeyBuckets, scorePasskeyBucket, bootstrapMean, wilson, EOS, BOS,
} from "../dist/study/index.js";

const { values: a } = parseArgs({
  options: {
    L: { type: "string", default: "64" }, d: { type: "string", default: "128" }, layers: { type: "string", default: "4" },
    heads: { type: "string", default: "8" }, vocab: { type: "string", default: "512" }, steps: { type: "string", default: "1000" },
    batch: { type: "string", default: "16" }, lr: { type: "string", default: "3e-3" }, warmup: { type: "string", default: "0.1" },
    passkey: { type: "string", default: "0.5" }, weight: { type: "string", default: "1" }, digits: { type: "string", default: "2" },
    models: { type: "string", default: "nope,rope,alibi,window" }, evalDocs: { type: "string", default: "24" }, perDoc: { type: "string", default: "4" },
    trials: { type: "string", default: "64" }, seed: { type: "string", default: "0" }, corpus: { type: "string" },
    theta: { type: "string", default: "10000" }, rotaryDim: { type: "string" }, headDim: { type: "string" },
  },
});
const N = (k) => Number(a[k]);
const L = N("L");
const seed = N("seed");
const t0 = performance.now();
const corpus = a.corpus ? loadFiles(a.corpus.split(",")) : loadBrown();
const split = splitCorpus(corpus, { seed, validationFraction: 0.12, minValidationChars: 0 });
const tok = trainBpe(split.train.map((d) => d.text), { vocabSize: N("vocab"), specialTokens: [EOS, BOS], eosToken: EOS, bosToken: BOS });
const bos = tok.bosId;
const enc = (docs) => docs.map((d) => Int32Array.from(tok.encode(d.text, { addSpecialTokens: false })));
const trainDocs = enc(split.train);
const stream = new Int32Array(trainDocs.reduce((s, d) => s + d.length + 1, 0));
let o = 0;
for (const d of trainDocs) {
  stream.set(d, o);
  o += d.length;
  stream[o++] = tok.eosId;
}
const maxLen = 8 * L;
const longDocs = enc(split.validation).filter((d) => d.length >= maxLen - 1);
const evalDocs = longDocs.slice(0, N("evalDocs"));
const fillerDocs = longDocs.slice(N("evalDocs"));
const filler = new Int32Array(fillerDocs.reduce((s, d) => s + d.length, 0));
o = 0;
for (const d of fillerDocs) {
  filler.set(d, o);
  o += d.length;
}
const windows = selectWindows(evalDocs.map((d) => d.length), { maxLen: maxLen - 1, targets: L / 2, perDoc: N("perDoc") });
const lengths = [L, 2 * L, 4 * L, 8 * L];
const buckets = passkeyBuckets(tok, lengths, { trials: N("trials"), digits: N("digits"), seed: seed + 4, filler, bos });
const mix = buildTrainingRows(tok, stream, { seqLen: L, passkeyFraction: N("passkey"), digits: N("digits"), bos, seed: seed + 1 });
console.log(`${corpus.documents.length} documents, ${stream.length} training tokens; ${evalDocs.length} evaluation documents, ${windows.length} windows; rows ${JSON.stringify(mix.counts)}; ${N("steps")} steps × ${N("batch")} × ${L} tokens; prep ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const iv = (x, f = 3) => `${x.mean.toFixed(f)} [${x.lo.toFixed(f)}, ${x.hi.toFixed(f)}]`;
const res = {};
for (const name of a.models.split(",")) {
  const layers = N("layers");
  const positional = name === "rope" ? { type: "rope", theta: N("theta"), ...(a.rotaryDim ? { rotaryDim: N("rotaryDim") } : {}) } : name === "alibi" ? { type: "alibi" } : { type: "none" };
  const model = createModel(
    { family: "llama", modelType: name === "window" ? "mistral" : "llama", vocabSize: tok.vocabSize, hiddenSize: N("d"), numLayers: layers, numHeads: N("heads"), ...(a.headDim ? { headDim: N("headDim") } : {}), tieWordEmbeddings: true, positional, windows: new Array(layers).fill(name === "window" ? L / 4 : 0), maxPositions: L },
    { seed },
  );
  const tr = await trainLM(model, mix, { steps: N("steps"), batch: N("batch"), lr: N("lr"), warmupSteps: Math.round(N("warmup") * N("steps")), minLrRatio: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1, passkeyWeight: N("weight"), seed: seed + 1 });
  const te = performance.now();
  const sums = [];
  const nll = [];
  for (const T of lengths) {
    const cell = await scoreWindows(model, evalDocs, windows, T, L / 2, {}, { bos });
    sums.push(docSums(cell, windows, L / 2, evalDocs.length));
    nll.push(meanNll(cell));
  }
  const pk = [];
  for (const b of buckets) pk.push(await scorePasskeyBucket(model, b, {}));
  res[name] = { sums, pk };
  console.log(
    `${name.padEnd(7)} train ${tr.seconds.toFixed(0)} s (${tr.tokensPerSecond.toFixed(0)} tok/s), LM loss ${tr.finalLoss.toFixed(3)} | NLL ${nll.map((x) => x.toFixed(3)).join(" / ")} | ` +
      `2L−L ${iv(bootstrapMean(sums[1], sums[0]))}, 4L−L ${iv(bootstrapMean(sums[2], sums[0]))} | passkey ${pk.map((p) => `${p.correct}/${p.trials}`).join(" ")} | eval ${((performance.now() - te) / 1000).toFixed(0)} s`,
  );
  model.dispose();
}
if (res.nope && res.window) console.log(`G3  NLL(NoPE, L) − NLL(window, L) = ${iv(bootstrapMean(res.nope.sums[0], res.window.sums[0]))}`);
if (res.alibi) console.log(`G4  ALiBi passkey ≤ L ${iv(wilson(res.alibi.pk[0].correct, res.alibi.pk[0].trials), 2)}, (L, 2L] ${iv(wilson(res.alibi.pk[1].correct, res.alibi.pk[1].trials), 2)}`);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
