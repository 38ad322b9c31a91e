/**
 * The page and the terminal table of `ctxwin eval` (lib/eval/run.ts), from the shared pieces: the
 * page shell, tiles and tables of page.ts, the line charts of svg.ts, the fixed-width tables of
 * terminal.ts. Every number comes from the report (report.json, kind "ctxwin-eval").
 *
 * Page: header and tiles; per model: NLL vs length (one line per method), the NLL table with 95%
 * intervals and perplexities, the paired differences to the reference method and to the shortest
 * length, passkey accuracy per distance bucket (table and chart); how the numbers are made;
 * configuration. Terminal: one row per model × method, mean NLL [interval] per length, then the
 * passkey accuracies.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { EvalReport, EvalRow, PasskeyCellReport, PplCell } from "../eval/schema.js";
import { writeAllAtomic, writeFully } from "../util/atomic.js";
import type { Interval } from "../study/stats.js";
import { escapeXml as esc, formatInt, formatNll, formatPpl, formatSeconds, isFiniteNumber, lengthLabel } from "./format.js";
import { figure, htmlPage, htmlTable, kv, section } from "./page.js";
import { lineChart } from "./svg.js";
import { defaultColor, formatTable, paint } from "./terminal.js";

const signed = (x: number) => `${x > 0 ? "+" : x < 0 ? "−" : ""}${Math.abs(x).toFixed(3)}`;

/** "4.123 [4.050, 4.201]" (or "–"). */
export function formatNllInterval(iv: Interval | null | undefined, digits = 2): string {
  if (!iv || !isFiniteNumber(iv.mean)) return "–";
  const b = (x: number) => (isFiniteNumber(x) ? x.toFixed(digits) : "?");
  return `${formatNll(iv.mean)} [${b(iv.lo)}, ${b(iv.hi)}]`;
}

/** "+0.213 [+0.180, +0.250]" (or "–"). */
function formatDiff(iv: Interval | null | undefined): string {
  if (!iv || !isFiniteNumber(iv.mean)) return "–";
  const b = (x: number) => (isFiniteNumber(x) ? signed(x) : "?");
  return `${signed(iv.mean)} [${b(iv.lo)}, ${b(iv.hi)}]`;
}

function pplText(c: PplCell | undefined): string {
  if (!c) return "–";
  if (c.status === "n/a") return "n/a";
  if (c.status === "missing") return "…";
  return formatNllInterval(c.nll);
}

function passkeyText(c: PasskeyCellReport | undefined): string {
  if (!c) return "–";
  if (c.status === "n/a") return "n/a";
  if (c.status === "missing") return "…";
  return c.accuracy && isFiniteNumber(c.accuracy.mean) ? c.accuracy.mean.toFixed(2) : "–";
}

/** Column headers: the --lengths items, with the tokens when every model has the same. */
function lengthHeaders(r: EvalReport): string[] {
  return r.config.lengths.map((text, j) => {
    const Ts = new Set(r.models.map((m) => m.lengths[j]));
    const T = r.models[0]?.lengths[j];
    return Ts.size === 1 && T !== undefined && String(T) !== text ? `${text} (${T})` : text;
  });
}

