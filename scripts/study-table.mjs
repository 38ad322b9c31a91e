#!/usr/bin/env node
// scripts/study-table.mjs: one markdown table of the gates and findings of several study runs
// (seeds, corpora), from their report.json files, with the criteria the report applies
// (lib/report/findings.ts) — the table behind the README's "What the quick preset finds".
//
//   node scripts/study-table.mjs "seed 0=ctxwin-study" "seed 1=runs/s1" "Moby-Dick=runs/moby" ...
import { computeFindings, computeGates, loadReport } from "../dist/report/index.js";

const runs = process.argv.slice(2).map((a) => {
  const eq = a.indexOf("=");
  return eq > 0 ? { label: a.slice(0, eq), dir: a.slice(eq + 1) } : { label: a, dir: a };
});
if (runs.length === 0) {
  console.error('usage: node scripts/study-table.mjs "LABEL=DIR" ...');
  process.exit(2);
}
const sgn = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
const mark = (pass) => (pass === true ? "✓" : pass === false ? "✗" : "?");
const ivCell = (g, key) => `${mark(g.pass)} ${sgn(g.numbers[key])} [${sgn(g.numbers[`${key}.lo`])}, ${sgn(g.numbers[`${key}.hi`])}]`;
const verdict = { reproduced: "✓", "not reproduced": "✗", "not testable": "–", missing: "?" };

const head = ["run", "G1 RoPE 4L−L", "G2 NoPE 2L−L", "G3 NoPE−window @L", "G4 ALiBi passkey ≤L / (L,2L]", "G5 RoPE passkey ≤L", "YaRN-ft vs PI/NTK-ft", "dynamic YaRN", "YaRN-ft best", "reproduced / not / untestable", "time"];
const rows = [];
for (const { label, dir } of runs) {
  const r = await loadReport(dir);
  const gates = computeGates(r);
  const g = Object.fromEntries(gates.map((x) => [x.id, x]));
  const f = computeFindings(r, gates);
  const by = (title) => verdict[f.find((x) => x.title.startsWith(title))?.verdict ?? "missing"];
  const count = (v) => f.filter((x) => x.verdict === v).length;
  rows.push([
    label,
    ivCell(g.G1, "rope@4L−rope@L"),
    ivCell(g.G2, "nope@2L−nope@L"),
    ivCell(g.G3, "nope@L−window@L"),
    `${mark(g.G4.pass)} ${g.G4.numbers["passkey:alibi@L"].toFixed(2)} / ${g.G4.numbers["passkey:alibi@2L"].toFixed(2)}`,
    `${mark(g.G5.pass)} ${g.G5.numbers["passkey:rope@L"].toFixed(2)}`,
    by("Fine-tuned YaRN beats"),
    by("Dynamic YaRN"),
    by("A short YaRN fine-tune"),
    `${count("reproduced")} / ${count("not reproduced")} / ${count("not testable")}`,
    `${Math.round(r.timings.totalSeconds / 60)} min`,
  ]);
}
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => " --- ").join("|")}|`);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
