/**
 * `ctxwin analyze heads` end to end on tiny random Llama models saved in HF format (saveModel, with
 * a byte-level tokenizer.json): one model and a before/after pair, text and token-id task files;
 * report.json holds every number, report.html is self-contained, the terminal table is printed,
 * `ctxwin report DIR` re-renders it; bad arguments and malformed task files fail with a message
 * naming the option, or the file, line and field.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byteTokenizer, createModel, saveModel, saveTokenizer } from "ctxwin";
import { parseHeadsArgs } from "../../dist/analyze/command.js";

const CLI = resolve(__dirname, "../../dist/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-heads-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ctxwin(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const before = join(tmp, "before");
const after = join(tmp, "after");
const taskA = join(tmp, "basic.jsonl");
const taskB = join(tmp, "ids.jsonl");

beforeAll(async () => {
  for (const [dir, seed] of [[before, 1], [after, 2]] as const) {
    const m = createModel({ family: "llama", vocabSize: 256, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, initializerRange: 0.2 }, { seed });
    await saveModel(m, dir);
    await saveTokenizer(byteTokenizer(), dir);
    m.dispose();
  }
  const words = ["red fox", "blue sky", "green tea", "old map", "new day", "hot sun"];
  const lines: string[] = [];
  for (const w of words) {
    lines.push(JSON.stringify({ task: "copy", prompt: `Copy: ${w}\nAnswer: `, response: w }));
    lines.push(JSON.stringify({ task: "reverse", prompt: `Reverse: ${w}\nAnswer: `, response: w.split(" ").reverse().join(" ") }));
    lines.push(JSON.stringify({ task: "upper", prompt: `Upper: ${w}\nAnswer: `, response: w.toUpperCase() }));
  }
  writeFileSync(taskA, lines.join("\n") + "\n");
  writeFileSync(taskB, [JSON.stringify({ task: "ids", prompt: [1, 2, 3, 4], response: [5, 6, 7] }), JSON.stringify({ task: "ids", prompt: [9, 8], response: [7, 6, 5, 4] })].join("\n"));
});

describe("ctxwin analyze heads", () => {
  it("writes report.json, a self-contained report.html and the table for one model", () => {
    const out = join(tmp, "one");
    const r = ctxwin("analyze", "heads", "--model", before, "--tasks", taskA, taskB, "--out", out, "--clusters", "3", "--batch-size", "4");
    expect(r.err).not.toMatch(/Error|error:/);
    expect(r.code).toBe(0);
    // progress on stderr: one stage per task
    for (const t of ["model: copy", "model: reverse", "model: upper", "model: ids"]) expect(r.err).toContain(t);
    const rep = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(rep.kind).toBe("ctxwin-heads");
    expect(rep.checkpoints).toHaveLength(1);
    const cp = rep.checkpoints[0];
    expect(cp.model).toMatchObject({ layers: 2, heads: 4, kvHeads: 2, vocabSize: 256 });
    expect(cp.tasks.map((t: { task: string }) => t.task)).toEqual(["copy", "reverse", "upper", "ids"]);
    for (const t of cp.tasks) {
      expect(t.absolute).toHaveLength(2);
      expect(t.absolute[0]).toHaveLength(4);
      expect(t.signed).toHaveLength(2);
      expect(t.gini.absolute).toBeGreaterThanOrEqual(0);
      expect(t.gini.absolute).toBeLessThan(1);
      expect(t.loss).toBeGreaterThan(0);
    }
    expect(cp.tasks[0].examples).toBe(6);
    expect(cp.tasks[3].examples).toBe(2);
    expect(cp.tasks[3].tokens).toBe(7);
    expect(cp.decomposition).toHaveLength(4);
    for (const d of cp.decomposition) {
      expect(d.onto).toHaveLength(3);
      expect(d.r2).toBeGreaterThanOrEqual(0);
      expect(d.r2).toBeLessThanOrEqual(1);
      for (const c of d.coefficients) expect(c).toBeGreaterThanOrEqual(0);
      // the equal-weight mean of the other maps is one of the mixes the decomposition considers
      expect(d.r2).toBeGreaterThanOrEqual(d.r2EqualWeights - 1e-9);
    }
    expect(cp.clusters.k).toBe(3);
    expect(cp.clusters.clusters.reduce((s: number, c: { size: number }) => s + c.size, 0)).toBe(8);
    expect(rep.comparison).toBeNull();
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain("<svg");
    expect(html).toContain("Head clusters");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(r.out).toMatch(/task\s+examples\s+loss\s+Gini\s+R² \(onto others\)\s+R² \(equal weights\)\s+top heads/);
    expect(r.out).toContain("report.html");
    // `ctxwin report DIR` re-renders the page and prints the table
    rmSync(join(out, "report.html"));
    const again = ctxwin("report", out);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/task\s+examples\s+loss\s+Gini/);
    expect(existsSync(join(out, "report.html"))).toBe(true);
  });

  it("compares two checkpoints with --before/--after", () => {
    const out = join(tmp, "pair");
    const r = ctxwin("analyze", "heads", "--before", before, "--after", after, "--tasks", taskA, "--out", out, "--score", "signed", "--max-examples", "3");
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(rep.checkpoints.map((c: { label: string }) => c.label)).toEqual(["before", "after"]);
    expect(rep.config.score).toBe("signed");
    expect(rep.checkpoints[0].tasks[0].examples).toBe(3);
    const cmp = rep.comparison;
    expect(cmp.tasks.map((t: { task: string }) => t.task)).toEqual(["copy", "reverse", "upper"]);
    for (const t of cmp.tasks) {
      const b = rep.checkpoints[0].tasks.find((x: { task: string }) => x.task === t.task);
      const a = rep.checkpoints[1].tasks.find((x: { task: string }) => x.task === t.task);
      expect(t.delta[1][2]).toBeCloseTo(a.signed[1][2] - b.signed[1][2], 12);
      expect(t.relativeChange).toBeGreaterThan(0);
      expect(t.giniBefore).toBeCloseTo(b.gini.signed, 12);
      expect(t.giniAfter).toBeCloseTo(a.gini.signed, 12);
      expect(t.topChanged.length).toBeGreaterThan(0);
    }
    expect(r.out).toMatch(/before → after/);
    expect(readFileSync(join(out, "report.html"), "utf8")).toContain("What changed: before → after");
  });

  it("fails on a malformed task file naming file, line and field", () => {
    const bad = join(tmp, "bad.jsonl");
    writeFileSync(bad, `{"task": "t", "prompt": "a", "response": "b"}\n{"task": "t", "prompt": "a"}\n`);
    const r = ctxwin("analyze", "heads", "--model", before, "--tasks", bad, "--out", join(tmp, "bad"));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad} line 2: field "response": expected a string or an array of token ids, got nothing (missing)`);
  });

  it("--help and argument errors", () => {
    for (const args of [["analyze", "heads", "--help"], ["help", "analyze", "heads"]]) {
      const h = ctxwin(...args);
      expect(h.code).toBe(0);
      expect(h.out).toContain("usage: ctxwin analyze heads");
      for (const o of ["--model", "--before", "--after", "--tasks", "--out", "--score", "--clusters", "--decompose"]) expect(h.out).toContain(o);
    }
    expect(ctxwin("analyze", "--help").out).toContain("heads");
    expect(ctxwin("--help").out).toContain("analyze heads");
    const bad: [string[], RegExp][] = [
      [["--tasks", "t.jsonl"], /analyze heads: expected --model DIR \(or --before DIR --after DIR\), got neither/],
      [["--model", "m"], /analyze heads: --tasks: expected one or more JSONL task files, got nothing/],
      [["--model", "m", "--before", "b", "--tasks", "t"], /expected either --model or --before with --after, got both/],
      [["--before", "b", "--tasks", "t"], /--after: expected a directory \(with --before\)/],
      [["--model", "m", "--tasks", "t", "--score", "max"], /--score: expected "absolute" or "signed", got "max"/],
      [["--model", "m", "--tasks", "t", "--clusters", "0"], /--clusters: expected a positive integer, got "0"/],
      [["--model", "m", "--tasks", "t", "--decompose", "svd"], /--decompose: expected "nnls" or "ls", got "svd"/],
      [["--model", "m", "--tasks", "t", "--device", "tpu"], /--device: expected "cpu" or "cuda", got "tpu"/],
      [["--model", "m", "--frob"], /analyze heads: Unknown option '--frob'/],
      [["extra", "--model", "m", "--tasks", "t"], /unexpected argument "extra": files go after --tasks/],
    ];
    for (const [args, re] of bad) expect(() => parseHeadsArgs(args), args.join(" ")).toThrow(re);
    expect(parseHeadsArgs(["--model", "m", "--tasks", "a", "b", "--tasks", "c"])).toMatchObject({ tasks: ["a", "b", "c"], checkpoints: [{ label: "model", dir: "m" }], score: "absolute", clusters: 4, batchSize: 8 });
    const u = ctxwin("analyze", "frob");
    expect(u.code).toBe(1);
    expect(u.err).toMatch(/analyze: expected an analysis \(heads, positional\), got "frob"/);
  });
});
