/**
 * `ctxwin peft` end to end on the micro preset with a tiny BERT checkpoint (seconds): with this
 * build's parts (adapter methods reported unavailable, full fine-tuning done) through the CLI, and
 * with stand-in adapters (the pipeline for every method: gates, the probe, findings, resume from
 * cells.jsonl, `ctxwin report DIR`, a partial report on abort); --data with SuperGLUE and CoNLL
 * files; argument and file errors named before anything trains.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byteTokenizer, createEncoder, saveEncoder, saveTokenizer } from "ctxwin";
import { parsePeftArgs, runPeftStudy, getPeftPreset, MissingPart, type PeftParts, type PeftReport } from "../../dist/peftstudy/index.js";
import { validatePeftReport } from "../../dist/report/index.js";
import { silentProgress } from "../../dist/util/progress.js";

const CLI = resolve(__dirname, "../../dist/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-peft-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, "bert");

function ctxwin(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  const tok = byteTokenizer({ specialTokens: ["[CLS]", "[SEP]", "[PAD]", "[MASK]"] });
  const m = createEncoder({ model_type: "bert", architectures: ["BertModel"], vocab_size: tok.vocabSize, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 40, pad_token_id: 258 }, { seed: 1 });
  await saveEncoder(m, model);
  m.dispose();
  await saveTokenizer(tok, model);
});

/** Stand-ins: "adapters" that freeze the base and train one attention matrix; gates from a seeded stream. */
function standIns(): Partial<PeftParts> {
  let k = 0;
  const adapter = (m: Parameters<PeftParts["addLora"]>[0]) => {
    m.freeze();
    const p = m.getParameter("bert.encoder.layer.1.attention.self.value.weight")!;
    p.unfreeze();
    return [];
  };
  return {
    addLora: adapter,
    addPrefix: adapter,
    addApt: adapter,
    meanAptGates: async (m) => {
      k++;
      return { alpha: Array.from({ length: m.numLayers }, (_, l) => Array.from({ length: 2 }, (_, j) => (0.2 + 0.3 * l + 0.01 * ((k * 7 + j) % 5)) % 1)), lambda: Array.from({ length: m.numLayers }, (_, l) => 0.1 * (l + 1)) };
    },
  };
}

describe("ctxwin peft (micro) through the CLI, this build's parts", () => {
  it("tunes the checkpoint with every method, reads APT's gates, runs the probe; ctxwin report re-renders", () => {
    const out = join(tmp, "cli");
    const r = ctxwin("peft", "--preset", "micro", "--model", model, "--out", out, "--seeds", "2");
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain("brown-genre · full · full · seed 0");
    expect(r.out).toMatch(/report: .*report\.json, .*report\.html/);
    const rep = validatePeftReport(JSON.parse(readFileSync(join(out, "report.json"), "utf8")));
    expect(rep.tasks.map((t) => t.name)).toEqual(["brown-genre", "brown-names"]);
    expect(rep.cells.filter((c) => c.method !== "ptv2-variable").length).toBe(2 * 2 * 4 * 2);
    expect(rep.cells.every((c) => c.status === "done" && c.score !== null)).toBe(true);
    const by = (m: string) => rep.cells.find((c) => c.method === m && c.task === "brown-genre" && c.setting === "full")!;
    expect(by("full").trainableParameters).toBe(by("full").totalParameters);
    for (const m of ["lora", "ptv2", "apt"]) expect(by(m).trainableParameters).toBeLessThan(by("full").trainableParameters / 3);
    // APT = P-tuning v2's prefixes + a gate W_i [P, d] and λ_i per layer (d = 16, 2 layers, P = 2)
    expect(by("apt").trainableParameters - by("ptv2").trainableParameters).toBe(2 * (2 * 16 + 1));
    expect(rep.cells.filter((c) => c.method === "apt").every((c) => c.gates!.alpha.length === 2 && c.gates!.alpha[0]!.length === 2)).toBe(true);
    expect(Object.keys(rep.probe.lengths)).toEqual(["brown-genre", "brown-names"]);
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toContain("Findings of seed 004");
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    const again = ctxwin("report", out);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain("ctxwin peft: preset micro");
  });
});

