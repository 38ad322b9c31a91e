/**
 * A naive float64 reference forward for Llama-like and BLOOM models, written from the HF
 * transformers modelling code and docs/design.md's positional math ("Positional conventions") —
 * independent of the kernels and of lib/: its own RMSNorm/LayerNorm, attention (causal, window,
 * GQA, prefix), RoPE (rotate half, linear / ntk / dynamic / yarn), ALiBi (BLOOM slopes) and MLPs.
 * Weights are read by HF name.
 */

export interface W {
  data: Float32Array | Float64Array;
  shape: number[];
}
export type Weights = Map<string, W>;

export type RefRope = {
  type: "rope";
  theta: number;
  rotaryDim?: number;
  scaling?:
    | { type: "linear"; factor: number }
    | { type: "ntk"; factor: number }
    | { type: "dynamic"; factor: number; originalMaxPositions: number }
    | { type: "yarn"; factor: number; originalMaxPositions: number; betaFast?: number; betaSlow?: number; attentionFactor?: number; mscale?: number; mscaleAllDim?: number; truncate?: boolean };
};
export type RefPositional = { type: "none" } | { type: "alibi"; trainLength?: number } | RefRope;

export interface RefConfig {
  family: "llama" | "bloom";
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  eps: number;
  tie: boolean;
  qkvBias: boolean;
  /** per-layer sliding window, 0 = none */
  windows: number[];
  positional: RefPositional;
  /** BLOOM names with "transformer." (true) or without */
  prefixNames?: boolean;
  residualFromNorm?: boolean;
}

/** Per-layer prefix keys/values [P, Hkv, D] (float64, row-major). */
export interface RefPrefix {
  P: number;
  keys: Float64Array[];
  values: Float64Array[];
}

function get(w: Weights, name: string): W {
  const t = w.get(name);
  if (!t) throw new Error(`naive: missing ${name}`);
  return t;
}

/** y[n, out] = x[n, in]·Wᵀ + b */
function lin(x: Float64Array, n: number, W: W, b?: W): Float64Array {
  const [out, inF] = W.shape as [number, number];
  const y = new Float64Array(n * out);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b.data[o]! : 0;
      const wo = o * inF;
      const xr = r * inF;
      for (let i = 0; i < inF; i++) s += x[xr + i]! * W.data[wo + i]!;
      y[r * out + o] = s;
    }
  }
  return y;
}

function rmsnorm(x: Float64Array, n: number, d: number, w: W, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i]! * inv * w.data[i]!;
  }
  return y;
}

function layernorm(x: Float64Array, n: number, d: number, w: W, b: W, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let i = 0; i < d; i++) m += x[r * d + i]!;
    m /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - m) ** 2;
    v /= d;
    const inv = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i]! - m) * inv * w.data[i]! + b.data[i]!;
  }
  return y;
}

const silu = (x: number): number => x / (1 + Math.exp(-x));
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/** Press et al. / BLOOM slopes for H heads. */
export function alibiSlopes(H: number): number[] {
  const cp = 2 ** Math.floor(Math.log2(H));
  const base = 2 ** -(2 ** -(Math.log2(cp) - 3));
  const s: number[] = [];
  for (let i = 1; i <= cp; i++) s.push(base ** i);
  if (cp !== H) {
    const eb = 2 ** -(2 ** -(Math.log2(2 * cp) - 3));
    const rem = Math.min(cp, H - cp);
    for (let i = 1; i <= 2 * rem; i += 2) s.push(eb ** i);
  }
  return s;
}

