/**
 * The cells of `ctxwin eval` and their log: ids change with every key field and only with them;
 * the log reader keeps complete lines, ignores a torn last line (unterminated or unparsable), and
 * rejects a broken line inside the file; opening for append repairs the torn tail atomically;
 * runCells computes only the cells not in the log (compute calls counted), appends each as it
 * finishes, and stops at an abort with the finished ones logged; --methods and --lengths parsing.
 */
import { afterAll, describe, expect, it } from "vitest";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cellId, openCellLog, parseCellLog, readCellLog, runCells, parseEvalMethod, resolveEvalMethod, parseLengthItems, type CellKey, type CellRecord } from "../../dist/eval/index.js";
import { StudyAborted } from "../../dist/study/trainer.js";

const root = mkdtempSync(join(tmpdir(), "ctxwin-eval-cells-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KEY: CellKey = { model: "/m/rope", modelHash: "abc", method: "rope-pi:factor=4", length: 128, metric: "ppl", seed: 0, corpus: "c0", set: "targets=32" };

function record(key: CellKey, nll = 4.2): CellRecord {
  return { v: 1, id: cellId(key), key, result: { nll, docNll: [nll * 32], docTargets: [32], documents: ["d"], windows: 1, targets: 32 }, seconds: 0.1, device: "cpu", at: "2025-01-01T00:00:00.000Z" };
}

describe("cell keys", () => {
  it("the id depends on every key field, and on nothing else", () => {
    const id = cellId(KEY);
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(cellId({ ...KEY })).toBe(id);
    // the same fields in another object order: the same id
    const reordered = Object.fromEntries(Object.entries(KEY).reverse()) as unknown as CellKey;
    expect(cellId(reordered)).toBe(id);
    const changes: Partial<CellKey>[] = [{ model: "/m/rope2" }, { modelHash: "abd" }, { method: "rope-pi:factor=2" }, { length: 256 }, { metric: "passkey" }, { seed: 1 }, { corpus: "c1" }, { set: "targets=16" }];
    const ids = changes.map((c) => cellId({ ...KEY, ...c }));
    for (const x of ids) expect(x).not.toBe(id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("the log", () => {
  const a = record(KEY, 4.1);
  const b = record({ ...KEY, length: 256 }, 4.3);
  const line = (r: CellRecord) => JSON.stringify(r) + "\n";

  it("reads complete lines; an absent file is an empty log", async () => {
    const p = parseCellLog(line(a) + line(b));
    expect([...p.records.keys()]).toEqual([a.id, b.id]);
    expect(p.lines).toBe(2);
    expect(p.torn).toBeNull();
    expect(p.valid).toBe(line(a) + line(b));
    const none = await readCellLog(join(root, "absent.jsonl"));
    expect(none.records.size).toBe(0);
    expect(parseCellLog("").records.size).toBe(0);
  });

  it("ignores a torn last line: cut short (no newline) or not a record", () => {
    const full = line(a) + line(b);
    for (const cut of [10, full.length - line(b).length + 5, full.length - 1]) {
      const p = parseCellLog(full.slice(0, cut));
      expect(p.torn).not.toBeNull();
      expect(p.valid).toBe(cut > line(a).length ? line(a) : "");
      expect(p.records.has(b.id)).toBe(false);
    }
    const garbage = parseCellLog(line(a) + '{"v":1,"id":"x"\n');
    expect(garbage.torn).toBe('{"v":1,"id":"x"');
    expect([...garbage.records.keys()]).toEqual([a.id]);
    expect(garbage.valid).toBe(line(a));
  });

  it("a broken line inside the file is ERR_FORMAT naming the file and line; blank lines are skipped; a repeated key: the later line wins", () => {
    expect(() => parseCellLog(line(a) + "not json\n" + line(b), "out/cells.jsonl")).toThrow(/eval: out\/cells\.jsonl: line 2: expected a cell record/);
    expect(() => parseCellLog(line(a) + '{"v":2}\n' + line(b))).toThrow(/line 2/);
    const p = parseCellLog(line(a) + "\n" + line({ ...a, seconds: 9 }));
    expect(p.records.size).toBe(1);
    expect(p.records.get(a.id)!.seconds).toBe(9);
  });

  it("opening for append rewrites a torn tail away, atomically, then appends on a line of its own", async () => {
    const file = join(root, "torn.jsonl");
    writeFileSync(file, line(a) + line(b).slice(0, 30));
    const log = await openCellLog(file);
    expect(log.torn).not.toBeNull();
    expect(readFileSync(file, "utf8")).toBe(line(a));
    expect(readdirSync(root).filter((f) => f.includes(".tmp-"))).toEqual([]);
    await log.append(b);
    expect(readFileSync(file, "utf8")).toBe(line(a) + line(b));
    expect(log.has(b.id)).toBe(true);
    const again = await readCellLog(file);
    expect(again.torn).toBeNull();
    expect(again.records.size).toBe(2);
    // a clean log is left as it is
    const before = readFileSync(file, "utf8");
    await openCellLog(file);
    expect(readFileSync(file, "utf8")).toBe(before);
  });
});

describe("runCells", () => {
  const cells = [128, 256, 512, 1024].map((length) => ({ id: cellId({ ...KEY, length }), length }));

  it("computes only the cells not in the log (compute calls counted) and appends each as it finishes", async () => {
    const file = join(root, "run.jsonl");
    const log = await openCellLog(file);
    await log.append(record({ ...KEY, length: 256 }));
    const calls: number[] = [];
    const order: string[] = [];
    const r = await runCells(
      cells,
      log,
      async (c) => {
        calls.push(c.length);
        // every earlier computed cell is in the file before the next one starts
        expect(readFileSync(file, "utf8").trim().split("\n").length).toBe(calls.length);
        return record({ ...KEY, length: c.length });
      },
      { onCell: (c, computed) => order.push(`${c.length}:${computed}`) },
    );
    expect(calls).toEqual([128, 512, 1024]);
    expect(r.computed.map((c) => c.length)).toEqual([128, 512, 1024]);
    expect(r.reused.map((c) => c.length)).toEqual([256]);
    expect(order).toEqual(["128:true", "256:false", "512:true", "1024:true"]);
    // a second pass computes nothing
    let more = 0;
    const log2 = await openCellLog(file);
    const r2 = await runCells(cells, log2, async (c) => {
      more++;
      return record({ ...KEY, length: c.length });
    });
    expect(more).toBe(0);
    expect(r2.reused.length).toBe(4);
  });

  it("an abort stops before the next cell, or inside one; the finished cells are logged, the aborted one is not", async () => {
    const file = join(root, "abort.jsonl");
    const ac = new AbortController();
    const log = await openCellLog(file);
    let n = 0;
    await expect(
      runCells(
        cells,
        log,
        async (c) => {
          n++;
          if (n === 3) {
            ac.abort();
            throw new StudyAborted("a batch"); // what compute does when it sees the signal between batches
          }
          return record({ ...KEY, length: c.length });
        },
        { signal: ac.signal },
      ),
    ).rejects.toBeInstanceOf(StudyAborted);
    const got = await readCellLog(file);
    expect([...got.records.values()].map((r) => r.key.length)).toEqual([128, 256]);
    // aborted before a cell starts: nothing is computed
    let calls = 0;
    await expect(runCells(cells, await openCellLog(file), async () => (calls++, record(KEY)), { signal: ac.signal })).rejects.toBeInstanceOf(StudyAborted);
    expect(calls).toBe(0);
    expect(existsSync(file)).toBe(true);
  });
});

describe("--methods and --lengths", () => {
  it("parses ids, aliases and parameters; unknown ids, keys and values name --methods", () => {
    expect(parseEvalMethod("pi:factor=4")).toEqual({ id: "rope-pi", params: { factor: 4 } });
    expect(parseEvalMethod("dynamic")).toEqual({ id: "rope-dynamic", params: {} });
    expect(parseEvalMethod("window:size=32")).toEqual({ id: "window", params: { size: 32 } });
    expect(() => parseEvalMethod("bogus")).toThrow(/eval: --methods: expected one of trained, .* got "bogus"/);
    expect(() => parseEvalMethod("yarn:scale=2")).toThrow(/eval: --methods: yarn:scale=2: expected the parameter factor, got scale=2/);
    expect(() => parseEvalMethod("yarn:factor=0.5")).toThrow(/factor: expected a number ≥ 1/);
    expect(() => parseEvalMethod("yarn:factor=x")).toThrow(/eval: --methods: expected a number for factor/);
    expect(() => parseEvalMethod("nope-scale")).toThrow(/expected a temperature/);
    expect(() => parseEvalMethod("nope-pv-r4")).toThrow(/positional-vector replacement needs/);
    expect(() => parseEvalMethod("yarn-ft")).toThrow(/a study fine-tune is a checkpoint/);
    expect(() => parseEvalMethod("window:size=2.5")).toThrow(/size: expected an integer/);
  });

  it("resolves parameters per model (the study's definitions); another scheme's method is n/a with the reason", () => {
    const rope = { kind: "rope" as const, L: 64, W: 0, lengths: [64, 128, 256] };
    const yarn = resolveEvalMethod(parseEvalMethod("yarn"), rope);
    expect(yarn.canonical).toBe("yarn:factor=4"); // longest / L
    expect(yarn.na).toBeNull();
    expect(yarn.at(128)).toEqual({ positional: { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 64 } } });
    expect(resolveEvalMethod(parseEvalMethod("dynamic-pi"), rope).at(256)).toEqual({ positional: { type: "rope", scaling: { type: "linear", factor: 4 } } });
    expect(resolveEvalMethod(parseEvalMethod("trained"), rope).at(256)).toEqual({});
    expect(resolveEvalMethod(parseEvalMethod("window:size=16"), rope).at(256)).toEqual({ window: 16 });
    const pi = resolveEvalMethod(parseEvalMethod("alibi-pi"), rope);
    expect(pi.na).toMatch(/alibi-pi is for an ALiBi model; this is a RoPE model/);
    expect(resolveEvalMethod(parseEvalMethod("alibi"), rope).na).toMatch(/for an ALiBi model/);
    const alibi = { kind: "alibi" as const, L: 64, W: 0, lengths: [64, 128] };
    expect(resolveEvalMethod(parseEvalMethod("alibi-pi"), alibi).at(128)).toEqual({ positional: { type: "alibi", trainLength: 64 } });
    const scale = resolveEvalMethod(parseEvalMethod("nope-scale:lambda=1.2"), { kind: "nope", L: 64, W: 0, lengths: [64, 128] });
    expect(scale.at(64)).toEqual({});
    expect(scale.at(128)).toEqual({ scaleMultiplier: 1.2 });
    const ext = resolveEvalMethod(parseEvalMethod("window-ext"), { kind: "window", L: 64, W: 16, lengths: [64, 128] });
    expect(ext.canonical).toBe("window-ext:lambda=1");
    expect(ext.at(128)).toEqual({ window: 32, scaleMultiplier: 1 });
  });

  it("lengths: tokens or multiples of L; bad items name --lengths", () => {
    expect(parseLengthItems(["512", "1L", "L", "0.5L", 64])).toEqual([
      { text: "512", tokens: 512 },
      { text: "1L", multiple: 1 },
      { text: "L", multiple: 1 },
      { text: "0.5L", multiple: 0.5 },
      { text: "64", tokens: 64 },
    ]);
    expect(() => parseLengthItems(["abc"])).toThrow(/eval: --lengths: expected token counts or multiples of the trained length .* got "abc"/);
    expect(() => parseLengthItems(["1"])).toThrow(/--lengths: expected lengths of at least 2 tokens/);
    expect(() => parseLengthItems(["0L"])).toThrow(/--lengths: expected a positive multiple of L/);
    expect(() => parseLengthItems([])).toThrow(/--lengths: expected one or more lengths/);
  });
});
