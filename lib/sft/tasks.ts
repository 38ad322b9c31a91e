/**
 * The instruction tasks of `ctxwin sft-study`, made from corpus text (no download): five basic
 * tasks and three complex ones that compose two basic tasks each. Every example is a prompt
 * `<Instruction>: <phrase> =` and a response ` <answer>` (text; the pipeline adds BOS before the
 * prompt and EOS after the response, and scores the response tokens only).
 *
 * Phrases are runs of consecutive "clean" words of one sentence (split after . ? ! ; :): a token
 * loses its leading quotes and parentheses and its trailing punctuation, and is kept when what
 * remains is letters only (tokens with digits, apostrophes or hyphens are dropped); the first
 * word of a sentence is never used, so a capitalised word is a name or a title, not a sentence
 * start. A word is capitalised when its first letter is upper case.
 *
 *   basic
 *     copy           Copy: <3–5 words> =              → the words
 *     reverse        Reverse: <3–5 words> =           → the words in reverse order
 *     caps           Capitals: <4–6 words, 1–2 capitalised> = → the capitalised words, in order
 *     count          Count: <2–6 words> =             → the number of words (a digit)
 *     genre          Genre: <5 words> =               → press | nonfiction | fiction: the Brown
 *                                                        category of the sentence's document
 *                                                        (a–c press; d–j nonfiction; k–r fiction),
 *                                                        classes balanced
 *   complex (the name lists the basic tasks it composes, joined by "+")
 *     reverse+caps   Reverse capitals: <4–6 words, 2–3 capitalised> = → the capitalised words in reverse order
 *     caps+count     Count capitals: <4–6 words, 1–3 capitalised> =   → how many words are capitalised
 *                                                        (1, 2 and 3 equally often)
 *     count+genre    Count and genre: <2–6 words> =   → the number of words, then " - " and the genre
 *
 * Determinism: the phrases of one call come from an Rng seeded with `seed` only (same documents
 * and seed ⇒ the same examples on every machine). Each task draws its examples from its own
 * shuffled order of the sentences, so tasks do not share phrases by construction (they may by
 * chance).
 */
import { CtxwinError } from "../errors.js";
import { Rng, mixSeed } from "../util/rng.js";
import type { Document } from "../study/corpus.js";

/** One example of a task, as text. */
export interface SftExample {
  prompt: string;
  response: string;
}

export interface SftTaskDef {
  /** "copy", ..., or "a+b" for a task composing the basic tasks a and b. */
  name: string;
  kind: "basic" | "complex";
  /** The basic tasks a complex task composes (empty for a basic task). */
  components: string[];
  /** What the task asks, in one line (shown in the report). */
  description: string;
}

export const GENRES = ["press", "nonfiction", "fiction"] as const;
export type Genre = (typeof GENRES)[number];

/** The coarse genre of a Brown file name (ca01 … cr09: the second letter is the category), or null. */
export function brownGenre(source: string): Genre | null {
  const m = /^c([a-r])\d\d$/.exec(source);
  if (!m) return null;
  const c = m[1]!;
  return c <= "c" ? "press" : c <= "j" ? "nonfiction" : "fiction";
}

export const BUILTIN_TASKS: readonly SftTaskDef[] = [
  { name: "copy", kind: "basic", components: [], description: "repeat a phrase of 3–5 words" },
  { name: "reverse", kind: "basic", components: [], description: "the words of a 3–5-word phrase in reverse order" },
  { name: "caps", kind: "basic", components: [], description: "the capitalised words of a 4–6-word phrase (1–2 of them), in order" },
  { name: "count", kind: "basic", components: [], description: "the number of words of a 2–6-word phrase" },
  { name: "genre", kind: "basic", components: [], description: "the genre of the phrase's document: press, nonfiction or fiction" },
  { name: "reverse+caps", kind: "complex", components: ["reverse", "caps"], description: "the capitalised words of a 4–6-word phrase (2–3 of them), in reverse order" },
  { name: "caps+count", kind: "complex", components: ["caps", "count"], description: "how many words of a 4–6-word phrase are capitalised (1, 2 or 3, equally often)" },
  { name: "count+genre", kind: "complex", components: ["count", "genre"], description: "the number of words of a 2–6-word phrase, then its genre" },
];

