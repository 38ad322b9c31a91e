#!/usr/bin/env node
/**
 * Trains the study's four base models (NoPE, RoPE, ALiBi, NoPE + window W = L/4) with the quick
 * preset's architecture, tokenizer and corpus, but a SHORTER training run (--steps, default 250,
 * LM rows only unless --passkey-fraction F mixes in the study's passkey rows), and saves them in the study's layout (<out>/models/<name>-short/:
 * config.json, model.safetensors, tokenizer.json, study_meta.json), so that
 * `ctxwin analyze positional --model <out>/models/<name>-short` can read them when a full
 * `ctxwin study` (about 10 minutes of training alone on 2 cores) is too long.
 *
 *   node scripts/train-base-models.mjs [--out DIR] [--steps N] [--seed N] [--models nope,rope,alibi,window] [--passkey-fraction F]
 *
 * Needs dist/ (npm run build:ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createModel, saveModel } from "../dist/models/index.js";
import { saveTokenizer, trainBpe } from "../dist/models/tokenizer/index.js";
import { BOS, EOS, buildTrainingRows, createStageProgress, encodeDocuments, getPreset, loadBrown, splitCorpus, trainLM } from "../dist/study/index.js";

const { values } = parseArgs({
  options: { out: { type: "string" }, steps: { type: "string" }, seed: { type: "string" }, models: { type: "string" }, "passkey-fraction": { type: "string" } },
});
const out = resolve(values.out ?? "ctxwin-base-models");
const steps = Number(values.steps ?? 250);
const seed = Number(values.seed ?? 0);
const names = (values.models ?? "nope,rope,alibi,window").split(",");
const passkeyFraction = Number(values["passkey-fraction"] ?? 0);
if (!(passkeyFraction >= 0 && passkeyFraction < 1)) throw new Error(`--passkey-fraction: expected a number in [0, 1), got ${values["passkey-fraction"]}`);
const preset = getPreset("quick");
const L = preset.trainLength;
const W = L / 4;
const progress = createStageProgress();

progress.stage("corpus + tokenizer");
const corpus = loadBrown(0);
const split = splitCorpus(corpus, { seed, validationFraction: preset.validationFraction, minValidationChars: 0, minValidationDocs: 1 });
const tok = trainBpe(
  split.train.map((d) => d.text),
  { vocabSize: preset.tokenizer.vocabSize, specialTokens: [EOS, BOS], eosToken: EOS, bosToken: BOS },
);
const stream = encodeDocuments(tok, split.train);
const mix = buildTrainingRows(tok, stream, { seqLen: L, passkeyFraction, digits: preset.data.digits, bos: tok.bosId, seed: seed + 1 });
progress.done(`${split.train.length} training documents, ${stream.length} tokens, ${mix.rows.length} rows of ${L}`);

const cfg = { ...preset.train, steps, warmupSteps: Math.max(1, Math.round(steps / 10)), passkeyWeight: passkeyFraction > 0 ? preset.data.passkeyWeight : 0, seed: seed + 1 };
for (const name of names) {
  const positional = name === "rope" ? { type: "rope", theta: preset.ropeTheta } : name === "alibi" ? { type: "alibi" } : { type: "none" };
  const arch = {
    family: "llama",
    modelType: name === "window" ? "mistral" : "llama",
    vocabSize: tok.vocabSize,
    hiddenSize: preset.model.hiddenSize,
    numLayers: preset.model.numLayers,
    numHeads: preset.model.numHeads,
    tieWordEmbeddings: true,
    positional,
    windows: new Array(preset.model.numLayers).fill(name === "window" ? W : 0),
    maxPositions: L,
    extra: { eosTokenId: tok.eosId ?? null, bosTokenId: tok.bosId, padTokenId: null, torchDtype: "float32" },
  };
  progress.stage(`train ${name} (${steps} steps)`);
  const model = createModel(arch, { seed });
  const res = await trainLM(model, mix, cfg, { progress, what: `training ${name}` });
  const dir = join(out, "models", `${name}-short`);
  mkdirSync(dir, { recursive: true });
  await saveModel(model, dir);
  await saveTokenizer(tok, dir);
  writeFileSync(
    join(dir, "study_meta.json"),
    JSON.stringify({ name, trainSteps: res.steps, trainTokens: res.tokens, finalTrainLoss: res.finalLoss, wallSeconds: res.seconds, note: `scripts/train-base-models.mjs: the quick preset's model, shorter training, ${passkeyFraction > 0 ? `passkey rows ${passkeyFraction}` : "LM rows only"}`, config: { train: cfg } }, null, 2) + "\n",
  );
  progress.done(`loss ${res.finalLoss.toFixed(3)}, ${Math.round(res.tokensPerSecond)} tok/s, saved ${dir}`);
  model.dispose();
}
