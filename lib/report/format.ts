/**
 * Number and text formatting shared by the HTML page, the SVG charts, the findings and the
 * terminal summary, so that a number reads the same everywhere.
 */

/** A measured value from a report: JSON turns NaN/±Infinity into null, so accept anything. */
export type Maybe = number | null | undefined;

/** True for a real number (not null, not NaN; ±Infinity counts as a value). */
export function isValue(x: unknown): x is number {
  return typeof x === "number" && !Number.isNaN(x);
}

/** True for a finite number. */
export function isFiniteNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/**
 * A perplexity: "–" when missing, "∞" for +Infinity, 3–4 significant digits otherwise
 * (31.42, 142.7, 1523, 1.24e+5).
 */
export function formatPpl(p: unknown): string {
  if (!isValue(p)) return "–";
  if (p === Infinity) return "∞";
  if (p === -Infinity) return "-∞";
  const a = Math.abs(p);
  if (a >= 1e5) return p.toExponential(2);
  if (a >= 1000) return p.toFixed(0);
  if (a >= 100) return p.toFixed(1);
  return p.toFixed(2);
}

/** A mean NLL in nats: 3.214 (or "–"; "∞" for +Infinity). */
export function formatNll(x: unknown): string {
  if (!isValue(x)) return "–";
  if (x === Infinity) return "∞";
  return x.toFixed(3);
}

/** A relative change as a signed percentage: +12.3%, -4.0%. */
export function formatPct(x: unknown, digits = 1): string {
  if (!isValue(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "+∞%" : "-∞%";
  const v = x * 100;
  return `${v >= 0 ? "+" : ""}${v.toFixed(digits)}%`;
}

/** An accuracy in [0, 1] as 0.75 (or "–"). */
export function formatAcc(x: unknown): string {
  return isFiniteNumber(x) ? x.toFixed(2) : "–";
}

/** Seconds as "0.4 s", "12.3 s", "4 min 05 s", "1 h 02 min". */
export function formatSeconds(s: unknown): string {
  if (!isFiniteNumber(s) || s < 0) return "–";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m} min ${String(Math.round(s - m * 60)).padStart(2, "0")} s`;
  }
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.round((s - h * 3600) / 60)).padStart(2, "0")} min`;
}

/** An integer with thousands separators (1,234,567), or a short form (1.23M) when `short`. */
export function formatInt(n: unknown, short = false): string {
  if (!isFiniteNumber(n)) return "–";
  if (short) {
    const a = Math.abs(n);
    if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
    if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
    if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  }
  return Math.round(n).toLocaleString("en-US");
}

/** A generic number with up to `digits` decimals, trailing zeros dropped. */
export function formatNumber(x: unknown, digits = 3): string {
  if (!isValue(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "-∞";
  return String(Number(x.toFixed(digits)));
}

/** An evaluation length as a multiple of the training length: "L", "2L", "1.5L". */
export function lengthLabel(T: number, L: number): string {
  if (!isFiniteNumber(T) || !isFiniteNumber(L) || L <= 0) return String(T);
  const r = T / L;
  if (r === 1) return "L";
  return `${Number.isInteger(r) ? r : Number(r.toFixed(2))}L`;
}

/** Escapes text for HTML and XML (element content and attribute values). */
export function escapeXml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

/** Indices of the smallest finite value (all of them on a tie), ignoring missing ones; [] when none. */
export function argminAll(values: Maybe[]): number[] {
  let best = Infinity;
  for (const v of values) if (isFiniteNumber(v) && v < best) best = v;
  if (best === Infinity) return [];
  const out: number[] = [];
  values.forEach((v, i) => {
    if (v === best) out.push(i);
  });
  return out;
}

/**
 * Indices of the best (lowest) values as displayed by `format` (default formatPpl): every finite
 * value shown the same as the minimum (so two methods both shown as 3.214 are both marked); []
 * when none.
 */
export function bestIndices(values: Maybe[], format: (v: number) => string = formatPpl): number[] {
  const mins = argminAll(values);
  if (!mins.length) return [];
  const shown = format(values[mins[0]!]!);
  const out: number[] = [];
  values.forEach((v, i) => {
    if (isFiniteNumber(v) && format(v) === shown) out.push(i);
  });
  return out;
}