describe("runPeftStudy with stand-in adapters (every method)", () => {
  let rep: PeftReport;
  const out = join(tmp, "stand-ins");
  const preset = { ...getPeftPreset("micro"), prefixLength: 4 };
  beforeAll(async () => {
    rep = (await runPeftStudy({ preset, model, out, seeds: 2, progress: silentProgress, parts: standIns() })).report;
  });

  it("every cell is done; APT cells carry gates; the probe retrains P-tuning v2 with lengths from them", () => {
    expect(rep.cells.filter((c) => c.method !== "ptv2-variable").length).toBe(2 * 2 * 4 * 2);
    expect(rep.cells.every((c) => c.status === "done")).toBe(true);
    const apt = rep.cells.filter((c) => c.method === "apt");
    expect(apt.every((c) => c.gates !== null && c.gates.alpha.length === 2 && c.gates.lambda.length === 2)).toBe(true);
    const P = preset.prefixLength;
    for (const t of ["brown-genre", "brown-names"]) {
      const lengths = rep.probe.lengths[t]!;
      expect(lengths.reduce((a, b) => a + b)).toBe(2 * P);
      expect(lengths).toEqual([3, 5]); // mean α ≈ 0.22, 0.52: 1 + ⌊6·w⌋ = 2, 5, the spare token to the larger remainder
      expect(rep.cells.filter((c) => c.task === t && c.method === "ptv2-variable").map((c) => c.prefixLengths)).toEqual([lengths, lengths]);
    }
    // the adapter stand-in trains one matrix plus the head (classifier, pooler)
    const lora = rep.cells.find((c) => c.method === "lora" && c.task === "brown-genre")!;
    expect(lora.trainableParameters).toBe(16 * 16 + (16 * 16 + 16) + (16 * 15 + 15));
    expect(rep.findings.map((f) => f.id)).toEqual(["a-full", "a-few-shot", "b", "c"]);
    // the gates of 2 tasks × 2 seeds make (b) testable; (a) and (c) are judged or refused with a reason
    expect(rep.findings.find((f) => f.id === "b")!.verdict).not.toBe("not testable");
    for (const f of rep.findings) expect(f.text.length).toBeGreaterThan(20);
  });

  it("ctxwin report re-renders it; a malformed report.json is an error naming the field", () => {
    const r = ctxwin("report", out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/a-full APT ≥ P-tuning v2/);
    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const s of ["brown-genre: mean gate α", "Variable-prefix probe", "Deviations from the paper"]) expect(html).toContain(s);
    const bad = structuredClone(rep) as unknown as { cells: { score: unknown; gates: { lambda: number[] } | null }[] };
    bad.cells[0]!.score = "high";
    expect(() => validatePeftReport(bad, "r.json")).toThrow(/r\.json: cells\[0\] \(brown-genre\/full\/full\/0\)\.score/);
    const bad2 = structuredClone(rep) as unknown as { cells: { method: string; gates: { lambda: number[] } | null }[] };
    bad2.cells.find((c) => c.method === "apt")!.gates!.lambda.pop();
    expect(() => validatePeftReport(bad2, "r.json")).toThrow(/gates\.lambda: expected one value per layer \(2\)/);
  });

  it("a re-run reuses every cell from cells.jsonl", async () => {
    const again = (await runPeftStudy({ preset, model, out, seeds: 2, progress: silentProgress, parts: standIns() })).report;
    expect(again.cells.length).toBe(rep.cells.length);
    expect(again.cells.every((c) => c.reused)).toBe(true);
    expect(again.cells.map((c) => c.score)).toEqual(rep.cells.map((c) => c.score));
  });

  it("an abort writes a partial report", async () => {
    const ac = new AbortController();
    const o2 = join(tmp, "abort");
    const res = await runPeftStudy({ preset: "micro", model, out: o2, seeds: 1, methods: ["full"], progress: { ...silentProgress, update: (u) => u.step >= 2 && ac.abort() }, signal: ac.signal });
    expect(res.interrupted).toBe(true);
    expect(res.report.config.interrupted).toMatch(/interrupted during brown-genre\/full\/full\/0/);
    expect(existsSync(join(o2, "report.json"))).toBe(true);
  });
});

describe("a part that is missing", () => {
  it("makes its cells unavailable with the reason, and the findings that need them not testable", async () => {
    const parts: Partial<PeftParts> = { addApt: () => { throw new MissingPart("adaptive prefix tuning (APT)", "lib/peft/apt.ts"); } };
    const rep = (await runPeftStudy({ preset: "micro", model, out: join(tmp, "missing"), seeds: 2, methods: ["full", "apt"], tasks: ["brown-names"], progress: silentProgress, parts })).report;
    expect(rep.cells.filter((c) => c.method === "full").every((c) => c.status === "done")).toBe(true);
    const apt = rep.cells.filter((c) => c.method === "apt");
    expect(apt.length).toBe(4);
    expect(apt.every((c) => c.status === "unavailable" && /APT\) is not in this build/.test(c.reason!))).toBe(true);
    for (const id of ["a-full", "b"]) expect(rep.findings.find((f) => f.id === id)!.verdict).toBe("not testable");
    expect(rep.findings.find((f) => f.id === "b")!.text).toMatch(/No APT gates .*unavailable/);
  });
});