/** inv_freq (length R/2) and the cos/sin multiplier for a RoPE setting with Tk keys. */
export function ropeFreqs(p: RefRope, D: number, Tk: number): { inv: number[]; af: number; R: number } {
  const R = p.rotaryDim ?? D;
  let theta = p.theta;
  const sc = p.scaling;
  if (sc?.type === "ntk") theta = theta * sc.factor ** (R / (R - 2));
  if (sc?.type === "dynamic") {
    const L0 = sc.originalMaxPositions;
    const s = Math.max(Tk, L0);
    theta = theta * (sc.factor * s / L0 - (sc.factor - 1)) ** (R / (R - 2));
  }
  const inv: number[] = [];
  for (let i = 0; i < R / 2; i++) inv.push(1 / theta ** ((2 * i) / R));
  let af = 1;
  if (sc?.type === "linear") for (let i = 0; i < inv.length; i++) inv[i]! /= sc.factor;
  if (sc?.type === "yarn") {
    const L0 = sc.originalMaxPositions;
    const bf = sc.betaFast ?? 32;
    const bs = sc.betaSlow ?? 1;
    const trunc = sc.truncate ?? true;
    const dimOf = (rot: number): number => (R * Math.log(L0 / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
    let low = dimOf(bf);
    let high = dimOf(bs);
    if (trunc) {
      low = Math.floor(low);
      high = Math.ceil(high);
    }
    low = Math.max(low, 0);
    high = Math.min(high, R - 1);
    if (low === high) high += 0.001;
    for (let i = 0; i < R / 2; i++) {
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      // HF: inv_freq_extrapolation_factor = 1 - ramp ; inv = interp * (1 - extrap) + extrap_freq * extrap
      const extrap = 1 - ramp;
      const base = inv[i]!;
      inv[i] = (base / sc.factor) * (1 - extrap) + base * extrap;
    }
    const ms = (s: number, m = 1): number => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
    if (sc.attentionFactor !== undefined) af = sc.attentionFactor;
    else if (sc.mscale !== undefined && sc.mscaleAllDim !== undefined) af = ms(sc.factor, sc.mscale) / ms(sc.factor, sc.mscaleAllDim);
    else af = ms(sc.factor);
  }
  return { inv, af, R };
}

/** Rotates a [D] vector at `pos` in place (rotate half over the first R dims). */
function rotate(v: Float64Array, off: number, pos: number, inv: number[], af: number, R: number): void {
  const h = R / 2;
  for (let i = 0; i < h; i++) {
    const a = pos * inv[i]!;
    const c = Math.cos(a) * af;
    const s = Math.sin(a) * af;
    const x1 = v[off + i]!;
    const x2 = v[off + i + h]!;
    v[off + i] = x1 * c - x2 * s;
    v[off + i + h] = x2 * c + x1 * s;
  }
}

/**
 * Attention for one sequence: q [T, H, D], k/v [Tk, Hkv, D] (prefix first, P of them), query i at
 * position P + i... more generally at offset + i with offset = Tk − T.
 */
function attend(q: Float64Array, k: Float64Array, v: Float64Array, T: number, Tk: number, H: number, Hkv: number, D: number, P: number, window: number, pos: RefPositional, scaleMul = 1): Float64Array {
  const out = new Float64Array(T * H * D);
  const offset = Tk - T;
  const scale = scaleMul / Math.sqrt(D);
  let inv: number[] = [];
  let af = 1;
  let R = 0;
  if (pos.type === "rope") ({ inv, af, R } = ropeFreqs(pos, D, Tk));
  const qr = Float64Array.from(q);
  const kr = Float64Array.from(k);
  if (pos.type === "rope") {
    for (let i = 0; i < T; i++) for (let h = 0; h < H; h++) rotate(qr, (i * H + h) * D, offset + i, inv, af, R);
    for (let j = P; j < Tk; j++) for (let h = 0; h < Hkv; h++) rotate(kr, (j * Hkv + h) * D, j, inv, af, R);
  }
  let slopes = pos.type === "alibi" ? alibiSlopes(H) : [];
  if (pos.type === "alibi" && pos.trainLength && Tk > pos.trainLength) slopes = slopes.map((s) => (s * pos.trainLength!) / Tk);
  const g = H / Hkv;
  for (let i = 0; i < T; i++) {
    const p = offset + i;
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / g);
      const scores: number[] = [];
      let mx = -Infinity;
      for (let j = 0; j < Tk; j++) {
        const visible = j <= p && (window <= 0 || p - window < j);
        if (!visible) {
          scores.push(-Infinity);
          continue;
        }
        let s = 0;
        for (let e = 0; e < D; e++) s += qr[(i * H + h) * D + e]! * kr[(j * Hkv + kh) * D + e]!;
        s *= scale;
        if (pos.type === "alibi") s -= slopes[h]! * (p - j);
        scores.push(s);
        if (s > mx) mx = s;
      }
      let z = 0;
      const pr = scores.map((s) => {
        const e = s === -Infinity ? 0 : Math.exp(s - mx);
        z += e;
        return e;
      });
      for (let j = 0; j < Tk; j++) {
        if (pr[j] === 0) continue;
        const w = pr[j]! / z;
        for (let e = 0; e < D; e++) out[(i * H + h) * D + e] += w * v[(j * Hkv + kh) * D + e]!;
      }
    }
  }
  return out;
}

export interface NaiveOptions {
  prefix?: RefPrefix;
  /** Override of the positional scheme. */
  positional?: RefPositional;
  /** Hidden states per layer input (for hooks tests). */
  collectHidden?: boolean;
}

/** Logits [B, T, V] (float64, row-major) for ids [B][T]. */
export function naiveForward(cfg: RefConfig, w: Weights, ids: number[][], opts: NaiveOptions = {}): Float64Array {
  const B = ids.length;
  const T = ids[0]!.length;
  const out = new Float64Array(B * T * cfg.vocab);
  for (let b = 0; b < B; b++) {
    const l = naiveSeq(cfg, w, ids[b]!, opts);
    out.set(l, b * T * cfg.vocab);
  }
  return out;
}

