/**
 * Task metrics for classification and tagging (issue 11): accuracy, per-class and macro-averaged
 * F1 (scikit-learn semantics: classes are those in the gold or the predicted labels, F1 = 0 where
 * precision + recall = 0), and span-level precision / recall / F1 of BIO / IOBES tag sequences
 * with seqeval's default (conlleval) chunking: a chunk starts at B-X (or S-X), or at I-X / E-X that
 * follows O or another type; micro-averaged over all chunk types.
 */
import { CtxwinError, show } from "../errors.js";

function sameLength(fn: string, gold: readonly unknown[], pred: readonly unknown[]): void {
  if (!Array.isArray(gold) || !Array.isArray(pred)) throw new CtxwinError("ERR_ARG", `${fn}: expected arrays of gold and predicted labels, got ${show(gold)} and ${show(pred)}`);
  if (gold.length !== pred.length) throw new CtxwinError("ERR_ARG", `${fn}: pred: expected ${gold.length} labels (as gold), got ${pred.length}`);
  if (gold.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: gold: expected at least one label, got none`);
}

/** Fraction of positions where pred equals gold. */
export function accuracy<L>(gold: readonly L[], pred: readonly L[]): number {
  sameLength("accuracy", gold, pred);
  let ok = 0;
  for (let i = 0; i < gold.length; i++) if (gold[i] === pred[i]) ok++;
  return ok / gold.length;
}

export interface ClassScores<L> {
  label: L;
  precision: number;
  recall: number;
  f1: number;
  /** Gold examples of the class. */
  support: number;
}

/** Per-class precision / recall / F1 and their unweighted mean F1 (macro-F1). */
export function macroF1<L>(gold: readonly L[], pred: readonly L[]): { macroF1: number; classes: ClassScores<L>[] } {
  sameLength("macroF1", gold, pred);
  const labels = [...new Set([...gold, ...pred])];
  const classes = labels.map((label) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < gold.length; i++) {
      const g = gold[i] === label;
      const p = pred[i] === label;
      if (g && p) tp++;
      else if (p) fp++;
      else if (g) fn++;
    }
    return { label, support: tp + fn, ...prf(tp, fp, fn) };
  });
  return { macroF1: classes.reduce((a, c) => a + c.f1, 0) / classes.length, classes };
}

function prf(tp: number, fp: number, fn: number): { precision: number; recall: number; f1: number } {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/** A chunk: its type and first / last token index (inclusive) in the flattened sequence. */
export interface Span {
  type: string;
  start: number;
  end: number;
}

function parse(tag: string): [prefix: string, type: string] {
  if (tag === "O") return ["O", ""];
  const dash = tag.indexOf("-");
  const prefix = dash < 0 ? tag : tag.slice(0, dash);
  const type = dash < 0 ? "_" : tag.slice(dash + 1) || "_";
  return [prefix, type];
}

function endOfChunk(prev: string, tag: string, prevType: string, type: string): boolean {
  if (prev === "E" || prev === "S") return true;
  if (prev === "B" && (tag === "B" || tag === "S" || tag === "O")) return true;
  if (prev === "I" && (tag === "B" || tag === "S" || tag === "O")) return true;
  return prev !== "O" && prevType !== type;
}

function startOfChunk(prev: string, tag: string, prevType: string, type: string): boolean {
  if (tag === "B" || tag === "S") return true;
  if ((prev === "E" || prev === "S" || prev === "O") && (tag === "E" || tag === "I")) return true;
  return tag !== "O" && prevType !== type;
}

/** The chunks of tag sequences (sentences concatenated with an O between them, as seqeval does). */
export function spans(sentences: readonly (readonly string[])[]): Span[] {
  const tags: string[] = [];
  sentences.forEach((s, i) => {
    if (!Array.isArray(s)) throw new CtxwinError("ERR_ARG", `spans: sentences[${i}]: expected an array of tags, got ${show(s)}`);
    tags.push(...s, "O");
  });
  const out: Span[] = [];
  let prev = "O";
  let prevType = "";
  let begin = 0;
  tags.forEach((t, i) => {
    if (typeof t !== "string") throw new CtxwinError("ERR_ARG", `spans: tag ${i}: expected a string like "B-PER", "I-PER" or "O", got ${show(t)}`);
    const [tag, type] = parse(t);
    if (endOfChunk(prev, tag, prevType, type)) out.push({ type: prevType, start: begin, end: i - 1 });
    if (startOfChunk(prev, tag, prevType, type)) begin = i;
    prev = tag;
    prevType = type;
  });
  return out;
}

/** Span-level micro precision / recall / F1 (seqeval's default), and the counts. */
export function spanF1(gold: readonly (readonly string[])[], pred: readonly (readonly string[])[]): { precision: number; recall: number; f1: number; gold: number; predicted: number; correct: number } {
  sameLength("spanF1", gold, pred);
  gold.forEach((g, i) => {
    if (!Array.isArray(pred[i]) || pred[i]!.length !== g.length) throw new CtxwinError("ERR_ARG", `spanF1: pred[${i}]: expected ${g.length} tags (as gold[${i}]), got ${Array.isArray(pred[i]) ? pred[i]!.length : show(pred[i])}`);
  });
  const key = (s: Span) => `${s.type}\u0000${s.start}\u0000${s.end}`;
  const g = spans(gold);
  const p = spans(pred);
  const goldKeys = new Set(g.map(key));
  const correct = p.filter((s) => goldKeys.has(key(s))).length;
  return { ...prf(correct, p.length - correct, g.length - correct), gold: g.length, predicted: p.length, correct };
}