/** The terminal table of `ctxwin eval` (no trailing newline). */
export function renderEvalSummary(r: EvalReport, opts: { color?: boolean } = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const out: string[] = [];
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? "" : "s"}`;
  out.push(c("1", `ctxwin eval: ${n(r.models.length, "model")} × ${n(r.config.methods.length, "method")} × ${n(r.config.lengths.length, "length")}, ${r.device}, seed ${r.seed}`));
  if (r.interrupted) out.push(c("33", `PARTIAL REPORT: ${r.interrupted} (… = not computed yet; run the same command again to finish)`));
  out.push("");
  const heads = lengthHeaders(r);
  const hasPpl = r.config.metrics.includes("ppl");
  const hasPk = r.config.metrics.includes("passkey");
  const header = ["model", "method", ...(hasPpl ? heads.map((h) => `NLL ${h}`) : []), ...(hasPk ? [`passkey ${r.config.lengths.join(" / ")}`] : [])];
  const rows = r.rows.map((row, i) => {
    const first = i === 0 || r.rows[i - 1]!.model !== row.model;
    const pk = row.passkey ? row.passkey.map(passkeyText).join("  ") : "";
    return [first ? r.models[row.model]!.label : "", row.method === row.canonical ? row.method : `${row.method} (${row.canonical})`, ...(hasPpl ? (row.ppl ?? []).map(pplText) : []), ...(hasPk ? [pk] : [])];
  });
  out.push(...formatTable(header, rows, { color, align: header.map((_, k) => (k < 2 ? "left" : "right")) }));
  out.push("");
  for (const m of r.models) {
    const ev = m.evaluation ? `; ${m.evaluation.documents.length} documents, ${m.evaluation.windows} windows × ${m.evaluation.targets} targets` : "";
    out.push(c("2", `${m.label}: ${m.kind} model (${m.modelType}), L = ${m.trainLength}, lengths ${m.lengths.join(", ")}${ev}; ${m.dir}`));
  }
  out.push(c("2", `NLL = mean nats per target on the same targets at every length [95% document-bootstrap interval]; passkey = accuracy per distance bucket (previous length, length], ${r.config.passkey.trials} trials; n/a = method not for this model`));
  const k = r.counts;
  out.push(c("2", `cells: ${k.cells} (${k.computed} computed now, ${k.reused} from ${r.config.log}, ${k.na} n/a, ${k.missing} missing); corpus ${r.corpus.source}; total ${formatSeconds(r.timings.totalSeconds)}`));
  return out.join("\n");
}

// ------------------------------------------------------------------ the page

function cellSub(text: string): string {
  return `<span class="cell-sub">${esc(text)}</span>`;
}

function modelSection(r: EvalReport, mi: number): string {
  const m = r.models[mi]!;
  const rows = r.rows.filter((x) => x.model === mi);
  const heads = r.config.lengths.map((t, j) => `${esc(t)}<span class="th-sub">${m.lengths[j]} tokens</span>`);
  const L = m.trainLength;
  const vlines = [1, 2, 4, 8, 16].map((k) => k * L).filter((x) => x >= m.lengths[0]! && x <= m.lengths[m.lengths.length - 1]!).map((x) => ({ x, label: lengthLabel(x, L) }));
  const xTicks = m.lengths.map((T) => ({ value: T, label: String(T), sub: lengthLabel(T, L) }));
  const applicable = rows.filter((x) => !(x.ppl ?? x.passkey ?? []).every((c) => c.status === "n/a"));
  const label = (x: EvalRow) => (x.method === x.canonical ? x.method : `${x.method} (${x.canonical})`);
  let html = `<p class="muted small">${esc(m.kind)} model (${esc(m.modelType)}), trained length L = ${L}; <code>${esc(m.dir)}</code>, files hash ${esc(m.hash)}.`;
  if (m.evaluation) html += ` Paired evaluation: ${m.evaluation.documents.length} documents, ${m.evaluation.windows} windows × ${m.evaluation.targets} targets at every length.`;
  html += `</p>`;
  const na = rows.filter((x) => !applicable.includes(x));
  if (na.length) html += `<p class="muted small">n/a: ${na.map((x) => `${esc(label(x))} (${esc((x.ppl ?? x.passkey)?.[0]?.reason ?? "")})`).join("; ")}.</p>`;
  if (rows[0]?.ppl) {
    const series = applicable.map((x) => ({ label: x.canonical, values: x.ppl!.map((c) => (c.status === "done" && c.nll ? c.nll.mean : null)) }));
    html += `<h3>Mean NLL by length</h3>`;
    html += figure(
      lineChart({ title: `${m.label}: mean NLL on the same targets`, x: m.lengths, xTicks, series, logX: true, logY: false, vlines, xLabel: "length (tokens)", yLabel: "mean NLL (nats)", format: (v) => formatNll(v) }),
      "Lower is better. Every point scores the same target tokens; only the context length and the method change.",
    );
    html += htmlTable({
      head: ["Method", ...heads],
      rows: rows.map((x) => [
        `${esc(label(x))}${cellSub(x.label)}`,
        ...x.ppl!.map((c) => {
          if (c.status !== "done") return `<span class="muted">${c.status === "n/a" ? "n/a" : "not computed"}</span>`;
          return `${esc(formatNllInterval(c.nll, 3))}${cellSub(`ppl ${formatPpl(c.ppl)} · ${formatSeconds(c.seconds)}${c.reused ? " · from the log" : ""}`)}`;
        }),
      ]),
      numeric: heads.map((_, j) => j + 1),
    });
    const ref = rows.find((x) => x.reference !== null)?.reference ?? null;
    if (ref !== null) {
      html += `<h3>Paired differences</h3><p class="muted small">Mean NLL of each method minus that of <strong>${esc(ref)}</strong> (the first method that applies to this model) on the same targets at the same length, with the 95% document-bootstrap interval; below zero: better than the reference.</p>`;
      html += htmlTable({
        head: ["Method", ...heads],
        rows: applicable.filter((x) => x.reference !== null).map((x) => [esc(label(x)), ...x.ppl!.map((c) => esc(formatDiff(c.vsReference)))]),
        numeric: heads.map((_, j) => j + 1),
      });
    }
    if (m.lengths.length > 1) {
      html += `<p class="muted small">Each method at each length minus the same method at the shortest length (${m.lengths[0]} tokens): what the longer context gains (below zero) or costs.</p>`;
      html += htmlTable({
        head: ["Method", ...heads.slice(1)],
        rows: applicable.map((x) => [esc(label(x)), ...x.ppl!.slice(1).map((c) => esc(formatDiff(c.vsShortest)))]),
        numeric: heads.slice(1).map((_, j) => j + 1),
      });
    }
  }
  if (rows[0]?.passkey) {
    const buckets = rows[0].passkey.map((b) => `(${b.lo}, ${b.hi}]`);
    html += `<h3>Passkey retrieval by distance</h3>`;
    html += figure(
      lineChart({
        title: `${m.label}: passkey accuracy`,
        x: m.lengths,
        xTicks: m.lengths.map((T, j) => ({ value: T, label: buckets[j]!, sub: lengthLabel(T, L) })),
        series: applicable.map((x) => ({ label: x.canonical, values: x.passkey!.map((c) => (c.status === "done" && c.accuracy ? c.accuracy.mean : null)) })),
        logX: true,
        logY: false,
        vlines,
        xLabel: "key-to-question distance bucket (tokens)",
        yLabel: "accuracy",
        yInclude: [0, 1],
        format: (v) => v.toFixed(2),
      }),
      `Greedy exact match of the key; prompts of the bucket's upper length; ${r.config.passkey.trials} trials per bucket.`,
    );
    html += htmlTable({
      head: ["Method", ...buckets.map((b, j) => `${esc(b)}<span class="th-sub">${esc(r.config.lengths[j]!)}</span>`)],
      rows: rows.map((x) => [
        esc(label(x)),
        ...x.passkey!.map((c) => {
          if (c.status !== "done") return `<span class="muted">${c.status === "n/a" ? "n/a" : "not computed"}</span>`;
          const a = c.accuracy!;
          return `${isFiniteNumber(a.mean) ? a.mean.toFixed(2) : "–"} [${isFiniteNumber(a.lo) ? a.lo.toFixed(2) : "?"}, ${isFiniteNumber(a.hi) ? a.hi.toFixed(2) : "?"}]${cellSub(`${c.correct}/${c.trials}${c.reused ? " · from the log" : ""}`)}`;
        }),
      ]),
      numeric: buckets.map((_, j) => j + 1),
    });
  }
  return section(`model${mi}`, `${m.label}`, html);
}

