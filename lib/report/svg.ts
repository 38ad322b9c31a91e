/**
 * Small self-contained SVG charts (no dependencies, no scripts, no external references):
 *
 * - `lineChart`: lines over x (optionally log-scaled) with a log-scale (or linear) y axis, legend,
 *   ticks, axis labels and optional vertical markers (the training length L and its multiples);
 *   a series may have its own x values (curves sampled at different points);
 * - `heatmap`: a matrix of values in [min, max] with a colour-blind-safe sequential scale
 *   (viridis) or, for signed values, a diverging one (RdBu, white at 0), or colours of its own
 *   (categories); the values printed in the cells (optional), sparse row/column labels for dense
 *   maps, and a colour bar;
 * - `lossCurve`: a small line chart for a training loss curve;
 * - `scatterChart`: points in 2-D (e.g. a PCA projection), each with its own colour and marker,
 *   with an optional colour bar (a sequential scale, e.g. the position) and legend.
 *
 * Every coordinate goes through `coord()`, so a NaN, null or ±Infinity in the data can never reach
 * the path data: missing points break a line, +Infinity is drawn as an arrow at the top edge.
 * The SVGs are meant to be inlined in HTML (no xmlns, which would be an http:// reference);
 * pass `standalone: true` for a stand-alone .svg file.
 */
import { escapeXml, formatNumber, isFiniteNumber, type Maybe } from "./format.js";

/** Okabe–Ito colours (colour-blind safe), yellow left out (too light on white). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"] as const;
/** Dash patterns used once the colours run out (series i gets colour i % 7, dash ⌊i / 7⌋). */
export const DASHES = ["", "7 4", "2 3", "9 3 2 3"] as const;
export type MarkerShape = "circle" | "square" | "triangle" | "diamond" | "down";
export const MARKERS: readonly MarkerShape[] = ["circle", "square", "triangle", "diamond", "down"];

/** The style of the i-th series: colour, dash and marker (consistent across charts). */
export function seriesStyle(i: number): { color: string; dash: string; marker: MarkerShape } {
  const k = Math.max(0, Math.floor(i));
  return { color: PALETTE[k % PALETTE.length]!, dash: DASHES[Math.floor(k / PALETTE.length) % DASHES.length]!, marker: MARKERS[k % MARKERS.length]! };
}

