/**
 * Malformed tokenizer files give CtxwinError ERR_FORMAT naming the file (and the JSON path);
 * random corruptions of a valid file never crash with anything else.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CtxwinError } from "../../dist/errors.js";
import { loadTokenizer, saveTokenizer, tokenizerFromJSON } from "../../dist/models/tokenizer/index.js";
import { FIXTURES, readFixture, rng } from "./util.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ctxwin-tokerr-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function dirWith(content: string | object, config?: string | object): Promise<{ dir: string; file: string }> {
  const dir = join(root, `case${n++}`);
  await mkdir(dir);
  const file = join(dir, "tokenizer.json");
  await writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
  if (config !== undefined) await writeFile(join(dir, "tokenizer_config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return { dir, file };
}

async function formatError(dir: string): Promise<CtxwinError> {
  try {
    await loadTokenizer(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(CtxwinError);
    expect((e as CtxwinError).code).toBe("ERR_FORMAT");
    return e as CtxwinError;
  }
  throw new Error(`loadTokenizer(${dir}) did not throw`);
}

const base = (): any => readFixture("gpt2-mini");

describe("loadTokenizer errors", () => {
  it("missing directory", async () => {
    const e = await formatError(join(root, "nope"));
    expect(e.message).toMatch(/^loadTokenizer: .*nope: expected a directory containing tokenizer\.json, got no such file or directory/);
  });

  it("directory without tokenizer.json", async () => {
    const dir = join(root, "empty");
    await mkdir(dir);
    const e = await formatError(dir);
    expect(e.message).toContain(join(dir, "tokenizer.json"));
    expect(e.message).toMatch(/no such file/);
  });

  it("invalid JSON and a truncated file", async () => {
    const bad = await dirWith("{ not json");
    expect((await formatError(bad.dir)).message).toMatch(new RegExp(`^loadTokenizer: ${escape(bad.file)}: expected valid JSON, got a parse error`));
    const text = JSON.stringify(base());
    const cut = await dirWith(text.slice(0, Math.floor(text.length * 0.6)));
    const e = await formatError(cut.dir);
    expect(e.message).toContain(cut.file);
    expect(e.message).toMatch(/truncated\?/);
    expect((await formatError((await dirWith("")).dir)).message).toMatch(/valid JSON/);
  });

  it("unsupported model types name the supported one", async () => {
    for (const type of ["Unigram", "WordLevel"]) {
      const j = base();
      j.model = { type, vocab: type === "Unigram" ? [["a", 0]] : { a: 0 } };
      const { dir, file } = await dirWith(j);
      const e = await formatError(dir);
      expect(e.message).toContain(file);
      expect(e.message).toContain(`model.type: expected "BPE"`);
      expect(e.message).toContain(`got "${type}"`);
    }
    const j = base();
    j.model = { vocab: [["a", 0]], unk_id: 0 }; // untyped Unigram
    expect((await formatError((await dirWith(j)).dir)).message).toMatch(/model\.type: expected "BPE".*got "Unigram"/);
  });

  it("missing or mistyped fields", async () => {
    const cases: [(j: any) => void, RegExp][] = [
      [(j) => delete j.model.merges, /model\.merges: expected an array, got undefined/],
      [(j) => delete j.model.vocab, /model\.vocab: expected an object/],
      [(j) => delete j.model, /model: expected an object, got undefined/],
      [(j) => (j.model.vocab["Ġ"] = -1), /model\.vocab\["Ġ"\]: expected an integer/],
      [(j) => (j.model.vocab["Ġ"] = "5"), /model\.vocab\["Ġ"\]: expected an integer/],
      [(j) => (j.model.merges[3] = "a b c"), /model\.merges\[3\]: expected "left right"/],
      [(j) => (j.model.merges[3] = ["a"]), /model\.merges\[3\]: expected a merge/],
      [(j) => (j.model.merges[0] = "Ġ 日"), /model\.merges\[0\]: expected merge parts that are in model\.vocab, got "日"/],
      [(j) => j.model.merges.push("x y"), /result is in model\.vocab \("xy" is not\)/],
      [(j) => (j.model.unk_token = "<unk>"), /model\.unk_token: expected a token in model\.vocab/],
      [(j) => (j.model = { type: "WordPiece", vocab: { a: 0 }, unk_token: "[UNK]" }), /model\.unk_token: expected a token in model\.vocab \(WordPiece needs its unknown token\)/],
      [(j) => (j.model = { type: "WordPiece", vocab: { "[UNK]": 0 }, max_input_chars_per_word: -1 }), /model\.max_input_chars_per_word: expected an integer/],
      [(j) => (j.normalizer = { type: "BertNormalizer", clean_text: 1 }), /normalizer\.clean_text: expected a boolean/],
      [(j) => (j.added_tokens = {}), /added_tokens: expected an array/],
      [(j) => delete j.added_tokens[0].id, /added_tokens\[0\]\.id: expected an integer/],
      [(j) => (j.added_tokens[0].content = 5), /added_tokens\[0\]\.content: expected a string/],
      [(j) => (j.pre_tokenizer = { type: "UnicodeScripts" }), /pre_tokenizer\.type: expected one of the supported pre_tokenizer types \(BertPreTokenizer, ByteLevel, Split/],
      [(j) => (j.pre_tokenizer = { type: "Split", pattern: { Regex: "\\p{N}++" }, behavior: "Isolated", invert: false }), /pre_tokenizer\.pattern\.Regex: expected a regex JS can run \(possessive/],
      [(j) => (j.pre_tokenizer = { type: "Split", pattern: { Regex: "(" }, behavior: "Isolated", invert: false }), /pre_tokenizer\.pattern\.Regex: expected a regex JS can run/],
      [(j) => (j.pre_tokenizer = { type: "Split", pattern: { Glob: "*" }, behavior: "Isolated" }), /pre_tokenizer\.pattern: expected \{"String": \.\.\.\} or \{"Regex": \.\.\.\}/],
      [(j) => (j.pre_tokenizer = { type: "Split", pattern: { String: " " }, behavior: "Sideways" }), /pre_tokenizer\.behavior: expected one of Removed, Isolated/],
      [(j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "ByteLevel" }, { type: "Nope" }] }), /pre_tokenizer\.pretokenizers\[1\]\.type: expected one of the supported/],
      [(j) => (j.normalizer = { type: "Precompiled", precompiled_charsmap: "" }), /normalizer\.type: expected one of the supported normalizer types/],
      [(j) => (j.decoder = { type: "CTC" }), /decoder\.type: expected one of the supported decoder types/],
      [(j) => (j.post_processor = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>" } }, { Sequence: { id: "A" } }], special_tokens: {} }), /post_processor\.single\[0\]: expected a token listed in post_processor\.special_tokens/],
      [(j) => (j.post_processor = { type: "Magic" }), /post_processor\.type: expected one of the supported post_processor types/],
      [(j) => (j.model.ignore_merges = "yes"), /model\.ignore_merges: expected a boolean/],
      [(j) => (j.model.dropout = 2), /model\.dropout: expected null or a number in \[0, 1\]/],
      [(j) => (j.model = 5), /model: expected an object, got 5/],
    ];
    for (const [mutate, re] of cases) {
      const j = base();
      mutate(j);
      const { dir, file } = await dirWith(j);
      const e = await formatError(dir);
      expect(e.message, String(mutate)).toMatch(re);
      expect(e.message.startsWith(`loadTokenizer: ${file}: `)).toBe(true);
    }
    const root2 = await dirWith([1, 2, 3]);
    expect((await formatError(root2.dir)).message).toMatch(/\(root\): expected an object, got \[1, 2, 3\]/);
  });

  it("a bad tokenizer_config.json is named too", async () => {
    const a = await dirWith(base(), "{oops");
    expect((await formatError(a.dir)).message).toContain(join(a.dir, "tokenizer_config.json"));
    const b = await dirWith(base(), { add_bos_token: "yes" });
    expect((await formatError(b.dir)).message).toMatch(/tokenizer_config\.json: add_bos_token: expected a boolean/);
    const c = await dirWith(base(), { add_bos_token: true, bos_token: "<nope>" });
    expect((await formatError(c.dir)).message).toMatch(/tokenizer_config\.json: bos_token: expected a token of the tokenizer's vocabulary, got "<nope>"/);
    const d = await dirWith(base(), { add_bos_token: true });
    expect((await formatError(d.dir)).message).toMatch(/bos_token: expected a BOS token since add_bos_token is true/);
  });

  it("tokenizerFromJSON names its source; bad arguments are ERR_ARG", async () => {
    expect(() => tokenizerFromJSON("nope", { source: "mem.json" })).toThrow(/^loadTokenizer: mem\.json: \(root\): expected an object/);
    await expect(loadTokenizer("")).rejects.toMatchObject({ code: "ERR_ARG" });
    await expect(saveTokenizer({} as any, join(root, "x"))).rejects.toMatchObject({ code: "ERR_ARG" });
    const file = join(root, "a-file");
    await writeFile(file, "x");
    const tok = await loadTokenizer(join(FIXTURES, "gpt2-mini"));
    await expect(saveTokenizer(tok, join(file, "sub"))).rejects.toMatchObject({ code: "ERR_ARG" });
  });

  it("never crashes on corrupted files: 300 random truncations and mutations → a tokenizer or ERR_FORMAT", async () => {
    const text = JSON.stringify(readFixture("llama-mini"));
    const textG = JSON.stringify(base());
    const rand = rng(31337);
    const junk: unknown[] = [null, 0, -1, 1.5, "", "x", [], {}, true, [1, "a"], { type: "BPE" }, { String: "x" }, { Regex: "[" }];
    const dir = join(root, "fuzz");
    await mkdir(dir);
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 300; i++) {
      let content: string;
      const t = i % 2 ? text : textG;
      if (i % 3 === 0) content = t.slice(0, Math.floor(rand() * t.length));
      else {
        const j = JSON.parse(t);
        // replace a random node (object value or array element) by junk
        const nodes: [any, string | number][] = [];
        const walk = (o: any): void => {
          if (o && typeof o === "object")
            for (const k of Object.keys(o)) {
              nodes.push([o, Array.isArray(o) ? Number(k) : k]);
              if (nodes.length < 5000) walk(o[k]);
            }
        };
        walk(j);
        for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
          const [o, key] = nodes[Math.floor(rand() * nodes.length)]!;
          o[key] = junk[Math.floor(rand() * junk.length)];
        }
        content = JSON.stringify(j);
      }
      await writeFile(join(dir, "tokenizer.json"), content);
      try {
        const tok = await loadTokenizer(dir);
        tok.decode(tok.encode("Hello world 日本 👋🏽 <s></s><|endoftext|>"));
        ok++;
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(CtxwinError);
        expect((e as CtxwinError).code).toBe("ERR_FORMAT");
        expect((e as CtxwinError).message).toContain(join(dir, "tokenizer.json"));
        failed++;
      }
    }
    expect(ok + failed).toBe(300);
    expect(failed).toBeGreaterThan(50);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
