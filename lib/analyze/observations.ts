/**
 * Seed 001's observations, each with a criterion FIXED here, in code, before any run (the numbers
 * come from report.json; a criterion is never adjusted to a result). "Layers ≥ 1": hidden indices
 * 1 … numLayers for vectors (after the first block), attention layers (blocks) 1 … numLayers − 1
 * for attention (the blocks that read vectors formed by an earlier block). K = 4 initial tokens.
 *
 *   formation      positional vectors form after the first layers: S(0) < 2 (the embeddings carry
 *                  no position beyond BOS) and max(S(1), S(2)) ≥ 10 (S: estimator.ts, over
 *                  positions [1, L)). Not testable with fewer than 8 samples.
 *   anchors        the initial tokens' vectors stand apart: the mean over layers ≥ 1 of
 *                  max_{t<K} a_t ≥ 3 (a_t: geometry.ts). Not testable when L < 3K.
 *   sinks          the first K tokens draw ≥ 5× their uniform share of attention: mean over
 *                  attention layers ≥ 1 (and heads) of the mass on them ≥ 5 × the mean uniform
 *                  share, for queries [V/2, V), V = min(L, window). Not testable when 5× the
 *                  uniform share is ≥ 1 (too few keys), with one layer, or without attention samples.
 *   decay          attention decays with distance: the mean attention per key at distances [1, 4)
 *                  ≥ 2 × that at [L/8, L/4) (keys ≥ K, queries [L/2, L), mean over attention
 *                  layers ≥ 1). Not testable when L < 32 (the ranges overlap), with one layer, or
 *                  without attention samples.
 *   ood            direct extrapolation: past L the vectors leave the trained range for NoPE and
 *                  RoPE and stay in it for ALiBi and the window model (length extrapolation). Out of
 *                  distribution ⇔ D ≥ 3 · D_in, D = mean over layers ≥ 1 of the mean OOD distance of
 *                  positions [L, T) at the longest T, D_in the same for trained positions [L/2, L)
 *                  left out of the reference. Holds when the outcome is the one the paper reports for
 *                  the model's kind. Not testable without a length > L, or when the estimates' noise
 *                  floor (mean over layers ≥ 1) exceeds 0.5 of the trained cloud's radius.
 *   interpolation  (one per method except nope-scale, the paper's baseline) an extension method keeps
 *                  the vectors in distribution: its D at its longest length ≤ 0.5 × the model's own
 *                  D (as trained) at that length. Not testable when the model as trained is not out
 *                  of distribution there (D < 3 · D_in: nothing to repair).
 */
import type { LayerGeometry, MethodReport, ModelKind, Observation, PositionalReport, Verdict } from "./positional_schema.js";

export const ANCHOR_TOKENS = 4;
export const CRITERIA = {
  formation: { noSignalBelow: 2, signalAtLeast: 10, minSamples: 8 },
  anchors: { scoreAtLeast: 3 },
  sinks: { timesUniform: 5 },
  decay: { near: [1, 4] as const, farFraction: [1 / 8, 1 / 4] as const, ratioAtLeast: 2, minTrainLength: 32 },
  ood: { ratioAtLeast: 3, maxNoiseFloor: 0.5 },
  interpolation: { reduceTo: 0.5 },
} as const;

const OOD_EXPECTED: Record<ModelKind, boolean> = { nope: true, rope: true, alibi: false, window: false };