/** A coordinate for SVG output: 2 decimals; anything non-finite becomes 0 (never "NaN"). */
export function coord(x: number): string {
  if (!Number.isFinite(x)) return "0";
  const r = Math.round(x * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"`;

function svgOpen(width: number, height: number, label: string, standalone: boolean): string {
  const ns = standalone ? ` xmlns="http://www.w3.org/2000/svg"` : "";
  return `<svg${ns} class="chart" viewBox="0 0 ${coord(width)} ${coord(height)}" width="${coord(width)}" height="${coord(height)}" role="img" aria-label="${escapeXml(label)}" ${FONT} font-size="12"><title>${escapeXml(label)}</title>`;
}

// ------------------------------------------------------------------ scales and ticks

/** "Nice" linear ticks covering [min, max] (about `count` of them, inside the range). */
export function linearTicks(min: number, max: number, count = 5): number[] {
  if (!isFiniteNumber(min) || !isFiniteNumber(max)) return [];
  if (min > max) [min, max] = [max, min];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const s = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / s - 1e-9) * s; v <= max + s * 1e-9; v += s) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Ticks for a log-scale axis over [min, max] (both > 0): the densest of 1…9, 1-2-3-5, 1-2-5
 * and 1 per decade that gives at most `maxTicks` ticks (every k-th power of ten when even those
 * are too many); when that gives fewer than 3 (a range within about a decade) nice linear ticks.
 */
export function logTicks(min: number, max: number, maxTicks = 10): number[] {
  if (!isFiniteNumber(min) || !isFiniteNumber(max) || min <= 0 || max <= 0) return [];
  if (min > max) [min, max] = [max, min];
  if (min === max) return [min];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const sets = [[1], [1, 2, 5], [1, 2, 3, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
  const per = sets.map((mantissas) => {
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) {
      for (const m of mantissas) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
      }
    }
    return ticks;
  });
  // the densest set that is not too dense
  for (let k = sets.length - 1; k >= 0; k--) {
    const t = per[k]!;
    if (t.length > maxTicks) continue;
    if (t.length >= 3) return t;
    // a narrow range (less than about a decade): nice linear ticks read better
    const lin = linearTicks(min, max, 4).filter((v) => v > 0);
    return lin.length >= 2 ? lin : t.length ? t : [min, max];
  }
  // even the powers of ten are too many: every k-th
  const t = per[0]!;
  const k = Math.ceil(t.length / maxTicks);
  return t.filter((_, i) => i % k === 0);
}

/** Tick label: 12, 1.5, 250, 2k, 15k, 1e+6. */
export function tickLabel(v: number): string {
  if (!isFiniteNumber(v)) return "";
  const a = Math.abs(v);
  if (a >= 1e6) return v.toExponential(0);
  if (a >= 1e4) return `${Number((v / 1000).toPrecision(3))}k`;
  if (a >= 1) return String(Number(v.toPrecision(4)));
  return String(Number(v.toPrecision(2)));
}

interface Scale {
  (v: number): number;
  lo: number;
  hi: number;
}

function scale(lo: number, hi: number, a: number, b: number, log: boolean): Scale {
  const f = log ? Math.log : (v: number) => v;
  const l0 = f(lo);
  const l1 = f(hi);
  const span = l1 - l0 || 1;
  const s = ((v: number) => a + ((f(v) - l0) / span) * (b - a)) as Scale;
  s.lo = lo;
  s.hi = hi;
  return s;
}

function marker(shape: MarkerShape, x: number, y: number, r: number, color: string, extra = ""): string {
  const X = coord(x);
  const Y = coord(y);
  switch (shape) {
    case "square":
      return `<rect x="${coord(x - r * 0.85)}" y="${coord(y - r * 0.85)}" width="${coord(r * 1.7)}" height="${coord(r * 1.7)}" fill="${color}"${extra}/>`;
    case "triangle":
      return `<path d="M${X} ${coord(y - r * 1.1)}L${coord(x + r)} ${coord(y + r * 0.8)}L${coord(x - r)} ${coord(y + r * 0.8)}Z" fill="${color}"${extra}/>`;
    case "down":
      return `<path d="M${X} ${coord(y + r * 1.1)}L${coord(x + r)} ${coord(y - r * 0.8)}L${coord(x - r)} ${coord(y - r * 0.8)}Z" fill="${color}"${extra}/>`;
    case "diamond":
      return `<path d="M${X} ${coord(y - r * 1.2)}L${coord(x + r * 1.1)} ${Y}L${X} ${coord(y + r * 1.2)}L${coord(x - r * 1.1)} ${Y}Z" fill="${color}"${extra}/>`;
    default:
      return `<circle cx="${X}" cy="${Y}" r="${coord(r)}" fill="${color}"${extra}/>`;
  }
}

// ------------------------------------------------------------------ line chart

export interface LineSeries {
  label: string;
  values: Maybe[];
  /** The x of each value, when this series has its own (default: the chart's `x`). */
  x?: number[];
  color?: string;
  dash?: string;
  marker?: MarkerShape;
}

export interface XTick {
  value: number;
  label: string;
  /** A second, smaller line under the label (e.g. the length in tokens). */
  sub?: string;
}

export interface LineChartOptions {
  title?: string;
  /** x of each point (all series share them). */
  x: number[];
  series: LineSeries[];
  /** Tick marks on the x axis (default: one per x, labelled with the value). */
  xTicks?: XTick[];
  xLabel?: string;
  yLabel?: string;
  /** Log-scale x (default false). */
  logX?: boolean;
  /** Log-scale y (default true). */
  logY?: boolean;
  /** A dashed vertical line (e.g. the training length). */
  vline?: { x: number; label: string };
  /** More dashed vertical lines (e.g. L, 2L and 4L). */
  vlines?: { x: number; label: string }[];
  /** Markers at the points (default true; off for dense curves). */
  markers?: boolean;
  width?: number;
  height?: number;
  /** Width of the legend on the right (0: no legend). */
  legendWidth?: number;
  standalone?: boolean;
  /** Formats a value in the point tooltips. */
  format?: (v: number) => string;
  /** Log y: the smallest ratio top/bottom of the axis (default 1.2). */
  minYRatio?: number;
  /** Values the y axis covers beside the data (e.g. [0, 1] for accuracies). */
  yInclude?: number[];
}

/** A line chart (one line per series, markers at the points, log-scale y by default). */
export function lineChart(o: LineChartOptions): string {
  const logY = o.logY ?? true;
  const logX = o.logX ?? false;
  const legendW = o.legendWidth ?? 220;
  const rowH = 18;
  const width = o.width ?? 820;
  const top = o.title ? 34 : 14;
  const bottom = o.xLabel ? 54 : 38;
  const height = Math.max(o.height ?? 340, top + bottom + o.series.length * rowH + 10);
  const left = 62;
  const right = 14 + legendW;
  const pw = Math.max(40, width - left - right);
  const ph = Math.max(40, height - top - bottom);
  const fmt = o.format ?? ((v: number) => formatNumber(v, 3));

  // y domain from the plottable values
  const ok = (v: Maybe): v is number => isFiniteNumber(v) && (!logY || v > 0);
  const ys = [...o.series.flatMap((s) => s.values.filter(ok)), ...(o.yInclude ?? []).filter(ok)];
  let y0 = ys.length ? Math.min(...ys) : logY ? 1 : 0;
  let y1 = ys.length ? Math.max(...ys) : logY ? 10 : 1;
  if (y0 === y1) {
    y0 = logY ? y0 / 1.5 : y0 - 1;
    y1 = logY ? y1 * 1.5 : y1 + 1;
  }
  if (logY) {
    // at least a factor minYRatio top to bottom, so that near-equal values do not look far apart
    const minSpan = Math.log(o.minYRatio ?? 1.2);
    const span = Math.log(y1) - Math.log(y0);
    if (span < minSpan) {
      const mid = (Math.log(y1) + Math.log(y0)) / 2;
      y0 = Math.exp(mid - minSpan / 2);
      y1 = Math.exp(mid + minSpan / 2);
    }
    const pad = (Math.log(y1) - Math.log(y0)) * 0.06;
    y0 = Math.exp(Math.log(y0) - pad);
    y1 = Math.exp(Math.log(y1) + pad);
  } else {
    const pad = (y1 - y0) * 0.06;
    y0 -= pad;
    y1 += pad;
  }
  // x domain
  const xOk = (v: number) => isFiniteNumber(v) && (!logX || v > 0);
  const vlines = [...(o.vline ? [o.vline] : []), ...(o.vlines ?? [])].filter((v) => v && xOk(v.x));
  // a series' own x values count where it has a point
  const ownXs = o.series.flatMap((s) => (s.x ?? []).filter((xv, j) => xOk(xv) && (s.values[j] === Infinity || ok(s.values[j]))));
  const xs = [...o.x.filter(xOk), ...ownXs, ...vlines.map((v) => v.x)];
  let x0 = xs.length ? Math.min(...xs) : logX ? 1 : 0;
  let x1 = xs.length ? Math.max(...xs) : logX ? 10 : 1;
  if (x0 === x1) {
    x0 = logX ? x0 / 2 : x0 - 1;
    x1 = logX ? x1 * 2 : x1 + 1;
  }
  {
    const f = logX ? Math.log : (v: number) => v;
    const g = logX ? Math.exp : (v: number) => v;
    const pad = (f(x1) - f(x0)) * 0.07;
    x0 = g(f(x0) - pad);
    x1 = g(f(x1) + pad);
  }
  const sx = scale(x0, x1, left, left + pw, logX);
  const sy = scale(y0, y1, top + ph, top, logY);

  const parts: string[] = [svgOpen(width, height, o.title ?? "line chart", !!o.standalone)];
  parts.push(`<rect x="${coord(left)}" y="${coord(top)}" width="${coord(pw)}" height="${coord(ph)}" fill="#fbfbfd" stroke="#d5d8de"/>`);
  if (o.title) parts.push(`<text x="${coord(left)}" y="20" font-size="14" font-weight="600" fill="#1d2330">${escapeXml(o.title)}</text>`);

  // y grid + ticks
  const yt = logY ? logTicks(y0, y1) : linearTicks(y0, y1, 5);
  for (const v of yt) {
    const y = sy(v);
    parts.push(`<line x1="${coord(left)}" x2="${coord(left + pw)}" y1="${coord(y)}" y2="${coord(y)}" stroke="#e6e8ec"/>`);
    parts.push(`<text x="${coord(left - 6)}" y="${coord(y + 4)}" text-anchor="end" fill="#4a5160">${escapeXml(tickLabel(v))}</text>`);
  }
  // x ticks
  const xt: XTick[] = o.xTicks ?? o.x.map((v) => ({ value: v, label: tickLabel(v) }));
  for (const t of xt) {
    if (!xOk(t.value)) continue;
    const x = sx(t.value);
    parts.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(top)}" y2="${coord(top + ph)}" stroke="#eef0f3"/>`);
    parts.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(top + ph)}" y2="${coord(top + ph + 4)}" stroke="#8a909c"/>`);
    parts.push(`<text x="${coord(x)}" y="${coord(top + ph + 17)}" text-anchor="middle" fill="#1d2330">${escapeXml(t.label)}</text>`);
    if (t.sub) parts.push(`<text x="${coord(x)}" y="${coord(top + ph + 30)}" text-anchor="middle" font-size="10" fill="#6a7080">${escapeXml(t.sub)}</text>`);
  }
  if (o.xLabel) parts.push(`<text x="${coord(left + pw / 2)}" y="${coord(height - 6)}" text-anchor="middle" fill="#4a5160">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) {
    const cy = top + ph / 2;
    parts.push(`<text x="14" y="${coord(cy)}" transform="rotate(-90 14 ${coord(cy)})" text-anchor="middle" fill="#4a5160">${escapeXml(o.yLabel)}</text>`);
  }
  // the vertical markers
  vlines.forEach((v, k) => {
    const x = sx(v.x);
    parts.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(top)}" y2="${coord(top + ph)}" stroke="#7a808c" stroke-width="1.2" stroke-dasharray="5 4"/>`);
    parts.push(`<text x="${coord(x + 5)}" y="${coord(top + 13 + (k % 2) * 13)}" font-size="11" fill="#5a606c">${escapeXml(v.label)}</text>`);
  });
  const showMarkers = o.markers ?? true;

  // lines
  const drawn = o.series.map(() => false);
  o.series.forEach((s, i) => {
    const st = seriesStyle(i);
    const color = s.color ?? st.color;
    const dash = s.dash ?? st.dash;
    const shape = s.marker ?? st.marker;
    let d = "";
    let pen = false;
    const pts: string[] = [];
    (s.x ?? o.x).forEach((xv, j) => {
      const v = s.values[j];
      if (!xOk(xv)) {
        pen = false;
        return;
      }
      if (v === Infinity) {
        pen = false;
        const x = sx(xv);
        const tip = `${s.label} at ${xt.find((t) => t.value === xv)?.label ?? tickLabel(xv)}: ∞ (off the chart)`;
        pts.push(withTitle(marker("triangle", x, top + 7, 5, color, ` stroke="#fff" stroke-width="0.8"`), tip));
        drawn[i] = true;
        return;
      }
      if (!ok(v)) {
        pen = false;
        return;
      }
      const x = sx(xv);
      const y = sy(v);
      d += `${pen ? "L" : "M"}${coord(x)} ${coord(y)}`;
      pen = true;
      const tip = `${s.label} at ${xt.find((t) => t.value === xv)?.label ?? tickLabel(xv)}: ${fmt(v)}`;
      if (showMarkers) pts.push(withTitle(marker(shape, x, y, 3.6, color, ` stroke="#fff" stroke-width="0.8"`), tip));
      drawn[i] = true;
    });
    const pathEl = `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""} stroke-linejoin="round" stroke-linecap="round"/>`;
    if (d) parts.push(showMarkers ? pathEl : withTitle(pathEl, s.label));
    parts.push(...pts);
  });

  // legend
  if (legendW > 0) {
    const lx = left + pw + 18;
    o.series.forEach((s, i) => {
      const st = seriesStyle(i);
      const color = s.color ?? st.color;
      const dash = s.dash ?? st.dash;
      const shape = s.marker ?? st.marker;
      const y = top + 8 + i * rowH;
      const none = !drawn[i];
      parts.push(`<line x1="${coord(lx)}" x2="${coord(lx + 26)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
      parts.push(marker(shape, lx + 13, y, 3.6, color, ` stroke="#fff" stroke-width="0.8"`));
      parts.push(`<text x="${coord(lx + 32)}" y="${coord(y + 4)}" fill="${none ? "#8a909c" : "#1d2330"}">${escapeXml(truncate(s.label, Math.floor((legendW - 40) / 6.4)) + (none ? " (no data)" : ""))}</text>`);
    });
  }
  parts.push("</svg>");
  return parts.join("");
}

