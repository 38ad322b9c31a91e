/**
 * Naive float64 reference of ctxwin's attention, forward and backward, written only from
 * docs/design.md ("Positional conventions"); it shares no code with lib/ or native/.
 *
 * Layouts (row-major): q [B, Tq, Hq, D]; k, v [B, Tk, Hkv, D]; out/dOut like q.
 * Query head h reads kv head floor(h / (Hq / Hkv)).
 * Positions: query i is at p = queryOffset + i (default Tk − Tq), key j at j; dist = p − j.
 *
 * Score (query i, key j, head h):
 *   s = softmaxScale · (q'_i · k'_j) − slope_h · dist      (|dist| when non-causal)
 * where q', k' are q, k rotated by RoPE (keys j < prefixKeys are left as they are), masked keys
 * get −inf, P = softmax(s) over visible keys, out_i = Σ_j P_ij v_j.
 *
 * The backward gives gradients w.r.t. the raw q, k, v (through the rotation).
 */

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "ntk"; factor: number }
  | { type: "dynamic"; factor: number; originalMaxPositions: number }
  | {
      type: "yarn";
      factor: number;
      originalMaxPositions: number;
      betaFast?: number;
      betaSlow?: number;
      attentionFactor?: number;
      mscale?: number;
      mscaleAllDim?: number;
      truncate?: boolean;
    };

export type Positional =
  | { type: "none" }
  | { type: "alibi"; slopes?: number[]; trainLength?: number }
  | { type: "rope"; theta?: number; rotaryDim?: number; scaling?: RopeScaling };

export interface RefOptions {
  causal?: boolean;
  softmaxScale?: number;
  window?: number;
  queryOffset?: number;
  prefixKeys?: number;
  positional?: Positional;
  /** Per sequence: keys j >= keyLengths[b] are invisible (right padding). */
  keyLengths?: readonly number[];
  /** Per sequence: keys j < keyStarts[b] are invisible (left padding). */
  keyStarts?: readonly number[];
}

export type Shape4 = [number, number, number, number];

export interface RefInputs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  qShape: Shape4;
  kShape: Shape4; // v has the same shape
}

// ---------------------------------------------------------------------------------------------
// ALiBi

/**
 * Default ALiBi slopes for H heads (docs/design.md, Positional conventions; the ALiBi paper's
 * recipe).
 */
export function defaultAlibiSlopes(H: number): number[] {
  const pow2 = (n: number): number[] => {
    const start = Math.pow(2, -8 / n);
    const out: number[] = [];
    for (let h = 0; h < n; h++) out.push(Math.pow(start, h + 1));
    return out;
  };
  if (Number.isInteger(Math.log2(H))) return pow2(H);
  // largest power of two c < H, then every other slope of 2c until H slopes
  const c = Math.pow(2, Math.floor(Math.log2(H)));
  const first = pow2(c);
  const extra = pow2(2 * c).filter((_, i) => i % 2 === 0).slice(0, H - c);
  return [...first, ...extra];
}

/** Slopes in effect for a call: explicit or default, times L/Tk when Tk > trainLength (ALiBi-PI). */
export function effectiveAlibiSlopes(pos: { slopes?: number[]; trainLength?: number }, Hq: number, Tk: number): number[] {
  const base = pos.slopes ? [...pos.slopes] : defaultAlibiSlopes(Hq);
  if (pos.trainLength !== undefined && Tk > pos.trainLength) {
    const r = pos.trainLength / Tk;
    return base.map((s) => s * r);
  }
  return base;
}

// ---------------------------------------------------------------------------------------------
// RoPE

export interface RopeTables {
  /** rotary dim R (even, ≤ D); dims ≥ R pass through */
  R: number;
  /** inv_freq_i for i in [0, R/2) */
  invFreq: number[];
  /** multiplies cos and sin (YaRN attention factor; 1 otherwise) */
  attnFactor: number;
}

/** mscale(s, m) = 0.1·m·ln(s) + 1 for s > 1, else 1. */
export function yarnMscale(s: number, m = 1): number {
  if (s <= 1) return 1;
  return 0.1 * m * Math.log(s) + 1;
}

