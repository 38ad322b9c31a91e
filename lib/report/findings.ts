/**
 * The seed findings of a study run, computed ONLY from the report's numbers (nothing here is
 * written in advance: every sentence is assembled from the perplexities in report.json).
 *
 * Each finding has an explicit criterion, stated in the paragraph it produces. "a below b" means
 * lower by more than CRITERIA.margin (0.5%, relative): a difference smaller than that is no
 * finding, whatever its sign (near-identical perplexities are shown equal). Lengths are named
 * as multiples of the training length L ("2L" = 2·L tokens); "beyond L" = every evaluated length
 * T > L. A value is missing when its method is absent from the report or its perplexity is
 * null/NaN (±Infinity counts as a measured, diverged value); a finding with a missing value has
 * `reproduced: null` and says what is missing.
 *
 *  000  ALiBi-PI at 2L — reproduced iff ppl(ALiBi-PI, 2L) ≤ (1 + 15%) · ppl(ALiBi, L) (near the
 *       trained-length perplexity) AND ppl(ALiBi-PI, 2L) below ppl(ALiBi, 2L) (better than plain
 *       ALiBi, which degrades beyond L).
 *  001  Window extension — reproduced iff ppl(window-ext, T) below ppl(window, T) at every T > L.
 *  001  PV replacement — reproduced iff ppl(nope-pv, T) below ppl(nope, T) at every T > L.
 *  001  PV replacement vs attention scaling — reproduced iff ppl(nope-pv, T) below ppl(nope-scale, T)
 *       at every T > L (the paper's NoPE baseline: logits × λ).
 *  003  YaRN vs PI / NTK — reproduced iff ppl(yarn, T) below min(ppl(rope-pi, T), ppl(rope-ntk, T))
 *       at 4L and 8L (all three training-free, same factor s).
 *  003  Dynamic YaRN — reproduced iff ppl(yarn-dynamic, L) ≤ (1 + 2%) · ppl(rope, L) (no
 *       degradation at the trained length) AND ppl(yarn-dynamic, T) below ppl(rope-dynamic, T) at
 *       every T > L (beats dynamic NTK).
 *  003  Fine-tuned YaRN — reproduced iff ppl(yarn-finetuned, T) is below every other RoPE-model
 *       method in the report at 4L and 8L (the short fine-tune gives the best long-context ppl).
 *
 * "4L and 8L" means those of 4L and 8L that were evaluated; when neither was, the lengths > 2L.
 */
import type { StudyMethod, StudyReport } from "../study/report_schema.js";
import { formatPct, formatPpl, isValue, lengthLabel } from "./format.js";

export type SeedId = "000" | "001" | "003";

export interface Finding {
  seed: SeedId;
  title: string;
  /** true: this run reproduces the finding; false: it does not; null: not enough data. */
  reproduced: boolean | null;
  /** One short paragraph: the numbers, the criterion and the verdict. */
  text: string;
  /** The numbers the paragraph uses, keyed "<method id>@<length>" (e.g. "alibi-pi@2L") or by name. */
  numbers: Record<string, number>;
  /** A one-line version with the key numbers (for the terminal summary). */
  summary: string;
}

/** The thresholds of the criteria above. */
export const CRITERIA = {
  /** 000: ALiBi-PI at 2L may be at most this much (relative) above ALiBi at L. */
  alibiPiTolerance: 0.15,
  /** 003: dynamic YaRN at L may be at most this much (relative) above RoPE at L. */
  dynamicAtLTolerance: 0.02,
  /** "a below b" means a < (1 − margin) · b. */
  margin: 0.005,
} as const;

/** a below b by more than the margin (a finite a is below an infinite b). */
export function lower(a: number, b: number): boolean {
  return a < b * (1 - CRITERIA.margin);
}

const MARGIN = `${(CRITERIA.margin * 100).toFixed(1)}%`;

/** Methods of the RoPE model that the fine-tuned YaRN is compared with (those present). */
const ROPE_FAMILY = ["rope", "rope-pi", "rope-ntk", "rope-dynamic", "yarn", "yarn-dynamic"];

class Data {
  readonly L: number;
  readonly lengths: number[];
  private readonly byId = new Map<string, StudyMethod>();
  readonly numbers: Record<string, number> = {};
  private readonly missing: string[] = [];

  constructor(readonly report: StudyReport) {
    this.L = report.trainLength;
    this.lengths = Array.isArray(report.lengths) ? report.lengths : [];
    for (const m of Array.isArray(report.methods) ? report.methods : []) if (m && typeof m.id === "string") this.byId.set(m.id, m);
  }