describe("--data files", () => {
  it("a SuperGLUE JSONL file and a CoNLL file become tasks (--tasks selects them)", async () => {
    const rte = join(tmp, "rte.jsonl");
    writeFileSync(rte, Array.from({ length: 12 }, (_, i) => JSON.stringify({ premise: `a premise ${i}`, hypothesis: `hyp ${i % 3}`, label: i % 2 ? "entailment" : "not_entailment", idx: i })).join("\n"));
    const conll = join(tmp, "ner.conll");
    writeFileSync(conll, Array.from({ length: 10 }, (_, i) => `-DOCSTART- -X- O O\n\nJohn NNP B-PER\nlives VBZ O\nin IN O\nParis${i} NNP B-LOC\n`).join("\n"));
    const rep = (await runPeftStudy({ preset: "micro", model, out: join(tmp, "data"), seeds: 1, methods: ["full"], data: [rte, conll], tasks: ["rte", "ner"], progress: silentProgress })).report;
    expect(rep.tasks.map((t) => [t.name, t.kind, t.metric])).toEqual([["rte", "sequence", "accuracy"], ["ner", "token", "span F1"]]);
    expect(rep.tasks[0]!.source).toContain("SuperGLUE JSONL");
    expect(rep.tasks[1]!.labels).toEqual(["B-LOC", "B-PER", "O"]);
    expect(rep.cells.filter((c) => c.status === "done").length).toBe(2 * 2);
  });

  it("malformed files and unknown names are errors naming the file, line and field, before training", async () => {
    const bad = join(tmp, "bad.jsonl");
    writeFileSync(bad, `{"premise": "p", "hypothesis": "h", "label": "entailment"}\n{"premise": "p"\n`);
    await expect(runPeftStudy({ preset: "micro", model, out: join(tmp, "x"), data: [bad], progress: silentProgress })).rejects.toThrow(/bad\.jsonl:2: line: expected a JSON object/);
    const ragged = join(tmp, "ragged.conll");
    writeFileSync(ragged, "John B-PER\nlives\n");
    await expect(runPeftStudy({ preset: "micro", model, out: join(tmp, "x"), data: [ragged], progress: silentProgress })).rejects.toThrow(/ragged\.conll:2: columns: expected a token and its tag/);
    const missing = join(tmp, "missing.jsonl");
    writeFileSync(missing, `{"premise": "p", "label": "entailment"}\n`);
    await expect(runPeftStudy({ preset: "micro", model, out: join(tmp, "x"), data: [missing], progress: silentProgress })).rejects.toThrow(/missing\.jsonl:1: fields: expected a SuperGLUE task's fields/);
    await expect(runPeftStudy({ preset: "micro", model, out: join(tmp, "x"), tasks: ["nope"], progress: silentProgress })).rejects.toThrow(/--tasks: expected some of brown-genre, brown-names, got "nope"/);
    await expect(runPeftStudy({ preset: "micro", model: join(tmp, "none"), out: join(tmp, "x"), progress: silentProgress })).rejects.toThrow(/--model: expected a checkpoint directory with config.json/);
    expect(existsSync(join(tmp, "x", "report.json"))).toBe(false);
  });
});

describe("argument errors name the option", () => {
  it("parsePeftArgs", () => {
    expect(parsePeftArgs(["--help"])).toBeNull();
    expect(parsePeftArgs(["--methods", "apt", "ptv2", "--tasks", "brown-genre", "--seeds", "3"])).toMatchObject({ methods: ["apt", "ptv2"], tasks: ["brown-genre"], seeds: 3, preset: "quick", device: "cpu", out: "ctxwin-peft" });
    expect(parsePeftArgs(["--methods", "apt,lora"])!.methods).toEqual(["apt", "lora"]);
    expect(() => parsePeftArgs(["--methods", "adapter"])).toThrow(/peft: --methods: expected some of full, lora, ptv2, apt, got "adapter"/);
    expect(() => parsePeftArgs(["--seeds", "0"])).toThrow(/peft: --seeds: expected a positive integer/);
    expect(() => parsePeftArgs(["--preset", "huge"])).toThrow(/peft: --preset: expected one of micro, quick, standard, paper/);
    expect(() => parsePeftArgs(["--device", "tpu"])).toThrow(/peft: --device/);
    expect(() => parsePeftArgs(["stray"])).toThrow(/peft: unexpected argument "stray"/);
    expect(() => parsePeftArgs(["--bogus"])).toThrow(/peft: .*bogus/);
  });
});
