/**
 * report.html and the terminal summary of `ctxwin analyze positional` (positional_schema.ts in
 * lib/analyze), on the shared page, charts and tables of lib/report. Every number shown is read
 * from the report; the observations' verdicts were computed from the same numbers
 * (lib/analyze/observations.ts).
 *
 * Sections: observations, formation (signal per layer + the per-layer table), PCA, similarity and
 * anchors, sinks, decay, out-of-distribution distance, methods, settings.
 */
import type { LayerGeometry, Observation, PositionalReport, Verdict } from "../analyze/positional_schema.js";
import { escapeXml as esc, formatInt, formatNumber, formatSeconds, isFiniteNumber, lengthLabel } from "./format.js";
import { heatmap, lineChart, scatterChart, seriesStyle, viridis, type ScatterPoint } from "./svg.js";
import { cls, htmlPage, kv } from "./page.js";
import { defaultColor, formatTable, paint } from "./terminal.js";

const mark = (v: Verdict): boolean | null => (v === "holds" ? true : v === "does not hold" ? false : null);
const sym = (v: Verdict) => (v === "holds" ? "✓" : v === "does not hold" ? "✗" : "–");
const n3 = (x: unknown) => formatNumber(x, 3);
const meanOf = (xs: (number | null | undefined)[]): number | null => {
  const v = xs.filter(isFiniteNumber);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const range = (r: PositionalReport, name: string) => r.base.run.attention?.find((a) => a.name === name) ?? null;

function header(r: PositionalReport): string {
  const m = r.model;
  const L = r.trainLength;
  const items = [
    kv("Model", `${m.kind} · ${m.positional}${m.window ? ` · window ${m.window}` : ""}`, `${m.dir ?? "(in memory)"}; kind from ${m.kindSource}`),
    kv("Architecture", `${m.layers} layers · d = ${m.hiddenSize} · ${m.heads} heads`, `${m.family}/${m.modelType}, ${m.kvHeads} key/value heads of ${m.headDim}; ${formatInt(m.params)} parameters`),
    kv("Trained length L", `${formatInt(L)} tokens`, `analysed at ${r.lengths.map((T) => `${lengthLabel(T, L)} = ${T}`).join(", ")}`),
    kv("Corpus", r.corpus.source, `${formatInt(r.corpus.documents)} documents, ${formatInt(r.corpus.tokens)} tokens; windows ${r.corpus.bos ? "start with BOS" : "without BOS"}`),
    kv("Samples", `${formatInt(r.settings.samples)} windows per run`, `attention probabilities of ${formatInt(r.settings.attentionSamples)}; seed ${r.settings.seed}`),
    kv("Methods", r.methods.length ? r.methods.map((x) => x.id).join(", ") : "none", r.skippedMethods.length ? `skipped: ${r.skippedMethods.map((s) => s.id).join(", ")}` : undefined),
    kv("Time", formatSeconds(r.timings.totalSeconds), `ctxwin ${r.ctxwin}, ${r.createdAt.replace("T", " ").replace(/\.\d+Z$/, " UTC")}`),
  ];
  const toc: [string, string][] = [
    ["observations", "Observations"],
    ["formation", "Formation"],
    ["pca", "PCA"],
    ["similarity", "Similarity and anchors"],
    ["sinks", "Sinks"],
    ["decay", "Decay"],
    ["ood", "Past L"],
    ["methods", "Methods"],
    ["settings", "Settings"],
  ];
  return (
    `<header><h1>Positional vectors</h1><p class="sub">Seed 001's decomposition: p<sub>l,t</sub> = the mean hidden state at layer l and position t over ${formatInt(r.settings.samples)} windows of text; h − p is the semantic part. Layer l = the input of block l (0: the embeddings; ${m.layers}: the last block's output).</p>` +
    `<div class="summary">${items.join("")}</div><nav class="toc">${toc.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join("")}</nav></header>`
  );
}

function observationsSection(r: PositionalReport): string {
  const n = (v: Verdict) => r.observations.filter((o) => o.verdict === v).length;
  const cards = r.observations
    .map((o: Observation) => {
      const c = cls(mark(o.verdict));
      return (
        `<div class="finding ${c}"><span class="badge ${c}">${sym(o.verdict)}</span><div><h3>${esc(o.title)} <span class="tag">${esc(o.verdict)}</span></h3>` +
        `<p>${esc(o.claim)}</p><p class="small"><span class="muted">Criterion (fixed in code before the run):</span> ${esc(o.criterion)}</p><p class="small"><span class="verdict">Measured:</span> ${esc(o.measured)}</p></div></div>`
      );
    })
    .join("");
  return `<section id="observations" class="obs"><h2>Observations of seed 001</h2><p class="tally muted">${n("holds")} hold, ${n("does not hold")} do not hold, ${n("not testable")} not testable.</p><div class="findings">${cards}</div></section>`;
}

function formationSection(r: PositionalReport): string {
  const layers = r.base.layers;
  const beyond = r.lengths.filter((T) => T > r.trainLength);
  const chart = lineChart({
    title: "Positional signal S per layer",
    x: layers.map((g) => g.layer),
    series: [
      { label: "S", values: layers.map((g) => g.signal) },
      { label: "S = 1: no position", values: layers.map(() => 1), dash: "5 4", color: "#8a909c" },
    ],
    xLabel: "layer (0 = embeddings)",
    yLabel: "S",
    width: 760,
    height: 280,
    legendWidth: 250,
  });
  const head = `<tr><th>Layer</th><th class="num">S</th><th class="num">mean ‖p‖</th><th class="num">σ</th><th class="num">radius r</th><th class="num">noise floor</th><th class="num">anchor scores a<sub>0…${r.settings.anchors - 1}</sub></th><th class="num">OOD in range</th>${beyond.map((T) => `<th class="num">OOD ${esc(lengthLabel(T, r.trainLength))}</th>`).join("")}</tr>`;
  const rows = layers
    .map(
      (g: LayerGeometry) =>
        `<tr><td>${g.layer}</td><td class="num">${esc(n3(g.signal))}</td><td class="num">${esc(n3(g.meanNorm))}</td><td class="num">${esc(n3(g.spread))}</td><td class="num">${esc(n3(g.radius))}</td><td class="num">${esc(n3(g.noiseFloor))}</td>` +
        `<td class="num">${esc(g.anchorScores.map((a) => formatNumber(a, 2)).join(" "))}</td><td class="num">${esc(n3(g.oodInRange))}</td>${beyond.map((T) => `<td class="num">${esc(n3(g.oodBeyond.find((o) => o.length === T)?.mean))}</td>`).join("")}</tr>`,
    )
    .join("");
  return (
    `<section id="formation"><h2>Formation: where positional information appears</h2>` +
    `<p class="muted small">S = the spread of p<sub>l,t</sub> over positions [1, L) divided by what sampling noise alone gives (E[S] = 1 when the hidden states say nothing about the position). σ: median distance of the trained positions [${r.settings.anchors}, L) from their centroid; r: their RMS radius; noise floor: the distance two independent estimates of one vector have, in units of r. Anchor score a<sub>t</sub> = ‖p<sub>t</sub> − centroid‖ / σ. OOD: distance to the nearest trained vector / r (trained positions [L/2, L) each left out; past L: mean over [L, T)).</p>` +
    `<figure>${chart}</figure><div class="wrap"><table><thead>${head}</thead><tbody>${rows}</tbody></table></div></section>`
  );
}

function pcaSection(r: PositionalReport): string {
  const L = r.trainLength;
  const maxLen = r.lengths[r.lengths.length - 1]!;
  const figs = r.base.pca
    .map((p) => {
      const points: ScatterPoint[] = p.positions.map((t, i) => ({
        x: p.x[i]!,
        y: p.y[i]!,
        color: viridis(t / Math.max(1, maxLen - 1)),
        hollow: t >= L,
        tip: `position ${t}${t >= L ? " (past L)" : ""}`,
      }));
      const svg = scatterChart({
        title: `layer ${p.layer}`,
        points,
        xLabel: `PC1 (${formatNumber((p.explained[0] ?? 0) * 100, 1)}%)`,
        yLabel: `PC2 (${formatNumber((p.explained[1] ?? 0) * 100, 1)}%)`,
        colorBar: { min: 0, max: maxLen - 1, label: "position", marks: maxLen > L ? [{ value: L, label: "L" }] : [] },
        legend: maxLen > L ? [{ label: "trained (< L)", color: "#21918c" }, { label: "past L", color: "#21918c", hollow: true }] : undefined,
        width: 330,
        height: 300,
      });
      return `<figure class="small">${svg}</figure>`;
    })
    .join("");
  return (
    `<section id="pca"><h2>Principal components per layer</h2><p class="muted small">PCA of the model's positional vectors at positions [${r.settings.pcaFrom}, ${maxLen}) (the first ${r.settings.pcaFrom}, the anchors, would dominate the axes; their distances are in the table above), coloured by position; filled: trained positions, hollow: past L = ${L}.</p>` +
    `<div class="pca-grid">${figs}</div></section>`
  );
}

function similaritySection(r: PositionalReport): string {
  const pos = r.settings.similarityPositions;
  const maps = r.base.layers
    .map((g) => {
      const all = g.similarity.flat().filter(isFiniteNumber);
      const svg = heatmap({
        title: `layer ${g.layer}: cosine similarity`,
        rowLabels: pos.map(String),
        colLabels: pos.map(String),
        values: g.similarity,
        // the observed range (raw cosines of positional vectors sit close to 1: a common component)
        min: all.length ? Math.min(...all) : 0,
        max: 1,
        cellWidth: 9,
        cellHeight: 9,
        showValues: false,
        labelEvery: 4,
        format: (v) => v.toFixed(3),
      });
      return `<figure class="small">${svg}</figure>`;
    })
    .join("");
  const bw = r.settings.bucketWidth;
  const steps = r.base.layers.filter((g) => g.layer >= 1);
  const chart = steps.length
    ? lineChart({
        title: "Step change ‖p_t − p_{t−1}‖ / σ",
        x: [0, r.lengths[r.lengths.length - 1]!],
        series: steps.map((g) => ({ label: `layer ${g.layer}`, x: g.stepChange.map((b) => (b.start + b.end - 1) / 2), values: g.stepChange.map((b) => b.value) })),
        logX: true,
        xTicks: [1, 4, 16, 64, 256, 1024, 4096, 16384].filter((t) => t <= r.lengths[r.lengths.length - 1]!).map((t) => ({ value: t, label: String(t) })),
        vline: { x: r.trainLength, label: "L" },
        markers: false,
        xLabel: `position (buckets of ${bw})`,
        yLabel: "step / σ",
        width: 760,
        height: 300,
      })
    : "";
  return (
    `<section id="similarity"><h2>Similarity between positions, and anchors</h2><p class="muted small">Cosine similarity of p<sub>t</sub> and p<sub>s</sub> at positions ${esc(pos.slice(0, 10).join(", "))}, … ${esc(pos[pos.length - 1])} (hover a cell for its value; colours span the observed range, up to 1). The initial tokens stand apart when their rows differ from the rest; the step change shows where the vectors stop changing.</p>` +
    `<div class="pca-grid">${maps}</div>${chart ? `<figure>${chart}</figure>` : ""}</section>`
  );
}

function sinksSection(r: PositionalReport): string {
  const sink = range(r, "sink");
  if (!sink) return `<section id="sinks"><h2>Attention sinks</h2><p class="muted">No attention samples (--attention-samples 0).</p></section>`;
  const K = r.settings.anchors;
  const svg = heatmap({
    title: `Attention mass on the first ${K} tokens (queries ${sink.lo}–${sink.hi - 1})`,
    rowLabels: sink.sinkMass.map((_, l) => `layer ${l}`),
    colLabels: (sink.sinkMass[0] ?? []).map((_, h) => `h${h}`),
    values: sink.sinkMass,
    min: 0,
    max: 1,
    colTitle: "head",
    cellWidth: 40,
    cellHeight: 22,
    reference: isFiniteNumber(meanOf(sink.sinkBaseline)) ? { value: meanOf(sink.sinkBaseline)!, label: "uniform" } : undefined,
  });
  const ranges = r.base.run.attention ?? [];
  const head = `<tr><th>Attention layer</th>${ranges.map((a) => `<th class="num">${esc(a.name)}<span class="th-sub">queries ${a.lo}–${a.hi - 1}</span></th>`).join("")}</tr>`;
  const rows = sink.sinkMass
    .map((_, l) => `<tr><td>${l}</td>${ranges.map((a) => `<td class="num">${esc(n3(meanOf(a.sinkMass[l] ?? [])))}<span class="cell-sub">uniform ${esc(n3(a.sinkBaseline[l]))}</span></td>`).join("")}</tr>`)
    .join("");
  return (
    `<section id="sinks"><h2>Attention sinks</h2><p class="muted small">Mean attention mass on the first ${K} tokens per layer and head, over the queries of each range and ${formatInt(r.settings.attentionSamples)} windows; "uniform" is what attention spread evenly over the visible keys would give them. Probabilities are recomputed by the attention kernel itself (one-hot values), with the model's own positional scheme and windows.</p>` +
    `<figure>${svg}</figure><div class="wrap"><table><thead>${head}</thead><tbody>${rows}</tbody></table></div></section>`
  );
}

function decayChart(r: PositionalReport, name: string, title: string): string {
  const a = range(r, name);
  if (!a) return "";
  const edges = r.settings.distanceEdges;
  const centers = edges.slice(0, -1).map((lo, i) => Math.max(0.5, (lo + edges[i + 1]! - 1) / 2));
  return lineChart({
    title,
    x: centers,
    series: a.decay.map((row, l) => ({ label: `attention layer ${l}`, values: row.map((v) => (isFiniteNumber(v) && v > 0 ? v : null)) })),
    logX: true,
    xTicks: edges.slice(0, -1).map((lo, i) => ({ value: centers[i]!, label: String(lo) })),
    xLabel: `distance i − j: buckets [0], [1], [2, 4), [4, 8), … labelled by their start (keys ≥ ${r.settings.anchors})`,
    yLabel: "mean attention per key",
    width: 760,
    height: 300,
    format: (v) => v.toExponential(2),
  });
}

function decaySection(r: PositionalReport): string {
  const L = r.trainLength;
  const maxT = r.lengths[r.lengths.length - 1]!;
  const charts = [decayChart(r, "trained", `Queries [L/2, L) = ${Math.floor(L / 2)}–${L - 1}`), maxT > L ? decayChart(r, `beyond@${maxT}`, `Queries [T − L/2, T) at T = ${maxT}`) : ""].filter(Boolean);
  return (
    `<section id="decay"><h2>Long-term decay</h2><p class="muted small">Mean attention on one key at distance i − j (log-2 buckets), over every head, the range's queries and the keys after the first ${r.settings.anchors} (so sinks do not count as distant attention). Keys hidden by a window count as 0.</p>` +
    (charts.length ? charts.map((c) => `<figure>${c}</figure>`).join("") : `<p class="muted">No attention samples.</p>`) +
    `</section>`
  );
}

function oodSection(r: PositionalReport): string {
  const L = r.trainLength;
  const maxT = r.lengths[r.lengths.length - 1]!;
  const layers = r.base.layers.filter((g) => g.layer >= 1);
  const chart = lineChart({
    title: "Distance to the nearest trained positional vector (as trained)",
    x: [0, maxT],
    series: layers.map((g) => ({ label: `layer ${g.layer}`, x: g.ood.map((b) => (b.start + b.end - 1) / 2), values: g.ood.map((b) => b.value) })),
    logY: false,
    vline: { x: L, label: "L" },
    markers: false,
    xLabel: "position",
    yLabel: "distance / radius",
    width: 760,
    height: 300,
  });
  // methods: the mean over layers ≥ 1, at each method's longest length, against the model as trained
  const series = [
    { label: "as trained", x: bucketCenters(layers[0]?.ood ?? []), values: meanCurve(layers.map((g) => g.ood.map((b) => b.value))) },
    ...r.methods.map((m) => {
      const last = m.lengths[m.lengths.length - 1]!;
      return { label: `${m.id} (${lengthLabel(last.length, L)})`, x: bucketCenters(last.ood[1] ?? []), values: meanCurve(last.ood.slice(1).map((row) => row.map((b) => b.value))) };
    }),
  ];
  const cmp =
    r.methods.length > 0
      ? lineChart({ title: "Mean over layers ≥ 1, with each extension method", x: [0, maxT], series, logY: false, vline: { x: L, label: "L" }, markers: false, xLabel: "position", yLabel: "distance / radius", width: 760, height: 320, legendWidth: 260 })
      : "";
  return (
    `<section id="ood"><h2>Past the trained length: out-of-distribution vectors</h2><p class="muted small">For each position, the distance from p<sub>t</sub> to the nearest trained positional vector (positions [${r.settings.anchors}, L) of the model as trained), in units of the trained cloud's RMS radius; a trained position is compared with the others (itself left out). Buckets of ${r.settings.bucketWidth} positions.</p>` +
    `<figure>${chart}</figure>${cmp ? `<figure>${cmp}</figure>` : ""}</section>`
  );
}

function bucketCenters(b: { start: number; end: number }[]): number[] {
  return b.map((x) => (x.start + x.end - 1) / 2);
}

function meanCurve(rows: (number | null)[][]): (number | null)[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => meanOf(rows.map((r) => r[i])));
}

