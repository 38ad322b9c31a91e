/**
 * `ctxwin analyze positional` end to end on a tiny random model saved to a temp dir (report.json
 * schema, a self-contained report.html, the terminal summary), its argument errors (each a
 * CtxwinError naming the argument, with nothing written), and the library entry point on a model
 * whose layer-0 positional vectors are known exactly (the embeddings).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzePositional, createModel, runAnalyzePositional, type PositionalReport } from "ctxwin";
import { silentProgress } from "../../dist/util/progress.js";
import { parsePositionalArgs } from "../../dist/analyze/command.js";
import { resolveMethods, parseMethodSpec } from "../../dist/analyze/methods.js";
import { collectRun } from "../../dist/analyze/collect.js";
import { rm, tmp, tokenizer, TEXT, writeFixture } from "./fixture.js";

const CLI = resolve(__dirname, "../../dist/cli.js");
const root = tmp("cmd");
let fx: { dir: string; corpus: string };
beforeAll(async () => {
  fx = await writeFixture(root);
});
afterAll(() => rm(root));

function ctxwin(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("ctxwin analyze positional (end to end)", () => {
  it("writes report.json (schema) and a self-contained report.html, prints the summary", () => {
    const out = join(root, "out");
    const r = ctxwin("analyze", "positional", "--model", fx.dir, "--corpus", fx.corpus, "--lengths", "16,32", "--samples", "6", "--attention-samples", "2", "--out", out);
    expect(r.err).not.toMatch(/ctxwin: /);
    expect(r.code).toBe(0);
    expect(r.out).toContain("ctxwin analyze positional: rope model");
    expect(r.out).toContain("observations (criteria fixed in lib/analyze/observations.ts)");
    expect(r.err).toContain("as trained: 6 windows × 32 tokens"); // progress
    const rep = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as PositionalReport;
    expect(rep.schema).toBe("ctxwin-analyze-positional/1");
    expect(rep.model).toMatchObject({ kind: "rope", kindSource: "config.json", layers: 2, hiddenSize: 32, heads: 2 });
    expect(rep.trainLength).toBe(16);
    expect(rep.lengths).toEqual([16, 32]);
    expect(rep.corpus).toMatchObject({ documents: 1, bos: true });
    expect(rep.base.run).toMatchObject({ length: 32, samples: 6, attentionSamples: 2 });
    expect(rep.base.run.attention!.map((a) => a.name)).toEqual(["sink", "trained", "beyond@32"]);
    for (const a of rep.base.run.attention!) {
      expect(a.sinkMass.length).toBe(2);
      expect(a.sinkMass[0]!.length).toBe(2);
      expect(a.decay[0]!.length).toBe(rep.settings.distanceEdges.length - 1);
    }
    expect(rep.base.layers.map((g) => g.layer)).toEqual([0, 1, 2]);
    for (const g of rep.base.layers) {
      expect(g.anchorScores.length).toBe(4);
      expect(g.similarity.length).toBe(rep.settings.similarityPositions.length);
      expect(g.oodBeyond).toEqual([{ length: 32, mean: expect.any(Number) }]);
    }
    for (const p of rep.base.pca) {
      expect(p.x.length).toBe(p.positions.length);
      expect(p.y.length).toBe(p.positions.length);
      expect(p.explained.length).toBe(2);
    }
    expect(rep.methods.map((m) => m.id)).toEqual(["rope-pi", "rope-ntk", "rope-dynamic", "rope-dynamic-pi", "yarn", "yarn-dynamic"]);
    for (const m of rep.methods) {
      expect(m.lengths.map((x) => x.length)).toEqual([32]);
      expect(m.lengths[0]!.oodBeyond.length).toBe(3);
      expect(m.lengths[0]!.pca.length).toBeGreaterThan(0);
    }
    expect(rep.methods[0]!.params.factor).toBe(2);
    expect(rep.methods[0]!.paramSources.factor).toBe("default");
    const ids = rep.observations.map((o) => o.id);
    expect(ids.slice(0, 5)).toEqual(["formation", "anchors", "sinks", "decay", "ood"]);
    expect(ids.filter((i) => i === "interpolation").length).toBe(6);
    for (const o of rep.observations) {
      expect(["holds", "does not hold", "not testable"]).toContain(o.verdict);
      expect(o.criterion.length).toBeGreaterThan(20);
      expect(o.measured.length).toBeGreaterThan(5);
    }
    // L = 16 < 32: the decay ranges overlap, so decay is not testable, and says why
    expect(rep.observations.find((o) => o.id === "decay")).toMatchObject({ verdict: "not testable", measured: expect.stringContaining("L < 32") });
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThan(10);
    for (const o of rep.observations) expect(html).toContain(o.title.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"));
    expect(html).not.toContain("NaN");
    // `ctxwin report DIR` re-renders it with the same renderer
    const again = ctxwin("report", out);
    expect(again.code).toBe(0);
    expect(again.out).toContain("ctxwin analyze positional: rope model");
    expect(readFileSync(join(out, "report.html"), "utf8").length).toBe(html.length);
  });

  it("bad arguments: a CtxwinError naming the argument, exit 1, nothing written", () => {
    const out = join(root, "never");
    const cases: [string[], RegExp][] = [
      [["--model", join(root, "nope")], /--model: expected a model directory .* \(no such directory\)/],
      [["--model", fx.corpus], /--model: expected a model directory .* \(a file\)/],
      [["--model", root], /--model: expected a model directory with config.json, got .* \(no config.json in it\)/],
      [["--model", fx.dir, "--lengths", "8"], /--lengths: expected at least one length ≥ the trained length L = 16, got 8/],
      [["--model", fx.dir, "--method", "frob"], /--method: expected one of rope-pi, rope-ntk, rope-dynamic, rope-dynamic-pi, yarn, yarn-dynamic for a rope model, got "frob"/],
    ];
    for (const [args, re] of cases) {
      const r = ctxwin("analyze", "positional", ...args, "--corpus", fx.corpus, "--samples", "2", "--out", out);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err).toMatch(re);
      expect(r.err).toMatch(/^ctxwin: analyze positional: /m);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("bad arguments in the library entry: errors before anything runs, nothing written", async () => {
    const out = join(root, "never2");
    const run = (o: Partial<Parameters<typeof runAnalyzePositional>[0]>) => runAnalyzePositional({ model: fx.dir, corpus: [fx.corpus], samples: 2, out, progress: silentProgress, ...o });
    await expect(run({ methods: ["alibi-pi"] })).rejects.toThrow(/--method: expected one of rope-pi, .* for a rope model, got "alibi-pi" \(a method for another kind of model\)/);
    await expect(run({ methods: ["rope-pi:lambda=2"] })).rejects.toThrow(/--method rope-pi: expected parameters factor, got lambda=2/);
    await expect(run({ methods: ["rope-pi:factor=0.5"] })).rejects.toThrow(/--method rope-pi: expected factor ≥ 1, got 0.5/);
    await expect(run({ corpus: [join(root, "missing.txt")] })).rejects.toThrow(/^analyze positional: --corpus .*missing.txt: expected a readable text file, got no such file/);
    await expect(run({ attentionSamples: 3 })).rejects.toThrow(/attentionSamples: expected an integer in \[0, samples = 2\], got 3/);
    const tiny = join(root, "tiny.txt");
    writeFileSync(tiny, "just a few words");
    await expect(run({ corpus: [tiny] })).rejects.toThrow(/^analyze positional: --corpus: expected text of at least 64 tokens \(a window of the longest length 64\), got 1\d tokens/);
    expect(existsSync(out)).toBe(false);
  });

  it("parses options; each bad one names itself", () => {
    expect(parsePositionalArgs(["--help"])).toBeNull();
    expect(parsePositionalArgs(["--model", "m", "--method", "yarn:factor=2", "rope-pi", "--lengths", "64,128"])).toMatchObject({
      model: "m",
      lengths: [64, 128],
      methods: [
        { id: "yarn", params: { factor: 2 } },
        { id: "rope-pi", params: {} },
      ],
      samples: 128,
      attentionSamples: 8,
      out: "ctxwin-analyze",
    });
    const bad: [string[], RegExp][] = [
      [[], /--model: expected a model directory, got nothing/],
      [["--model", "m", "--bogus"], /Unknown option '--bogus'/],
      [["--model", "m", "--lengths", "64,x"], /--lengths: expected comma-separated integers ≥ 2/],
      [["--model", "m", "--samples", "1"], /--samples: expected an integer ≥ 2, got "1"/],
      [["--model", "m", "--samples", "4", "--attention-samples", "5"], /--attention-samples: expected at most --samples \(4\), got "5"/],
      [["--model", "m", "--method", "yarn:factor"], /--method: expected key=value pairs after "yarn:"/],
      [["--model", "m", "--method", "yarn:factor=abc"], /--method: expected a number for factor/],
      [["--model", "m", "--device", "tpu"], /--device: expected "cpu" or "cuda", got "tpu"/],
      [["--model", "m", "stray"], /unexpected argument "stray"/],
    ];
    for (const [args, re] of bad) expect(() => parsePositionalArgs(args), args.join(" ")).toThrow(re);
  });

  it("methods: defaults per kind, PV ratios from the lengths, λ needed for nope-scale", () => {
    const ctx = { L: 16, W: 0, lengths: [16, 32, 64], numLayers: 2, pv: () => null as never, study: null };
    const nope = resolveMethods(null, { ...ctx, kind: "nope" });
    expect(nope.methods.map((m) => m.id)).toEqual(["nope-pv-r2", "nope-pv-r4"]);
    expect(nope.skipped.map((s) => s.id)).toEqual(["nope-scale"]);
    expect(nope.methods[1]!.lengths).toEqual([32, 64]);
    expect(nope.methods[0]!.params).toMatchObject({ layer: 1, alpha: 1 });
    expect(() => resolveMethods([parseMethodSpec("nope-scale")], { ...ctx, kind: "nope" })).toThrow(/--method nope-scale: expected a temperature/);
    const scaled = resolveMethods([parseMethodSpec("nope-scale:lambda=1.2")], { ...ctx, kind: "nope" }).methods[0]!;
    expect(scaled.at(32).scaleMultiplier).toBe(1.2);
    expect(() => resolveMethods([parseMethodSpec("nope-pv-r8")], { ...ctx, kind: "nope" })).toThrow(/--method nope-pv-r8: expected a ratio r with r·L \(16\) among the analysed lengths/);
    const study = { file: "report.json", methods: { "window-ext": { "lambda@32": 1.3 } } };
    const win = resolveMethods(null, { ...ctx, kind: "window", W: 4, study }).methods[0]!;
    expect(win.params).toMatchObject({ "lambda@32": 1.3, "lambda@64": 1 });
    expect(win.at(32)).toEqual({ window: 8, scaleMultiplier: 1.3 });
    expect(resolveMethods(null, { ...ctx, kind: "alibi" }).methods.map((m) => m.id)).toEqual(["alibi-pi"]);
  });

  it("the library entry runs in-process; collectRun recovers known positional vectors (layer 0 = the embeddings)", async () => {
    const tok = tokenizer();
    const model = createModel({ family: "llama", vocabSize: tok.vocabSize, hiddenSize: 16, numLayers: 2, numHeads: 2, positional: { type: "none" }, maxPositions: 8 }, { seed: 3 });
    const stream = Int32Array.from(tok.encode(TEXT, { addSpecialTokens: false }));
    const rep = await analyzePositional(model, { stream, bos: tok.bosId!, lengths: [8, 16], samples: 5, attentionSamples: 1, seed: 4, methods: [] });
    expect(rep.model.kind).toBe("nope");
    expect(rep.methods).toEqual([]);
    expect(rep.base.layers.length).toBe(3);
    expect(rep.base.layers[0]!.similarity[0]![0]).toBeCloseTo(1, 6);
    // known vectors: at layer 0 the hidden state is the token's embedding, so p_{0,t} is the mean
    // embedding of the tokens at position t over the windows (BOS's own embedding at t = 0)
    const windows = [0, 37, 90, 151].map((s) => [tok.bosId!, ...Array.from(stream.slice(s, s + 11))]);
    const res = await collectRun(model, { windows, attentionRows: 0, ranges: [], sinkTokens: 4, batch: 3 });
    const emb = await model.embed.weight.value.data();
    const d = 16;
    let worst = 0;
    for (let t = 0; t < 12; t++) {
      for (let k = 0; k < d; k++) {
        const want = windows.reduce((a, w) => a + emb[w[t]! * d + k]!, 0) / windows.length;
        worst = Math.max(worst, Math.abs(res.estimate.vectors[0]![t * d + k]! - want));
      }
    }
    expect(worst).toBeLessThan(1e-6);
    expect(res.estimate.withinVariance[0]![0]).toBeCloseTo(0, 5); // BOS: no variance
    expect(res.attention).toBeNull();
    model.dispose();
  });
});

describe("ctxwin analyze: help", () => {
  it("analyze --help, analyze positional --help and help analyze positional; an unknown analysis is an error", () => {
    const list = ctxwin("analyze", "--help").out;
    expect(list).toContain("usage: ctxwin analyze <analysis>");
    for (const a of ["heads", "positional"]) expect(list).toContain(`  ${a} `);
    expect(ctxwin("--help").out).toContain("analyze positional");
    for (const args of [["analyze", "positional", "--help"], ["help", "analyze", "positional"]]) {
      const h = ctxwin(...args);
      expect(h.code).toBe(0);
      expect(h.out).toContain("usage: ctxwin analyze positional");
      for (const o of ["--model", "--corpus", "--lengths", "--samples", "--attention-samples", "--method", "--train-length", "--out", "--device", "--seed"]) expect(h.out).toContain(o);
    }
    const bad = ctxwin("analyze", "frob");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`analyze: expected an analysis (heads, positional), got "frob"`);
  });
});