/** Adds a <title> tooltip to a self-closing element. */
function withTitle(el: string, tip: string): string {
  const m = /^<(\w+)([\s\S]*)\/>$/.exec(el);
  if (!m) return el;
  return `<${m[1]}${m[2]}><title>${escapeXml(tip)}</title></${m[1]}>`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(1, n - 1))}…`;
}

// ------------------------------------------------------------------ heatmap

/** Viridis at 9 evenly spaced stops (perceptually uniform, colour-blind safe). */
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];

function hex(c: string): [number, number, number] {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

/** The viridis colour of t in [0, 1] (clamped; non-finite → grey). */
export function viridis(t: number): string {
  if (!isFiniteNumber(t)) return "#c8ccd4";
  const u = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = hex(VIRIDIS[i]!);
  const b = hex(VIRIDIS[i + 1]!);
  const c = a.map((x, k) => Math.round(x + (b[k]! - x) * f));
  return `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** RdBu at 9 stops, blue (negative) → white (0) → red (positive): a colour-blind-safe diverging scale. */
const DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"];

/** The diverging colour of t in [0, 1] (0.5 = white; clamped; non-finite → grey). */
export function divergingColor(t: number): string {
  if (!isFiniteNumber(t)) return "#c8ccd4";
  const u = Math.min(1, Math.max(0, t)) * (DIVERGING.length - 1);
  const i = Math.min(DIVERGING.length - 2, Math.floor(u));
  const f = u - i;
  const a = hex(DIVERGING[i]!);
  const b = hex(DIVERGING[i + 1]!);
  const c = a.map((x, k) => Math.round(x + (b[k]! - x) * f));
  return `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

export interface HeatmapOptions {
  title?: string;
  rowLabels: string[];
  colLabels: string[];
  /** values[row][col]; null/NaN cells are drawn grey with "–". */
  values: Maybe[][];
  min?: number;
  max?: number;
  rowTitle?: string;
  colTitle?: string;
  cellWidth?: number;
  cellHeight?: number;
  /** Formats a cell value (default two decimals). */
  format?: (v: number) => string;
  /** Draw the colour bar (default true; false with `fill`). */
  colorBar?: boolean;
  /** A value to mark on the colour bar (e.g. the chance level). */
  reference?: { value: number; label: string };
  /**
   * A diverging scale (blue – white at 0 – red) for signed values; min/max default to ±max|value|,
   * so 0 is white. Default: the sequential viridis scale.
   */
  diverging?: boolean;
  /** Colours a cell itself (categorical maps, e.g. cluster ids); no colour bar unless asked for. */
  fill?: (v: number, row: number, col: number) => string;
  /** Formats the colour bar's end labels (default two decimals). */
  barFormat?: (v: number) => string;
  /** Print the values in the cells (default true; off for dense maps, the tooltips keep them). */
  showValues?: boolean;
  /** Show every k-th row/column label only (default 1: all). */
  labelEvery?: number;
  standalone?: boolean;
}

/** A heatmap with values printed in the cells. */
export function heatmap(o: HeatmapOptions): string {
  let min = isFiniteNumber(o.min) ? o.min : 0;
  let max = isFiniteNumber(o.max) && o.max !== min ? o.max : min + 1;
  if (o.diverging && !isFiniteNumber(o.min) && !isFiniteNumber(o.max)) {
    let m = 0;
    for (const row of o.values) for (const v of row ?? []) if (isFiniteNumber(v)) m = Math.max(m, Math.abs(v));
    if (m === 0) m = 1;
    min = -m;
    max = m;
  }
  const colour = o.diverging ? divergingColor : viridis;
  const showValues = o.showValues ?? true;
  const cw = o.cellWidth ?? 46;
  const ch = o.cellHeight ?? 26;
  const fmt = o.format ?? ((v: number) => v.toFixed(2));
  const rows = o.rowLabels.length;
  const cols = o.colLabels.length;
  const rowLabelW = Math.max(40, ...o.rowLabels.map((l) => l.length * 6.6 + 10)) + (o.rowTitle ? 16 : 0);
  const top = (o.title ? 26 : 6) + (o.colTitle ? 16 : 0) + 16;
  const left = rowLabelW;
  const bar = o.colorBar ?? !o.fill;
  const barLabel = o.barFormat ?? ((v: number) => formatNumber(v, 2));
  const barW = bar ? 52 : 0;
  const width = left + cols * cw + 8 + barW;
  const height = Math.max(top + rows * ch + 8, bar ? top + 90 : 0);
  const parts: string[] = [svgOpen(width, height, o.title ?? "heatmap", !!o.standalone)];
  if (o.title) parts.push(`<text x="2" y="16" font-size="13" font-weight="600" fill="#1d2330">${escapeXml(o.title)}</text>`);
  if (o.colTitle) parts.push(`<text x="${coord(left + (cols * cw) / 2)}" y="${coord(top - 20)}" text-anchor="middle" font-size="11" fill="#6a7080">${escapeXml(o.colTitle)}</text>`);
  if (o.rowTitle) {
    const cy = top + (rows * ch) / 2;
    parts.push(`<text x="10" y="${coord(cy)}" transform="rotate(-90 10 ${coord(cy)})" text-anchor="middle" font-size="11" fill="#6a7080">${escapeXml(o.rowTitle)}</text>`);
  }
  const every = Math.max(1, Math.floor(o.labelEvery ?? 1));
  o.colLabels.forEach((l, c) => {
    if (c % every === 0) parts.push(`<text x="${coord(left + c * cw + cw / 2)}" y="${coord(top - 5)}" text-anchor="middle" font-size="11" fill="#4a5160">${escapeXml(l)}</text>`);
  });
  for (let r = 0; r < rows; r++) {
    const y = top + r * ch;
    if (r % every === 0) parts.push(`<text x="${coord(left - 6)}" y="${coord(y + ch / 2 + 4)}" text-anchor="end" font-size="11" fill="#4a5160">${escapeXml(o.rowLabels[r])}</text>`);
    for (let c = 0; c < cols; c++) {
      const v = o.values[r]?.[c];
      const x = left + c * cw;
      const has = isFiniteNumber(v);
      const t = has ? (v - min) / (max - min) : NaN;
      const fill = has && o.fill ? o.fill(v, r, c) : colour(t);
      const text = has ? fmt(v) : "–";
      const light = o.fill ? false : o.diverging ? Math.abs(t - 0.5) < 0.3 : t >= 0.55;
      const ink = has && light ? "#1d2330" : has ? "#ffffff" : "#4a5160";
      const tip = `${o.rowLabels[r] ?? ""}, ${o.colLabels[c] ?? ""}: ${text}`;
      parts.push(`<rect x="${coord(x)}" y="${coord(y)}" width="${coord(cw - 1)}" height="${coord(ch - 1)}" fill="${fill}"><title>${escapeXml(tip)}</title></rect>`);
      if (showValues) parts.push(`<text x="${coord(x + cw / 2)}" y="${coord(y + ch / 2 + 4)}" text-anchor="middle" font-size="11" fill="${ink}" style="font-variant-numeric: tabular-nums">${escapeXml(text)}</text>`);
    }
  }
  if (bar) {
    const bx = left + cols * cw + 14;
    const bh = Math.max(60, rows * ch - 2);
    const n = 20;
    for (let k = 0; k < n; k++) {
      const y = top + bh - ((k + 1) * bh) / n;
      parts.push(`<rect x="${coord(bx)}" y="${coord(y)}" width="10" height="${coord(bh / n + 0.5)}" fill="${colour((k + 0.5) / n)}"/>`);
    }
    parts.push(`<rect x="${coord(bx)}" y="${coord(top)}" width="10" height="${coord(bh)}" fill="none" stroke="#8a909c" stroke-width="0.6"/>`);
    parts.push(`<text x="${coord(bx + 14)}" y="${coord(top + 8)}" font-size="10" fill="#4a5160">${escapeXml(barLabel(max))}</text>`);
    parts.push(`<text x="${coord(bx + 14)}" y="${coord(top + bh)}" font-size="10" fill="#4a5160">${escapeXml(barLabel(min))}</text>`);
    if (o.reference && isFiniteNumber(o.reference.value) && o.reference.value >= min && o.reference.value <= max) {
      const y = top + bh - ((o.reference.value - min) / (max - min)) * bh;
      parts.push(`<line x1="${coord(bx - 3)}" x2="${coord(bx + 13)}" y1="${coord(y)}" y2="${coord(y)}" stroke="#d00" stroke-width="1.4"><title>${escapeXml(`${o.reference.label}: ${formatNumber(o.reference.value, 3)}`)}</title></line>`);
      // its label only where it does not collide with the min/max labels
      if (y > top + 18 && y < top + bh - 14) parts.push(`<text x="${coord(bx + 14)}" y="${coord(y + 3.5)}" font-size="9" fill="#a00">${escapeXml(o.reference.label)}</text>`);
    }
  }
  parts.push("</svg>");
  return parts.join("");
}

// ------------------------------------------------------------------ loss curve

export interface LossCurveOptions {
  title?: string;
  points: { step: number; loss: Maybe }[];
  width?: number;
  height?: number;
  color?: string;
  standalone?: boolean;
}

/** A small training-curve chart: loss over steps, min/max loss and first/last step labelled. */
export function lossCurve(o: LossCurveOptions): string {
  const width = o.width ?? 280;
  const height = o.height ?? 130;
  const top = o.title ? 24 : 8;
  const left = 44;
  const right = 10;
  const bottom = 22;
  const pw = width - left - right;
  const ph = height - top - bottom;
  const color = o.color ?? PALETTE[0];
  const pts = (o.points ?? []).filter((p) => p && isFiniteNumber(p.step) && isFiniteNumber(p.loss)) as { step: number; loss: number }[];
  const parts: string[] = [svgOpen(width, height, o.title ?? "training loss", !!o.standalone)];
  if (o.title) parts.push(`<text x="2" y="15" font-size="12" font-weight="600" fill="#1d2330">${escapeXml(o.title)}</text>`);
  parts.push(`<rect x="${coord(left)}" y="${coord(top)}" width="${coord(pw)}" height="${coord(ph)}" fill="#fbfbfd" stroke="#d5d8de"/>`);
  if (!pts.length) {
    parts.push(`<text x="${coord(left + pw / 2)}" y="${coord(top + ph / 2 + 4)}" text-anchor="middle" fill="#8a909c">no loss curve</text></svg>`);
    return parts.join("");
  }
  let s0 = Math.min(...pts.map((p) => p.step));
  let s1 = Math.max(...pts.map((p) => p.step));
  let l0 = Math.min(...pts.map((p) => p.loss));
  let l1 = Math.max(...pts.map((p) => p.loss));
  if (s0 === s1) {
    s0 -= 1;
    s1 += 1;
  }
  if (l0 === l1) {
    l0 -= 0.5;
    l1 += 0.5;
  }
  const pad = (l1 - l0) * 0.08;
  const sx = scale(s0, s1, left, left + pw, false);
  const sy = scale(l0 - pad, l1 + pad, top + ph, top, false);
  for (const v of linearTicks(l0 - pad, l1 + pad, 3)) {
    const y = sy(v);
    parts.push(`<line x1="${coord(left)}" x2="${coord(left + pw)}" y1="${coord(y)}" y2="${coord(y)}" stroke="#e6e8ec"/>`);
    parts.push(`<text x="${coord(left - 4)}" y="${coord(y + 3.5)}" text-anchor="end" font-size="10" fill="#4a5160">${escapeXml(tickLabel(v))}</text>`);
  }
  let d = "";
  pts.forEach((p, i) => (d += `${i ? "L" : "M"}${coord(sx(p.step))} ${coord(sy(p.loss))}`));
  parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6" stroke-linejoin="round"/>`);
  const last = pts[pts.length - 1]!;
  parts.push(withTitle(`<circle cx="${coord(sx(last.step))}" cy="${coord(sy(last.loss))}" r="2.8" fill="${color}"/>`, `step ${last.step}: loss ${formatNumber(last.loss, 3)}`));
  parts.push(`<text x="${coord(left)}" y="${coord(height - 6)}" font-size="10" fill="#6a7080">${escapeXml(`step ${tickLabel(pts[0]!.step)}`)}</text>`);
  parts.push(`<text x="${coord(left + pw)}" y="${coord(height - 6)}" text-anchor="end" font-size="10" fill="#6a7080">${escapeXml(tickLabel(last.step))}</text>`);
  parts.push("</svg>");
  return parts.join("");
}

