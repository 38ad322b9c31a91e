/**
 * The terminal summary of a study report (schema 2): a fixed-width table of mean NLL (methods ×
 * lengths, the best per length marked `*`) with the passkey accuracy per distance bucket and the
 * wall time, then the gates one line each (✓ / ✗ / – id title: measured), then the seed findings
 * one line each (✓ / ✗ / – seed title: verdict and key numbers).
 *
 * Colour (ANSI) only when asked for, or by default when stdout is a TTY and NO_COLOR is unset
 * (https://no-color.org: any non-empty NO_COLOR disables colour).
 */
import type { StudyReport } from "../study/report_schema.js";
import { badge, computeFindings, computeGates, type Finding, type Gate } from "./findings.js";
import { bestIndices, formatAcc, formatNll, formatSeconds, isFiniteNumber, lengthLabel } from "./format.js";

export interface TerminalOptions {
  /** ANSI colours; default: stdout is a TTY and NO_COLOR is unset or empty. */
  color?: boolean;
  /** Gates to print (default: computed from the report). */
  gates?: Gate[];
  /** Findings to print (default: computed from the report with those gates). */
  findings?: Finding[];
}

/** Whether colour is used by default: stdout is a TTY and NO_COLOR is unset or empty. */
export function defaultColor(env: NodeJS.ProcessEnv = process.env, isTTY: boolean = !!process.stdout?.isTTY): boolean {
  return isTTY && !env.NO_COLOR;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** The visible width of a string (ANSI codes removed; every code point counts 1). */
export function visibleWidth(s: string): number {
  return [...s.replace(ANSI, "")].length;
}

function padEnd(s: string, w: number): string {
  return s + " ".repeat(Math.max(0, w - visibleWidth(s)));
}
function padStart(s: string, w: number): string {
  return " ".repeat(Math.max(0, w - visibleWidth(s))) + s;
}

/** ANSI styling that is a no-op without colour: `paint(color)("1;32", text)`. */
export function paint(color: boolean): (code: string, s: string) => string {
  return (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
}

/** A body row of a terminal table: its cells and which of them to highlight (bold green). */
export interface TableRow {
  cells: string[];
  highlight?: boolean[];
}

export interface TableOptions {
  color?: boolean;
  /** Per column; default: the first column left-aligned, the others right-aligned (numbers). */
  align?: ("left" | "right")[];
  /** Between columns (default two spaces). */
  sep?: string;
}

/**
 * A fixed-width table as lines: the header in bold, a dashed rule, then the rows; columns as
 * wide as their widest cell (ANSI codes do not count), trailing spaces trimmed. Every terminal
 * table of ctxwin's reports goes through here.
 */
export function formatTable(header: string[], rows: (string[] | TableRow)[], opts: TableOptions = {}): string[] {
  const c = paint(opts.color ?? false);
  const sep = opts.sep ?? "  ";
  const body = rows.map((r) => (Array.isArray(r) ? { cells: r } : r));
  const widths = header.map((h, k) => Math.max(visibleWidth(h), ...body.map((r) => visibleWidth(r.cells[k] ?? ""))));
  const right = (k: number) => (opts.align?.[k] ?? (k === 0 ? "left" : "right")) === "right";
  const fmtRow = (cells: string[], hl: boolean[] = []) =>
    cells
      .map((cell, k) => {
        const padded = right(k) ? padStart(cell, widths[k]!) : padEnd(cell, widths[k]!);
        return hl[k] ? c("1;32", padded) : padded;
      })
      .join(sep)
      .trimEnd();
  return [c("1", fmtRow(header)), c("2", widths.map((w) => "-".repeat(w)).join(sep)), ...body.map((r) => fmtRow(r.cells, r.highlight))];
}

/** The summary text (ends without a newline). */
export function renderTerminalSummary(report: StudyReport, opts: TerminalOptions = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const bold = (s: string) => c("1", s);
  const dim = (s: string) => c("2", s);
  const L = report.trainLength;
  const lengths = Array.isArray(report.lengths) ? report.lengths : [];
  const methods = Array.isArray(report.methods) ? report.methods : [];
  const buckets = Array.isArray(report.passkey?.buckets) ? report.passkey.buckets : [];
  const bucketLabel = (b: { lo: number; hi: number }) => (b.lo === 0 ? `≤${lengthLabel(b.hi, L)}` : `${lengthLabel(b.lo, L)}-${lengthLabel(b.hi, L)}`);

  const best = lengths.map((_, i) => new Set(bestIndices(methods.map((m) => (Array.isArray(m.nll) ? m.nll[i] : null)), formatNll)));
  // the passkey column: one sub-column per bucket, as wide as its label (or a value)
  const pkWidths = buckets.map((b) => Math.max(4, visibleWidth(bucketLabel(b))));
  const header = ["method", ...lengths.map((T) => `${lengthLabel(T, L)} (${T})`), `passkey ${buckets.map((b, j) => padStart(bucketLabel(b), pkWidths[j]!)).join(" ")}`, "time"];
  const rows: TableRow[] = methods.map((m, mi) => {
    const cells = lengths.map((_, i) => formatNll(Array.isArray(m.nll) ? m.nll[i] : null) + (best[i]!.has(mi) ? "*" : " "));
    const pk = buckets.map((_, j) => {
      const cell = Array.isArray(m.passkey) ? m.passkey[j] : null;
      return cell && isFiniteNumber(cell.correct) && isFiniteNumber(cell.trials) && cell.trials > 0 ? formatAcc(cell.correct / cell.trials) : "–";
    });
    return { cells: [m.label ?? m.id, ...cells, pk.map((s, j) => padStart(s, pkWidths[j]!)).join(" "), formatSeconds(m.wallSeconds)], highlight: [false, ...lengths.map((_, i) => best[i]!.has(mi)), false, false] };
  });
  const out: string[] = [];
  const title = `ctxwin study: ${report.preset} preset, seed ${report.seed}, ${report.device}, L = ${L}`;
  out.push(bold(title));
  if (report.config && report.config.interrupted) out.push(c("33", `PARTIAL REPORT: ${String(report.config.interrupted)}`));
  out.push("");
  out.push(...formatTable(header, rows, { color }));
  out.push("");
  const ev = report.evaluation;
  const evText = ev && Array.isArray(ev.documents) ? ` (${ev.documents.length} documents, ${ev.windows} windows × ${ev.targets} targets)` : "";
  out.push(dim(`mean NLL in nats per token on the same held-out targets at every length${evText}; * best at that length; – not defined`));
  out.push(dim(`passkey = accuracy (greedy exact match) per key-to-question distance bucket, ${report.passkey?.trials ?? "–"} trials each`));

  const gates = opts.gates ?? computeGates(report);
  const findings = opts.findings ?? computeFindings(report, gates);
  const mark = (r: boolean | null) => {
    const b = badge(r);
    return r === true ? c("1;32", b) : r === false ? c("1;31", b) : dim(b);
  };
  out.push("");
  out.push(bold("gates"));
  for (const g of gates) out.push(`${mark(g.pass)} ${g.id}  ${g.title}: ${g.text}`);
  out.push("");
  out.push(bold("seed findings"));
  for (const f of findings) {
    // not testable / missing: the summary starts with the verdict and its reason
    const text = f.verdict === "reproduced" || f.verdict === "not reproduced" ? `${f.verdict}; ${f.summary}` : f.summary;
    out.push(`${mark(f.reproduced)} ${f.seed}  ${f.title}: ${text}`);
  }
  const n = (v: Finding["verdict"]) => findings.filter((f) => f.verdict === v).length;
  out.push(dim(`${n("reproduced")} of ${findings.length} reproduced, ${n("not reproduced")} not reproduced, ${n("not testable")} not testable at this scale${n("missing") ? `, ${n("missing")} missing data` : ""}`));
  out.push("");
  out.push(dim(`total ${formatSeconds(report.timings?.totalSeconds)}`));
  return out.join("\n");
}