const f = (x: number | null | undefined, d = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? "–" : Number(x.toPrecision(d)).toString());
const meanOf = (xs: (number | null | undefined)[]): number | null => {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

type Input = Pick<PositionalReport, "trainLength" | "lengths" | "model" | "settings" | "methods"> & { base: Pick<PositionalReport["base"], "layers" | "run"> };

function obs(o: Omit<Observation, "verdict"> & { verdict: Verdict }): Observation {
  return o;
}

function formation(r: Input): Observation {
  const c = CRITERIA.formation;
  const S = r.base.layers.map((g) => g.signal);
  const s0 = S[0] ?? null;
  const s12 = Math.max(...[S[1], S[2]].filter((x): x is number => typeof x === "number"), -Infinity);
  const common = {
    id: "formation" as const,
    title: "Positional vectors form after the first layers",
    claim: "The embeddings carry no position (NoPE: none at all); positional vectors appear in the hidden states after the first layer(s), from causal attention alone in NoPE.",
    criterion: `S(0) < ${c.noSignalBelow} and max(S(1), S(2)) ≥ ${c.signalAtLeast}, S = spread of the positional vectors over positions [1, L) divided by the spread sampling noise alone gives (E[S] = 1 without positional information).`,
    numbers: { "S(0)": s0, "max S(1..2)": Number.isFinite(s12) ? s12 : null, samples: r.settings.samples },
  };
  const measured = `S per hidden layer: ${S.map((s, l) => `${l}: ${f(s)}`).join(", ")} (${r.settings.samples} samples).`;
  if (r.settings.samples < c.minSamples || s0 === null || !Number.isFinite(s12)) {
    return obs({ ...common, verdict: "not testable", measured: `Not testable: fewer than ${c.minSamples} samples or no noise estimate. ${measured}` });
  }
  const holds = s0 < c.noSignalBelow && s12 >= c.signalAtLeast;
  return obs({ ...common, verdict: holds ? "holds" : "does not hold", measured });
}

function anchors(r: Input): Observation {
  const c = CRITERIA.anchors;
  const K = r.settings.anchors;
  const layers = r.base.layers.filter((g) => g.layer >= 1);
  const maxA = layers.map((g) => Math.max(...g.anchorScores.filter(Number.isFinite)));
  const m = meanOf(maxA);
  const common = {
    id: "anchors" as const,
    title: "Initial tokens are anchors",
    claim: "After the first layer, the initial tokens get positional vectors distinct from all later ones, and serve as anchors from which the later tokens' vectors are formed.",
    criterion: `Mean over hidden layers ≥ 1 of max_{t<${K}} a_t ≥ ${c.scoreAtLeast}, a_t = ‖p_t − c‖ / σ (c: centroid of the trained positions [${K}, L), σ: their median distance from it). The causal role (removing the anchors) is not tested.`,
    numbers: { "mean max a_t": m },
  };
  const per = layers.map((g) => `layer ${g.layer}: ${g.anchorScores.map((a, t) => `a${t} ${f(a, 2)}`).join(" ")}`).join("; ");
  if (r.trainLength < 3 * K || m === null) return obs({ ...common, verdict: "not testable", measured: `Not testable: L < ${3 * K} or no layer ≥ 1. ${per}` });
  return obs({ ...common, verdict: m >= c.scoreAtLeast ? "holds" : "does not hold", measured: `mean max a_t = ${f(m)} (position 0 is BOS when the tokenizer has one). ${per}.` });
}

function attentionRange(r: Input, name: string) {
  return r.base.run.attention?.find((a) => a.name === name) ?? null;
}

function sinks(r: Input): Observation {
  const c = CRITERIA.sinks;
  const K = r.settings.anchors;
  const rng = attentionRange(r, "sink");
  const layers = r.model.layers;
  const common = {
    id: "sinks" as const,
    title: "Attention sinks on the initial tokens",
    claim: "Later tokens put a large share of their attention on the initial tokens (attention sinks), an effect of the anchors' positional vectors.",
    criterion: `Mean over attention layers ≥ 1 and heads of the attention mass on the first ${K} tokens ≥ ${c.timesUniform} × the uniform share (what attention spread evenly over the visible keys would give them), for queries [V/2, V), V = min(L, window).`,
  };
  if (!rng || layers < 2) return obs({ ...common, verdict: "not testable", measured: !rng ? "Not testable: no attention samples." : "Not testable: the model has one layer.", numbers: {} });
  const mass = meanOf(rng.sinkMass.slice(1).map((hs) => meanOf(hs)));
  const base = meanOf(rng.sinkBaseline.slice(1));
  const numbers = { mass, uniform: base, ratio: mass !== null && base ? mass / base : null };
  const measured = `mass ${f(mass)} vs uniform ${f(base)} (×${f(numbers.ratio)}) for queries [${rng.lo}, ${rng.hi}); per attention layer: ${rng.sinkMass.map((hs, l) => `${l}: ${f(meanOf(hs))}`).join(", ")}.`;
  if (mass === null || base === null || c.timesUniform * base >= 1) return obs({ ...common, verdict: "not testable", measured: `Not testable: ${c.timesUniform}× the uniform share (${f(base)}) is ≥ 1, so no attention pattern could satisfy it. ${measured}`, numbers });
  return obs({ ...common, verdict: mass >= c.timesUniform * base ? "holds" : "does not hold", measured, numbers });
}

function decay(r: Input): Observation {
  const c = CRITERIA.decay;
  const L = r.trainLength;
  const rng = attentionRange(r, "trained");
  const far = [Math.round(L * c.farFraction[0]), Math.round(L * c.farFraction[1])];
  const common = {
    id: "decay" as const,
    title: "Long-term decay of attention with distance",
    claim: "Attention to a key decreases with its distance from the query (long-term decay), an effect shaped by the positional vectors.",
    criterion: `Mean attention per key at distances [${c.near[0]}, ${c.near[1]}) ≥ ${c.ratioAtLeast} × that at [L/8, L/4) = [${far[0]}, ${far[1]}), keys ≥ ${r.settings.anchors} (sinks apart), queries [L/2, L), means over attention layers ≥ 1.`,
  };
  if (!rng || r.model.layers < 2 || L < c.minTrainLength) {
    return obs({ ...common, verdict: "not testable", measured: `Not testable: ${!rng ? "no attention samples" : r.model.layers < 2 ? "the model has one layer" : `L < ${c.minTrainLength} (the two distance ranges overlap)`}.`, numbers: {} });
  }
  const near = meanOf(rng.near.slice(1));
  const farV = meanOf(rng.far.slice(1));
  const numbers = { near, far: farV, ratio: near !== null && farV ? near / farV : null };
  const measured = `near ${f(near)} vs far ${f(farV)} (×${f(numbers.ratio)}); per attention layer near/far: ${rng.near.map((n, l) => `${l}: ${f(n)}/${f(rng.far[l])}`).join(", ")}.`;
  if (near === null || farV === null) return obs({ ...common, verdict: "not testable", measured: `Not testable: no pairs at those distances. ${measured}`, numbers });
  return obs({ ...common, verdict: near >= c.ratioAtLeast * farV ? "holds" : "does not hold", measured, numbers });
}

/** D and D_in of the model as trained at length T (null when not measured). */
export function baseOod(layers: LayerGeometry[], T: number): { D: number | null; Din: number | null; noise: number | null } {
  const ls = layers.filter((g) => g.layer >= 1);
  return {
    D: meanOf(ls.map((g) => g.oodBeyond.find((o) => o.length === T)?.mean ?? null)),
    Din: meanOf(ls.map((g) => g.oodInRange)),
    noise: meanOf(ls.map((g) => g.noiseFloor)),
  };
}

function ood(r: Input): Observation {
  const c = CRITERIA.ood;
  const T = r.lengths[r.lengths.length - 1]!;
  const kind = r.model.kind;
  const expectOod = OOD_EXPECTED[kind];
  const { D, Din, noise } = baseOod(r.base.layers, T);
  const common = {
    id: "ood" as const,
    title: "Past the context window: out-of-distribution vectors (direct extrapolation)",
    claim: "Beyond the trained length, the positional vectors of NoPE and RoPE models go out of distribution (the main cause of the perplexity blow-up), while length-extrapolating models (ALiBi, window attention) keep them consistent with the trained range.",
    criterion: `Out of distribution ⇔ D ≥ ${c.ratioAtLeast} · D_in (D: mean over layers ≥ 1 of the OOD distance of positions [L, T) at the longest T; D_in: the same for trained positions [L/2, L), each left out). Holds when the outcome is the paper's for a ${kind} model: ${expectOod ? "out of distribution" : "in distribution"}.`,
    numbers: { D, D_in: Din, ratio: D !== null && Din ? D / Din : null, noiseFloor: noise },
  };
  if (T <= r.trainLength || D === null || Din === null) return obs({ ...common, verdict: "not testable", measured: "Not testable: no analysed length beyond L." });
  const measured = `D = ${f(D)}, D_in = ${f(Din)} (ratio ${f(common.numbers.ratio)}) at T = ${T}; noise floor ${f(noise)}: ${D >= c.ratioAtLeast * Din ? "out of distribution" : "in distribution"}.`;
  if (noise !== null && noise > c.maxNoiseFloor) return obs({ ...common, verdict: "not testable", measured: `Not testable: the estimates' noise floor ${f(noise)} exceeds ${c.maxNoiseFloor} of the trained cloud's radius (more --samples). ${measured}` });
  const isOod = D >= c.ratioAtLeast * Din;
  return obs({ ...common, verdict: isOod === expectOod ? "holds" : "does not hold", measured });
}

function interpolation(r: Input, m: MethodReport): Observation {
  const c = CRITERIA.interpolation;
  const last = m.lengths[m.lengths.length - 1];
  const T = last?.length ?? 0;
  const { D: Dbase, Din } = baseOod(r.base.layers, T);
  const Dm = last ? meanOf(last.oodBeyond.slice(1)) : null;
  const common = {
    id: "interpolation" as const,
    title: `${m.label}: positional vectors kept in distribution`,
    claim: "Context-window extension methods work by interpolating the positional vectors: beyond L they stay within (or close to) the trained range.",
    criterion: `D with ${m.id} at its longest length ≤ ${c.reduceTo} × D of the model as trained at that length (D as in "ood"). Not testable when the model as trained is not out of distribution there (D < ${CRITERIA.ood.ratioAtLeast} · D_in).`,
    numbers: { length: T || null, D_method: Dm, D_base: Dbase, D_in: Din },
  };
  const measured = `at T = ${T}: D = ${f(Dm)} with ${m.id} vs ${f(Dbase)} as trained (D_in ${f(Din)}).`;
  if (Dm === null || Dbase === null || Din === null) return obs({ ...common, verdict: "not testable", measured: `Not testable: not measured. ${measured}` });
  if (Dbase < CRITERIA.ood.ratioAtLeast * Din) return obs({ ...common, verdict: "not testable", measured: `Not testable: the model as trained stays in distribution at T = ${T}, nothing to repair. ${measured}` });
  return obs({ ...common, verdict: Dm <= c.reduceTo * Dbase ? "holds" : "does not hold", measured });
}

/** Every observation, computed from the report's numbers only. */
export function computeObservations(r: Input): Observation[] {
  return [formation(r), anchors(r), sinks(r), decay(r), ood(r), ...r.methods.filter((m) => m.id !== "nope-scale").map((m) => interpolation(r, m))];
}