/**
 * The composition a task name states: "a+b" composes a and b (each a basic task of the same set);
 * a name without "+" is basic. Throws naming the task when a component is not a task of `names`.
 */
export function taskComponents(name: string, names: readonly string[], where = "tasks"): string[] {
  if (!name.includes("+")) return [];
  const parts = name.split("+").map((p) => p.trim());
  if (parts.length < 2 || parts.some((p) => p === "")) throw new CtxwinError("ERR_ARG", `${where}: task "${name}": expected "a+b" naming two or more basic tasks, got an empty component`);
  for (const p of parts) {
    if (!names.includes(p)) throw new CtxwinError("ERR_ARG", `${where}: task "${name}": expected its component "${p}" among the basic tasks (${names.filter((n) => !n.includes("+")).join(", ") || "none"}), got no task "${p}"`);
    if (p.includes("+")) throw new CtxwinError("ERR_ARG", `${where}: task "${name}": expected basic components, got the complex task "${p}"`);
  }
  if (new Set(parts).size !== parts.length) throw new CtxwinError("ERR_ARG", `${where}: task "${name}": expected distinct components, got ${parts.join(", ")}`);
  return parts;
}

/** A sentence's clean words (letters only), without its first word; `genre` of its document. */
interface Sentence {
  words: string[];
  genre: Genre | null;
}

const CLEAN = /^[A-Za-z]+$/;

export function isCapitalised(w: string): boolean {
  return /^[A-Z]/.test(w);
}

