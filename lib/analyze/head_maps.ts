/**
 * What seed 002 reads from layer × head activation maps (lib/analyze/head_scores.ts), as plain
 * functions of number arrays (float64, deterministic, no RNG):
 *
 * - `gini(map)`: how concentrated the activation is, over the absolute scores: 0 when every head
 *   has the same score, (n − 1)/n when one head has all of it. The paper reports it falling after
 *   SFT (activation spread over more heads).
 * - `decomposeMap(target, bases)`: the least-squares fit target ≈ b + Σ_k c_k·bases_k over the
 *   heads, by default with c_k ≥ 0 (non-negative least squares, Lawson–Hanson) and a free
 *   intercept b, and its R². Non-negative because a complex task's map is read as a mix of the
 *   basic tasks' maps (and the coefficients serve as mixing weights); the intercept because the
 *   maps of different tasks sit at different overall levels, which is not evidence of
 *   composition: with it, R² is the usual coefficient of determination 1 − SS_res / SS_tot (SS_tot
 *   about the target's mean), in [0, 1] (the intercept-only fit is feasible), ≈ 1 for an exact
 *   mix, and about k/(n − 1) for bases unrelated to the target (n heads, k bases).
 *   `nonNegative: false` gives plain least squares (the same intercept and R²).
 * - `clusterHeads(maps)`: k-means of the heads by their score profile across tasks (each task's
 *   map divided by its largest |score|, so that every task counts the same), initialised by
 *   farthest-point selection from the head with the largest profile: deterministic.
 * - `compareMaps(before, after)`: what changed per head (after − before), the relative L2 change
 *   ‖after − before‖ / ‖before‖, the Pearson correlation of the two maps, and Gini of each.
 */
import { CtxwinError, show } from "../errors.js";

/** A layer × head map (rows of equal length). */
export type HeadMap = readonly (readonly number[])[];

function flat(map: HeadMap | readonly number[], fn: string, arg: string): number[] {
  if (!Array.isArray(map)) throw new CtxwinError("ERR_ARG", `${fn}: ${arg}: expected an array (a layer × head map or a flat list), got ${show(map)}`);
  const out: number[] = [];
  for (const row of map as unknown[]) {
    if (Array.isArray(row)) for (const v of row) out.push(v as number);
    else out.push(row as number);
  }
  for (const v of out) if (typeof v !== "number" || !Number.isFinite(v)) throw new CtxwinError("ERR_ARG", `${fn}: ${arg}: expected finite numbers, got ${show(v)}`);
  return out;
}

/**
 * Gini coefficient of the absolute values: Σ_i Σ_j |x_i − x_j| / (2·n·Σ_i x_i), computed from the
 * sorted values. 0 for a uniform map, (n − 1)/n for a one-hot one; NaN when every value is 0.
 */
export function gini(values: HeadMap | readonly number[]): number {
  const x = flat(values, "gini", "values").map(Math.abs).sort((a, b) => a - b);
  const n = x.length;
  if (n === 0) throw new CtxwinError("ERR_ARG", "gini: values: expected at least one value, got none");
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    sum += x[i]!;
    weighted += (i + 1) * x[i]!;
  }
  if (sum === 0) return NaN;
  // Σ_i Σ_j |x_i − x_j| = 2 Σ_i (2i − n − 1)·x_(i) (1-based, sorted ascending)
  return Math.max(0, (2 * weighted) / (n * sum) - (n + 1) / n);
}

export interface DecomposeOptions {
  /** c_k ≥ 0 (default true): non-negative least squares; false: plain least squares. */
  nonNegative?: boolean;
}

export interface Decomposition {
  /** c_k, one per base. */
  coefficients: number[];
  /** b. */
  intercept: number;
  /** 1 − SS_res / SS_tot (NaN when the target is constant). */
  r2: number;
  /** sqrt(SS_res / n). */
  rmse: number;
  method: "nnls" | "ls";
}

