/**
 * The terminal summary of a study report: a fixed-width table of perplexity (methods × lengths,
 * the best per length marked `*`), mean passkey accuracy per length and wall time, then the seed
 * findings one line each with ✓ / ✗ / –.
 *
 * Colour (ANSI) only when asked for, or by default when stdout is a TTY and NO_COLOR is unset
 * (https://no-color.org: any non-empty NO_COLOR disables colour).
 */
import type { StudyReport } from "../study/report_schema.js";
import { badge, computeFindings, type Finding } from "./findings.js";
import { bestIndices, formatAcc, formatPpl, formatSeconds, isFiniteNumber, lengthLabel } from "./format.js";

export interface TerminalOptions {
  /** ANSI colours; default: stdout is a TTY and NO_COLOR is unset or empty. */
  color?: boolean;
  /** Findings to print (default: computed from the report). */
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

/** The summary text (ends without a newline). */
export function renderTerminalSummary(report: StudyReport, opts: TerminalOptions = {}): string {
  const color = opts.color ?? defaultColor();
  const c = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const bold = (s: string) => c("1", s);
  const dim = (s: string) => c("2", s);
  const L = report.trainLength;
  const lengths = Array.isArray(report.lengths) ? report.lengths : [];
  const methods = Array.isArray(report.methods) ? report.methods : [];

  const best = lengths.map((_, i) => new Set(bestIndices(methods.map((m) => m.ppl?.[i]))));
  const header = ["method", ...lengths.map((T) => `${lengthLabel(T, L)} (${T})`), "passkey by length", "time"];
  const rows: { cells: string[]; best: boolean[] }[] = methods.map((m, mi) => {
    const cells = lengths.map((_, i) => formatPpl(m.ppl?.[i]) + (best[i]!.has(mi) ? "*" : " "));
    const pk = lengths.map((_, i) => {
      const row = m.passkey?.[i];
      const vals = Array.isArray(row) ? row.filter(isFiniteNumber) : [];
      return vals.length ? formatAcc(vals.reduce((a, b) => a + b, 0) / vals.length) : "–";
    });
    return { cells: [m.label ?? m.id, ...cells, pk.join(" "), formatSeconds(m.wallSeconds)], best: [false, ...lengths.map((_, i) => best[i]!.has(mi)), false, false] };
  });
  const widths = header.map((h, k) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r.cells[k]!))));
  const sep = "  ";
  const fmtRow = (cells: string[], hl: boolean[] = []) =>
    cells
      .map((cell, k) => {
        const padded = k === 0 ? padEnd(cell, widths[k]!) : padStart(cell, widths[k]!);
        return hl[k] ? c("1;32", padded) : padded;
      })
      .join(sep)
      .trimEnd();
  const out: string[] = [];
  const title = `ctxwin study: ${report.preset} preset, seed ${report.seed}, ${report.device}, L = ${L}`;
  out.push(bold(title));
  if (report.config && report.config.interrupted) out.push(c("33", `PARTIAL REPORT: ${String(report.config.interrupted)}`));
  out.push("");
  out.push(bold(fmtRow(header)));
  out.push(dim(widths.map((w) => "-".repeat(w)).join(sep)));
  for (const r of rows) out.push(fmtRow(r.cells, r.best));
  out.push("");
  const chance = (report.config?.passkeyScoring as { chance?: unknown } | undefined)?.chance;
  out.push(dim(`perplexity on held-out tokens; * best at that length; passkey = accuracy averaged over depths${isFiniteNumber(chance) ? ` (chance ${chance.toFixed(2)})` : ""}`));
  out.push("");
  out.push(bold("seed findings"));
  const findings = opts.findings ?? computeFindings(report);
  for (const f of findings) {
    const b = badge(f.reproduced);
    const mark = f.reproduced === true ? c("1;32", b) : f.reproduced === false ? c("1;31", b) : dim(b);
    out.push(`${mark} ${f.seed}  ${f.title}: ${f.summary}`);
  }
  out.push("");
  out.push(dim(`total ${formatSeconds(report.timings?.totalSeconds)}`));
  return out.join("\n");
}
