/**
 * The gates and seed findings of a study run, computed ONLY from the report's numbers (the
 * per-document NLL sums and the passkey counts in report.json; nothing is written in advance).
 *
 * Statistics (lib/study/stats.ts): every NLL comparison is paired (same targets) with a 95%
 * document-bootstrap interval of the mean difference; every passkey accuracy has a 95% Wilson
 * interval. ONE RULE for every criterion: it holds only when the WHOLE interval satisfies it —
 * "a below b" means the interval of NLL(a) − NLL(b) lies below 0; "Δ ≥ 0.3" means its lower end is
 * ≥ 0.3; "accuracy ≥ 0.8" means the Wilson lower bound is ≥ 0.8. Lengths are multiples of the
 * training length L ("2L" = 2·L tokens).
 *
 * Gates (is the setup able to test a finding?):
 *   G1  RoPE fails past L:           NLL(rope, 4L) − NLL(rope, L) ≥ 0.3 nats
 *   G2  NoPE fails past L:           NLL(nope, 2L) − NLL(nope, L) ≥ 0.2 nats
 *   G3  context beyond the window helps: NLL(nope, L) below NLL(window, L)
 *   G4  ALiBi does not reach past L: passkey(alibi, (L, 2L]) ≤ ½ · passkey(alibi, ≤ L)
 *                                    (upper Wilson bound of the first ≤ half the lower of the second)
 *   G5  passkey is learnable:        passkey(rope, ≤ L) ≥ 0.8 (NoPE and ALiBi shown beside it)
 *
 * Findings (a finding whose gate fails is "not testable at this scale", never "reproduced"):
 *   000  ALiBi-PI below ALiBi at 2L, and NLL(alibi-pi, 2L) − NLL(alibi, L) ≤ 0.05      [G4]
 *   001  window extension below the window model at 2L and 4L                          [G3]
 *   001  PV replacement (r = 4) below NoPE at 2L and 4L, and it closes ≥ 50% of
 *        NLL(nope, 2L) − NLL(nope, L) (bootstrap interval of the ratio)                 [G2]
 *   001  PV replacement (r = 4) below NoPE with attention scaling at 2L and 4L         [G2]
 *   003  fine-tuned YaRN below fine-tuned PI and fine-tuned NTK at 4L and 8L           [G1]
 *   003  dynamic YaRN below RoPE and below dynamic PI at every T > L                   [G1]
 *   003  fine-tuned YaRN: below every other RoPE method (training-free and fine-tuned)
 *        at 4L and 8L, NLL(yarn-ft, L) − NLL(rope-ft, L) ≤ 0.02, and passkey ≥ 0.8 in
 *        every bucket up to 4L                                                          [G1, G5]
 */
import type { PasskeyCell, StudyMethod, StudyReport } from "../study/report_schema.js";
import { bootstrapIndices, bootstrapMean, bootstrapRatio, wilson, type DocSums, type Interval } from "../study/stats.js";
import { formatNll, lengthLabel } from "./format.js";

export type SeedId = "000" | "001" | "003";
export type GateId = "G1" | "G2" | "G3" | "G4" | "G5";
export type Verdict = "reproduced" | "not reproduced" | "not testable" | "missing";

/** The fixed thresholds (nats or accuracy). */
export const CRITERIA = {
  g1RopeDegradation: 0.3,
  g2NopeDegradation: 0.2,
  g4FarFraction: 0.5,
  g5Passkey: 0.8,
  alibiPiNearTrained: 0.05,
  pvClosure: 0.5,
  yarnFtAtL: 0.02,
  yarnFtPasskey: 0.8,
  /** PV replacement ratio the findings use (seed 001's r = 4). */
  pvRatio: 4,
} as const;

export interface Gate {
  id: GateId;
  title: string;
  criterion: string;
  /** true / false; null when a number is missing. */
  pass: boolean | null;
  text: string;
  numbers: Record<string, number>;
}

export interface Finding {
  seed: SeedId;
  title: string;
  gates: GateId[];
  verdict: Verdict;
  /** true: reproduced; false: not reproduced; null: not testable or missing data. */
  reproduced: boolean | null;
  criterion: string;
  /** One paragraph: the numbers with intervals, the criterion and the verdict. */
  text: string;
  numbers: Record<string, number>;
  /** One line with the key numbers (terminal). */
  summary: string;
}

