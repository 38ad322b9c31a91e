/**
 * Task files of `ctxwin analyze heads` (lib/analyze/tasks.ts): JSONL {"task", "prompt",
 * "response"}; every malformed line is an ERR_FORMAT error naming the file, the line and the field.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { byteTokenizer, CtxwinError } from "ctxwin";
import { encodeTasks, parseTaskJsonl, readTaskFiles } from "../../dist/analyze/index.js";

const dir = mkdtempSync(join(tmpdir(), "ctxwin-tasks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function formatError(fn: () => unknown): CtxwinError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CtxwinError);
    expect((e as CtxwinError).code).toBe("ERR_FORMAT");
    return e as CtxwinError;
  }
  throw new Error("expected an error");
}

describe("task files", () => {
  it("parses text and token-id examples, skips blank lines, groups by task in order of appearance", async () => {
    const a = join(dir, "a.jsonl");
    const b = join(dir, "b.jsonl");
    writeFileSync(a, `{"task": "copy", "prompt": "Copy: ab\\n", "response": "ab", "extra": 1}\n\n{"task": "rev", "prompt": [1, 2], "response": [3]}\r\n`);
    writeFileSync(b, `{"task": "copy", "prompt": "", "response": "xyz"}\n`);
    const recs = await readTaskFiles([a, b]);
    expect(recs.map((r) => [r.task, r.file, r.line])).toEqual([
      ["copy", a, 1],
      ["rev", a, 3],
      ["copy", b, 1],
    ]);
    const tasks = encodeTasks(recs, 256, byteTokenizer());
    expect(tasks.map((t) => t.task)).toEqual(["copy", "rev"]);
    expect(tasks[0]!.examples).toEqual([
      { prompt: [...Buffer.from("Copy: ab\n")], response: [...Buffer.from("ab")] },
      { prompt: [], response: [...Buffer.from("xyz")] },
    ]);
    expect(tasks[0]!.files).toEqual([a, b]);
    expect(tasks[1]!.examples).toEqual([{ prompt: [1, 2], response: [3] }]);
    expect(encodeTasks(recs, 256, byteTokenizer(), { maxExamples: 1 })[0]!.examples).toHaveLength(1);
  });

  const cases: [string, string, RegExp][] = [
    ["invalid JSON", `{"task": "t", "prompt": "p", "response": "r"}\n{"task": "t", "prompt": }\n`, /readTaskFile: F line 2: expected a JSON object \{"task", "prompt", "response"\}, got invalid JSON/],
    ["not an object", `[1, 2]\n`, /F line 1: expected a JSON object .*got \[1, 2\]/],
    ["missing task", `{"prompt": "p", "response": "r"}\n`, /F line 1: field "task": expected a non-empty string, got nothing \(missing\)/],
    ["empty task", `{"task": " ", "prompt": "p", "response": "r"}\n`, /F line 1: field "task": expected a non-empty string, got " "/],
    ["missing prompt", `\n\n{"task": "t", "response": "r"}\n`, /F line 3: field "prompt": expected a string or an array of token ids, got nothing \(missing\)/],
    ["numeric response", `{"task": "t", "prompt": "p", "response": 42}\n`, /F line 1: field "response": expected a string or an array of token ids, got 42/],
    ["empty response", `{"task": "t", "prompt": "p", "response": ""}\n`, /F line 1: field "response": expected a non-empty string or array of token ids, got ""/],
    ["bad token id", `{"task": "t", "prompt": [1, -2], "response": [1]}\n`, /F line 1: field "prompt": expected token ids \(non-negative integers\), got -2 at index 1/],
    ["no examples", `\n  \n`, /readTaskFile: F: expected at least one example/],
  ];
  for (const [what, text, re] of cases) {
    it(`names file, line and field: ${what}`, () => {
      const e = formatError(() => parseTaskJsonl(text, "F"));
      expect(e.message).toMatch(re);
    });
  }

  it("checks ids against the vocabulary and text against the tokenizer, naming file, line and field", async () => {
    const f = join(dir, "c.jsonl");
    writeFileSync(f, `{"task": "t", "prompt": [1], "response": [2]}\n{"task": "t", "prompt": [1], "response": [300]}\n`);
    const recs = await readTaskFiles([f]);
    expect(formatError(() => encodeTasks(recs, 256, null)).message).toMatch(new RegExp(`${f} line 2: field "response": expected token ids below the model's vocabulary size 256, got 300`));
    writeFileSync(f, `{"task": "t", "prompt": "text", "response": [2]}\n`);
    expect(formatError(() => encodeTasks(parseTaskJsonl(`{"task": "t", "prompt": "text", "response": [2]}`, f), 256, null)).message).toMatch(
      new RegExp(`${f} line 1: field "prompt": expected token ids \\(no tokenizer`),
    );
    expect(formatError(() => encodeTasks(parseTaskJsonl(`{"task": "t", "prompt": [], "response": [2]}`, f), 256, null)).message).toMatch(/line 1: field "response": expected at least 2 tokens when the prompt is empty/);
    await expect(readTaskFiles([join(dir, "missing.jsonl")])).rejects.toThrow(/readTaskFile: .*missing\.jsonl: expected a readable JSONL file, got ENOENT/);
  });
});