  method(id: string): StudyMethod | undefined {
    return this.byId.get(id);
  }
  label(id: string): string {
    return this.byId.get(id)?.label ?? id;
  }
  lab(T: number): string {
    return lengthLabel(T, this.L);
  }
  /** Evaluated lengths beyond L. */
  beyond(): number[] {
    return this.lengths.filter((T) => T > this.L);
  }
  /** 4L and 8L where evaluated, else the lengths > 2L. */
  long(): number[] {
    const want = this.lengths.filter((T) => T === 4 * this.L || T === 8 * this.L);
    return want.length ? want : this.lengths.filter((T) => T > 2 * this.L);
  }
  /** ppl of `id` at length T; records it in `numbers`, or what is missing. */
  ppl(id: string, T: number): number | undefined {
    const m = this.byId.get(id);
    const key = `${id}@${this.lab(T)}`;
    if (!m) {
      const note = `${id} (not in this report)`;
      if (!this.missing.includes(note)) this.missing.push(note);
      return undefined;
    }
    const i = this.lengths.indexOf(T);
    const v = i >= 0 && Array.isArray(m.ppl) ? m.ppl[i] : undefined;
    if (!isValue(v)) {
      const note = i < 0 ? `${id} at ${this.lab(T)} (length not evaluated)` : `${id} at ${this.lab(T)} (no perplexity)`;
      if (!this.missing.includes(note)) this.missing.push(note);
      return undefined;
    }
    this.numbers[key] = v;
    return v;
  }
  missingText(): string | null {
    return this.missing.length ? this.missing.join(", ") : null;
  }
}

const P = formatPpl;
const ok = (v: number | undefined): v is number => v !== undefined;

function finish(seed: SeedId, title: string, d: Data, criterion: string, body: () => { numbersText: string; reproduced: boolean; verdict: string; summary: string } | null): Finding {
  const res = body();
  const missing = d.missingText();
  if (!res || missing) {
    const what = missing ?? "no evaluated length fits the criterion";
    return {
      seed,
      title,
      reproduced: null,
      text: `${res ? `${res.numbersText} ` : ""}Not enough data: missing ${what}. Criterion: ${criterion}.`,
      numbers: d.numbers,
      summary: `not enough data (missing ${what})`,
    };
  }
  return { seed, title, reproduced: res.reproduced, text: `${res.numbersText} Criterion: ${criterion}. ${res.verdict}`, numbers: d.numbers, summary: res.summary };
}

