/**
 * Fused attention (FlashAttention-2 algorithm) with the positional scheme computed inside the
 * kernel. q: [B, Tq, Hq, D]; k, v: [B, Tk, Hkv, D] with Hq % Hkv == 0 (query head h reads kv
 * head floor(h / (Hq / Hkv))). Query i sits at position queryOffset + i; key j at position j.
 */
import { argError, isFinitePositive, isNonNegativeInt, isPositiveInt } from "./errors.js";
import { backend, callNative, type NativeAttentionOptions, type NativeTensor } from "./backend.js";
import { resolvePositional, type Positional } from "./positional.js";
import { Tensor } from "./tensor.js";

export interface AttentionOptions {
  /** Causal masking (key j visible to query position p only if j <= p). Default true. */
  causal?: boolean;
  /** Multiplies q·k (not the ALiBi bias). Default 1/sqrt(D). */
  softmaxScale?: number;
  /** Sliding window: key j visible iff p - window < j (causal) or |p - j| < window. */
  window?: number;
  /** Absolute position of query 0. Default Tk - Tq (decode and chunked prefill). */
  queryOffset?: number;
  /** Keys j < prefixKeys are prefix-tuning keys: never rotated. Default 0. */
  prefixKeys?: number;
  positional?: Positional;
  /**
   * Per-sequence lengths (right padding): sequence b's tokens are the positions j < keyLengths[b].
   * Keys past it are invisible (on top of causal / window) and queries past it are padding rows
   * (output 0, zero gradients, no work). One integer in [1, Tk] per sequence. No mask tensor
   * exists: the kernel narrows each sequence's ranges and skips its padding blocks (CPU and CUDA).
   */
  keyLengths?: readonly number[];
  /**
   * Per-sequence first token (left padding, e.g. batched decoding of prompts of different lengths
   * aligned at the end): keys j < keyStarts[b] are invisible and queries there are padding rows.
   * Scores depend on positions only through p − j (RoPE, ALiBi, windows), so left-aligned padding
   * changes no result. With keyLengths: keyStarts[b] < keyLengths[b]. CPU and CUDA.
   */
  keyStarts?: readonly number[];
}

const OPTION_FIELDS = ["causal", "softmaxScale", "window", "queryOffset", "prefixKeys", "positional", "keyLengths", "keyStarts"];

interface CheckedCall {
  q: NativeTensor;
  k: NativeTensor;
  v: NativeTensor;
  opts: NativeAttentionOptions;
}

function checkCall(fn: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions | undefined): CheckedCall {
  for (const [name, t] of [["q", q], ["k", k], ["v", v]] as const) {
    if (!(t instanceof Tensor)) argError("ERR_ARG", fn, name, "a Tensor", t);
  }
  const qh = q.handle(fn, "q");
  const kh = k.handle(fn, "k");
  const vh = v.handle(fn, "v");
  if (q.shape.length !== 4) argError("ERR_SHAPE", fn, "q", "a 4-d tensor [B, Tq, Hq, D]", `shape [${q.shape.join(", ")}]`);
  if (k.shape.length !== 4) argError("ERR_SHAPE", fn, "k", "a 4-d tensor [B, Tk, Hkv, D]", `shape [${k.shape.join(", ")}]`);
  if (v.shape.length !== 4 || v.shape.some((d, i) => d !== k.shape[i])) {
    argError("ERR_SHAPE", fn, "v", `the shape of k [${k.shape.join(", ")}]`, `shape [${v.shape.join(", ")}]`);
  }
  const [B, Tq, Hq, D] = q.shape as [number, number, number, number];
  const [Bk, Tk, Hkv, Dk] = k.shape as [number, number, number, number];
  for (const [name, t] of [["q", q], ["k", k]] as const) {
    if (t.shape.some((d) => d === 0)) argError("ERR_SHAPE", fn, name, "non-zero dims", `shape [${t.shape.join(", ")}]`);
  }
  if (Bk !== B) argError("ERR_SHAPE", fn, "k", `batch ${B} (as q)`, Bk);
  if (Dk !== D) argError("ERR_SHAPE", fn, "k", `head dim ${D} (as q)`, Dk);
  if (Hq % Hkv !== 0) argError("ERR_SHAPE", fn, "k", `a kv head count that divides Hq = ${Hq}`, Hkv);
  for (const [name, t] of [["k", k], ["v", v]] as const) {
    if (t.device !== q.device) argError("ERR_DEVICE", fn, name, `device "${q.device}" (as q)`, t.device);
    if (t.dtype !== q.dtype) argError("ERR_DTYPE", fn, name, `dtype "${q.dtype}" (as q)`, t.dtype);
  }

  const o = (opts ?? {}) as Record<string, unknown>;
  if (opts !== undefined && (opts === null || typeof opts !== "object")) argError("ERR_ARG", fn, "opts", "an object", opts);
  for (const key of Object.keys(o)) {
    if (!OPTION_FIELDS.includes(key) && o[key] !== undefined) argError("ERR_ARG", fn, `opts.${key}`, `one of ${OPTION_FIELDS.join(", ")}`, `an unknown option "${key}"`);
  }
  const causal = o.causal ?? true;
  if (typeof causal !== "boolean") argError("ERR_ARG", fn, "causal", "a boolean", causal);
  const softmaxScale = o.softmaxScale ?? 1 / Math.sqrt(D);
  if (!isFinitePositive(softmaxScale)) argError("ERR_ARG", fn, "softmaxScale", "a finite number > 0", softmaxScale);
  const window = o.window ?? 0;
  if (o.window !== undefined && !isPositiveInt(window)) argError("ERR_ARG", fn, "window", "an integer >= 1", window);
  const queryOffset = o.queryOffset ?? Math.max(0, Tk - Tq);
  if (!isNonNegativeInt(queryOffset)) argError("ERR_ARG", fn, "queryOffset", "a non-negative integer", queryOffset);
  const prefixKeys = o.prefixKeys ?? 0;
  if (!isNonNegativeInt(prefixKeys) || prefixKeys > Tk) argError("ERR_ARG", fn, "prefixKeys", `an integer in [0, ${Tk}] (Tk)`, prefixKeys);
  checkRowsSeeKeys(fn, causal, window as number, queryOffset, Tq, Tk);
  const positional = resolvePositional(fn, o.positional, Hq, D);
  const seqKeys = checkSeqKeys(fn, o.keyStarts, o.keyLengths, B, Tk);
  return {
    q: qh,
    k: kh,
    v: vh,
    opts: { causal, softmaxScale, window: window as number, queryOffset, prefixKeys, ...positional, ...seqKeys },
  };
}