const f3 = (x: number) => (Number.isFinite(x) ? `${x < 0 ? "−" : ""}${Math.abs(x).toFixed(3)}` : String(x));
const sgn = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}` : String(x));
/** "+0.123 [+0.100, +0.150]" */
export function formatInterval(iv: Interval, signed = true): string {
  const f = signed ? sgn : f3;
  return `${f(iv.mean)} [${f(iv.lo)}, ${f(iv.hi)}]`;
}
function formatAccInterval(iv: Interval): string {
  return `${iv.mean.toFixed(2)} [${iv.lo.toFixed(2)}, ${iv.hi.toFixed(2)}]`;
}

class Missing extends Error {}

/** Numbers of a report, with the intervals every criterion uses (one set of bootstrap resamples). */
export class Evidence {
  readonly L: number;
  readonly lengths: number[];
  private readonly byId = new Map<string, StudyMethod>();
  private resamples: Int32Array[] | null = null;
  readonly numbers: Record<string, number> = {};

  constructor(readonly report: StudyReport) {
    this.L = report.trainLength;
    this.lengths = Array.isArray(report.lengths) ? report.lengths : [];
    for (const m of Array.isArray(report.methods) ? report.methods : []) if (m && typeof m.id === "string") this.byId.set(m.id, m);
  }

  has(id: string): boolean {
    return this.byId.has(id);
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
  /** The per-document sums of `id` at length T (throws Missing). */
  sums(id: string, T: number): DocSums {
    const m = this.byId.get(id);
    if (!m) throw new Missing(`${id} (not in this report)`);
    const i = this.lengths.indexOf(T);
    const s = i >= 0 && Array.isArray(m.docNll) ? m.docNll[i] : null;
    if (!Array.isArray(s) || !Array.isArray(m.docTargets)) throw new Missing(`${id} at ${this.lab(T)}${i < 0 ? " (length not evaluated)" : ""}`);
    if (!s.length) throw new Missing(`${id} at ${this.lab(T)} (no evaluation documents)`);
    return { sums: s, counts: m.docTargets };
  }
  private rs(n: number): Int32Array[] {
    if (!this.resamples || this.resamples[0]?.length !== n) this.resamples = bootstrapIndices(n);
    return this.resamples;
  }
  /** NLL(a, Ta) − NLL(b, Tb) with its interval; recorded in numbers as "a@Ta−b@Tb". */
  diff(a: string, Ta: number, b: string, Tb: number): Interval {
    const A = this.sums(a, Ta);
    const B = this.sums(b, Tb);
    const iv = bootstrapMean(A, B, this.rs(A.sums.length));
    const key = `${a}@${this.lab(Ta)}−${b}@${this.lab(Tb)}`;
    this.numbers[key] = iv.mean;
    this.numbers[`${key}.lo`] = iv.lo;
    this.numbers[`${key}.hi`] = iv.hi;
    return iv;
  }
  /** Mean NLL of a at T (recorded). */
  nll(a: string, T: number): number {
    const m = this.byId.get(a);
    const i = this.lengths.indexOf(T);
    const v = m && i >= 0 ? m.nll?.[i] : null;
    if (typeof v !== "number") throw new Missing(`${a} at ${this.lab(T)}`);
    this.numbers[`${a}@${this.lab(T)}`] = v;
    return v;
  }
  /** (x1 − x2) / (y1 − y2) over the same documents, with its interval. */
  ratio(x1: [string, number], x2: [string, number], y1: [string, number], y2: [string, number]): Interval {
    const X1 = this.sums(...x1);
    const iv = bootstrapRatio(X1, this.sums(...x2), this.sums(...y1), this.sums(...y2), this.rs(X1.sums.length));
    return iv;
  }
  /** Passkey accuracy of `id` in the bucket whose upper length is T, with its Wilson interval. */
  passkey(id: string, T: number): Interval & { cell: PasskeyCell } {
    const m = this.byId.get(id);
    const bi = (this.report.passkey?.buckets ?? []).findIndex((b) => b.hi === T);
    const cell = m && bi >= 0 ? m.passkey?.[bi] : null;
    if (!cell || typeof cell.correct !== "number" || typeof cell.trials !== "number") throw new Missing(`passkey of ${id} at ${bi >= 0 ? this.bucketLabel(bi) : this.lab(T)}`);
    const iv = wilson(cell.correct, cell.trials);
    this.numbers[`passkey:${id}@${this.lab(T)}`] = iv.mean;
    return { ...iv, cell };
  }
  bucketLabel(i: number): string {
    const b = this.report.passkey?.buckets?.[i];
    if (!b) return "?";
    return b.lo === 0 ? `≤ ${this.lab(b.hi)}` : `(${this.lab(b.lo)}, ${this.lab(b.hi)}]`;
  }
}

function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

// ------------------------------------------------------------------ gates

function gate(id: GateId, title: string, criterion: string, r: StudyReport, body: (e: Evidence) => { pass: boolean; text: string }): Gate {
  const e = new Evidence(r);
  try {
    const { pass, text } = body(e);
    return { id, title, criterion, pass, text: `${text} ${pass ? "Passes." : "Fails."}`, numbers: e.numbers };
  } catch (err) {
    if (!(err instanceof Missing)) throw err;
    return { id, title, criterion, pass: null, text: `Missing: ${err.message}.`, numbers: e.numbers };
  }
}

/** The five gates of the report. */
export function computeGates(r: StudyReport): Gate[] {
  const L = r.trainLength;
  const C = CRITERIA;
  return [
    gate("G1", "RoPE fails past L", `NLL(RoPE, 4L) − NLL(RoPE, L) ≥ ${C.g1RopeDegradation} nats (whole interval)`, r, (e) => {
      const d = e.diff("rope", 4 * L, "rope", L);
      return { pass: d.lo >= C.g1RopeDegradation, text: `NLL(RoPE, 4L) − NLL(RoPE, L) = ${formatInterval(d)} nats.` };
    }),
    gate("G2", "NoPE fails past L", `NLL(NoPE, 2L) − NLL(NoPE, L) ≥ ${C.g2NopeDegradation} nats (whole interval)`, r, (e) => {
      const d = e.diff("nope", 2 * L, "nope", L);
      return { pass: d.lo >= C.g2NopeDegradation, text: `NLL(NoPE, 2L) − NLL(NoPE, L) = ${formatInterval(d)} nats.` };
    }),
    gate("G3", "Context beyond the window helps", "NLL(NoPE, L) below NLL(window, L) (interval of the difference below 0)", r, (e) => {
      const d = e.diff("nope", L, "window", L);
      return { pass: d.hi < 0, text: `NLL(NoPE, L) − NLL(window, L) = ${formatInterval(d)} nats.` };
    }),
    gate("G4", "ALiBi does not reach past L", `passkey accuracy of ALiBi at distances in (L, 2L] at most ${C.g4FarFraction} × its accuracy at distances ≤ L (upper Wilson bound ≤ ${C.g4FarFraction} × lower bound)`, r, (e) => {
      const near = e.passkey("alibi", L);
      const far = e.passkey("alibi", 2 * L);
      return { pass: far.hi <= C.g4FarFraction * near.lo, text: `ALiBi passkey ≤ L: ${formatAccInterval(near)} (${near.cell.correct}/${near.cell.trials}); (L, 2L]: ${formatAccInterval(far)} (${far.cell.correct}/${far.cell.trials}).` };
    }),
    gate("G5", "Passkey is learnable", `RoPE's passkey accuracy at distances ≤ L ≥ ${C.g5Passkey} (lower Wilson bound)`, r, (e) => {
      const p = e.passkey("rope", L);
      const others = ["nope", "alibi"]
        .filter((id) => e.has(id))
        .map((id) => {
          try {
            const q = e.passkey(id, L);
            return `${e.label(id)} ${formatAccInterval(q)}`;
          } catch {
            return null;
          }
        })
        .filter((s): s is string => s !== null);
      return { pass: p.lo >= C.g5Passkey, text: `RoPE passkey ≤ L: ${formatAccInterval(p)} (${p.cell.correct}/${p.cell.trials})${others.length ? `; for comparison ${others.join(", ")}` : ""}.` };
    }),
  ];
}

