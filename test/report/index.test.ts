import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile as fsWriteFile, rename as fsRename, unlink as fsUnlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadReport, renderReport, reportCommand, validateReport, writeFileAtomic, type AtomicIo } from "../../dist/report/index.js";
import { makeReport, METHODS, partialReport } from "./fixture.js";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "ctxwin-report-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

const realIo: AtomicIo = { writeFile: (p, d) => fsWriteFile(p, d), rename: fsRename, unlink: fsUnlink };

describe("renderReport / loadReport", () => {
  it("writes pretty report.json and report.html and loads them back", async () => {
    const d = tmp();
    const r = makeReport();
    const res = await renderReport(r, join(d, "out"));
    expect(res).toEqual({ json: join(d, "out", "report.json"), html: join(d, "out", "report.html") });
    const text = readFileSync(res.json, "utf8");
    expect(text).toContain('\n  "schema": 2,');
    expect(JSON.parse(text)).toEqual(r);
    expect(readFileSync(res.html, "utf8")).toContain("<!DOCTYPE html>");
    expect(await loadReport(join(d, "out"))).toEqual(r);
    expect(await loadReport(res.json)).toEqual(r);
    expect(readdirSync(join(d, "out")).sort()).toEqual(["report.html", "report.json"]); // no temp files left
    if (process.env.CTXWIN_REPORT_DEMO) await renderReport(r, process.env.CTXWIN_REPORT_DEMO);
  });

  it("accepts a partial (interrupted) report and one without any evaluated document", async () => {
    expect(validateReport(JSON.parse(JSON.stringify(partialReport())))).toBeTruthy();
    const r = JSON.parse(JSON.stringify(makeReport({ drop: METHODS.map((m) => m.id) })));
    r.evaluation.documents = [];
    r.models = [];
    r.config.interrupted = "interrupted during corpus";
    expect(validateReport(r)).toBe(r);
  });

  it("loads NaN/Infinity written as null", async () => {
    const d = tmp();
    const r = makeReport();
    r.methods[0]!.nll[3] = NaN;
    r.methods[1]!.nll[2] = Infinity;
    r.methods[1]!.passkey[0]!.meanLogLik = -Infinity;
    await renderReport(r, d);
    const back = await loadReport(d);
    expect(back.methods[0]!.nll[3]).toBeNull();
    expect(back.methods[1]!.nll[2]).toBeNull();
    expect(back.methods[1]!.passkey[0]!.meanLogLik).toBeNull();
  });

  it("rejects missing, malformed and wrong-schema files naming the file and field", async () => {
    const d = tmp();
    const file = join(d, "report.json");
    let e = await rejects(loadReport(d));
    expect(e.code).toBe("ERR_ARG");
    expect(e.message).toContain(file);
    expect(e.message).toContain("no such file");

    writeFileSync(file, "{ not json");
    e = await rejects(loadReport(d));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toContain(file);
    expect(e.message).toContain("expected JSON");

    const cases: [(r: Record<string, any>) => void, string][] = [
      [(r) => (r.schema = 3), "schema: expected 2 (a ctxwin study report, schema 2), got 3"],
      [(r) => delete r.methods, "methods: expected an array, got undefined"],
      [(r) => (r.methods[3].docNll[1] = r.methods[3].docNll[1].slice(1)), "methods[3] (nope-pv-r4).docNll[1]: expected one NLL sum per evaluation document (16) or null"],
      [(r) => (r.methods[6].docNll = r.methods[6].docNll.slice(1)), "methods[6] (alibi-pi).docNll: expected one row per length (4)"],
      [(r) => (r.methods[6].docNll[2][5] = "x"), 'methods[6] (alibi-pi).docNll[2][5]: expected a number, got "x"'],
      [(r) => (r.methods[0].docTargets = [32]), "methods[0] (nope).docTargets: expected one target count per evaluation document (16)"],
      [(r) => (r.methods[2].nll = [1, 2]), "methods[2] (nope-pv-r2).nll: expected one value per length (4)"],
      [(r) => (r.methods[5].nll[1] = "12"), 'methods[5] (alibi).nll[1]: expected a number or null, got "12"'],
      [(r) => (r.methods[0].passkey = r.methods[0].passkey.slice(1)), "methods[0] (nope).passkey: expected one cell per distance bucket (4)"],
      [(r) => (r.methods[0].passkey[1].correct = 65), "methods[0] (nope).passkey[1].correct: expected at most trials (64), got 65"],
      [(r) => (r.methods[0].passkey[1].trials = 0), "methods[0] (nope).passkey[1].trials: expected a positive integer, got 0"],
      [(r) => (r.methods[0].positions.buckets[0].start = null), "methods[0] (nope).positions.buckets[0].start: expected a number, got null"],
      [(r) => (r.methods[0].seed = "002"), "methods[0] (nope).seed: expected one of"],
      [(r) => (r.methods[14].model = "rope-yarn"), "methods[14] (rope-ft).model: expected one of"],
      [(r) => (r.methods[1].sweeps[0].nll = []), "methods[1] (nope-scale).sweeps[0].nll: expected one row per value (4)"],
      [(r) => (r.methods[1].sweeps[0].nll[0] = [3.3]), "methods[1] (nope-scale).sweeps[0].nll[0]: expected one value per swept length (3)"],
      [(r) => (r.methods[1].sweeps[0].chosen = [1.1]), "methods[1] (nope-scale).sweeps[0].chosen: expected one value per swept length (3)"],
      [(r) => (r.methods[1].sweeps[0].mode = "best"), "methods[1] (nope-scale).sweeps[0].mode: expected one of"],
      [(r) => (r.models[1].lossCurve[0] = { step: "x" }), "models[1].lossCurve[0].step: expected a number"],
      [(r) => (r.models[4].base = "llama"), "models[4].base: expected one of"],
      [(r) => delete r.models[4].mixture, "models[4].mixture: expected an object, got undefined"],
      [(r) => (r.models[0].seqLen = 0), "models[0].seqLen: expected a positive integer, got 0"],
      [(r) => (r.evaluation.documents = "16"), 'evaluation.documents: expected an array, got "16"'],
      [(r) => delete r.evaluation.targets, "evaluation.targets: expected a non-negative integer, got undefined"],
      [(r) => (r.passkey.buckets[1].hi = 32), "passkey.buckets[1].hi: expected a distance above lo (64), got 32"],
      [(r) => delete r.passkey.template, "passkey.template: expected an object, got undefined"],
      [(r) => (r.deviations = "none"), 'deviations: expected an array, got "none"'],
      [(r) => (r.deviations[1] = 2), "deviations[1]: expected a string, got 2"],
      [(r) => (r.corpus.tokenizer.type = "wordpiece"), "corpus.tokenizer.type: expected one of"],
      [(r) => (r.lengths = []), "lengths: expected a non-empty array"],
      [(r) => (r.lengths = [64, 256, 128, 512]), "lengths[2]: expected a length above lengths[1] (256), got 128"],
      [(r) => (r.trainLength = 0), "trainLength: expected a positive integer, got 0"],
      [(r) => (r.timings = null), "timings: expected an object, got null"],
    ];
    for (const [mutate, msg] of cases) {
      const r = JSON.parse(JSON.stringify(makeReport()));
      mutate(r);
      writeFileSync(file, JSON.stringify(r));
      e = await rejects(loadReport(d));
      expect(e.code, msg).toBe("ERR_FORMAT");
      expect(e.message).toContain(file);
      expect(e.message).toContain(msg);
    }
    // a schema-1 report (older ctxwin): a clear message saying to re-run
    writeFileSync(file, JSON.stringify({ schema: 1, ctxwin: "0.1.0", methods: [{ id: "nope", ppl: [30, 60] }] }));
    e = await rejects(loadReport(d));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toContain(`loadReport: ${file}: schema: expected 2, got 1`);
    expect(e.message).toContain("written by an older ctxwin");
    expect(e.message).toMatch(/re-run `ctxwin study`/);
    writeFileSync(file, "[1, 2]");
    expect((await rejects(loadReport(d))).message).toContain("(top level): expected an object, got [1, 2]");
    expect(() => validateReport(null, "x.json")).toThrow(/x\.json: \(top level\): expected an object, got null/);
  });
});

