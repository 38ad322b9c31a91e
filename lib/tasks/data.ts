/**
 * Classification and tagging data for the PEFT experiments (issue 11): tasks made from the Brown
 * corpus with no download, readers for the published formats, and seeded few-shot sampling.
 *
 *   Brown genre:  a passage of consecutive sentences → its document's category (news, fiction, …).
 *   Brown names:  a sentence's tokens → BIO tags of proper-noun spans (Brown tags np*; a stand-in
 *                 for NER with one entity type, NP).
 *   Files:        SuperGLUE JSONL (BoolQ, CB, COPA, RTE, WiC: their fields as a text pair, as
 *                 P-tuning v2's code feeds them), CoNLL-2003 style column files, and plain
 *                 {"text","label"} / {"tokens","tags"} JSONL.
 * Train / test splits are by DOCUMENT for the Brown tasks (no passage of a test document is seen
 * in training). Every malformed input is a CtxwinError naming the file, line and field.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CtxwinError, show } from "../errors.js";
import { Rng, checkSeed } from "../util/rng.js";

/** A sequence-classification example: one text or a pair, and its label. */
export interface ClassificationExample {
  text: string;
  /** The second text of a pair (SuperGLUE), joined to the first by the model's separator. */
  textB?: string;
  label: string;
}

/** A token-classification example: tokens (words) and one tag per token. */
export interface TaggingExample {
  tokens: string[];
  tags: string[];
}

export interface Split<E> {
  train: E[];
  test: E[];
}

// ---------------------------------------------------------------------------------------------
// Brown

interface BrownSentence {
  words: string[];
  tags: string[];
}

/** The sentences of one Brown file ("word/tag" tokens, one sentence per line). */
export function parseBrownTagged(raw: string): BrownSentence[] {
  const out: BrownSentence[] = [];
  for (const line of raw.split("\n")) {
    const toks = line.trim().split(/\s+/).filter(Boolean);
    if (toks.length === 0) continue;
    const words: string[] = [];
    const tags: string[] = [];
    for (const t of toks) {
      const slash = t.lastIndexOf("/");
      if (slash <= 0) continue;
      words.push(t.slice(0, slash));
      tags.push(t.slice(slash + 1).toLowerCase());
    }
    if (words.length) out.push({ words, tags });
  }
  return out;
}

/** Brown files by category (cats.txt), sorted. */
function brownFiles(dir: string): { id: string; category: string }[] {
  let cats: string;
  try {
    cats = readFileSync(join(dir, "cats.txt"), "utf8");
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `brown: ${join(dir, "cats.txt")}: file: expected the Brown category list, got ${(e as Error).message}`);
  }
  const files = new Set(readdirSync(dir));
  const out: { id: string; category: string }[] = [];
  cats.split("\n").forEach((line, i) => {
    const [id, category] = line.trim().split(/\s+/);
    if (!id) return;
    if (!category) throw new CtxwinError("ERR_FORMAT", `brown: ${join(dir, "cats.txt")}:${i + 1}: category: expected "<file> <category>", got ${show(line)}`);
    if (files.has(id)) out.push({ id, category });
  });
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Documents (files) of each category split into train / test, testFraction of each category's files to test. */
function splitDocuments<T extends { category: string }>(docs: T[], testFraction: number, rng: Rng): Split<T> {
  const byCat = new Map<string, T[]>();
  for (const d of docs) byCat.set(d.category, [...(byCat.get(d.category) ?? []), d]);
  const split: Split<T> = { train: [], test: [] };
  for (const list of byCat.values()) {
    const order = rng.permutation(list.length);
    const nTest = Math.max(1, Math.round(list.length * testFraction));
    order.forEach((j, i) => (i < nTest ? split.test : split.train).push(list[j]!));
  }
  return split;
}

function checkFraction(fn: string, f: unknown): number {
  if (typeof f !== "number" || !(f > 0 && f < 1)) throw new CtxwinError("ERR_ARG", `${fn}: testFraction: expected a number in (0, 1), got ${show(f)}`);
  return f;
}

/** Brown's untagged text of a sentence: words joined, Brown's `` '' quotes made plain. */
function sentenceText(words: readonly string[]): string {
  return words
    .map((w) => (w === "``" || w === "''" ? '"' : w))
    .join(" ")
    .replace(/ ([.,;:!?)])/g, "$1")
    .replace(/\( /g, "(");
}

/**
 * Genre classification: passages of `sentences` consecutive sentences (at least 8 tokens),
 * labelled with their document's Brown category; split by document. `maxPerDocument` passages
 * per document (default 8).
 */