// ------------------------------------------------------------------ findings

interface Outcome {
  /** The numbers paragraph. */
  text: string;
  reproduced: boolean;
  /** Why not (when not reproduced). */
  why: string[];
  summary: string;
}

function finding(r: StudyReport, gates: Gate[], seed: SeedId, title: string, needs: GateId[], criterion: string, body: (e: Evidence) => Outcome): Finding {
  const e = new Evidence(r);
  let out: Outcome | null = null;
  let missing: string | null = null;
  try {
    out = body(e);
  } catch (err) {
    if (!(err instanceof Missing)) throw err;
    missing = err.message;
  }
  // a needed gate that is absent from `gates` counts as missing (never as passed)
  const failed = needs.map((id) => gates.find((g) => g.id === id) ?? { id, title: null, pass: null }).filter((g) => g.pass !== true);
  const state = (g: { pass: boolean | null }) => (g.pass === true ? "passes" : g.pass === false ? "fails" : "is missing");
  const gateText = needs.map((id) => `${id} ${state(gates.find((g) => g.id === id) ?? { pass: null })}`).join(", ");
  if (missing !== null) {
    return { seed, title, gates: needs, verdict: "missing", reproduced: null, criterion, text: `Not enough data: missing ${missing}. Criterion: ${criterion}.`, numbers: e.numbers, summary: `missing ${missing}` };
  }
  const o = out!;
  if (failed.length) {
    const which = failed.map((g) => `${g.id}${g.title ? ` (${g.title})` : ""} ${state(g)}`).join("; ");
    return {
      seed,
      title,
      gates: needs,
      verdict: "not testable",
      reproduced: null,
      criterion,
      text: `${o.text} Criterion: ${criterion}. Not testable at this scale: ${which}, so the setup cannot show this effect (the comparison ${o.reproduced ? "would hold" : "does not hold"} on these numbers, but it is not evidence either way).`,
      numbers: e.numbers,
      summary: `not testable at this scale (${failed.map((g) => `${g.id} ${g.pass === false ? "fails" : "missing"}`).join(", ")}); ${o.summary}`,
    };
  }
  return {
    seed,
    title,
    gates: needs,
    verdict: o.reproduced ? "reproduced" : "not reproduced",
    reproduced: o.reproduced,
    criterion,
    text: `${o.text} Criterion: ${criterion} (gates: ${gateText}). ${o.reproduced ? "Reproduced." : `Not reproduced: ${o.why.join("; ")}.`}`,
    numbers: e.numbers,
    summary: o.summary,
  };
}

