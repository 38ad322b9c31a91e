/**
 * `ctxwin sft-study` end to end on the micro preset (seconds): report.json with every run and
 * per-example number, gates and findings recomputed from the file, a self-contained report.html,
 * the terminal summary, `ctxwin report DIR`, the cached base model, --tasks with --model, an
 * interrupted run's partial report; bad arguments name the option, malformed task files name the
 * file, the line and the field — before anything runs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byteTokenizer, createModel, saveModel, saveTokenizer, CtxwinError } from "ctxwin";
import { parseSftArgs, runSftStudy, computeSftFindings, computeSftGates, type SftReport } from "../../dist/sft/index.js";
import { validateSftReport } from "../../dist/report/index.js";
import { silentProgress, type ProgressSink } from "../../dist/util/progress.js";

const CLI = resolve(__dirname, "../../dist/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-sft-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ctxwin(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const out = join(tmp, "micro");
let first: ReturnType<typeof ctxwin>;

beforeAll(() => {
  first = ctxwin("sft-study", "--preset", "micro", "--out", out, "--seed", "3");
});

describe("ctxwin sft-study (micro)", () => {
  it("runs end to end and writes report.json with every run and per-example number", () => {
    expect(first.code).toBe(0);
    // progress on stderr, the summary on stdout
    for (const s of ["pretrain base model", "base model: accuracy and head scores", "sft copy (16 examples)", "sft count on 4 examples", "pretune caps+count seed 4: mix"]) expect(first.err).toContain(s);
    expect(first.out).toContain("F1 SFT changes the head maps with little data");
    expect(first.out).toMatch(/report: .*report\.json, .*report\.html/);
    const r = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as SftReport;
    expect(validateSftReport(r)).toBe(r);
    expect(r).toMatchObject({ kind: "ctxwin-sft-study", schema: 1, preset: "micro", seed: 3, device: "cpu" });
    expect(r.tasks.map((t) => t.name)).toEqual(["copy", "reverse", "caps", "count", "genre", "reverse+caps", "caps+count", "count+genre"]);
    expect(r.tasks.find((t) => t.name === "caps+count")!.components).toEqual(["caps", "count"]);
    for (const t of r.tasks) expect(t).toMatchObject({ train: 16, eval: 8 });
    const ids = r.runs.map((x) => x.id);
    expect(ids[0]).toBe("base");
    for (const t of r.tasks) expect(ids).toContain(`sft:${t.name}`);
    for (const t of ["copy", "reverse", "caps", "count", "genre"]) expect(ids).toContain(`budget:${t}:4`);
    for (const c of ["reverse+caps", "caps+count", "count+genre"]) for (const s of [3, 4]) for (const arm of ["plain", "mix", "mix-equal"]) expect(ids).toContain(`${arm}:${c}:${s}`);
    expect(ids).toHaveLength(1 + 8 + 5 + 3 * 2 * 3);
    const base = r.runs[0]!;
    expect(base.evals).toHaveLength(8);
    const width = r.model.layers * r.model.heads;
    for (const e of base.evals) {
      expect(e.correct).toHaveLength(8);
      expect(e.scores).toHaveLength(8);
      for (const row of e.scores!) expect(row).toHaveLength(width);
    }
    // the mix arms: weights that sum to 1 over the components, the pre-tuning steps, then the rest
    const mix = r.runs.find((x) => x.id === "mix:caps+count:3")!;
    expect(mix.mix!.weights.map((w) => w.task)).toEqual(["caps", "count"]);
    expect(mix.mix!.weights.reduce((a, w) => a + w.weight, 0)).toBeCloseTo(1, 9);
    expect(mix.steps).toBe(3);
    expect(mix.mix!.steps).toBe(2);
    expect(mix.evals[0]!.scores).toBeNull();
    // gates and findings in the file are those computed from its numbers
    const gates = computeSftGates(r);
    expect(r.gates).toEqual(gates);
    expect(r.findings).toEqual(computeSftFindings(r, gates));
    expect(r.findings.map((f) => f.id)).toEqual(["F1", "F2", "F3", "F4"]);
    for (const f of r.findings) {
      expect(["reproduced", "not reproduced", "not testable", "missing"]).toContain(f.verdict);
      expect(f.text).toContain("Criterion:");
    }
    expect(r.model.pretrainedHere).toBe(true);
    expect(r.model.cached).toBe(false);
    expect(r.deviations.length).toBeGreaterThan(2);
  });

  it("writes a self-contained report.html", () => {
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    for (const id of ["findings", "gates", "tasks", "f1", "f2", "f3", "f4", "training", "deviations", "config"]) expect(html).toContain(`id="${id}"`);
    for (const s of ["Findings of seed 002", "control", "Gini", "Mix − plain", "<svg"]) expect(html).toContain(s);
  });

  it("re-renders with ctxwin report DIR and loads the cached base on a second run", () => {
    const before = readFileSync(join(out, "report.json"), "utf8");
    rmSync(join(out, "report.html"));
    const r = ctxwin("report", out);
    expect(r.code).toBe(0);
    expect(r.out).toContain("F4 Pre-tuning on a mix of the basic tasks beats plain SFT");
    expect(existsSync(join(out, "report.html"))).toBe(true);
    expect(readFileSync(join(out, "report.json"), "utf8")).toBe(before);
    const again = ctxwin("sft-study", "--preset", "micro", "--out", out, "--seed", "3");
    expect(again.code).toBe(0);
    expect(again.err).toContain("load base model (cached)");
    expect(readdirSync(join(out, "models"))).toHaveLength(1);
    const r2 = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as SftReport;
    expect(r2.model.cached).toBe(true);
    // same settings, same numbers
    const r1 = JSON.parse(before) as SftReport;
    expect(r2.runs.map((x) => x.evals.map((e) => e.correct))).toEqual(r1.runs.map((x) => x.evals.map((e) => e.correct)));
    expect(r2.runs[0]!.evals[0]!.scores).toEqual(r1.runs[0]!.evals[0]!.scores);
  });
});

describe("ctxwin sft-study --tasks with --model", () => {
  const model = join(tmp, "model");
  const tasks = join(tmp, "tasks.jsonl");
  beforeAll(async () => {
    const m = createModel({ family: "llama", vocabSize: 256, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 48 }, { seed: 1 });
    await saveModel(m, model);
    await saveTokenizer(byteTokenizer(), model);
    m.dispose();
    const words = ["red fox", "blue sky", "green tea", "old map", "new day", "hot sun", "cold rain", "dark night", "wide sea", "tall tree", "slow boat", "fast car"];
    const lines: string[] = [];
    for (let i = 0; i < 24; i++) {
      const w = words[i % words.length]! + (i >= 12 ? " now" : "");
      lines.push(JSON.stringify({ task: "copy", prompt: `Copy: ${w} =`, response: ` ${w}` }));
      lines.push(JSON.stringify({ task: "upper", prompt: `Upper: ${w} =`, response: ` ${w.toUpperCase()}` }));
      lines.push(JSON.stringify({ task: "first", prompt: `First: ${w} =`, response: ` ${w.split(" ")[0]}` }));
      lines.push(JSON.stringify({ task: "last", prompt: `Last: ${w} =`, response: ` ${w.split(" ").pop()}` }));
      lines.push(JSON.stringify({ task: "copy+upper", prompt: `Copy upper: ${w} =`, response: ` ${w} ${w.toUpperCase()}` }));
    }
    writeFileSync(tasks, lines.join("\n") + "\n");
  });

  it("runs the user's tasks on the given model, composition from the names", async () => {
    const dir = join(tmp, "user");
    const r = ctxwin("sft-study", "--preset", "micro", "--model", model, "--tasks", tasks, "--out", dir);
    expect(r.err).not.toMatch(/Error|ctxwin: /);
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as SftReport;
    expect(rep.config.tasks).toBe(tasks);
    expect(rep.model).toMatchObject({ pretrainedHere: false, layers: 2, heads: 4, vocabSize: 256 });
    expect(rep.corpus).toBeNull();
    expect(rep.tasks.map((t) => [t.name, t.kind, t.components, t.eval, t.train])).toEqual([
      ["copy", "basic", [], 6, 16],
      ["upper", "basic", [], 6, 16],
      ["first", "basic", [], 6, 16],
      ["last", "basic", [], 6, 16],
      ["copy+upper", "complex", ["copy", "upper"], 6, 16],
    ]);
    // controls for copy+upper: the pair (first, last)
    const f2 = rep.findings.find((f) => f.id === "F2")!;
    expect(f2.text).toContain("first+last");
    expect(existsSync(join(dir, "models"))).toBe(false);
  });
});

describe("an interrupted run", () => {
  it("writes a partial report whose findings say what is missing", async () => {
    const controller = new AbortController();
    const progress: ProgressSink = { ...silentProgress, stage: (name) => name.startsWith("sft reverse") && controller.abort() };
    const res = await runSftStudy({ preset: "micro", out: join(tmp, "partial"), seed: 5, signal: controller.signal, progress });
    expect(res.interrupted).toBe(true);
    expect(res.report.config.interrupted).toMatch(/interrupted during sft:reverse/);
    expect(res.report.runs.map((r) => r.id)).toEqual(["base", "sft:copy"]);
    const saved = JSON.parse(readFileSync(join(tmp, "partial", "report.json"), "utf8")) as SftReport;
    expect(saved.config.interrupted).toBeDefined();
    for (const f of saved.findings) expect(f.verdict).toBe("missing");
    // the base model stays cached
    expect(readdirSync(join(tmp, "partial", "models"))).toHaveLength(1);
  });
});

describe("bad arguments", () => {
  const err = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(CtxwinError);
      return (e as Error).message;
    }
    throw new Error("expected an error");
  };

  it("name the option", () => {
    expect(parseSftArgs(["--help"])).toBeNull();
    expect(parseSftArgs([])).toEqual({ preset: "quick", tasks: [], device: "cpu", out: "ctxwin-sft-study", seed: 0 });
    expect(parseSftArgs(["--tasks", "a.jsonl", "b.jsonl", "--seed", "4"])).toMatchObject({ tasks: ["a.jsonl", "b.jsonl"], seed: 4 });
    expect(err(() => parseSftArgs(["--preset", "huge"]))).toBe('sft-study: --preset: expected one of micro, quick, standard, large, got "huge"');
    expect(err(() => parseSftArgs(["--seed=-1"]))).toMatch(/sft-study: --seed: expected a non-negative integer, got "-1"/);
    expect(err(() => parseSftArgs(["--seed", "-1"]))).toMatch(/sft-study: .*--seed/);
    expect(err(() => parseSftArgs(["--seed", "1.5"]))).toMatch(/--seed/);
    expect(err(() => parseSftArgs(["--device", "tpu"]))).toMatch(/sft-study: --device: expected "cpu" or "cuda", got "tpu"/);
    expect(err(() => parseSftArgs(["--out", ""]))).toMatch(/--out: expected a directory/);
    expect(err(() => parseSftArgs(["--model", ""]))).toMatch(/--model: expected a model directory/);
    expect(err(() => parseSftArgs(["--tasks"]))).toMatch(/--tasks/);
    expect(err(() => parseSftArgs(["stray"]))).toMatch(/sft-study: unexpected argument "stray"/);
    expect(err(() => parseSftArgs(["--bogus"]))).toMatch(/sft-study: .*--bogus/);
  });

  it("the CLI prints them and exits 1; --help exits 0", () => {
    const r = ctxwin("sft-study", "--preset", "huge");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--preset");
    const h = ctxwin("sft-study", "--help");
    expect(h.code).toBe(0);
    for (const o of ["--preset", "--model", "--tasks", "--device", "--out", "--seed"]) expect(h.out).toContain(o);
    expect(ctxwin("--help").out).toContain("sft-study");
  });

  it("malformed task files name the file, the line and the field, before anything runs", async () => {
    const dir = join(tmp, "bad");
    const file = (name: string, text: string) => {
      const p = join(tmp, name);
      writeFileSync(p, text);
      return p;
    };
    const run = (tasksFile: string, extra: object = {}) => runSftStudy({ preset: "micro", tasks: [tasksFile], out: dir, progress: silentProgress, ...extra });
    const ok = JSON.stringify({ task: "a", prompt: "x", response: "y" });
    await expect(run(file("json.jsonl", `${ok}\n{"task": "a", "prompt": "x",\n`))).rejects.toThrow(/sft-study: --tasks: .*json\.jsonl line 2: expected a JSON object/);
    await expect(run(file("field.jsonl", `${ok}\n${ok}\n{"task": "a", "prompt": "x"}\n`))).rejects.toThrow(/field\.jsonl line 3: field "response": expected a string or an array of token ids, got nothing \(missing\)/);
    await expect(run(file("task.jsonl", `{"task": 3, "prompt": "x", "response": "y"}\n`))).rejects.toThrow(/task\.jsonl line 1: field "task"/);
    await expect(run(join(tmp, "nope.jsonl"))).rejects.toThrow(/sft-study: --tasks: .*nope\.jsonl: expected a readable JSONL file/);
    // an unknown component: found once the tasks are grouped (the model is loaded, nothing trained)
    const lines = Array.from({ length: 24 }, (_, i) => [JSON.stringify({ task: "a", prompt: `p${i}`, response: " r" }), JSON.stringify({ task: "a+zz", prompt: `q${i}`, response: " s" })]).flat();
    const comp = file("comp.jsonl", lines.join("\n"));
    await expect(run(comp, { model: join(tmp, "model") })).rejects.toThrow(/comp\.jsonl line 2: field "task": task "a\+zz": expected its component "zz" among the basic tasks \(a\)/);
    const few = file("few.jsonl", [ok, ok, ok].join("\n"));
    await expect(run(few, { model: join(tmp, "model") })).rejects.toThrow(/task "a" \(.*few\.jsonl\): expected at least 16 examples/);
    const big = file("ids.jsonl", Array.from({ length: 16 }, () => JSON.stringify({ task: "a", prompt: [1, 2], response: [999] })).join("\n"));
    await expect(run(big, { model: join(tmp, "model") })).rejects.toThrow(/ids\.jsonl line \d+: field "response": expected token ids below the model's vocabulary size 256, got 999/);
    await expect(run(few, { model: join(tmp, "missing-model") })).rejects.toThrow(/sft-study: --model: expected a model directory with config\.json/);
    expect(existsSync(join(dir, "report.json"))).toBe(false);
  });
});