function methodsSection(r: PositionalReport): string {
  const L = r.trainLength;
  const base = (T: number) => meanOf(r.base.layers.filter((g) => g.layer >= 1).map((g) => g.oodBeyond.find((o) => o.length === T)?.mean));
  const baseSink = (T: number) => meanOf((range(r, `beyond@${T}`)?.sinkMass ?? []).slice(1).map((hs) => meanOf(hs)));
  const rows = r.methods
    .flatMap((m) =>
      m.lengths.map((x) => {
        const beyond = x.attention?.find((a) => a.name === `beyond@${x.length}`);
        return (
          `<tr><td><code>${esc(m.id)}</code></td><td class="num">${esc(lengthLabel(x.length, L))}</td><td class="num">${esc(n3(meanOf(x.oodBeyond.slice(1))))}</td><td class="num">${esc(n3(base(x.length)))}</td>` +
          `<td class="num">${esc(n3(meanOf(x.oodInRange.slice(1))))}</td><td class="num">${esc(n3(meanOf((beyond?.sinkMass ?? []).slice(1).map((hs) => meanOf(hs)))))}</td><td class="num">${esc(n3(baseSink(x.length)))}</td>` +
          `<td class="num">${esc(n3(meanOf((beyond?.near ?? []).slice(1))))} / ${esc(n3(meanOf((beyond?.far ?? []).slice(1))))}</td><td class="num">${esc(formatSeconds(x.seconds))}</td></tr>`
        );
      }),
    )
    .join("");
  const params = r.methods
    .map((m) => `<tr><td><code>${esc(m.id)}</code></td><td>${esc(m.label)}</td><td class="params">${Object.entries(m.params).map(([k, v]) => `<code>${esc(k)}=${esc(typeof v === "number" ? formatNumber(v, 4) : String(v))}</code>`).join(" ")}</td><td class="small">${esc(Object.entries(m.paramSources).map(([k, s]) => `${k}: ${s}`).join("; "))}</td><td class="desc small">${esc(m.description)}</td></tr>`)
    .join("");
  const skipped = r.skippedMethods.length ? `<p class="small">Skipped: ${r.skippedMethods.map((s) => `<code>${esc(s.id)}</code> (${esc(s.reason)})`).join("; ")}.</p>` : "";
  const overlays = r.methods
    .map((m) => {
      const last = m.lengths[m.lengths.length - 1]!;
      const figs = last.pca
        .map((p) => {
          const b = r.base.pca.find((x) => x.layer === p.layer)!;
          const points: ScatterPoint[] = [
            ...b.positions.filter((t) => t < L).map((t) => ({ x: b.x[b.positions.indexOf(t)]!, y: b.y[b.positions.indexOf(t)]!, color: "#c8ccd4", tip: `as trained, position ${t}` })),
            ...p.positions.map((t, i) => ({ x: p.x[i]!, y: p.y[i]!, color: viridis((t - L) / Math.max(1, last.length - L)), shape: "triangle" as const, tip: `${m.id}, position ${t}` })),
          ];
          return `<figure class="small">${scatterChart({ title: `${m.id} at ${lengthLabel(last.length, L)}, layer ${p.layer}`, points, xLabel: "PC1", yLabel: "PC2", legend: [{ label: "trained", color: "#c8ccd4" }, { label: "past L", color: viridis(0.5), shape: "triangle" }], width: 330, height: 270 })}</figure>`;
        })
        .join("");
      return `<h3>${esc(m.label)}</h3><div class="pca-grid">${figs}</div>`;
    })
    .join("");
  return (
    `<section id="methods"><h2>Extension methods</h2>` +
    (r.methods.length
      ? `<p class="muted small">Each method at each analysed length past L, on the same windows. OOD past L: mean over layers ≥ 1 of the distance of positions [L, T) to the trained vectors of the model as trained (the column beside it); OOD in range: the same for [L/2, L) (0 when the method leaves the trained range untouched); sink mass and near/far attention for queries [T − L/2, T), means over attention layers ≥ 1.</p>` +
        `<div class="wrap"><table><thead><tr><th>Method</th><th class="num">T</th><th class="num">OOD past L</th><th class="num">as trained</th><th class="num">OOD in range</th><th class="num">sink mass</th><th class="num">as trained</th><th class="num">near / far</th><th class="num">time</th></tr></thead><tbody>${rows}</tbody></table></div>` +
        `<h3>Settings</h3><div class="wrap"><table><thead><tr><th>Id</th><th>Label</th><th>Parameters</th><th>From</th><th>Description</th></tr></thead><tbody>${params}</tbody></table></div>${skipped}` +
        `<h3>Where the vectors go</h3><p class="muted small">Positions past L under each method (triangles, coloured from L to the method's longest length) projected on the principal axes of the model as trained (grey: its trained positions).</p>${overlays}`
      : `<p class="muted">No extension method analysed.</p>${skipped}`) +
    `</section>`
  );
}