/** keyStarts / keyLengths → the kernel's per-sequence key ranges [keyBegin[b], keyEnd[b]), or {}. */
function checkSeqKeys(fn: string, starts: unknown, lengths: unknown, B: number, Tk: number): { keyBegin?: number[]; keyEnd?: number[] } {
  if (starts === undefined && lengths === undefined) return {};
  const read = (name: string, v: unknown, min: number): number[] | null => {
    if (v === undefined) return null;
    if (!(Array.isArray(v) || ArrayBuffer.isView(v)) || (v as ArrayLike<number>).length !== B) {
      argError("ERR_ARG", fn, name, `an array of ${B} integers (one per sequence)`, v);
    }
    const a = Array.from(v as ArrayLike<number>);
    a.forEach((x, b) => {
      if (!Number.isInteger(x) || x < min || x > Tk) argError("ERR_ARG", fn, `${name}[${b}]`, `an integer in [${min}, ${Tk}] (Tk)`, x);
    });
    return a;
  };
  const keyEnd = read("keyLengths", lengths, 1) ?? new Array<number>(B).fill(Tk);
  const keyBegin = read("keyStarts", starts, 0) ?? new Array<number>(B).fill(0);
  keyBegin.forEach((s, b) => {
    if (s >= keyEnd[b]!) argError("ERR_ARG", fn, `keyStarts[${b}]`, `less than keyLengths[${b}] = ${keyEnd[b]} (at least one visible key)`, s);
  });
  return { keyBegin, keyEnd };
}

/** A fully masked query row is an error (it would be NaN). The visible range moves monotonically. */
function checkRowsSeeKeys(fn: string, causal: boolean, window: number, offset: number, Tq: number, Tk: number): void {
  for (const i of Tq > 1 ? [0, Tq - 1] : [0]) {
    const p = offset + i;
    let lo = 0;
    let hi = Tk - 1;
    if (causal) hi = Math.min(hi, p);
    if (window > 0) {
      lo = Math.max(lo, p - window + 1);
      if (!causal) hi = Math.min(hi, p + window - 1);
    }
    if (lo > hi) {
      argError(
        "ERR_ARG",
        fn,
        "window/queryOffset",
        "every query row to see at least one key",
        `query row ${i} at position ${p} seeing none (Tk = ${Tk}, window = ${window || "none"}, causal = ${causal})`,
      );
    }
  }
}

/**
 * The default ALiBi slopes for `heads` query heads (what `{ type: "alibi" }` uses; computed by the
 * native positional code, the formula of docs/design.md, Positional conventions):
 * start = 2^(−8/H) and slope_h = start^(h+1) for a power of two H, else those of the largest power
 * of two below H and every other slope of twice that.
 */
export function alibiSlopes(heads: number): number[] {
  if (!isPositiveInt(heads) || heads > 65536) argError("ERR_ARG", "alibiSlopes", "heads", "an integer in [1, 65536]", heads);
  return callNative(() => backend("cpu").alibiSlopes(heads));
}