/** "a below b at each T": the differences and which lengths fail. */
function belowAt(e: Evidence, a: string, b: string, Ts: number[]): { ok: boolean[]; ivs: Interval[]; parts: string[] } {
  const ivs = Ts.map((T) => e.diff(a, T, b, T));
  return { ok: ivs.map((iv) => iv.hi < 0), ivs, parts: Ts.map((T, i) => `${e.lab(T)} ${formatInterval(ivs[i]!)}`) };
}

/** Every seed finding of the run, in seed order (000, 001, 003). */
export function computeFindings(r: StudyReport, gates: Gate[] = computeGates(r)): Finding[] {
  const L = r.trainLength;
  const C = CRITERIA;
  const pv = `nope-pv-r${C.pvRatio}`;
  const ROPE_FAMILY = ["rope", "rope-pi", "rope-ntk", "rope-dynamic", "rope-dynamic-pi", "yarn", "yarn-dynamic", "rope-ft", "rope-pi-ft", "rope-ntk-ft"];
  return [
    finding(r, gates, "000", "ALiBi-PI keeps near-trained NLL at 2L where ALiBi does not", ["G4"], `ALiBi-PI below ALiBi at 2L, and NLL(ALiBi-PI, 2L) − NLL(ALiBi, L) ≤ ${C.alibiPiNearTrained} nats`, (e) => {
      const vsPlain = e.diff("alibi-pi", 2 * L, "alibi", 2 * L);
      const vsTrained = e.diff("alibi-pi", 2 * L, "alibi", L);
      const plainVsTrained = e.diff("alibi", 2 * L, "alibi", L);
      const below = vsPlain.hi < 0;
      const near = vsTrained.hi <= C.alibiPiNearTrained;
      const why: string[] = [];
      if (!below) why.push(`ALiBi-PI is not below ALiBi at 2L (${formatInterval(vsPlain)})`);
      if (!near) why.push(`ALiBi-PI at 2L is not within ${C.alibiPiNearTrained} nats of ALiBi at L (${formatInterval(vsTrained)})`);
      return {
        text: `At 2L: NLL(ALiBi-PI) − NLL(ALiBi) = ${formatInterval(vsPlain)}; NLL(ALiBi-PI, 2L) − NLL(ALiBi, L) = ${formatInterval(vsTrained)}; plain ALiBi 2L − L = ${formatInterval(plainVsTrained)} nats.`,
        reproduced: below && near,
        why,
        summary: `PI−ALiBi@2L ${formatInterval(vsPlain)}; PI@2L−ALiBi@L ${formatInterval(vsTrained)}`,
      };
    }),
    finding(r, gates, "001", "Attention window extension lets the window model use a longer context", ["G3"], "window extension below the plain window model at 2L and 4L", (e) => {
      const Ts = [2 * L, 4 * L];
      const b = belowAt(e, "window-ext", "window", Ts);
      return {
        text: `NLL(window extension) − NLL(window): ${b.parts.join("; ")} nats.`,
        reproduced: b.ok.every(Boolean),
        why: [`not below at ${list(Ts.filter((_, i) => !b.ok[i]).map((T) => e.lab(T)))}`],
        summary: b.parts.join(", "),
      };
    }),
    finding(r, gates, "001", "Positional vector replacement lets NoPE extrapolate", ["G2"], `PV replacement (r = ${C.pvRatio}) below NoPE at 2L and 4L, closing ≥ ${C.pvClosure * 100}% of NLL(NoPE, 2L) − NLL(NoPE, L)`, (e) => {
      const Ts = [2 * L, 4 * L];
      const b = belowAt(e, pv, "nope", Ts);
      const closed = e.ratio(["nope", 2 * L], [pv, 2 * L], ["nope", 2 * L], ["nope", L]);
      e.numbers["closure@2L"] = closed.mean;
      const ok = b.ok.every(Boolean) && closed.lo >= C.pvClosure;
      const why: string[] = [];
      if (!b.ok.every(Boolean)) why.push(`not below NoPE at ${list(Ts.filter((_, i) => !b.ok[i]).map((T) => e.lab(T)))}`);
      if (!(closed.lo >= C.pvClosure)) why.push(`closes ${formatInterval(closed, false)} of the 2L degradation (needs ≥ ${C.pvClosure})`);
      const p = e.method(pv)?.params;
      return {
        text: `NLL(PV replacement${p ? `, layer ${String(p.layer)}, α = ${String(p.alpha)}` : ""}) − NLL(NoPE): ${b.parts.join("; ")} nats; fraction of NoPE's 2L degradation closed: ${formatInterval(closed, false)}.`,
        reproduced: ok,
        why,
        summary: `${b.parts.join(", ")}; closes ${closed.mean.toFixed(2)}`,
      };
    }),
    finding(r, gates, "001", "Positional vector replacement beats the attention-scaling baseline", ["G2"], `PV replacement (r = ${C.pvRatio}) below NoPE with attention scaling (λ chosen per length) at 2L and 4L`, (e) => {
      const Ts = [2 * L, 4 * L];
      const b = belowAt(e, pv, "nope-scale", Ts);
      return {
        text: `NLL(PV replacement) − NLL(NoPE + attention scaling): ${b.parts.join("; ")} nats.`,
        reproduced: b.ok.every(Boolean),
        why: [`not below at ${list(Ts.filter((_, i) => !b.ok[i]).map((T) => e.lab(T)))}`],
        summary: b.parts.join(", "),
      };
    }),
    finding(r, gates, "003", "Fine-tuned YaRN beats fine-tuned PI and NTK", ["G1"], "fine-tuned YaRN below fine-tuned linear PI and below fine-tuned NTK (same steps, tokens and length) at 4L and 8L", (e) => {
      const Ts = [4 * L, 8 * L];
      const pi = belowAt(e, "yarn-ft", "rope-pi-ft", Ts);
      const ntk = belowAt(e, "yarn-ft", "rope-ntk-ft", Ts);
      const why: string[] = [];
      Ts.forEach((T, i) => {
        if (!pi.ok[i]) why.push(`not below PI at ${e.lab(T)}`);
        if (!ntk.ok[i]) why.push(`not below NTK at ${e.lab(T)}`);
      });
      return {
        text: `NLL(YaRN ft) − NLL(PI ft): ${pi.parts.join("; ")}; NLL(YaRN ft) − NLL(NTK ft): ${ntk.parts.join("; ")} nats.`,
        reproduced: why.length === 0,
        why,
        summary: `vs PI ${pi.parts.join(", ")}; vs NTK ${ntk.parts.join(", ")}`,
      };
    }),
    finding(r, gates, "003", "Dynamic YaRN extends RoPE without training", ["G1"], "dynamic YaRN below RoPE and below dynamic PI at every evaluated length beyond L", (e) => {
      const Ts = e.lengths.filter((T) => T > L);
      if (!Ts.length) throw new Missing("evaluation lengths beyond L");
      const rope = belowAt(e, "yarn-dynamic", "rope", Ts);
      const dpi = belowAt(e, "yarn-dynamic", "rope-dynamic-pi", Ts);
      const why: string[] = [];
      Ts.forEach((T, i) => {
        if (!rope.ok[i]) why.push(`not below RoPE at ${e.lab(T)}`);
        if (!dpi.ok[i]) why.push(`not below dynamic PI at ${e.lab(T)}`);
      });
      return {
        text: `NLL(dynamic YaRN) − NLL(RoPE): ${rope.parts.join("; ")}; NLL(dynamic YaRN) − NLL(dynamic PI): ${dpi.parts.join("; ")} nats.`,
        reproduced: why.length === 0,
        why,
        summary: `vs RoPE ${rope.parts.join(", ")}; vs dyn-PI ${dpi.parts.join(", ")}`,
      };
    }),
    finding(
      r,
      gates,
      "003",
      "A short YaRN fine-tune gives the best long-context RoPE model",
      ["G1", "G5"],
      `fine-tuned YaRN below every other RoPE method (training-free and fine-tuned) at 4L and 8L, NLL(YaRN ft, L) − NLL(RoPE ft, L) ≤ ${C.yarnFtAtL} nats, and passkey ≥ ${C.yarnFtPasskey} (lower Wilson bound) at every distance up to 4L`,
      (e) => {
        const Ts = [4 * L, 8 * L];
        // "every other RoPE method": all of them must be in the report (a partial report would
        // otherwise compare against fewer methods and could still say "reproduced")
        for (const id of ROPE_FAMILY) if (!e.has(id)) throw new Missing(`${id} (not in this report)`);
        const others = ROPE_FAMILY;
        const why: string[] = [];
        const closest: string[] = [];
        Ts.forEach((T) => {
          let worst: { id: string; iv: Interval } | null = null;
          for (const id of others) {
            const iv = e.diff("yarn-ft", T, id, T);
            if (!worst || iv.hi > worst.iv.hi) worst = { id, iv };
          }
          if (worst) {
            closest.push(`${e.lab(T)}: closest ${e.label(worst.id)} ${formatInterval(worst.iv)}`);
            const lost = others.filter((id) => e.diff("yarn-ft", T, id, T).hi >= 0);
            if (lost.length) why.push(`not below ${list(lost.map((id) => e.label(id)))} at ${e.lab(T)}`);
          }
        });
        const atL = e.diff("yarn-ft", L, "rope-ft", L);
        if (!(atL.hi <= C.yarnFtAtL)) why.push(`NLL at L is ${formatInterval(atL)} from fine-tuned RoPE (limit +${C.yarnFtAtL})`);
        // every distance bucket up to 4L (there must be one reaching 4L: no vacuous pass)
        const buckets = e.report.passkey?.buckets ?? [];
        if (!buckets.some((b) => b.hi === 4 * L)) throw new Missing(`passkey bucket (2L, 4L] (no bucket ends at 4L = ${4 * L})`);
        const pk = buckets.filter((b) => b.hi <= 4 * L).map((b) => ({ T: b.hi, iv: e.passkey("yarn-ft", b.hi) }));
        const pkText = pk.map(({ T, iv }) => `${e.bucketLabel(e.report.passkey.buckets.findIndex((b) => b.hi === T))} ${formatAccInterval(iv)}`);
        const pkLow = pk.filter(({ iv }) => !(iv.lo >= C.yarnFtPasskey));
        if (pkLow.length) why.push(`passkey below ${C.yarnFtPasskey} at ${list(pkLow.map(({ T }) => e.bucketLabel(e.report.passkey.buckets.findIndex((b) => b.hi === T))))}`);
        return {
          text: `NLL(YaRN ft) minus the closest other RoPE method: ${closest.join("; ")} nats; at L, NLL(YaRN ft) − NLL(RoPE ft) = ${formatInterval(atL)}; YaRN ft passkey ${pkText.join(", ")}.`,
          reproduced: why.length === 0,
          why,
          summary: `${closest.join("; ")}; at L ${formatInterval(atL)}; passkey ${pk.map(({ iv }) => iv.mean.toFixed(2)).join("/")}`,
        };
      },
    ),
  ];
}

/** ✓ / ✗ / – for a finding or a gate. */
export function badge(reproduced: boolean | null): string {
  return reproduced === true ? "✓" : reproduced === false ? "✗" : "–";
}

/** Mean NLL of a method at T, formatted (for tables). */
export function nllText(m: StudyMethod | undefined, i: number): string {
  const v = m?.nll?.[i];
  return typeof v === "number" ? formatNll(v) : "–";
}