export function brownGenreTask(dir: string, opts: { seed?: number; sentences?: number; maxPerDocument?: number; testFraction?: number } = {}): Split<ClassificationExample> {
  const fn = "brownGenreTask";
  const seed = checkSeed(fn, opts.seed ?? 0);
  const n = opts.sentences ?? 3;
  if (!Number.isInteger(n) || n < 1) throw new CtxwinError("ERR_ARG", `${fn}: sentences: expected an integer >= 1, got ${show(n)}`);
  const maxPer = opts.maxPerDocument ?? 8;
  if (!Number.isInteger(maxPer) || maxPer < 1) throw new CtxwinError("ERR_ARG", `${fn}: maxPerDocument: expected an integer >= 1, got ${show(maxPer)}`);
  const rng = new Rng(seed);
  const docs = splitDocuments(brownFiles(dir), checkFraction(fn, opts.testFraction ?? 0.2), rng);
  const passages = (list: { id: string; category: string }[]): ClassificationExample[] => {
    const out: ClassificationExample[] = [];
    for (const d of list) {
      const sents = parseBrownTagged(readFileSync(join(dir, d.id), "utf8"));
      const starts = rng.permutation(Math.max(0, Math.floor(sents.length / n))).slice(0, maxPer);
      for (const s of starts.sort((a, b) => a - b)) {
        const part = sents.slice(s * n, s * n + n);
        if (part.reduce((a, x) => a + x.words.length, 0) < 8) continue; // headings, "Sec. 5. (A)"
        out.push({ text: part.map((x) => sentenceText(x.words)).join(" "), label: d.category });
      }
    }
    return out;
  };
  return { train: passages(docs.train), test: passages(docs.test) };
}

/** BIO tags of proper-noun spans (Brown tags np, np-tl, np$, nps, …) in a tagged sentence. */
export function properNounTags(tags: readonly string[]): string[] {
  const out: string[] = [];
  let inside = false;
  for (const t of tags) {
    const np = /^nps?(\$|-|$)/.test(t);
    out.push(np ? (inside ? "I-NP" : "B-NP") : "O");
    inside = np;
  }
  return out;
}

/** Proper-noun tagging (BIO, one type NP) of Brown sentences; split by document. */
export function brownNamesTask(dir: string, opts: { seed?: number; maxPerDocument?: number; testFraction?: number; maxTokens?: number } = {}): Split<TaggingExample> {
  const fn = "brownNamesTask";
  const rng = new Rng(checkSeed(fn, opts.seed ?? 0));
  const maxPer = opts.maxPerDocument ?? 20;
  const maxTokens = opts.maxTokens ?? 48;
  const docs = splitDocuments(brownFiles(dir), checkFraction(fn, opts.testFraction ?? 0.2), rng);
  const sentences = (list: { id: string }[]): TaggingExample[] => {
    const out: TaggingExample[] = [];
    for (const d of list) {
      const sents = parseBrownTagged(readFileSync(join(dir, d.id), "utf8")).filter((s) => s.words.length <= maxTokens);
      for (const i of rng.permutation(sents.length).slice(0, maxPer).sort((a, b) => a - b)) {
        const s = sents[i]!;
        out.push({ tokens: s.words, tags: properNounTags(s.tags) });
      }
    }
    return out;
  };
  return { train: sentences(docs.train), test: sentences(docs.test) };
}

// ---------------------------------------------------------------------------------------------
// files

type Json = Record<string, unknown>;