// ------------------------------------------------------------------ scatter

export interface ScatterPoint {
  x: number;
  y: number;
  color: string;
  shape?: MarkerShape;
  /** Outline only (e.g. points past the trained length). */
  hollow?: boolean;
  tip?: string;
}

export interface ScatterOptions {
  title?: string;
  points: ScatterPoint[];
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Marker radius (default 3). */
  radius?: number;
  /** A horizontal viridis colour bar under the plot, from min to max, with marks (e.g. L). */
  colorBar?: { min: number; max: number; label: string; marks?: { value: number; label: string }[] };
  /** Legend entries (one row above the plot, right-aligned). */
  legend?: { label: string; color: string; shape?: MarkerShape; hollow?: boolean }[];
  standalone?: boolean;
}

/** A scatter plot (linear axes, equal padding; non-finite points are left out). */
export function scatterChart(o: ScatterOptions): string {
  const width = o.width ?? 320;
  const height = o.height ?? 280;
  const top = (o.title ? 26 : 8) + (o.legend?.length ? 16 : 0);
  const bar = o.colorBar ? 40 : 0;
  const bottom = (o.xLabel ? 34 : 20) + bar;
  const left = o.yLabel ? 50 : 38;
  const right = 10;
  const pw = Math.max(40, width - left - right);
  const ph = Math.max(40, height - top - bottom);
  const r = o.radius ?? 3;
  const pts = o.points.filter((p) => isFiniteNumber(p.x) && isFiniteNumber(p.y));
  let x0 = pts.length ? Math.min(...pts.map((p) => p.x)) : 0;
  let x1 = pts.length ? Math.max(...pts.map((p) => p.x)) : 1;
  let y0 = pts.length ? Math.min(...pts.map((p) => p.y)) : 0;
  let y1 = pts.length ? Math.max(...pts.map((p) => p.y)) : 1;
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x1 - x0) * 0.06;
  const py = (y1 - y0) * 0.06;
  const sx = scale(x0 - px, x1 + px, left, left + pw, false);
  const sy = scale(y0 - py, y1 + py, top + ph, top, false);
  const parts: string[] = [svgOpen(width, height, o.title ?? "scatter plot", !!o.standalone)];
  if (o.title) parts.push(`<text x="2" y="16" font-size="13" font-weight="600" fill="#1d2330">${escapeXml(o.title)}</text>`);
  parts.push(`<rect x="${coord(left)}" y="${coord(top)}" width="${coord(pw)}" height="${coord(ph)}" fill="#fbfbfd" stroke="#d5d8de"/>`);
  for (const v of linearTicks(sx.lo, sx.hi, 4)) {
    const x = sx(v);
    parts.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(top)}" y2="${coord(top + ph)}" stroke="#eef0f3"/>`);
    parts.push(`<text x="${coord(x)}" y="${coord(top + ph + 13)}" text-anchor="middle" font-size="10" fill="#4a5160">${escapeXml(tickLabel(v))}</text>`);
  }
  for (const v of linearTicks(sy.lo, sy.hi, 4)) {
    const y = sy(v);
    parts.push(`<line x1="${coord(left)}" x2="${coord(left + pw)}" y1="${coord(y)}" y2="${coord(y)}" stroke="#eef0f3"/>`);
    parts.push(`<text x="${coord(left - 4)}" y="${coord(y + 3.5)}" text-anchor="end" font-size="10" fill="#4a5160">${escapeXml(tickLabel(v))}</text>`);
  }
  if (o.xLabel) parts.push(`<text x="${coord(left + pw / 2)}" y="${coord(top + ph + 28)}" text-anchor="middle" font-size="11" fill="#4a5160">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) {
    const cy = top + ph / 2;
    parts.push(`<text x="12" y="${coord(cy)}" transform="rotate(-90 12 ${coord(cy)})" text-anchor="middle" font-size="11" fill="#4a5160">${escapeXml(o.yLabel)}</text>`);
  }
  for (const p of pts) {
    const extra = p.hollow ? ` fill-opacity="0" stroke="${p.color}" stroke-width="1.3"` : ` stroke="#fff" stroke-width="0.5"`;
    const el = marker(p.shape ?? "circle", sx(p.x), sy(p.y), r, p.hollow ? "none" : p.color, extra);
    parts.push(p.tip ? withTitle(el, p.tip) : el);
  }
  // the legend: one row above the plot, from the right edge leftwards
  let lx = left + pw;
  for (const e of [...(o.legend ?? [])].reverse()) {
    lx -= 16 + e.label.length * 5.6;
    const ly = top - 7;
    parts.push(marker(e.shape ?? "circle", lx, ly, r, e.hollow ? "none" : e.color, e.hollow ? ` fill-opacity="0" stroke="${e.color}" stroke-width="1.3"` : ""));
    parts.push(`<text x="${coord(lx + 7)}" y="${coord(ly + 3.5)}" font-size="10" fill="#1d2330">${escapeXml(e.label)}</text>`);
  }

  if (o.colorBar) {
    const cb = o.colorBar;
    const by = height - bar + 6;
    const n = 24;
    for (let k = 0; k < n; k++) parts.push(`<rect x="${coord(left + (k * pw) / n)}" y="${coord(by)}" width="${coord(pw / n + 0.5)}" height="8" fill="${viridis((k + 0.5) / n)}"/>`);
    parts.push(`<text x="${coord(left)}" y="${coord(by + 20)}" font-size="10" fill="#4a5160">${escapeXml(tickLabel(cb.min))}</text>`);
    parts.push(`<text x="${coord(left + pw)}" y="${coord(by + 20)}" text-anchor="end" font-size="10" fill="#4a5160">${escapeXml(tickLabel(cb.max))}</text>`);
    parts.push(`<text x="${coord(left + pw / 2)}" y="${coord(by + 20)}" text-anchor="middle" font-size="10" fill="#4a5160">${escapeXml(cb.label)}</text>`);
    for (const m of cb.marks ?? []) {
      if (!isFiniteNumber(m.value) || cb.max === cb.min) continue;
      const x = left + ((m.value - cb.min) / (cb.max - cb.min)) * pw;
      parts.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(by - 3)}" y2="${coord(by + 11)}" stroke="#d00" stroke-width="1.4"/>`);
      parts.push(`<text x="${coord(x)}" y="${coord(by - 5)}" text-anchor="middle" font-size="9.5" fill="#a00">${escapeXml(m.label)}</text>`);
    }
  }
  parts.push("</svg>");
  return parts.join("");
}
