/**
 * pretrainEncoder on a tiny generated corpus for a few dozen steps: the MLM loss falls, the
 * checkpoint is an HF BertForMaskedLM + tokenizer that ctxwin loads under a fresh classification
 * head and whose tokenizer encodes pairs; a second call hits the cache; the same options give the
 * same weights; bad options are named and leave nothing behind.
 */
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodePair, loadTokenizer, specialTokenIds, loadEncoder, pretrainEncoder, type PretrainEncoderOptions, type PretrainEncoderResult } from "../../dist/index.js";
import { XorShift32 } from "../reference/rng.js";

// a small grammar: words whose choice depends on the neighbours, so context helps the MLM
function corpus(n: number, seed: number): string[] {
  const rng = new XorShift32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const subj = ["the cat", "a dog", "my friend", "the old man", "her sister"];
  const verb: Record<string, string[]> = { cat: ["sleeps", "purrs"], dog: ["barks", "runs"], friend: ["reads", "writes"], man: ["walks", "sings"], sister: ["paints", "laughs"] };
  const place = ["in the garden", "at home", "by the river", "near the school"];
  const docs: string[] = [];
  for (let d = 0; d < n; d++) {
    const s: string[] = [];
    for (let k = 0; k < 6; k++) {
      const a = pick(subj);
      s.push(`${a[0]!.toUpperCase()}${a.slice(1)} ${pick(verb[a.split(" ").at(-1)!]!)} ${pick(place)}.`);
    }
    docs.push(s.join(" "));
  }
  return docs;
}

const TINY: PretrainEncoderOptions = { texts: corpus(60, 1), vocabSize: 300, hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 64, seqLen: 24, batchSize: 8, steps: 150, lr: 5e-3, warmup: 10, seed: 7 };

let cache: string;
let first: PretrainEncoderResult;
const lines: string[] = [];
beforeAll(async () => {
  cache = await mkdtemp(path.join(tmpdir(), "ctxwin-pretrain-"));
  first = await pretrainEncoder({ ...TINY, cacheDir: cache, progress: (l) => lines.push(l) });
}, 120_000);
afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

describe("pretrainEncoder", () => {
  it("trains: the loss falls below its start and the unigram bar; progress lines", async () => {
    expect(first.cached).toBe(false);
    expect(first.steps).toBe(150);
    const meta = JSON.parse(await readFile(path.join(first.dir, "pretrain_meta.json"), "utf8"));
    const curve: number[] = meta.lossCurve.map((p: { loss: number }) => p.loss);
    const head = curve.slice(0, 3).reduce((a, b) => a + b) / 3;
    expect(first.finalLoss).toBeLessThan(head - 1);
    expect(first.finalLoss).toBeLessThan(first.unigramLoss);
    expect(lines.some((l) => /step \d+\/150 \| loss/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/done at step 150\/150/);
  });

  it("writes an HF BertForMaskedLM checkpoint and a pair-aware tokenizer that ctxwin loads", async () => {
    const files = (await readdir(first.dir)).sort();
    expect(files).toEqual(["config.json", "model.safetensors", "pretrain_meta.json", "tokenizer.json", "tokenizer_config.json"]);
    expect((await readdir(cache)).filter((f) => f.includes(".tmp-"))).toEqual([]);
    const cfg = JSON.parse(await readFile(path.join(first.dir, "config.json"), "utf8"));
    expect(cfg.architectures).toEqual(["BertForMaskedLM"]);
    expect(cfg.max_position_embeddings).toBe(24);
    const tok = await loadTokenizer(first.dir);
    const sp = specialTokenIds(tok);
    expect(cfg.pad_token_id).toBe(sp.pad);
    expect(cfg.vocab_size).toBe(tok.vocabSize);
    const p = encodePair(tok, "the cat sleeps", "a dog barks");
    expect(p.ids[0]).toBe(sp.cls);
    expect(p.ids.filter((x) => x === sp.sep).length).toBe(2);
    expect(p.typeIds.at(-1)).toBe(1);
    expect(p.typeIds[0]).toBe(0);
    const model = await loadEncoder(first.dir, { head: { kind: "sequence", numLabels: 3 } });
    try {
      using out = await model.forward([p.ids], { tokenTypeIds: [p.typeIds] });
      expect(out.shape).toEqual([1, 3]);
      expect([...(await out.data())].every(Number.isFinite)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it("a second call with the same options is a cache hit; another seed is another backbone", async () => {
    const again = await pretrainEncoder({ ...TINY, cacheDir: cache });
    expect(again.cached).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect(again.finalLoss).toBe(first.finalLoss);
    expect(again.seconds).toBeLessThan(2);
    expect(again.config.hiddenSize).toBe(32);
    const other = await pretrainEncoder({ ...TINY, steps: 2, seed: 8, cacheDir: cache });
    expect(other.dir).not.toBe(first.dir);
  }, 60_000);

  it("the same options give the same weights (seeded)", async () => {
    const dir2 = await mkdtemp(path.join(tmpdir(), "ctxwin-pretrain2-"));
    try {
      const r = await pretrainEncoder({ ...TINY, cacheDir: dir2 });
      expect(path.basename(r.dir)).toBe(path.basename(first.dir));
      expect(Buffer.compare(await readFile(path.join(r.dir, "model.safetensors")), await readFile(path.join(first.dir, "model.safetensors")))).toBe(0);
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
  }, 120_000);

  it("bad options are named; nothing is left behind", async () => {
    const bad = await mkdtemp(path.join(tmpdir(), "ctxwin-pretrain-bad-"));
    try {
      const run = (o: PretrainEncoderOptions) => pretrainEncoder({ ...TINY, cacheDir: bad, ...o });
      await expect(run({ steps: 0 })).rejects.toThrow(/pretrainEncoder: opts\.steps: expected an integer >= 1, got 0/);
      await expect(run({ numHeads: 3 })).rejects.toThrow(/opts\.numHeads: expected a divisor of hiddenSize = 32, got 3/);
      await expect(run({ vocabSize: 100 })).rejects.toThrow(/opts\.vocabSize: expected an integer >= 262/);
      await expect(run({ lr: -1 })).rejects.toThrow(/opts\.lr: expected a positive number/);
      await expect(run({ maskProbability: 0 })).rejects.toThrow(/opts\.maskProbability: expected a number in \(0, 1\]/);
      await expect(run({ preset: "huge" as any })).rejects.toThrow(/opts\.preset: expected "quick" or "small", got "huge"/);
      await expect(run({ layers: 2 } as any)).rejects.toThrow(/opts\.layers: expected one of .*got an unknown option/);
      await expect(run({ texts: [] })).rejects.toThrow(/opts\.texts: expected a non-empty array of strings/);
      await expect(run({ texts: ["ok", 5 as any] })).rejects.toThrow(/opts\.texts\[1\]: expected a string/);
      await expect(run({ texts: ["just a few words"] })).rejects.toThrow(/opts\.texts: expected at least batchSize = 8 rows of 22 tokens/);
      expect(await readdir(bad)).toEqual([]);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});