/** Solves A x = b (k×k, symmetric positive semi-definite) by Gaussian elimination with partial pivoting and a tiny ridge. */
function solve(A: number[][], b: number[]): number[] {
  const k = b.length;
  let tr = 0;
  for (let i = 0; i < k; i++) tr += A[i]![i]!;
  const ridge = 1e-12 * (tr / Math.max(1, k)) + 1e-300;
  const M = A.map((row, i) => [...row.map((v, j) => v + (i === j ? ridge : 0)), b[i]!]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const piv = M[c]![c]!;
    if (piv === 0) continue;
    for (let r = c + 1; r < k; r++) {
      const f = M[r]![c]! / piv;
      if (f === 0) continue;
      for (let j = c; j <= k; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  const x = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let s = M[r]![k]!;
    for (let j = r + 1; j < k; j++) s -= M[r]![j]! * x[j]!;
    x[r] = M[r]![r]! === 0 ? 0 : s / M[r]![r]!;
  }
  return x;
}

/** Non-negative least squares on the normal equations G c = h (Lawson–Hanson active set). */
function nnls(G: number[][], h: number[]): number[] {
  const k = h.length;
  const c = new Array<number>(k).fill(0);
  const passive = new Array<boolean>(k).fill(false);
  const scale = Math.max(1e-300, ...h.map(Math.abs), ...G.map((r, i) => Math.abs(r[i]!)));
  const tol = 1e-12 * scale;
  const grad = () => h.map((hi, i) => hi - G[i]!.reduce((s, g, j) => s + g * c[j]!, 0));
  const solvePassive = (): number[] => {
    const idx = passive.flatMap((p, i) => (p ? [i] : []));
    const sub = solve(idx.map((i) => idx.map((j) => G[i]![j]!)), idx.map((i) => h[i]!));
    const s = new Array<number>(k).fill(0);
    idx.forEach((i, n) => (s[i] = sub[n]!));
    return s;
  };
  for (let outer = 0; outer < 3 * k + 10; outer++) {
    const w = grad();
    let j = -1;
    for (let i = 0; i < k; i++) if (!passive[i] && w[i]! > tol && (j < 0 || w[i]! > w[j]!)) j = i;
    if (j < 0) break;
    passive[j] = true;
    let s = solvePassive();
    for (let inner = 0; inner < 3 * k + 10; inner++) {
      const bad = passive.some((p, i) => p && s[i]! <= 0);
      if (!bad) break;
      // step from c towards s until the first passive coefficient reaches 0; that one (and any
      // other at or below 0) leaves the passive set
      let alpha = Infinity;
      let hit = -1;
      for (let i = 0; i < k; i++) {
        if (!passive[i] || s[i]! > 0) continue;
        const a = c[i]! / (c[i]! - s[i]!);
        if (a < alpha) {
          alpha = a;
          hit = i;
        }
      }
      if (!Number.isFinite(alpha)) alpha = 0;
      for (let i = 0; i < k; i++) c[i] = c[i]! + alpha * (s[i]! - c[i]!);
      for (let i = 0; i < k; i++) {
        if (passive[i] && (i === hit || c[i]! <= 0)) {
          passive[i] = false;
          c[i] = 0;
        }
      }
      s = solvePassive();
    }
    for (let i = 0; i < k; i++) c[i] = passive[i] ? Math.max(0, s[i]!) : 0;
  }
  return c;
}

/**
 * target ≈ intercept + Σ_k coefficients[k]·bases[k] over the cells (heads), by non-negative (default)
 * or plain least squares with a free intercept; R² = 1 − SS_res/SS_tot. Maps may be layer × head
 * arrays or flat lists of the same length.
 */
export function decomposeMap(target: HeadMap | readonly number[], bases: readonly (HeadMap | readonly number[])[], opts: DecomposeOptions = {}): Decomposition {
  const fn = "decomposeMap";
  const y = flat(target, fn, "target");
  if (!Array.isArray(bases) || bases.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: bases: expected at least one map, got ${Array.isArray(bases) ? "none" : show(bases)}`);
  const X = bases.map((b, i) => flat(b, fn, `bases[${i}]`));
  const n = y.length;
  X.forEach((x, i) => {
    if (x.length !== n) throw new CtxwinError("ERR_SHAPE", `${fn}: bases[${i}]: expected ${n} values (as the target), got ${x.length}`);
  });
  const k = X.length;
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / n;
  const my = mean(y);
  const mx = X.map(mean);
  const yc = y.map((v) => v - my);
  const Xc = X.map((x, i) => x.map((v) => v - mx[i]!));
  const G = Xc.map((a) => Xc.map((b) => a.reduce((s, v, t) => s + v * b[t]!, 0)));
  const h = Xc.map((a) => a.reduce((s, v, t) => s + v * yc[t]!, 0));
  const nonNegative = opts.nonNegative ?? true;
  const c = nonNegative ? nnls(G, h) : solve(G, h);
  let ssRes = 0;
  let ssTot = 0;
  for (let t = 0; t < n; t++) {
    let fit = 0;
    for (let i = 0; i < k; i++) fit += c[i]! * Xc[i]![t]!;
    ssRes += (yc[t]! - fit) ** 2;
    ssTot += yc[t]! ** 2;
  }
  const intercept = my - c.reduce((s, ci, i) => s + ci * mx[i]!, 0);
  return { coefficients: c, intercept, r2: ssTot > 0 ? 1 - ssRes / ssTot : NaN, rmse: Math.sqrt(ssRes / n), method: nonNegative ? "nnls" : "ls" };
}

export interface ClusterOptions {
  /** Number of clusters (default 4; fewer when there are fewer distinct profiles). */
  k?: number;
  /** Lloyd iterations at most (default 100). */
  maxIterations?: number;
}

export interface HeadCluster {
  /** 0 = the cluster with the largest centroid (most active), then decreasing. */
  id: number;
  size: number;
  /** Mean normalised score per task (the order of the maps given). */
  centroid: number[];
  /** [layer, head] of each member. */
  heads: [number, number][];
}

export interface HeadClustering {
  k: number;
  /** assignments[l][h] = cluster id. */
  assignments: number[][];
  clusters: HeadCluster[];
  /** Σ squared distances of the profiles to their centroids. */
  inertia: number;
  iterations: number;
}

/**
 * k-means of the heads by their profile across tasks: profile_i[t] = maps[t] at head i divided by
 * max |maps[t]|. Farthest-point initialisation from the head with the largest profile, Lloyd
 * iterations until no assignment changes; ties go to the lower index. Deterministic.
 */
export function clusterHeads(maps: readonly HeadMap[], opts: ClusterOptions = {}): HeadClustering {
  const fn = "clusterHeads";
  if (!Array.isArray(maps) || maps.length === 0) throw new CtxwinError("ERR_ARG", `${fn}: maps: expected at least one layer × head map, got ${Array.isArray(maps) ? "none" : show(maps)}`);
  const L = maps[0]!.length;
  const H = maps[0]![0]?.length ?? 0;
  if (L === 0 || H === 0) throw new CtxwinError("ERR_SHAPE", `${fn}: maps[0]: expected a non-empty layer × head map, got ${L} × ${H}`);
  maps.forEach((m, t) => {
    if (!Array.isArray(m) || m.length !== L || m.some((r) => !Array.isArray(r) || r.length !== H)) throw new CtxwinError("ERR_SHAPE", `${fn}: maps[${t}]: expected ${L} × ${H} (as maps[0])`);
  });
  const kWanted = opts.k ?? 4;
  if (!Number.isInteger(kWanted) || kWanted < 1) throw new CtxwinError("ERR_ARG", `${fn}: opts.k: expected a positive integer, got ${show(kWanted)}`);
  const maxIt = opts.maxIterations ?? 100;
  const T = maps.length;
  const n = L * H;
  const flats = maps.map((m, t) => flat(m, fn, `maps[${t}]`));
  const scale = flats.map((f) => Math.max(...f.map(Math.abs)) || 1);
  const P = Array.from({ length: n }, (_, i) => flats.map((f, t) => f[i]! / scale[t]!));
  const d2 = (a: number[], b: number[]) => a.reduce((s, v, t) => s + (v - b[t]!) ** 2, 0);
  const norm2 = (a: number[]) => a.reduce((s, v) => s + v * v, 0);

  // farthest-point initialisation
  let first = 0;
  for (let i = 1; i < n; i++) if (norm2(P[i]!) > norm2(P[first]!)) first = i;
  const centroids: number[][] = [[...P[first]!]];
  const minD = P.map((p) => d2(p, P[first]!));
  while (centroids.length < Math.min(kWanted, n)) {
    let j = -1;
    for (let i = 0; i < n; i++) if (minD[i]! > 0 && (j < 0 || minD[i]! > minD[j]!)) j = i;
    if (j < 0) break; // no more distinct profiles
    centroids.push([...P[j]!]);
    for (let i = 0; i < n; i++) minD[i] = Math.min(minD[i]!, d2(P[i]!, P[j]!));
  }
  const k = centroids.length;
  const assign = new Array<number>(n).fill(-1);
  let iterations = 0;
  for (; iterations < maxIt; iterations++) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = d2(P[i]!, centroids[0]!);
      for (let c = 1; c < k; c++) {
        const d = d2(P[i]!, centroids[c]!);
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      if (assign[i] !== best) {
        assign[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    for (let c = 0; c < k; c++) {
      const members = P.filter((_, i) => assign[i] === c);
      if (members.length === 0) continue; // keeps its centroid
      centroids[c] = Array.from({ length: T }, (_, t) => members.reduce((s, p) => s + p[t]!, 0) / members.length);
    }
  }
  // relabel: largest centroid first
  const order = centroids.map((c, i) => i).sort((a, b) => norm2(centroids[b]!) - norm2(centroids[a]!) || a - b);
  const relabel = new Array<number>(k);
  order.forEach((old, id) => (relabel[old] = id));
  const clusters: HeadCluster[] = order.map((old, id) => ({ id, size: 0, centroid: centroids[old]!, heads: [] }));
  let inertia = 0;
  const assignments: number[][] = Array.from({ length: L }, () => new Array<number>(H).fill(0));
  for (let i = 0; i < n; i++) {
    const id = relabel[assign[i]!]!;
    const l = Math.floor(i / H);
    const h = i % H;
    assignments[l]![h] = id;
    clusters[id]!.size++;
    clusters[id]!.heads.push([l, h]);
    inertia += d2(P[i]!, centroids[assign[i]!]!);
  }
  return { k, assignments, clusters, inertia, iterations: iterations + 1 };
}

export interface MapComparison {
  /** after − before, per head. */
  delta: number[][];
  /** ‖after − before‖₂ / ‖before‖₂ (Infinity when before is all zero and after is not). */
  relativeChange: number;
  /** Pearson correlation of the two maps over the heads (NaN when one is constant). */
  correlation: number;
  giniBefore: number;
  giniAfter: number;
  /** The heads with the largest |delta|, largest first (at most `top`). */
  topChanged: { layer: number; head: number; before: number; after: number; delta: number }[];
}

/** Pearson correlation (NaN when one is constant). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** What changed between two maps of the same task (e.g. before and after SFT). */
export function compareMaps(before: HeadMap, after: HeadMap, opts: { top?: number } = {}): MapComparison {
  const fn = "compareMaps";
  const b = flat(before, fn, "before");
  const a = flat(after, fn, "after");
  if (a.length !== b.length || after.length !== before.length) throw new CtxwinError("ERR_SHAPE", `${fn}: after: expected ${before.length} × ${before[0]?.length ?? 0} (as before), got ${after.length} × ${after[0]?.length ?? 0}`);
  const H = before[0]?.length ?? 0;
  const n = a.length;
  let dd = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    dd += (a[i]! - b[i]!) ** 2;
    bb += b[i]! ** 2;
  }
  const delta = before.map((row, l) => row.map((v, h) => after[l]![h]! - v));
  const top = opts.top ?? 10;
  const topChanged = Array.from({ length: n }, (_, i) => i)
    .sort((x, y) => Math.abs(a[y]! - b[y]!) - Math.abs(a[x]! - b[x]!) || x - y)
    .slice(0, top)
    .map((i) => ({ layer: Math.floor(i / H), head: i % H, before: b[i]!, after: a[i]!, delta: a[i]! - b[i]! }));
  return {
    delta,
    relativeChange: bb > 0 ? Math.sqrt(dd / bb) : dd > 0 ? Infinity : 0,
    correlation: correlation(a, b),
    giniBefore: gini(before),
    giniAfter: gini(after),
    topChanged,
  };
}