/** softmax(scale·rot(q)·rot(k)ᵀ + bias + mask)·v, same shape and dtype as q. Asynchronous. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions): Tensor {
  const { out, lse } = attentionWithLse(q, k, v, opts);
  lse.dispose(); // freed once the queued forward that writes it has run
  return out;
}

/**
 * The forward plus its logsumexp [B, Hq, Tq] (f32), which attentionBackward can reuse instead of
 * recomputing the forward (training does this).
 */
export function attentionWithLse(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions): { out: Tensor; lse: Tensor } {
  const c = checkCall("attention", q, k, v, opts);
  const addon = backend(q.device);
  const [out, lse] = callNative(() => addon.attentionForward(c.q, c.k, c.v, c.opts));
  const [B, Tq, Hq] = q.shape as [number, number, number];
  return { out: Tensor.fromNative(out, q.shape, q.dtype, q.device), lse: Tensor.fromNative(lse, [B, Hq, Tq], "f32", q.device) };
}

/**
 * Gradients of sum(attention(q, k, v) ∘ dOut) with respect to the raw q, k, v (before rotation).
 * `forward` (from attentionWithLse) skips recomputing the forward; `forward.dLse` [B, Hq, Tq]
 * (f32) adds sum(lse ∘ dLse) to what is differentiated, for callers that merge this attention
 * with another through their log-sum-exp (gated prefixes, split-KV).
 */
export function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  dOut: Tensor,
  opts?: AttentionOptions,
  forward?: { out: Tensor; lse: Tensor; dLse?: Tensor },
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const fn = "attentionBackward";
  const c = checkCall(fn, q, k, v, opts);
  if (!(dOut instanceof Tensor)) argError("ERR_ARG", fn, "dOut", "a Tensor", dOut);
  const dh = dOut.handle(fn, "dOut");
  if (dOut.shape.length !== q.shape.length || dOut.shape.some((d, i) => d !== q.shape[i])) {
    argError("ERR_SHAPE", fn, "dOut", `the shape of q [${q.shape.join(", ")}]`, `shape [${dOut.shape.join(", ")}]`);
  }
  if (dOut.device !== q.device) argError("ERR_DEVICE", fn, "dOut", `device "${q.device}" (as q)`, dOut.device);
  if (dOut.dtype !== q.dtype) argError("ERR_DTYPE", fn, "dOut", `dtype "${q.dtype}" (as q)`, dOut.dtype);
  const out = forward ? forward.out.handle(fn, "forward.out") : null;
  const lse = forward ? forward.lse.handle(fn, "forward.lse") : null;
  const dLse = forward?.dLse ? forward.dLse.handle(fn, "forward.dLse") : null;
  if (forward?.dLse && forward.dLse.device !== q.device) argError("ERR_DEVICE", fn, "forward.dLse", `device "${q.device}" (as q)`, forward.dLse.device);
  const addon = backend(q.device);
  const [dq, dk, dv] = callNative(() => addon.attentionBackward(c.q, c.k, c.v, dh, c.opts, out, lse, dLse));
  return {
    dq: Tensor.fromNative(dq, q.shape, q.dtype, q.device),
    dk: Tensor.fromNative(dk, k.shape, k.dtype, k.device),
    dv: Tensor.fromNative(dv, v.shape, v.dtype, v.device),
  };
}

/**
 * @internal The engine's CPU decode step in one native job: sequence b's new keys/values kNew[b] /
 * vNew[b] ([B, T, Hkv, D]) are written into its cache buffers kCaches[b] / vCaches[b]
 * ([1, capacity, Hkv, D]) after lengths[b] cached positions, and its queries q[b] attend to its
 * lengths[b] + T keys from positions lengths[b] on. Returns o [B, T, Hq, D].
 */
export function attentionDecodeRagged(
  q: Tensor,
  kNew: Tensor,
  vNew: Tensor,
  kCaches: readonly Tensor[],
  vCaches: readonly Tensor[],
  lengths: readonly number[],
  opts?: AttentionOptions,
): Tensor {
  const fn = "attentionDecodeRagged";
  // positions are per sequence (after its cache): the prefix keys are the caches' first P
  const { queryOffset: _offset, prefixKeys = 0, ...rest } = opts ?? {};
  if (!Number.isInteger(prefixKeys) || prefixKeys < 0) argError("ERR_ARG", fn, "prefixKeys", "a non-negative integer", prefixKeys);
  const c = checkCall(fn, q, kNew, vNew, { ...rest, queryOffset: 0 });
  (c.opts as NativeAttentionOptions & { cachePrefixKeys: number }).cachePrefixKeys = prefixKeys;
  const handles = (name: string, ts: readonly Tensor[]) => ts.map((t, b) => (t instanceof Tensor ? t.handle(fn, `${name}[${b}]`) : argError("ERR_ARG", fn, `${name}[${b}]`, "a Tensor", t)));
  const out = callNative(() => backend(q.device).attentionDecodeRagged(c.q, c.k, c.v, handles("kCaches", kCaches), handles("vCaches", vCaches), [...lengths], c.opts));
  return Tensor.fromNative(out, q.shape, q.dtype, q.device);
}