function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function paramText(m: StudyMethod | undefined, keys: string[], names: Record<string, string> = {}): string {
  if (!m || !m.params) return "";
  const parts = keys.filter((k) => m.params[k] !== undefined && m.params[k] !== null).map((k) => `${names[k] ?? k} = ${String(m.params[k])}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

// ------------------------------------------------------------------ 000

function alibiPi(r: StudyReport): Finding {
  const d = new Data(r);
  const tol = CRITERIA.alibiPiTolerance;
  const criterion = `ALiBi-PI at 2L within ${(tol * 100).toFixed(0)}% of the trained-length perplexity (ALiBi at L) and more than ${MARGIN} below plain ALiBi at 2L`;
  return finish("000", "ALiBi-PI keeps near-trained perplexity at 2L", d, criterion, () => {
    const L = d.L;
    const T = 2 * L;
    const Z = d.ppl("alibi", L);
    const Y = d.ppl("alibi", T);
    const X = d.ppl("alibi-pi", T);
    if (!ok(X) || !ok(Y) || !ok(Z)) return null;
    const xRel = X / Z - 1;
    const yRel = Y / Z - 1;
    d.numbers.alibiPiVsTrained = xRel;
    d.numbers.alibiVsTrained = yRel;
    const near = X <= (1 + tol) * Z;
    const better = lower(X, Y);
    const rest = d.lengths
      .filter((t) => t > T)
      .map((t) => {
        const a = d.method("alibi-pi")?.ppl[d.lengths.indexOf(t)];
        const b = d.method("alibi")?.ppl[d.lengths.indexOf(t)];
        if (!isValue(a) || !isValue(b)) return null;
        d.numbers[`alibi-pi@${d.lab(t)}`] = a;
        d.numbers[`alibi@${d.lab(t)}`] = b;
        return `${d.lab(t)} ${P(a)} vs ${P(b)}`;
      })
      .filter((s): s is string => s !== null);
    const numbersText =
      `ALiBi-PI at 2L (${T} tokens): ppl ${P(X)} vs ALiBi ${P(Y)} vs trained length (ALiBi at L = ${L}) ${P(Z)}.` +
      (rest.length ? ` Further out, ALiBi-PI vs ALiBi: ${rest.join("; ")}.` : "");
    const change = `ALiBi-PI is ${formatPct(xRel)} from the trained-length perplexity while ALiBi ${Y > Z ? "degrades by" : "changes by"} ${formatPct(yRel)}`;
    let verdict: string;
    if (near && better) verdict = `Reproduced: ${change}.`;
    else {
      const why: string[] = [];
      if (!near) why.push(`ALiBi-PI is ${formatPct(xRel)} from the trained-length perplexity (limit +${(tol * 100).toFixed(0)}%)`);
      if (!better) why.push(`plain ALiBi is ${Math.abs(X / Y - 1) <= CRITERIA.margin ? "about as good" : "better"} at 2L (${P(Y)} vs ${P(X)}; ALiBi ${formatPct(yRel)} from trained length)`);
      verdict = `Not reproduced: ${why.join("; ")}.`;
    }
    return { numbersText, reproduced: near && better, verdict, summary: `2L: ALiBi-PI ${P(X)} vs ALiBi ${P(Y)} vs L ${P(Z)} (${formatPct(xRel)} vs ${formatPct(yRel)})` };
  });
}

// ------------------------------------------------------------------ 001

/** "<ext> below <base> at every T > L" findings. */
function beatsBeyond(r: StudyReport, seed: SeedId, title: string, ext: string, base: string, criterion: string, params: string, baseParams = ""): Finding {
  const d = new Data(r);
  return finish(seed, title, d, criterion, () => {
    const Ts = d.beyond();
    const a = Ts.map((T) => d.ppl(ext, T));
    const b = Ts.map((T) => d.ppl(base, T));
    if (!Ts.length || a.some((v) => !ok(v)) || b.some((v) => !ok(v))) return null;
    const A = a as number[];
    const B = b as number[];
    const labs = Ts.map((T) => d.lab(T));
    const wins = Ts.map((_, i) => lower(A[i]!, B[i]!));
    const nWin = wins.filter(Boolean).length;
    const gains = Ts.map((_, i) => 1 - A[i]! / B[i]!).filter((_, i) => wins[i]);
    const numbersText = `Beyond L, ppl at ${labs.join(" / ")}: ${d.label(ext)}${params} ${A.map(P).join(" / ")} vs ${d.label(base)}${baseParams} ${B.map(P).join(" / ")}.`;
    const reproduced = nWin === Ts.length;
    let verdict: string;
    if (reproduced) {
      const lo = Math.min(...gains);
      const hi = Math.max(...gains);
      verdict = `Reproduced: lower at all ${Ts.length} length${Ts.length > 1 ? "s" : ""} beyond L (by ${(lo * 100).toFixed(1)}%${hi > lo ? ` to ${(hi * 100).toFixed(1)}%` : ""}).`;
    } else {
      const lost = labs.filter((_, i) => !wins[i]);
      verdict = `Not reproduced: lower at ${nWin} of ${Ts.length} lengths beyond L${nWin ? ` (${list(labs.filter((_, i) => wins[i]))})` : ""}; not lower by more than ${MARGIN} at ${list(lost)}.`;
    }
    Ts.forEach((_, i) => (d.numbers[`gain@${labs[i]}`] = 1 - A[i]! / B[i]!));
    const summary = labs.map((l, i) => `${l} ${P(A[i])} vs ${P(B[i])}`).join(", ");
    return { numbersText, reproduced, verdict, summary };
  });
}

function windowExt(r: StudyReport): Finding {
  const m = r.methods?.find?.((x) => x.id === "window-ext");
  return beatsBeyond(
    r,
    "001",
    "Attention window extension lets the window model extrapolate",
    "window-ext",
    "window",
    `window extension (W → r·W with the logits × λ) more than ${MARGIN} below the plain window model at every length beyond L`,
    paramText(m, ["window", "lambda"], { window: "W", lambda: "λ" }),
  );
}

function pvReplacement(r: StudyReport): Finding {
  const m = r.methods?.find?.((x) => x.id === "nope-pv");
  return beatsBeyond(
    r,
    "001",
    "Positional vector replacement lets NoPE extrapolate",
    "nope-pv",
    "nope",
    `NoPE with positional vector replacement more than ${MARGIN} below plain NoPE at every length beyond L`,
    paramText(m, ["layer", "alpha", "keep"], { alpha: "α" }),
  );
}

function pvVsScaling(r: StudyReport): Finding {
  const pv = r.methods?.find?.((x) => x.id === "nope-pv");
  const sc = r.methods?.find?.((x) => x.id === "nope-scale");
  const params = paramText(pv, ["layer", "alpha"], { alpha: "α" });
  const base = paramText(sc, ["lambda"], { lambda: "λ" });
  return beatsBeyond(
    r,
    "001",
    "Positional vector replacement vs the attention-scaling baseline",
    "nope-pv",
    "nope-scale",
    `PV replacement more than ${MARGIN} below NoPE with attention scaling (logits × λ, λ swept) at every length beyond L`,
    params,
    base,
  );
}

// ------------------------------------------------------------------ 003

function yarnVsPiNtk(r: StudyReport): Finding {
  const d = new Data(r);
  const s = d.method("yarn")?.params?.factor;
  const criterion = `static YaRN more than ${MARGIN} below both linear PI and NTK (same factor${s !== undefined ? ` s = ${String(s)}` : ""}, all training-free) at 4L and 8L`;
  return finish("003", "YaRN beats linear PI and NTK at long lengths", d, criterion, () => {
    const Ts = d.long();
    const y = Ts.map((T) => d.ppl("yarn", T));
    const pi = Ts.map((T) => d.ppl("rope-pi", T));
    const ntk = Ts.map((T) => d.ppl("rope-ntk", T));
    if (!Ts.length || [...y, ...pi, ...ntk].some((v) => !ok(v))) return null;
    const labs = Ts.map((T) => d.lab(T));
    const wins = Ts.map((_, i) => lower(y[i]!, Math.min(pi[i]!, ntk[i]!)));
    const parts = Ts.map((_, i) => `${i ? "at" : "At"} ${labs[i]} YaRN ${P(y[i])} vs PI ${P(pi[i])} vs NTK ${P(ntk[i])}`);
    // context: the other YaRN variants at the same lengths, when present
    const extra: string[] = [];
    for (const id of ["yarn-dynamic", "yarn-finetuned"]) {
      const m = d.method(id);
      if (!m) continue;
      const vals = Ts.map((T) => m.ppl[d.lengths.indexOf(T)]);
      if (vals.every(isValue)) {
        vals.forEach((v, i) => (d.numbers[`${id}@${labs[i]}`] = v as number));
        extra.push(`${m.label} ${vals.map(P).join(" / ")}`);
      }
    }
    const numbersText = `${parts.join("; ")}.${extra.length ? ` For comparison at ${labs.join(" / ")}: ${extra.join("; ")}.` : ""}`;
    const reproduced = wins.every(Boolean);
    const verdict = reproduced
      ? `Reproduced: YaRN is lowest of the three at ${list(labs)}.`
      : `Not reproduced: YaRN is not more than ${MARGIN} below both at ${list(labs.filter((_, i) => !wins[i]))}.`;
    return { numbersText, reproduced, verdict, summary: Ts.map((_, i) => `${labs[i]} YaRN ${P(y[i])} vs PI ${P(pi[i])} / NTK ${P(ntk[i])}`).join(", ") };
  });
}

function dynamicYarn(r: StudyReport): Finding {
  const d = new Data(r);
  const tol = CRITERIA.dynamicAtLTolerance;
  const criterion = `dynamic YaRN at L within ${(tol * 100).toFixed(0)}% of plain RoPE at L (no degradation at the trained length) and more than ${MARGIN} below dynamic NTK at every length beyond L`;
  return finish("003", "Dynamic YaRN: no loss at L, better than dynamic NTK beyond", d, criterion, () => {
    const L = d.L;
    const rope = d.ppl("rope", L);
    const dynL = d.ppl("yarn-dynamic", L);
    const Ts = d.beyond();
    const dy = Ts.map((T) => d.ppl("yarn-dynamic", T));
    const nt = Ts.map((T) => d.ppl("rope-dynamic", T));
    if (!ok(rope) || !ok(dynL) || !Ts.length || [...dy, ...nt].some((v) => !ok(v))) return null;
    const labs = Ts.map((T) => d.lab(T));
    const staticL = d.method("yarn")?.ppl[d.lengths.indexOf(L)];
    if (isValue(staticL)) d.numbers["yarn@L"] = staticL;
    const rel = dynL / rope - 1;
    d.numbers.dynamicVsRopeAtL = rel;
    const flat = dynL <= (1 + tol) * rope;
    const wins = Ts.map((_, i) => lower(dy[i]!, nt[i]!));
    const numbersText =
      `At L: dynamic YaRN ${P(dynL)} vs RoPE ${P(rope)} (${formatPct(rel)})${isValue(staticL) ? `, static YaRN ${P(staticL)} (${formatPct(staticL / rope - 1)})` : ""}. ` +
      `Beyond L, ppl at ${labs.join(" / ")}: dynamic YaRN ${dy.map(P).join(" / ")} vs dynamic NTK ${nt.map(P).join(" / ")}.`;
    const reproduced = flat && wins.every(Boolean);
    let verdict: string;
    if (reproduced) verdict = `Reproduced: no degradation at L and lower than dynamic NTK at all ${Ts.length} lengths beyond L.`;
    else {
      const why: string[] = [];
      if (!flat) why.push(`dynamic YaRN is ${formatPct(rel)} from RoPE at L (limit +${(tol * 100).toFixed(0)}%)`);
      const lost = labs.filter((_, i) => !wins[i]);
      if (lost.length) why.push(`not more than ${MARGIN} below dynamic NTK at ${list(lost)}`);
      verdict = `Not reproduced: ${why.join("; ")}.`;
    }
    return { numbersText, reproduced, verdict, summary: `L ${P(dynL)} vs RoPE ${P(rope)}; ${labs.map((l, i) => `${l} ${P(dy[i])} vs dyn-NTK ${P(nt[i])}`).join(", ")}` };
  });
}

function finetunedYarn(r: StudyReport): Finding {
  const d = new Data(r);
  const ft = d.method("yarn-finetuned");
  const steps = ft?.fineTuneSteps;
  const criterion = `fine-tuned YaRN more than ${MARGIN} below every other method of the RoPE model at 4L and 8L`;
  return finish("003", "A short fine-tune makes YaRN the best at long lengths", d, criterion, () => {
    const Ts = d.long();
    const f = Ts.map((T) => d.ppl("yarn-finetuned", T));
    // the core comparison needs these; the other RoPE methods are compared when present
    const core = ["rope-pi", "rope-ntk", "yarn"];
    for (const id of core) Ts.forEach((T) => d.ppl(id, T));
    if (!Ts.length || f.some((v) => !ok(v)) || d.missingText()) return null;
    const others = ROPE_FAMILY.filter((id) => d.method(id));
    const labs = Ts.map((T) => d.lab(T));
    const lines: string[] = [];
    const short: string[] = [];
    const wins: boolean[] = [];
    Ts.forEach((T, i) => {
      let bestId = "";
      let best = Infinity;
      for (const id of others) {
        const v = d.method(id)!.ppl[d.lengths.indexOf(T)];
        if (!isValue(v)) continue;
        d.numbers[`${id}@${labs[i]}`] = v;
        if (v < best || bestId === "") {
          best = v;
          bestId = id;
        }
      }
      wins.push(lower(f[i]!, best));
      lines.push(`${i ? "at" : "At"} ${labs[i]} ${P(f[i])} vs best other ${d.label(bestId)} ${P(best)}`);
      short.push(`${labs[i]} ${P(f[i])} vs ${P(best)} (${d.label(bestId)})`);
    });
    if (isValue(steps)) d.numbers.fineTuneSteps = steps;
    const ftLen = ft?.params?.fineTuneLength;
    const how = [isValue(steps) ? `${steps} steps` : "", isValue(ftLen) ? `at ${ftLen} tokens` : ""].filter(Boolean).join(" ");
    const numbersText = `Fine-tuned YaRN (${how || "fine-tune steps not reported"}): ${lines.join("; ")}.`;
    const reproduced = wins.every(Boolean);
    const verdict = reproduced
      ? `Reproduced: best RoPE-model perplexity at ${list(labs)}.`
      : `Not reproduced: another RoPE method is as good or better at ${list(labs.filter((_, i) => !wins[i]))}.`;
    return { numbersText, reproduced, verdict, summary: short.join(", ") };
  });
}

/** Every seed finding of the run, in seed order (000, 001, 003). */
export function computeFindings(report: StudyReport): Finding[] {
  return [alibiPi(report), windowExt(report), pvReplacement(report), pvVsScaling(report), yarnVsPiNtk(report), dynamicYarn(report), finetunedYarn(report)];
}

/** ✓ / ✗ / – for a finding. */
export function badge(reproduced: boolean | null): string {
  return reproduced === true ? "✓" : reproduced === false ? "✗" : "–";
}