function naiveSeq(cfg: RefConfig, w: Weights, ids: number[], opts: NaiveOptions): Float64Array {
  const T = ids.length;
  const d = cfg.hidden;
  const H = cfg.heads;
  const Hkv = cfg.kvHeads;
  const D = cfg.headDim;
  const pos = opts.positional ?? cfg.positional;
  const P = opts.prefix?.P ?? 0;
  const bloom = cfg.family === "bloom";
  const pre = bloom ? (cfg.prefixNames === false ? "" : "transformer.") : "model.";
  const embName = bloom ? `${pre}word_embeddings.weight` : "model.embed_tokens.weight";
  const E = get(w, embName);
  let x = new Float64Array(T * d);
  for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) x[t * d + i] = E.data[ids[t]! * d + i]!;
  if (bloom) x = layernorm(x, T, d, get(w, `${pre}word_embeddings_layernorm.weight`), get(w, `${pre}word_embeddings_layernorm.bias`), cfg.eps);
  for (let l = 0; l < cfg.layers; l++) {
    const lp = bloom ? `${pre}h.${l}.` : `model.layers.${l}.`;
    const h1 = bloom
      ? layernorm(x, T, d, get(w, lp + "input_layernorm.weight"), get(w, lp + "input_layernorm.bias"), cfg.eps)
      : rmsnorm(x, T, d, get(w, lp + "input_layernorm.weight"), cfg.eps);
    let q: Float64Array, k: Float64Array, v: Float64Array;
    if (bloom) {
      const qkv = lin(h1, T, get(w, lp + "self_attention.query_key_value.weight"), w.get(lp + "self_attention.query_key_value.bias"));
      q = new Float64Array(T * H * D);
      k = new Float64Array(T * H * D);
      v = new Float64Array(T * H * D);
      for (let t = 0; t < T; t++)
        for (let h = 0; h < H; h++)
          for (let e = 0; e < D; e++) {
            const base = t * 3 * H * D + h * 3 * D;
            q[(t * H + h) * D + e] = qkv[base + e]!;
            k[(t * H + h) * D + e] = qkv[base + D + e]!;
            v[(t * H + h) * D + e] = qkv[base + 2 * D + e]!;
          }
    } else {
      const a = lp + "self_attn.";
      q = lin(h1, T, get(w, a + "q_proj.weight"), w.get(a + "q_proj.bias"));
      k = lin(h1, T, get(w, a + "k_proj.weight"), w.get(a + "k_proj.bias"));
      v = lin(h1, T, get(w, a + "v_proj.weight"), w.get(a + "v_proj.bias"));
    }
    // prepend the prefix
    const Tk = P + T;
    const kk = new Float64Array(Tk * Hkv * D);
    const vv = new Float64Array(Tk * Hkv * D);
    if (P) {
      kk.set(opts.prefix!.keys[l]!, 0);
      vv.set(opts.prefix!.values[l]!, 0);
    }
    kk.set(k, P * Hkv * D);
    vv.set(v, P * Hkv * D);
    const o = attend(q, kk, vv, T, Tk, H, Hkv, D, P, cfg.windows[l] ?? 0, pos);
    const ao = bloom
      ? lin(o, T, get(w, lp + "self_attention.dense.weight"), w.get(lp + "self_attention.dense.bias"))
      : lin(o, T, get(w, lp + "self_attn.o_proj.weight"), w.get(lp + "self_attn.o_proj.bias"));
    const res1 = bloom && cfg.residualFromNorm ? h1 : x;
    const x2 = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) x2[i] = res1[i]! + ao[i]!;
    const h2 = bloom
      ? layernorm(x2, T, d, get(w, lp + "post_attention_layernorm.weight"), get(w, lp + "post_attention_layernorm.bias"), cfg.eps)
      : rmsnorm(x2, T, d, get(w, lp + "post_attention_layernorm.weight"), cfg.eps);
    let m: Float64Array;
    if (bloom) {
      const u = lin(h2, T, get(w, lp + "mlp.dense_h_to_4h.weight"), w.get(lp + "mlp.dense_h_to_4h.bias"));
      for (let i = 0; i < u.length; i++) u[i] = geluTanh(u[i]!);
      m = lin(u, T, get(w, lp + "mlp.dense_4h_to_h.weight"), w.get(lp + "mlp.dense_4h_to_h.bias"));
    } else {
      const gt = lin(h2, T, get(w, lp + "mlp.gate_proj.weight"), w.get(lp + "mlp.gate_proj.bias"));
      const up = lin(h2, T, get(w, lp + "mlp.up_proj.weight"), w.get(lp + "mlp.up_proj.bias"));
      for (let i = 0; i < gt.length; i++) gt[i] = silu(gt[i]!) * up[i]!;
      m = lin(gt, T, get(w, lp + "mlp.down_proj.weight"), w.get(lp + "mlp.down_proj.bias"));
    }
    const res2 = bloom && cfg.residualFromNorm ? h2 : x2;
    x = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) x[i] = res2[i]! + m[i]!;
  }
  const hf = bloom ? layernorm(x, T, d, get(w, `${pre}ln_f.weight`), get(w, `${pre}ln_f.bias`), cfg.eps) : rmsnorm(x, T, d, get(w, "model.norm.weight"), cfg.eps);
  const head = cfg.tie ? E : get(w, "lm_head.weight");
  return lin(hf, T, head);
}

/** log-softmax NLL of target given a logits row (float64). */
export function nllOf(row: ArrayLike<number>, target: number): number {
  let mx = -Infinity;
  for (let i = 0; i < row.length; i++) mx = Math.max(mx, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - mx);
  return Math.log(z) + mx - row[target]!;
}