/** report.html of `ctxwin eval`. */
export function renderEvalHtml(r: EvalReport): string {
  const k = r.counts;
  const header =
    `<h1>Context-length evaluation</h1><p class="sub">ctxwin eval · ${r.models.length} model${r.models.length === 1 ? "" : "s"} × ${r.config.methods.length} method${r.config.methods.length === 1 ? "" : "s"} × ${r.config.lengths.length} length${r.config.lengths.length === 1 ? "" : "s"} · ${esc(r.config.metrics.join(" + "))} · ${esc(r.device)} · seed ${r.seed}</p>` +
    (r.interrupted ? `<div class="warn"><strong>Partial report.</strong> The run was ${esc(r.interrupted)}; ${k.missing} cells are not computed yet. Running the same command again computes only those.</div>` : "") +
    `<nav class="toc">${r.models.map((m, i) => `<a href="#model${i}">${esc(m.label)}</a>`).join("")}<a href="#rules">How the numbers are made</a><a href="#config">Configuration</a></nav>` +
    `<div class="summary">` +
    kv("models", r.models.map((m) => `${m.label} (${m.kind}, L = ${m.trainLength})`).join(", ")) +
    kv("methods", r.config.methods.join(", ")) +
    kv("lengths", r.config.lengths.join(", ")) +
    kv("corpus", `${formatInt(r.corpus.documents)} documents`, r.corpus.source) +
    kv("cells", `${k.cells}: ${k.computed} computed, ${k.reused} from the log`, `${k.na} n/a, ${k.missing} missing; log ${r.config.log}`) +
    kv("time", formatSeconds(r.timings.totalSeconds), `${r.device}, ${r.config.tokensPerBatch} tokens per batch`) +
    `</div>`;
  const rules = section("rules", "How the numbers are made", `<dl>${Object.entries(r.rules).map(([key, v]) => `<dt><strong>${esc(key)}</strong></dt><dd>${esc(v)}</dd>`).join("")}</dl>`);
  const config = section("config", "Configuration", `<details><summary>report.json → config</summary><pre>${esc(JSON.stringify({ config: r.config, corpus: r.corpus }, null, 2))}</pre></details>`);
  return htmlPage(
    `ctxwin eval: ${r.models.map((m) => m.label).join(", ")}`,
    header + r.models.map((_, i) => modelSection(r, i)).join("") + rules + config,
    `Generated by ctxwin ${esc(r.ctxwin)} from report.json (${esc(r.kind)}, schema ${esc(r.schema)}), created ${esc(r.createdAt)}. Every number on this page is in that file; re-render with <code>ctxwin report DIR</code>.`,
  );
}

/**
 * Writes `outDir/report.json` and `outDir/report.html` together (both rendered in memory first,
 * staged, then renamed: a failure writes neither) and returns their paths with the terminal table.
 */
export async function renderEvalReport(r: EvalReport, outDir: string, opts: { color?: boolean } = {}): Promise<{ json: string; html: string; summary: string }> {
  const jsonText = JSON.stringify(r, null, 1) + "\n";
  const html = renderEvalHtml(r);
  const summary = renderEvalSummary(r, opts);
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, "report.json");
  const htmlPath = join(outDir, "report.html");
  const bytes = (s: string) => async (fh: Parameters<Parameters<typeof writeAllAtomic>[0][number]["write"]>[0]) => writeFully(fh, Buffer.from(s, "utf8"), 0);
  await writeAllAtomic([
    { target: json, write: bytes(jsonText) },
    { target: htmlPath, write: bytes(html) },
  ]);
  return { json, html: htmlPath, summary };
}
