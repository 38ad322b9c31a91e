/**
 * Hands a study report to lib/report: `renderReport(report, dir)` writes dir/report.json and the
 * self-contained dir/report.html; `terminalSummary(report)` is the table printed at the end.
 */
import { renderReport, terminalSummary } from "../report/index.js";
import type { StudyReport } from "./report_schema.js";

export interface RenderOutcome {
  /** Path of report.html. */
  html: string;
  /** The terminal summary (method × length table, seed findings). */
  table: string;
}

export async function renderStudyReport(report: StudyReport, dir: string): Promise<RenderOutcome> {
  const files = await renderReport(report, dir);
  return { html: files.html, table: terminalSummary(report) };
}