function settingsSection(r: PositionalReport): string {
  return `<section id="settings"><h2>Settings</h2><details><summary>report.json → settings, model, corpus</summary><pre>${esc(JSON.stringify({ settings: r.settings, model: r.model, corpus: r.corpus, lengths: r.lengths, trainLength: r.trainLength }, null, 2))}</pre></details></section>`;
}

/** The self-contained page. */
export function renderPositionalHtml(r: PositionalReport): string {
  return htmlPage(
    `ctxwin analyze positional: ${r.model.kind} model, L = ${r.trainLength}`,
    header(r) + observationsSection(r) + formationSection(r) + pcaSection(r) + similaritySection(r) + sinksSection(r) + decaySection(r) + oodSection(r) + methodsSection(r) + settingsSection(r),
    `Generated by ctxwin ${esc(r.ctxwin)} from report.json (${esc(r.schema)}), ${esc(r.createdAt)}. Every number on this page is in that file; the criteria are fixed in lib/analyze/observations.ts.`,
  );
}

/** The terminal summary: per-layer table, methods table, observations (ends without a newline). */
export function renderPositionalSummary(r: PositionalReport, opts: { color?: boolean } = {}): string {
  const color = opts.color ?? defaultColor();
  const c = paint(color);
  const L = r.trainLength;
  const maxT = r.lengths[r.lengths.length - 1]!;
  const out: string[] = [c("1", `ctxwin analyze positional: ${r.model.kind} model (${r.model.positional}${r.model.window ? `, window ${r.model.window}` : ""}), L = ${L}, lengths ${r.lengths.join(", ")}, ${r.settings.samples} windows`), ""];
  const beyond = r.lengths.filter((T) => T > L);
  const sink = range(r, "sink");
  const trained = range(r, "trained");
  out.push(
    ...formatTable(
      ["layer", "S", "max a(t<4)", "OOD in", ...beyond.map((T) => `OOD ${lengthLabel(T, L)}`), "sink mass", "uniform", "near/far"],
      r.base.layers.map((g) => {
        const l = g.layer;
        const att = l < r.model.layers;
        const near = trained?.near[l];
        const far = trained?.far[l];
        return [
          String(l),
          n3(g.signal),
          formatNumber(Math.max(...g.anchorScores.filter(Number.isFinite)), 2),
          n3(g.oodInRange),
          ...beyond.map((T) => n3(g.oodBeyond.find((o) => o.length === T)?.mean)),
          att && sink ? n3(meanOf(sink.sinkMass[l] ?? [])) : "",
          att && sink ? n3(sink.sinkBaseline[l]) : "",
          att && trained ? (isFiniteNumber(near) && isFiniteNumber(far) && far > 0 ? formatNumber(near / far, 2) : "–") : "",
        ];
      }),
      { color },
    ),
  );
  out.push(c("2", `S: positional signal (1 = none); a: anchor score; OOD: distance to the nearest trained vector / radius; sink mass (queries ${sink?.lo ?? "–"}–${sink ? sink.hi - 1 : "–"}) and near/far (distances 1–3 vs L/8–L/4) per attention layer (block)`));
  if (r.methods.length) {
    out.push("");
    const base = (T: number) => meanOf(r.base.layers.filter((g) => g.layer >= 1).map((g) => g.oodBeyond.find((o) => o.length === T)?.mean));
    out.push(
      ...formatTable(
        ["method", "T", "OOD past L", "as trained", "OOD in range", "sink mass", "time"],
        r.methods.flatMap((m) =>
          m.lengths.map((x) => {
            const b = x.attention?.find((a) => a.name === `beyond@${x.length}`);
            return [m.id, lengthLabel(x.length, L), n3(meanOf(x.oodBeyond.slice(1))), n3(base(x.length)), n3(meanOf(x.oodInRange.slice(1))), n3(meanOf((b?.sinkMass ?? []).slice(1).map((hs) => meanOf(hs)))), formatSeconds(x.seconds)];
          }),
        ),
        { color },
      ),
    );
    out.push(c("2", `means over layers ≥ 1; OOD past L at positions [L, T), sink mass for queries [T − L/2, T)`));
  }
  if (r.skippedMethods.length) out.push(c("2", `skipped: ${r.skippedMethods.map((s) => `${s.id} (${s.reason})`).join("; ")}`));
  out.push("", c("1", "observations (criteria fixed in lib/analyze/observations.ts)"));
  for (const o of r.observations) {
    const m = mark(o.verdict);
    const b = sym(o.verdict);
    out.push(`${m === true ? c("1;32", b) : m === false ? c("1;31", b) : c("2", b)} ${o.title}: ${o.verdict}; ${o.measured}`);
  }
  out.push("", c("2", `total ${formatSeconds(r.timings.totalSeconds)}; the longest length analysed is ${maxT}`));
  return out.join("\n");
}
