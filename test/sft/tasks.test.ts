/**
 * The tasks of `ctxwin sft-study` (lib/sft/tasks.ts) and their encoding (lib/sft/sft.ts):
 * deterministic for a seed, every answer correct (recomputed from the phrase in the prompt),
 * balanced classes, compositions from names, the genre split and the mix pool.
 */
import { describe, expect, it } from "vitest";
import { byteTokenizer, CtxwinError } from "ctxwin";
import { loadBrown } from "../../dist/study/corpus.js";
import {
  BUILTIN_TASKS,
  GENRES,
  brownGenre,
  encodeExample,
  isCapitalised,
  makeTaskExamples,
  mixPool,
  sentencesOf,
  splitByGenre,
  spreadDocuments,
  taskAnswer,
  taskComponents,
  taskPrompt,
  sftRows,
} from "../../dist/sft/index.js";

const docs = spreadDocuments(loadBrown(0).documents, 60);
const INSTRUCTIONS: Record<string, string> = {
  copy: "Copy",
  reverse: "Reverse",
  caps: "Capitals",
  count: "Count",
  genre: "Genre",
  "reverse+caps": "Reverse capitals",
  "caps+count": "Count capitals",
  "count+genre": "Count and genre",
};

/** The words of a prompt "<Instruction>: w1 w2 ... =". */
function wordsOf(task: string, prompt: string): string[] {
  const head = `${INSTRUCTIONS[task]}: `;
  expect(prompt.startsWith(head)).toBe(true);
  expect(prompt.endsWith(" =")).toBe(true);
  return prompt.slice(head.length, -2).split(" ");
}