/** The sentences of the documents, as clean words without the sentence-initial word. */
export function sentencesOf(docs: readonly Document[]): Sentence[] {
  const out: Sentence[] = [];
  for (const d of docs) {
    const genre = brownGenre(d.source);
    for (const s of d.text.split(/(?<=[.?!;:])\s+/)) {
      const toks = s.split(/\s+/).filter((t) => t.length > 0);
      const words = toks
        .slice(1)
        .map((t) => t.replace(/^["'(`]+|[,.;:!?"')`]+$/g, ""))
        .filter((t) => CLEAN.test(t));
      if (words.length >= 2) out.push({ words, genre });
    }
  }
  return out;
}

/** A window of `len` words of `s` meeting `ok`, starting at a random offset (null if none). */
function windowOf(rng: Rng, s: Sentence, len: number, ok: (ws: string[]) => boolean): string[] | null {
  const starts = s.words.length - len + 1;
  if (starts < 1) return null;
  const first = rng.int(starts);
  for (let k = 0; k < starts; k++) {
    const i = (first + k) % starts;
    const ws = s.words.slice(i, i + len);
    if (ok(ws)) return ws;
  }
  return null;
}

const nCaps = (ws: readonly string[]) => ws.filter(isCapitalised).length;

interface Recipe {
  instruction: string;
  /** Phrase lengths (inclusive). */
  len: [number, number];
  /** Which phrases qualify. */
  ok: (ws: string[]) => boolean;
  answer: (ws: string[], genre: Genre | null) => string;
  /** Needs the document's genre (Brown). */
  needsGenre?: boolean;
  /** Balanced classes: the class of an example and the number of classes (each gets ⌈n / classes⌉ at most). */
  balance?: { classOf: (ws: string[], genre: Genre | null) => string; classes: number };
}

const byGenre = { classOf: (_: string[], g: Genre | null) => g!, classes: GENRES.length };

const RECIPES: Record<string, Recipe> = {
  copy: { instruction: "Copy", len: [3, 5], ok: () => true, answer: (ws) => ws.join(" ") },
  reverse: { instruction: "Reverse", len: [3, 5], ok: () => true, answer: (ws) => [...ws].reverse().join(" ") },
  caps: { instruction: "Capitals", len: [4, 6], ok: (ws) => nCaps(ws) >= 1 && nCaps(ws) <= 2, answer: (ws) => ws.filter(isCapitalised).join(" ") },
  count: { instruction: "Count", len: [2, 6], ok: () => true, answer: (ws) => String(ws.length) },
  genre: { instruction: "Genre", len: [5, 5], ok: () => true, answer: (_, g) => g!, needsGenre: true, balance: byGenre },
  "reverse+caps": { instruction: "Reverse capitals", len: [4, 6], ok: (ws) => nCaps(ws) >= 2 && nCaps(ws) <= 3, answer: (ws) => ws.filter(isCapitalised).reverse().join(" ") },
  "caps+count": { instruction: "Count capitals", len: [4, 6], ok: (ws) => nCaps(ws) >= 1 && nCaps(ws) <= 3, answer: (ws) => String(nCaps(ws)), balance: { classOf: (ws) => String(nCaps(ws)), classes: 3 } },
  "count+genre": { instruction: "Count and genre", len: [2, 6], ok: () => true, answer: (ws, g) => `${ws.length} - ${g!}`, needsGenre: true, balance: byGenre },
};

/** The prompt of a phrase for a built-in task (the response is answered separately). */
export function taskPrompt(task: string, words: readonly string[]): string {
  const r = RECIPES[task];
  if (!r) throw new CtxwinError("ERR_ARG", `taskPrompt: task: expected one of ${Object.keys(RECIPES).join(", ")}, got ${JSON.stringify(task)}`);
  return `${r.instruction}: ${words.join(" ")} =`;
}

/** The correct response of a built-in task for a phrase (and its document's genre). */
export function taskAnswer(task: string, words: readonly string[], genre: Genre | null = null): string {
  const r = RECIPES[task];
  if (!r) throw new CtxwinError("ERR_ARG", `taskAnswer: task: expected one of ${Object.keys(RECIPES).join(", ")}, got ${JSON.stringify(task)}`);
  if (r.needsGenre && genre === null) throw new CtxwinError("ERR_ARG", `taskAnswer: genre: expected the document's genre for task ${task}, got none`);
  return ` ${r.answer([...words], genre)}`;
}

/**
 * `n` examples of each built-in task from the sentences of `docs` (see the header), seeded.
 * Throws when the text does not hold enough qualifying phrases (naming the task).
 */
export function makeTaskExamples(docs: readonly Document[], n: number, seed: number, tasks: readonly string[] = BUILTIN_TASKS.map((t) => t.name)): Map<string, SftExample[]> {
  if (!Number.isInteger(n) || n < 1) throw new CtxwinError("ERR_ARG", `makeTaskExamples: n: expected a positive integer, got ${n}`);
  const sentences = sentencesOf(docs);
  const out = new Map<string, SftExample[]>();
  tasks.forEach((task, ti) => {
    const r = RECIPES[task];
    if (!r) throw new CtxwinError("ERR_ARG", `makeTaskExamples: tasks: expected built-in tasks (${Object.keys(RECIPES).join(", ")}), got ${JSON.stringify(task)}`);
    const rng = new Rng(mixSeed(seed, ti, 0x7a5c));
    const order = rng.permutation(sentences.length);
    const examples: SftExample[] = [];
    const perClass = new Map<string, number>();
    const quota = r.balance ? Math.ceil(n / r.balance.classes) : Infinity;
    const seen = new Set<string>();
    for (let k = 0; k < order.length && examples.length < n; k++) {
      const s = sentences[order[k]!]!;
      if (r.needsGenre && s.genre === null) continue;
      const len = r.len[0] + rng.int(r.len[1] - r.len[0] + 1);
      // a class that is full: a window of another class, if the sentence has one
      const ok = r.balance ? (ws: string[]) => r.ok(ws) && (perClass.get(r.balance!.classOf(ws, s.genre)) ?? 0) < quota : r.ok;
      const ws = windowOf(rng, s, len, ok);
      if (!ws) continue;
      const prompt = `${r.instruction}: ${ws.join(" ")} =`;
      if (seen.has(prompt)) continue;
      seen.add(prompt);
      examples.push({ prompt, response: ` ${r.answer(ws, s.genre)}` });
      if (r.balance) {
        const c = r.balance.classOf(ws, s.genre);
        perClass.set(c, (perClass.get(c) ?? 0) + 1);
      }
    }
    if (examples.length < n) {
      throw new CtxwinError("ERR_ARG", `sft-study: task ${task}: expected ${n} examples from the text, got ${examples.length}${r.balance ? " (its classes are balanced: each needs enough text)" : ""}; give more text or fewer examples`);
    }
    out.set(task, examples);
  });
  return out;
}