describe("atomic writes", () => {
  it("a write failing half-way leaves the previous file intact and no temp file", async () => {
    const d = tmp();
    const file = join(d, "report.html");
    writeFileSync(file, "OLD");
    const io: AtomicIo = {
      ...realIo,
      async writeFile(p, data) {
        await fsWriteFile(p, data.slice(0, 10)); // partial content, then the disk fills up
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      },
    };
    await expect(writeFileAtomic(file, "NEW CONTENT THAT IS LONG", io)).rejects.toThrow(/ENOSPC/);
    expect(readFileSync(file, "utf8")).toBe("OLD");
    expect(readdirSync(d)).toEqual(["report.html"]);
  });

  it("a failing rename leaves the previous file intact", async () => {
    const d = tmp();
    const file = join(d, "report.json");
    writeFileSync(file, "OLD");
    const io: AtomicIo = { ...realIo, rename: async () => Promise.reject(new Error("EXDEV")) };
    await expect(writeFileAtomic(file, "NEW", io)).rejects.toThrow(/EXDEV/);
    expect(readFileSync(file, "utf8")).toBe("OLD");
    expect(readdirSync(d)).toEqual(["report.json"]);
  });

  it("renderReport: a failed html write keeps the old report.html", async () => {
    const d = tmp();
    await renderReport(makeReport(), d);
    const oldHtml = readFileSync(join(d, "report.html"), "utf8");
    const r2 = makeReport();
    r2.seed = 7;
    const io: AtomicIo = {
      ...realIo,
      async writeFile(p, data) {
        if (p.includes("report.html")) throw new Error("EIO: i/o error");
        await fsWriteFile(p, data);
      },
    };
    await expect(renderReport(r2, d, io)).rejects.toThrow(/EIO/);
    expect(readFileSync(join(d, "report.html"), "utf8")).toBe(oldHtml);
    expect(readdirSync(d).sort()).toEqual(["report.html", "report.json"]);
  });

  it("renderReport: a rendering error writes nothing", async () => {
    const d = tmp();
    await renderReport(makeReport(), d);
    const before = readFileSync(join(d, "report.json"), "utf8");
    const broken = makeReport();
    Object.defineProperty(broken, "methods", {
      enumerable: false,
      get() {
        throw new Error("boom");
      },
    });
    await expect(renderReport(broken, d)).rejects.toThrow(/boom/);
    expect(readFileSync(join(d, "report.json"), "utf8")).toBe(before);
  });
});

