/**
 * The page shell every ctxwin report shares (the study's report.html, the analyses' pages): one
 * stylesheet, the document frame, summary tiles, tables and figures. Pages are self-contained:
 * inline CSS and SVG, no scripts, no network.
 */
import { escapeXml as esc } from "./format.js";

export const CSS = `
:root { --ink: #1d2330; --muted: #5b6272; --line: #dde1e8; --zebra: #f5f7fa; --head: #eceff4; --accent: #0072B2; --yes: #009E73; --no: #D55E00; --na: #8f96a3; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 36px 32px 72px; }
h1 { font-size: 28px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 44px 0 14px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 26px 0 8px; }
h4 { font-size: 14px; margin: 0 0 8px; }
p { margin: 8px 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
nav.toc { font-size: 13.5px; margin: 14px 0 8px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px; margin: 18px 0 6px; }
.kv { border: 1px solid var(--line); border-radius: 8px; padding: 9px 12px; background: #fafbfc; }
.kv .k { font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.kv .v { font-size: 14.5px; font-weight: 600; overflow-wrap: anywhere; }
.kv .d { font-size: 12.5px; color: var(--muted); overflow-wrap: anywhere; }
.warn { border: 1px solid #e7b46a; background: #fff6e6; border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
.findings { display: grid; gap: 12px; }
.finding { display: grid; grid-template-columns: 34px 1fr; gap: 4px 12px; border: 1px solid var(--line); border-left-width: 5px; border-radius: 8px; padding: 12px 16px 10px 12px; }
.finding.yes { border-left-color: var(--yes); } .finding.no { border-left-color: var(--no); } .finding.na { border-left-color: var(--na); }
.finding h3 { margin: 3px 0 2px; font-size: 15.5px; }
.finding p { margin: 2px 0 4px; font-size: 14px; }
.badge { display: inline-flex; align-items: center; justify-content: center; width: 28px; height: 28px; border-radius: 50%; color: #fff; font-weight: 700; font-size: 16px; }
.badge.yes { background: var(--yes); } .badge.no { background: var(--no); } .badge.na { background: var(--na); }
.tag { display: inline-block; font-size: 11.5px; font-weight: 600; padding: 1px 7px; border-radius: 10px; background: #e8eef6; color: #2b4a6b; margin-right: 6px; vertical-align: 1px; white-space: nowrap; }
.verdict { font-weight: 600; }
.tally { margin: 4px 0 14px; }
.wrap { overflow-x: auto; margin: 8px 0 6px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--head); font-weight: 600; border-bottom: 2px solid #c8ced8; vertical-align: bottom; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:hover { background: #eaf2fb; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.trained, td.trained { background: rgba(0, 114, 178, 0.08); }
thead th.trained { background: #dce8f3; }
td.best strong { color: #004f7c; }
td.na { color: #a0a6b0; }
tr.chosen td, td.chosen { background: #fff4d6; }
.cell-sub { display: block; font-weight: 400; font-size: 11px; color: var(--muted); white-space: nowrap; }
table.gates td.badgecell { width: 40px; }
table.gates td.gid { white-space: nowrap; font-weight: 600; }
table.gates td.measured { min-width: 280px; }
ol.deviations li { margin: 6px 0; }
.needs { font-size: 12.5px; color: var(--muted); margin: 0 0 2px; }
.th-sub { display: block; font-weight: 400; font-size: 11.5px; color: var(--muted); }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 6px; }
.charts { display: grid; gap: 18px; }
.chart { max-width: 100%; height: auto; display: block; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 12px 8px; background: #fff; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 14px; }
.grid.small { grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fff; overflow-x: auto; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
.nowrap { white-space: nowrap; }
table.timing td:first-child { white-space: nowrap; }
td.barcell { width: 120px; }
table.timing { width: 100%; }
td.desc { min-width: 260px; }
.bar { display: inline-block; height: 10px; background: #8fb8d8; border-radius: 2px; vertical-align: middle; }
.params code { background: #f0f2f5; padding: 0 4px; border-radius: 3px; margin-right: 4px; white-space: nowrap; }
details { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; margin: 10px 0; }
details summary { cursor: pointer; font-weight: 600; }
details pre { background: var(--zebra); border-radius: 6px; padding: 12px; overflow: auto; max-height: 560px; margin: 10px 0 4px; }
footer { margin-top: 48px; padding-top: 12px; border-top: 1px solid var(--line); font-size: 12.5px; color: var(--muted); }
.maps { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 14px; align-items: start; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; margin: 6px 0; }
.legend .chip { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 5px; }
.obs .finding p { margin: 2px 0 4px; }
.pca-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; }
figure.small { padding: 8px; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } figure, .card, .finding { break-inside: avoid; } details { display: none; } }
`;

/** CSS class of a verdict: true → "yes", false → "no", null → "na" (badges, findings, observations). */
export function cls(r: boolean | null): "yes" | "no" | "na" {
  return r === true ? "yes" : r === false ? "no" : "na";
}

/** A whole HTML document: `<title>`, the shared stylesheet, `body` inside <main>, and a footer (HTML). */
export function htmlPage(title: string, body: string, footer?: string): string {
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body><main>` +
    body +
    (footer !== undefined ? `<footer>${footer}</footer>` : "") +
    `</main></body></html>\n`
  );
}

/** A summary tile: key, value and an optional detail line (text, escaped). */
export function kv(k: string, v: string, d?: string): string {
  return `<div class="kv"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div>${d ? `<div class="d">${esc(d)}</div>` : ""}</div>`;
}

export interface HtmlTableOptions {
  /** Header cells (HTML). */
  head: string[];
  /** Body rows of cells (HTML). */
  rows: string[][];
  /** Columns that hold numbers (right-aligned, tabular figures). */
  numeric?: number[];
  /** A class for the <table>. */
  className?: string;
}

/** A table in a horizontally scrolling wrapper (cells are HTML: escape text before). */
export function htmlTable(o: HtmlTableOptions): string {
  const num = new Set(o.numeric ?? []);
  const cell = (tag: "th" | "td", html: string, i: number) => `<${tag}${num.has(i) ? ` class="num"` : ""}>${html}</${tag}>`;
  const head = `<tr>${o.head.map((h, i) => cell("th", h, i)).join("")}</tr>`;
  const body = o.rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("");
  return `<div class="wrap"><table${o.className ? ` class="${esc(o.className)}"` : ""}><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

/** A figure: an inline SVG (or any HTML) with a caption (HTML). */
export function figure(svg: string, caption?: string): string {
  return `<figure>${svg}${caption ? `<figcaption>${caption}</figcaption>` : ""}</figure>`;
}

/** A section with an id and a heading (text, escaped) around `html`. */
export function section(id: string, title: string, html: string): string {
  return `<section id="${esc(id)}"><h2>${esc(title)}</h2>${html}</section>`;
}
