/**
 * Every way a study run departs from the setups of the papers it reproduces, assembled from the
 * run's own settings (report.json → deviations; shown in full in report.html).
 */
import type { StudyPreset } from "./presets.js";

export interface DeviationFacts {
  preset: StudyPreset;
  corpus: string;
  trainTokens: number;
  /** Tokens each model from scratch saw (steps × batch × L). */
  tokensPerModel: number;
  fineTuneTokens: number;
  params: number;
  vocabSize: number;
  /** The layer PV replacement ended up at (null until chosen). */
  pvLayer: number | null;
  epochs: number;
  /** The preset's steps when a small corpus made the run train fewer (null: not scaled down). */
  scaledDownFrom: number | null;
}

export function deviations(f: DeviationFacts): string[] {
  const p = f.preset;
  const L = p.trainLength;
  const W = L / 4;
  const s = p.ropeFactor;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const out = [
    ...(f.scaledDownFrom !== null
      ? [`Small corpus: the preset's ${f.scaledDownFrom} training steps would loop over the training rows more than twice; the models trained ${p.train.steps} steps instead (${f.epochs.toFixed(2)} passes).`]
      : []),
    `Scale: every model is trained from scratch: ${p.model.numLayers} layers, d = ${p.model.hiddenSize}, ${p.model.numHeads} heads (${f.params.toLocaleString("en-US")} parameters) on ${f.tokensPerModel.toLocaleString("en-US")} tokens of ${f.corpus} (${f.epochs.toFixed(2)} passes over its ${f.trainTokens.toLocaleString("en-US")} training tokens), with a ${f.vocabSize}-token byte-level BPE. The papers use 1.1B–7B-parameter models (TinyLlama, Llama 2, BLOOM/MPT-style ALiBi models) pretrained on tens of billions of tokens.`,
    `Lengths: trained at L = ${L} tokens and evaluated at ${p.lengthRatios.map((r) => `${r}L`).join(", ")}; the papers train at 2048–4096 and evaluate up to 8k–128k tokens.`,
    `Training data: ${pct(p.data.passkeyFraction)} of the training rows are passkey rows (natural text with " The pass key is <${p.data.digits} digits>." inserted and the question at the end), and the loss adds ${p.data.passkeyWeight} × the NLL of their answer tokens to the LM loss. The papers pretrain on plain text only; without this auxiliary objective models of this size do not learn to retrieve within the quick budget (docs/study-pilot.md), and a model that never needs far tokens cannot show what breaks beyond L.`,
    `Every sequence starts with a BOS token (training rows, evaluation windows, passkey prompts), as in the Llama-family models the papers use.`,
    `Evaluation: held-out ${f.corpus} documents, paired targets (the last ${L / 2} tokens of each window, identical at every length) with document-bootstrap intervals; the papers report sliding-window perplexity on PG-19 / Proof-pile / GovReport.`,
    `Passkey: the models were trained on the template (natural-text filler, ${p.data.digits}-digit keys), accuracy = greedy exact match of every key token, bucketed by the distance between key and question. The papers test pretrained models zero-shot with repetitive filler.`,
    `ALiBi (seed 000): ${p.model.numHeads} heads with the standard slopes 2^(−8h/H), made for models trained at 512+ tokens: at L = ${L} the flattest heads penalise a key L tokens back by only ${(L / 256).toFixed(2)}, so they can reach past L (the paper's models, trained at 1024–2048, cannot). ALiBi-PI multiplies the slopes by L/T beyond L, as the paper does.`,
    `Window model (seed 001): NoPE with a sliding window W = L/4 = ${W} in every layer, the paper's ratio (W = 512 at C = 2048). Window extension widens it to (T/L)·W at length T with a temperature λ chosen per length on tuning documents (the paper fixes λ by hand).`,
    `Positional vector replacement (seed 001): positional vectors averaged over ${p.pv.samples} windows of ${p.lengthRatios[p.lengthRatios.length - 1]}L tokens from the training split; the first ${p.pv.keep} tokens keep theirs; fixed ratios r ∈ {${p.pv.ratios.join(", ")}} with α chosen per r on tuning documents (the paper: r = 4, α = 1 and r = 5, α = 1.3); the layer is chosen on tuning documents${f.pvLayer !== null ? ` (layer ${f.pvLayer} of ${p.model.numLayers})` : ""} where the paper uses layer 4 of TinyLlama's 22. The NoPE attention-scaling baseline uses a temperature per length, also tuned.`,
    `YaRN (seed 003): the four fine-tunes (plain RoPE, linear PI, NTK and YaRN, all with factor s = ${s}) run ${p.fineTune.steps} steps of ${p.fineTune.batch} × ${s}L tokens (${f.fineTuneTokens.toLocaleString("en-US")} tokens) of the same mixture at ${s}L; the paper fine-tunes Llama 2 for 400 steps at 64k tokens on PG-19. With L = ${L} the YaRN ramp (β_fast 32, β_slow 1) interpolates almost every rotary dimension: few dimensions complete 32 rotations within ${L} tokens, so YaRN here is closer to PI than at the paper's lengths.`,
  ];
  return out;
}