describe("reportCommand", () => {
  it("re-renders report.html from report.json and returns the summary", async () => {
    const d = tmp();
    const r = makeReport();
    writeFileSync(join(d, "report.json"), JSON.stringify(r, null, 2));
    const jsonBefore = statSync(join(d, "report.json")).mtimeMs;
    const summary = await reportCommand(d, { color: false });
    expect(summary).toContain("method");
    expect(summary).toContain("✓ G1  RoPE fails past L");
    expect(summary).toContain("✓ 000");
    expect(summary).not.toContain("\x1b");
    const html = readFileSync(join(d, "report.html"), "utf8");
    expect(html).toContain("7 of 7 reproduced, 0 not reproduced, 0 not testable at this scale.");
    expect(statSync(join(d, "report.json")).mtimeMs).toBe(jsonBefore);
    // the .json path works too
    await reportCommand(join(d, "report.json"), { color: false });
    expect(readdirSync(d).sort()).toEqual(["report.html", "report.json"]);
  });

  it("fails with ERR_FORMAT on a malformed report.json", async () => {
    const d = tmp();
    writeFileSync(join(d, "report.json"), JSON.stringify({ schema: 2, methods: "x" }));
    const e = await rejects(reportCommand(d));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toMatch(/report\.json: ctxwin: expected a string, got undefined/);
  });
});