function jsonLines(file: string, text: string): { line: number; obj: Json }[] {
  const out: { line: number; obj: Json }[] = [];
  text.split("\n").forEach((raw, i) => {
    if (!raw.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new CtxwinError("ERR_FORMAT", `${file}:${i + 1}: line: expected a JSON object, got a parse error (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new CtxwinError("ERR_FORMAT", `${file}:${i + 1}: line: expected a JSON object, got ${show(obj)}`);
    out.push({ line: i + 1, obj: obj as Json });
  });
  if (out.length === 0) throw new CtxwinError("ERR_FORMAT", `${file}: expected at least one example, got none`);
  return out;
}

function str(file: string, line: number, o: Json, field: string): string {
  const v = o[field];
  if (typeof v !== "string" || v.length === 0) throw new CtxwinError("ERR_FORMAT", `${file}:${line}: ${field}: expected a non-empty string, got ${show(v)}`);
  return v;
}
function label(file: string, line: number, o: Json, field = "label"): string {
  const v = o[field];
  if (typeof v === "string" && v.length) return v;
  if (typeof v === "boolean" || (typeof v === "number" && Number.isInteger(v))) return String(v);
  throw new CtxwinError("ERR_FORMAT", `${file}:${line}: ${field}: expected a label (string, integer or boolean), got ${show(v)}`);
}

/** The SuperGLUE tasks this reader knows, by the fields that identify them. */
export type SuperGlueTask = "boolq" | "cb" | "copa" | "rte" | "wic";

/** The task of SuperGLUE rows from their fields (CB and RTE share theirs: CB has the label "contradiction" / "neutral"). */
function detectSuperGlue(rows: readonly Json[]): SuperGlueTask | null {
  const f = rows[0]!;
  if ("passage" in f && "question" in f) return "boolq";
  if ("choice1" in f && "choice2" in f) return "copa";
  if ("word" in f && "sentence1" in f) return "wic";
  if ("premise" in f && "hypothesis" in f) return rows.some((r) => r.label === "contradiction" || r.label === "neutral") ? "cb" : "rte";
  return null;
}

/** SuperGLUE JSONL (train / val files with labels) as text pairs. The task is told or detected from the fields. */
export function readSuperGlue(file: string, task?: SuperGlueTask): ClassificationExample[] {
  const rows = jsonLines(file, readText(file));
  const t = task ?? detectSuperGlue(rows.map((r) => r.obj));
  if (!t) {
    throw new CtxwinError(
      "ERR_FORMAT",
      `${file}:${rows[0]!.line}: fields: expected a SuperGLUE task's fields (BoolQ: question, passage; CB / RTE: premise, hypothesis; COPA: premise, choice1, choice2, question; WiC: word, sentence1, sentence2), got ${Object.keys(rows[0]!.obj).join(", ")}`,
    );
  }
  return rows.map(({ line, obj: o }) => {
    switch (t) {
      case "boolq":
        return { text: str(file, line, o, "question"), textB: str(file, line, o, "passage"), label: label(file, line, o) };
      case "cb":
      case "rte":
        return { text: str(file, line, o, "premise"), textB: str(file, line, o, "hypothesis"), label: label(file, line, o) };
      case "copa": {
        const q = str(file, line, o, "question");
        if (q !== "cause" && q !== "effect") throw new CtxwinError("ERR_FORMAT", `${file}:${line}: question: expected "cause" or "effect", got ${show(q)}`);
        const conn = q === "cause" ? "because" : "so";
        return { text: `${str(file, line, o, "premise")} ${conn}`, textB: `${str(file, line, o, "choice1")} or ${str(file, line, o, "choice2")}`, label: label(file, line, o) };
      }
      case "wic":
        return { text: `${str(file, line, o, "word")}: ${str(file, line, o, "sentence1")}`, textB: str(file, line, o, "sentence2"), label: label(file, line, o) };
    }
  });
}

/** CoNLL-2003 style columns: one token per line (token first, its tag last), blank lines between sentences, -DOCSTART- skipped. */
export function readConll(file: string): TaggingExample[] {
  const out: TaggingExample[] = [];
  let cur: TaggingExample = { tokens: [], tags: [] };
  const flush = () => {
    if (cur.tokens.length) out.push(cur);
    cur = { tokens: [], tags: [] };
  };
  readText(file)
    .split("\n")
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return flush();
      const cols = line.split(/\s+/);
      if (cols[0] === "-DOCSTART-") return flush();
      if (cols.length < 2) throw new CtxwinError("ERR_FORMAT", `${file}:${i + 1}: columns: expected a token and its tag, got ${show(line)}`);
      const tag = cols[cols.length - 1]!;
      if (!/^(O|[BIES]-\S+)$/.test(tag)) throw new CtxwinError("ERR_FORMAT", `${file}:${i + 1}: tag: expected O or B-/I-/E-/S-TYPE, got ${show(tag)}`);
      cur.tokens.push(cols[0]!);
      cur.tags.push(tag);
    });
  flush();
  if (out.length === 0) throw new CtxwinError("ERR_FORMAT", `${file}: expected at least one sentence, got none`);
  return out;
}

/** Plain JSONL: {"text","label"} (classification) or {"tokens","tags"} (tagging), decided by the first line. */
export function readPlainJsonl(file: string): ClassificationExample[] | TaggingExample[] {
  const rows = jsonLines(file, readText(file));
  if ("tokens" in rows[0]!.obj) {
    return rows.map(({ line, obj: o }) => {
      const tokens = o.tokens;
      const tags = o.tags;
      if (!Array.isArray(tokens) || tokens.length === 0 || tokens.some((t) => typeof t !== "string")) throw new CtxwinError("ERR_FORMAT", `${file}:${line}: tokens: expected a non-empty array of strings, got ${show(tokens)}`);
      if (!Array.isArray(tags) || tags.length !== tokens.length || tags.some((t) => typeof t !== "string")) throw new CtxwinError("ERR_FORMAT", `${file}:${line}: tags: expected ${tokens.length} strings (one per token), got ${show(tags)}`);
      return { tokens: tokens as string[], tags: tags as string[] };
    });
  }
  return rows.map(({ line, obj: o }) => ({ text: str(file, line, o, "text"), ...(o.text_b !== undefined ? { textB: str(file, line, o, "text_b") } : {}), label: label(file, line, o) }));
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CtxwinError("ERR_ARG", `${file}: file: expected a readable task file, got ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// few-shot

/** k examples of each label (all of a label that has fewer), seeded; in the input order. */
export function fewShot<E>(examples: readonly E[], k: number, opts: { seed?: number; labelOf: (e: E) => string }): E[] {
  const fn = "fewShot";
  if (!Number.isInteger(k) || k < 1) throw new CtxwinError("ERR_ARG", `${fn}: k: expected an integer >= 1, got ${show(k)}`);
  const rng = new Rng(checkSeed(fn, opts.seed ?? 0));
  const byLabel = new Map<string, number[]>();
  examples.forEach((e, i) => {
    const l = opts.labelOf(e);
    byLabel.set(l, [...(byLabel.get(l) ?? []), i]);
  });
  const keep = new Set<number>();
  for (const idx of byLabel.values()) for (const j of rng.permutation(idx.length).slice(0, k)) keep.add(idx[j]!);
  return examples.filter((_, i) => keep.has(i));
}