/**
 * YaRN correction-dim bounds [low, high] as docs/design.md (Positional conventions) defines them
 * (after clamping and +0.001).
 */
export function yarnBounds(R: number, theta: number, L0: number, betaFast: number, betaSlow: number, truncate: boolean): [number, number] {
  const corr = (beta: number): number => (R * Math.log(L0 / (beta * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = corr(betaFast);
  let high = corr(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.min(Math.max(low, 0), R - 1);
  high = Math.min(Math.max(high, 0), R - 1);
  if (low === high) high += 0.001;
  return [low, high];
}

/** inv_freq and attention factor of a rope scheme for a call with Tk keys. */
export function ropeTables(pos: { theta?: number; rotaryDim?: number; scaling?: RopeScaling }, D: number, Tk: number): RopeTables {
  const R = pos.rotaryDim ?? D;
  let theta = pos.theta ?? 10000;
  const sc = pos.scaling;
  if (sc?.type === "ntk") {
    theta = theta * Math.pow(sc.factor, R / (R - 2));
  } else if (sc?.type === "dynamic") {
    const L0 = sc.originalMaxPositions;
    const s = Math.max(Tk, L0);
    theta = theta * Math.pow((sc.factor * s) / L0 - (sc.factor - 1), R / (R - 2));
  }
  const half = R / 2;
  const inv: number[] = [];
  for (let i = 0; i < half; i++) inv.push(1 / Math.pow(theta, (2 * i) / R));
  let attnFactor = 1;
  if (sc?.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = inv[i] / sc.factor;
  } else if (sc?.type === "yarn") {
    const betaFast = sc.betaFast ?? 32;
    const betaSlow = sc.betaSlow ?? 1;
    const [low, high] = yarnBounds(R, theta, sc.originalMaxPositions, betaFast, betaSlow, sc.truncate ?? true);
    for (let i = 0; i < half; i++) {
      const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
      inv[i] = (inv[i] / sc.factor) * ramp + inv[i] * (1 - ramp);
    }
    if (sc.attentionFactor !== undefined) attnFactor = sc.attentionFactor;
    else if (sc.mscale !== undefined && sc.mscaleAllDim !== undefined && sc.mscale !== 0 && sc.mscaleAllDim !== 0)
      attnFactor = yarnMscale(sc.factor, sc.mscale) / yarnMscale(sc.factor, sc.mscaleAllDim);
    else attnFactor = yarnMscale(sc.factor, 1);
  }
  return { R, invFreq: inv, attnFactor };
}

/** Rotates x (length D, float64) at `position` in place: rotate-half pairing, scaled by attnFactor. */
export function ropeRotate(x: Float64Array, rt: RopeTables, position: number): void {
  const h = rt.R / 2;
  for (let i = 0; i < h; i++) {
    const a = position * rt.invFreq[i];
    const c = Math.cos(a) * rt.attnFactor;
    const s = Math.sin(a) * rt.attnFactor;
    const x1 = x[i];
    const x2 = x[i + h];
    x[i] = x1 * c - x2 * s;
    x[i + h] = x2 * c + x1 * s;
  }
}

/** The transpose of ropeRotate (maps a gradient w.r.t. the rotated vector to the raw one). */
export function ropeRotateT(g: Float64Array, rt: RopeTables, position: number): void {
  const h = rt.R / 2;
  for (let i = 0; i < h; i++) {
    const a = position * rt.invFreq[i];
    const c = Math.cos(a) * rt.attnFactor;
    const s = Math.sin(a) * rt.attnFactor;
    const g1 = g[i];
    const g2 = g[i + h];
    g[i] = g1 * c + g2 * s;
    g[i + h] = -g1 * s + g2 * c;
  }
}

// ---------------------------------------------------------------------------------------------
// Attention

interface Resolved {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  group: number;
  causal: boolean;
  scale: number;
  window: number; // Infinity when none
  queryOffset: number;
  prefixKeys: number;
  slopes: number[] | null;
  rope: RopeTables | null;
  keyStarts: readonly number[] | null;
  keyLengths: readonly number[] | null;
}

function resolve(inp: RefInputs, o: RefOptions): Resolved {
  const [B, Tq, Hq, D] = inp.qShape;
  const [Bk, Tk, Hkv, Dk] = inp.kShape;
  if (B !== Bk || D !== Dk || Hq % Hkv !== 0) throw new Error("reference: bad shapes");
  const pos = o.positional ?? { type: "none" };
  const r: Resolved = {
    B,
    Tq,
    Tk,
    Hq,
    Hkv,
    D,
    group: Hq / Hkv,
    causal: o.causal ?? true,
    scale: o.softmaxScale ?? 1 / Math.sqrt(D),
    window: o.window ?? Infinity,
    queryOffset: o.queryOffset ?? Tk - Tq,
    prefixKeys: o.prefixKeys ?? 0,
    slopes: pos.type === "alibi" ? effectiveAlibiSlopes(pos, Hq, Tk) : null,
    rope: pos.type === "rope" ? ropeTables(pos, D, Tk) : null,
    keyStarts: o.keyStarts ?? null,
    keyLengths: o.keyLengths ?? null,
  };
  if (r.slopes && r.slopes.length !== Hq) throw new Error("reference: slopes length");
  return r;
}

/**
 * Whether query position p of sequence b sees key j. With per-sequence ranges, sequence b's
 * tokens are the positions [start, length): keys outside are invisible, and a query outside is a
 * padding row that sees nothing.
 */
function visible(r: Resolved, b: number, p: number, j: number): boolean {
  const start = r.keyStarts ? r.keyStarts[b]! : 0;
  const end = r.keyLengths ? r.keyLengths[b]! : Infinity;
  if (j < start || j >= end || p < start || p >= end) return false;
  if (r.causal) return j <= p && p - r.window < j;
  return Math.abs(p - j) < r.window;
}

/** q' and k' (float64) after rotation; layout unchanged. */
function rotated(inp: RefInputs, r: Resolved): { qr: Float64Array; kr: Float64Array } {
  const qr = Float64Array.from(inp.q as ArrayLike<number>);
  const kr = Float64Array.from(inp.k as ArrayLike<number>);
  if (!r.rope) return { qr, kr };
  const { B, Tq, Tk, Hq, Hkv, D } = r;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) ropeRotate(qr.subarray(((b * Tq + i) * Hq + h) * D, ((b * Tq + i) * Hq + h + 1) * D), r.rope, r.queryOffset + i);
  for (let b = 0; b < B; b++)
    for (let j = r.prefixKeys; j < Tk; j++)
      for (let h = 0; h < Hkv; h++) ropeRotate(kr.subarray(((b * Tk + j) * Hkv + h) * D, ((b * Tk + j) * Hkv + h + 1) * D), r.rope, j);
  return { qr, kr };
}

/**
 * Softmax probabilities of one (b, i, h) row: P[j] (0 for masked keys). A fully masked row throws,
 * unless per-sequence key ranges made it a padding row: then every P[j] is 0 (output 0).
 */
function probsRow(r: Resolved, qr: Float64Array, kr: Float64Array, b: number, i: number, h: number, P: Float64Array): void {
  const { Tq, Tk, Hq, Hkv, D } = r;
  const hk = Math.floor(h / r.group);
  const p = r.queryOffset + i;
  const qo = ((b * Tq + i) * Hq + h) * D;
  let m = -Infinity;
  for (let j = 0; j < Tk; j++) {
    if (!visible(r, b, p, j)) {
      P[j] = -Infinity;
      continue;
    }
    const ko = ((b * Tk + j) * Hkv + hk) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += qr[qo + d] * kr[ko + d];
    let s = r.scale * dot;
    if (r.slopes) s -= r.slopes[h] * (r.causal ? p - j : Math.abs(p - j));
    P[j] = s;
    if (s > m) m = s;
  }
  if (m === -Infinity) {
    if (r.keyStarts || r.keyLengths) {
      P.fill(0);
      return;
    }
    throw new Error(`reference: query row ${i} (position ${p}) sees no key`);
  }
  let sum = 0;
  for (let j = 0; j < Tk; j++) {
    const e = P[j] === -Infinity ? 0 : Math.exp(P[j] - m);
    P[j] = e;
    sum += e;
  }
  for (let j = 0; j < Tk; j++) P[j] /= sum;
}

/** Forward: out [B, Tq, Hq, D] in float64. */
export function attentionRef(inp: RefInputs, opts: RefOptions = {}): Float64Array {
  const r = resolve(inp, opts);
  const { B, Tq, Tk, Hq, Hkv, D } = r;
  const { qr, kr } = rotated(inp, r);
  const v = inp.v;
  const out = new Float64Array(B * Tq * Hq * D);
  const P = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) {
        probsRow(r, qr, kr, b, i, h, P);
        const hk = Math.floor(h / r.group);
        const oo = ((b * Tq + i) * Hq + h) * D;
        for (let j = 0; j < Tk; j++) {
          const pj = P[j];
          if (pj === 0) continue;
          const vo = ((b * Tk + j) * Hkv + hk) * D;
          for (let d = 0; d < D; d++) out[oo + d] += pj * v[vo + d];
        }
      }
  return out;
}

/** Backward: gradients w.r.t. the raw q, k, v, in float64. */
export function attentionBackwardRef(
  inp: RefInputs,
  dOut: ArrayLike<number>,
  opts: RefOptions = {},
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const r = resolve(inp, opts);
  const { B, Tq, Tk, Hq, Hkv, D } = r;
  const { qr, kr } = rotated(inp, r);
  const v = inp.v;
  const dqr = new Float64Array(B * Tq * Hq * D);
  const dkr = new Float64Array(B * Tk * Hkv * D);
  const dv = new Float64Array(B * Tk * Hkv * D);
  const P = new Float64Array(Tk);
  const dP = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) {
        probsRow(r, qr, kr, b, i, h, P);
        const hk = Math.floor(h / r.group);
        const oo = ((b * Tq + i) * Hq + h) * D;
        // dv_j += P_ij dO_i ; dP_ij = dO_i · v_j
        let rowDot = 0;
        for (let j = 0; j < Tk; j++) {
          if (P[j] === 0) {
            dP[j] = 0;
            continue;
          }
          const vo = ((b * Tk + j) * Hkv + hk) * D;
          let s = 0;
          for (let d = 0; d < D; d++) {
            dv[vo + d] += P[j] * dOut[oo + d];
            s += dOut[oo + d] * v[vo + d];
          }
          dP[j] = s;
          rowDot += P[j] * s;
        }
        // dS_ij = P_ij (dP_ij − Σ_j P_ij dP_ij); dq'_i += scale dS k'_j ; dk'_j += scale dS q'_i
        for (let j = 0; j < Tk; j++) {
          if (P[j] === 0) continue;
          const ds = P[j] * (dP[j] - rowDot) * r.scale;
          const ko = ((b * Tk + j) * Hkv + hk) * D;
          for (let d = 0; d < D; d++) {
            dqr[oo + d] += ds * kr[ko + d];
            dkr[ko + d] += ds * qr[oo + d];
          }
        }
      }
  // back through the rotation (its transpose); prefix keys are not rotated
  if (r.rope) {
    for (let b = 0; b < B; b++)
      for (let i = 0; i < Tq; i++)
        for (let h = 0; h < Hq; h++) ropeRotateT(dqr.subarray(((b * Tq + i) * Hq + h) * D, ((b * Tq + i) * Hq + h + 1) * D), r.rope, r.queryOffset + i);
    for (let b = 0; b < B; b++)
      for (let j = r.prefixKeys; j < Tk; j++)
        for (let h = 0; h < Hkv; h++) ropeRotateT(dkr.subarray(((b * Tk + j) * Hkv + h) * D, ((b * Tk + j) * Hkv + h + 1) * D), r.rope, j);
  }
  return { dq: dqr, dk: dkr, dv };
}