describe("sft-study tasks", () => {
  const ex = makeTaskExamples(docs, 30, 7);

  it("has five basic and three complex tasks; complex names state their components", () => {
    expect(BUILTIN_TASKS.filter((t) => t.kind === "basic").map((t) => t.name)).toEqual(["copy", "reverse", "caps", "count", "genre"]);
    const names = BUILTIN_TASKS.map((t) => t.name);
    for (const t of BUILTIN_TASKS) expect(taskComponents(t.name, names)).toEqual(t.components);
    expect([...ex.keys()]).toEqual(names);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    expect(makeTaskExamples(docs, 30, 7)).toEqual(ex);
    const other = makeTaskExamples(docs, 30, 8);
    expect(other.get("copy")).not.toEqual(ex.get("copy"));
  });

  it("gives the correct answer for every example", () => {
    for (const [task, xs] of ex) {
      expect(xs).toHaveLength(30);
      expect(new Set(xs.map((x) => x.prompt)).size).toBe(30);
      for (const x of xs) {
        const ws = wordsOf(task, x.prompt);
        for (const w of ws) expect(w).toMatch(/^[A-Za-z]+$/);
        expect(x.prompt).toBe(taskPrompt(task, ws));
        const caps = ws.filter(isCapitalised);
        switch (task) {
          case "copy":
            expect(x.response).toBe(` ${ws.join(" ")}`);
            expect(ws.length).toBeGreaterThanOrEqual(3);
            expect(ws.length).toBeLessThanOrEqual(5);
            break;
          case "reverse":
            expect(x.response).toBe(` ${[...ws].reverse().join(" ")}`);
            break;
          case "caps":
            expect(caps.length).toBeGreaterThanOrEqual(1);
            expect(caps.length).toBeLessThanOrEqual(2);
            expect(x.response).toBe(` ${caps.join(" ")}`);
            break;
          case "count":
            expect(x.response).toBe(` ${ws.length}`);
            break;
          case "genre":
            expect(GENRES).toContain(x.response.slice(1));
            break;
          case "reverse+caps":
            expect(caps.length).toBeGreaterThanOrEqual(2);
            expect(x.response).toBe(` ${[...caps].reverse().join(" ")}`);
            expect(x.response).toBe(taskAnswer("reverse+caps", ws));
            break;
          case "caps+count":
            expect(x.response).toBe(` ${caps.length}`);
            break;
          case "count+genre": {
            const [n, g] = x.response.slice(1).split(" - ");
            expect(n).toBe(String(ws.length));
            expect(GENRES).toContain(g);
            break;
          }
        }
      }
    }
  });

  it("balances the genres and the capital counts", () => {
    const count = (xs: string[]) => xs.reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());
    for (const task of ["genre", "count+genre"]) {
      const c = count(ex.get(task)!.map((x) => x.response.split(" - ").pop()!.trim()));
      expect([...c.keys()].sort()).toEqual([...GENRES].sort());
      for (const n of c.values()) expect(n).toBe(10);
    }
    const c = count(ex.get("caps+count")!.map((x) => x.response.trim()));
    expect([...c.entries()].sort()).toEqual([["1", 10], ["2", 10], ["3", 10]]);
  });

  it("takes the genre from the Brown category and the words from sentences without their first word", () => {
    expect(brownGenre("ca01")).toBe("press");
    expect(brownGenre("cc17")).toBe("press");
    expect(brownGenre("cd01")).toBe("nonfiction");
    expect(brownGenre("cj80")).toBe("nonfiction");
    expect(brownGenre("ck01")).toBe("fiction");
    expect(brownGenre("cr09")).toBe("fiction");
    expect(brownGenre("notes.txt")).toBeNull();
    const s = sentencesOf([{ source: "ck01", text: "The cat sat on Mr. Smith's mat. Then it left, quickly and Quietly." }]);
    expect(s).toEqual([
      { words: ["cat", "sat", "on", "Mr"], genre: "fiction" },
      { words: ["it", "left", "quickly", "and", "Quietly"], genre: "fiction" },
    ]);
    expect(taskAnswer("count+genre", ["a", "b"], "press")).toBe(" 2 - press");
    expect(() => taskAnswer("genre", ["a"])).toThrow(/genre/);
    expect(() => taskPrompt("bogus", ["a"])).toThrow(/bogus/);
  });

  it("names the task when the text is too short", () => {
    expect(() => makeTaskExamples(docs.slice(0, 1), 200, 0, ["genre"])).toThrow(/task genre: expected 200 examples/);
  });

  it("reads compositions from names and rejects unknown or complex components", () => {
    const names = ["a", "b", "c", "a+b", "a+b+c", "a+zz", "a+", "a+b+a"];
    expect(taskComponents("a+b", names)).toEqual(["a", "b"]);
    expect(taskComponents("a+b+c", names)).toEqual(["a", "b", "c"]);
    expect(taskComponents("a", names)).toEqual([]);
    expect(() => taskComponents("a+zz", names, "here")).toThrow(/here: task "a\+zz": expected its component "zz" among the basic tasks/);
    expect(() => taskComponents("a+", names)).toThrow(/empty component/);
    expect(() => taskComponents("a+b+a", names)).toThrow(/distinct/);
  });

  it("splits documents by genre (every genre held out) and spreads a subset over the corpus", () => {
    const { train, validation } = splitByGenre(docs, 0.12, 3);
    expect(train.length + validation.length).toBe(docs.length);
    for (const g of GENRES) {
      expect(validation.some((d) => brownGenre(d.source) === g)).toBe(true);
      expect(train.some((d) => brownGenre(d.source) === g)).toBe(true);
    }
    expect(splitByGenre(docs, 0.12, 3)).toEqual({ train, validation });
    expect(new Set(docs.map((d) => brownGenre(d.source)))).toEqual(new Set(GENRES));
  });

  it("encodes BOS + prompt + response + EOS and pads rows", () => {
    const tok = byteTokenizer({ specialTokens: ["<eos>", "<bos>"], eosToken: "<eos>", bosToken: "<bos>" });
    const e = encodeExample(tok, { prompt: "ab =", response: " c" });
    expect(e.ids).toEqual([tok.bosId, 97, 98, 32, 61, 32, 99, tok.eosId]);
    expect(e.promptLength).toBe(5);
    expect(encodeExample(null, { prompt: [1, 2], response: [3] })).toEqual({ ids: [1, 2, 3], promptLength: 2 });
    expect(() => encodeExample(null, { prompt: "x", response: [3] })).toThrow(CtxwinError);
    const rows = sftRows([e, { ids: [1, 2, 3], promptLength: 2 }]);
    expect(rows.seqLen).toBe(7);
    expect(Array.from(rows.row(1))).toEqual([1, 2, 3, -1, -1, -1, -1, -1]);
  });

  it("draws the mix pool by the weights", () => {
    const mk = (tag: number, n: number) => Array.from({ length: n }, (_, i) => ({ ids: [tag, i], promptLength: 1 }));
    const pool = mixPool([{ weight: 0.75, examples: mk(1, 10) }, { weight: 0.25, examples: mk(2, 50) }], 40, 5);
    expect(pool).toHaveLength(40);
    expect(pool.filter((e) => e.ids[0] === 1)).toHaveLength(30);
    expect(pool.filter((e) => e.ids[0] === 2)).toHaveLength(10);
    // task 1 has 10 examples: each appears 3 times
    for (let i = 0; i < 10; i++) expect(pool.filter((e) => e.ids[0] === 1 && e.ids[1] === i)).toHaveLength(3);
    expect(mixPool([{ weight: 0.75, examples: mk(1, 10) }, { weight: 0.25, examples: mk(2, 50) }], 40, 5)).toEqual(pool);
    expect(mixPool([{ weight: 1, examples: mk(1, 4) }, { weight: 0, examples: mk(2, 4) }], 7, 1).every((e) => e.ids[0] === 1)).toBe(true);
  });
});
