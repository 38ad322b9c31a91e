import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile as fsWriteFile, rename as fsRename, unlink as fsUnlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadReport, renderReport, reportCommand, validateReport, writeFileAtomic, type AtomicIo } from "../../lib/report/index.js";
import { makeReport } from "./fixture.js";

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
    expect(text).toContain('\n  "schema": 1,');
    expect(JSON.parse(text)).toEqual(r);
    expect(readFileSync(res.html, "utf8")).toContain("<!DOCTYPE html>");
    expect(await loadReport(join(d, "out"))).toEqual(r);
    expect(await loadReport(res.json)).toEqual(r);
    expect(readdirSync(join(d, "out")).sort()).toEqual(["report.html", "report.json"]); // no temp files left
    if (process.env.CTXWIN_REPORT_DEMO) await renderReport(r, process.env.CTXWIN_REPORT_DEMO);
  });

  it("loads NaN/Infinity written as null", async () => {
    const d = tmp();
    const r = makeReport();
    r.methods[0]!.ppl[3] = NaN;
    r.methods[1]!.ppl[2] = Infinity;
    await renderReport(r, d);
    const back = await loadReport(d);
    expect(back.methods[0]!.ppl[3]).toBeNull();
    expect(back.methods[1]!.ppl[2]).toBeNull();
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
      [(r) => (r.schema = 2), "schema: expected 1"],
      [(r) => delete r.methods, "methods: expected an array, got undefined"],
      [(r) => (r.methods[2].ppl = [1, 2]), "methods[2] (nope-pv).ppl: expected one value per length (4)"],
      [(r) => (r.methods[3].ppl[1] = "12"), 'methods[3] (alibi).ppl[1]: expected a number or null, got "12"'],
      [(r) => (r.methods[0].passkey[1][2] = 1.5), "methods[0] (nope).passkey[1][2]: expected an accuracy in [0, 1], got 1.5"],
      [(r) => (r.methods[0].seed = "002"), "methods[0] (nope).seed: expected one of"],
      [(r) => (r.methods[2].sweeps[0].ppl = []), "methods[2] (nope-pv).sweeps[0].ppl: expected one row per value (3)"],
      [(r) => (r.models[1].lossCurve[0] = { step: "x" }), "models[1].lossCurve[0].step: expected a number"],
      [(r) => (r.corpus.tokenizer.type = "wordpiece"), "corpus.tokenizer.type: expected one of"],
      [(r) => (r.lengths = []), "lengths: expected a non-empty array"],
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
    expect(summary).toContain("✓ 000");
    expect(summary).not.toContain("\x1b");
    const html = readFileSync(join(d, "report.html"), "utf8");
    expect(html).toContain("7 of 7 findings reproduced");
    expect(statSync(join(d, "report.json")).mtimeMs).toBe(jsonBefore);
    // the .json path works too
    await reportCommand(join(d, "report.json"), { color: false });
    expect(readdirSync(d).sort()).toEqual(["report.html", "report.json"]);
  });

  it("fails with ERR_FORMAT on a malformed report.json", async () => {
    const d = tmp();
    writeFileSync(join(d, "report.json"), JSON.stringify({ schema: 1, methods: "x" }));
    const e = await rejects(reportCommand(d));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toMatch(/report\.json: ctxwin: expected a string, got undefined/);
  });
});
