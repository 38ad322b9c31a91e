/** A tiny random Llama-family model saved as a model directory (config.json, weights, tokenizer.json), and a text file. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModel, saveModel, saveTokenizer, trainBpe, type Positional } from "ctxwin";

export const TEXT = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} tells of the ${["red", "green", "blue", "grey"][i % 4]} house by the river, where ${i % 7} boats rest. `).join("");

export function tmp(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ctxwin-analyze-${tag}-`));
}
export function rm(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const tokenizer = () => trainBpe([TEXT], { vocabSize: 300, specialTokens: ["<|endoftext|>", "<|bos|>"], eosToken: "<|endoftext|>", bosToken: "<|bos|>" });

/** Writes the model (L = maxPositions) and tokenizer into `dir`, the corpus into `dir`/../corpus.txt; returns both paths. */
export async function writeFixture(root: string, opts: { positional?: Positional; windows?: number[]; maxPositions?: number; layers?: number } = {}): Promise<{ dir: string; corpus: string }> {
  const tok = tokenizer();
  const layers = opts.layers ?? 2;
  const model = createModel(
    { family: "llama", vocabSize: tok.vocabSize, hiddenSize: 32, numLayers: layers, numHeads: 2, positional: opts.positional ?? { type: "rope" }, windows: opts.windows ?? new Array(layers).fill(0), maxPositions: opts.maxPositions ?? 16, tieWordEmbeddings: true },
    { seed: 7 },
  );
  const dir = join(root, "model");
  mkdirSync(dir, { recursive: true });
  await saveModel(model, dir);
  await saveTokenizer(tok, dir);
  model.dispose();
  const corpus = join(root, "corpus.txt");
  writeFileSync(corpus, TEXT);
  return { dir, corpus };
}
