/**
 * Parity with HF transformers and PEFT themselves: test/fixtures/hf/<case>/ holds tiny random
 * checkpoints and adapters saved by transformers / peft (scripts/hf-parity.py make, run where
 * torch, transformers and peft are installed) with transformers' own logits for fixed ids.
 * Every case is loaded with loadModel (+ adapter) and must give the same logits within 1e-4
 * relative (f32). Each base checkpoint is also checked with its config.json rewritten in the other
 * transformers form (4: rope_theta + rope_scaling, 5: rope_parameters), BLOOM also without the
 * "transformer." key prefix, and every case in bf16 within bf16's precision; base models also
 * greedily generate the same 12 tokens as transformers' model.generate. Tokenizer cases
 * (tok-*: tokenizer.json trained by HF `tokenizers`) must encode and decode every text exactly
 * as `tokenizers` did.
 * CTXWIN_HF_FIXTURES=<dir> checks another fixture directory (e.g. freshly made ones).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generateAll, loadModel, loadTokenizer } from "ctxwin";
import { fmt, maxAbs, relErr } from "./reference/util.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fixtures = process.env.CTXWIN_HF_FIXTURES ?? join(root, "test", "fixtures", "hf");
const TOL = 1e-4;

interface Expected {
  case: string;
  base?: string;
  adapter?: string;
  note?: string;
  transformers: string;
  peft: string | null;
  ids: number[][];
  shape: [number, number, number];
  logits: number[];
  generate?: { prompt: number[]; tokens: number[] };
}

interface TokenizerExpected {
  case: string;
  tokenizer: true;
  note?: string;
  tokenizers: string;
  texts: { text: string; ids: number[]; idsNoSpecial: number[]; decoded: string; decodedSkipSpecial: string }[];
}

function readCases(): (Expected | TokenizerExpected)[] {
  if (!existsSync(fixtures)) return [];
  return readdirSync(fixtures)
    .filter((c) => existsSync(join(fixtures, c, "expected.json")))
    .sort()
    .map((c) => JSON.parse(readFileSync(join(fixtures, c, "expected.json"), "utf8")) as Expected | TokenizerExpected);
}

const all = readCases();
const cases = all.filter((c): c is Expected => !("tokenizer" in c));
const tokenizerCases = all.filter((c): c is TokenizerExpected => "tokenizer" in c);
if (all.length === 0) console.warn(`test/hf-parity.test.ts: no fixtures in ${fixtures}: run \`python3 scripts/hf-parity.py make ${fixtures}\` where transformers and peft are installed`);

async function logitsOf(dir: string, exp: Expected, opts: { adapter?: string; dtype?: "f32" | "bf16" } = {}): Promise<Float32Array> {
  const model = await loadModel(dir, { adapter: opts.adapter, dtype: opts.dtype });
  try {
    const t = await model.forward(exp.ids);
    expect(t.shape).toEqual(exp.shape);
    const v = await t.data();
    t.dispose();
    return v;
  } finally {
    model.dispose();
  }
}

function expectClose(got: Float32Array, exp: Expected, tol: number, what: string): void {
  const want = Float64Array.from(exp.logits);
  const r = relErr(got, want);
  expect(r, `${what}: rel err ${fmt(r)} (max abs ${fmt(maxAbs(got, want))}) vs transformers ${exp.transformers}`).toBeLessThan(tol);
}

/** A copy of a checkpoint directory (config.json and the weight files). */
function copyCheckpoint(src: string, tag: string): string {
  const dst = join(tmpdir(), `ctxwin-hf-${tag}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) if (f.endsWith(".json") || f.endsWith(".safetensors")) copyFileSync(join(src, f), join(dst, f));
  return dst;
}

/** Rewrites config.json's rope fields in the other transformers form; null when there is none to rewrite. */
function otherConfigForm(cfg: Record<string, unknown>): Record<string, unknown> | null {
  const out = { ...cfg };
  const params = cfg.rope_parameters as Record<string, unknown> | undefined;
  if (params && typeof params === "object") {
    // 5 -> 4: rope_theta + rope_scaling (null for the default type)
    delete out.rope_parameters;
    const { rope_theta, rope_type, ...rest } = params;
    out.rope_theta = rope_theta;
    out.rope_scaling = rope_type === "default" || rope_type === undefined ? null : { rope_type, ...rest };
    return out;
  }
  if (cfg.rope_theta !== undefined || cfg.rope_scaling !== undefined) {
    // 4 -> 5
    delete out.rope_theta;
    delete out.rope_scaling;
    const scaling = (cfg.rope_scaling ?? {}) as Record<string, unknown>;
    const { type, rope_type, ...rest } = scaling;
    out.rope_parameters = { rope_type: rope_type ?? type ?? "default", rope_theta: cfg.rope_theta ?? 10000, ...rest };
    return out;
  }
  return null; // BLOOM: no rope
}

/** Renames safetensors keys in place (the header is rewritten; the data is kept). */
function renameKeys(file: string, rename: (k: string) => string): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const renamed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header)) renamed[k === "__metadata__" ? k : rename(k)] = v;
  let text = JSON.stringify(renamed);
  text += " ".repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(text, "utf8"), buf.subarray(8 + n)]));
}

describe.skipIf(cases.length === 0)(`HF parity: logits of transformers/peft checkpoints (${fixtures})`, () => {
  for (const exp of cases) {
    const caseDir = join(fixtures, exp.case);
    const modelDir = exp.base ? join(fixtures, exp.base) : caseDir;
    const adapter = exp.adapter ? join(caseDir, exp.adapter) : undefined;
    const label = `${exp.case}${exp.note ? ` (${exp.note})` : ""}`;

    it(`${label}: f32 logits within ${TOL} of transformers`, async () => {
      expectClose(await logitsOf(modelDir, exp, { adapter }), exp, TOL, exp.case);
    });

    if (exp.generate) {
      const g = exp.generate;
      it(`${exp.case}: greedy generation with the KV cache = transformers' generate (${g.tokens.length} tokens)`, async () => {
        const model = await loadModel(modelDir, { adapter });
        try {
          expect(await generateAll(model, g.prompt, { maxNewTokens: g.tokens.length })).toEqual(g.tokens);
        } finally {
          model.dispose();
        }
      });
    }

    it(`${exp.case}: bf16 weights within bf16 precision`, async () => {
      expectClose(await logitsOf(modelDir, exp, { adapter, dtype: "bf16" }), exp, 5e-2, `${exp.case} bf16`);
    });

    if (!exp.base) {
      const cfg = JSON.parse(readFileSync(join(caseDir, "config.json"), "utf8")) as Record<string, unknown>;
      const other = otherConfigForm(cfg);
      if (other) {
        it(`${exp.case}: the same logits with config.json in the other transformers form`, async () => {
          const dir = copyCheckpoint(caseDir, "form");
          try {
            writeFileSync(join(dir, "config.json"), JSON.stringify(other, null, 2));
            expectClose(await logitsOf(dir, exp), exp, TOL, `${exp.case} (${cfg.rope_parameters ? "rope_scaling" : "rope_parameters"} form)`);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        });
      }
      if (cfg.model_type === "bloom") {
        it(`${exp.case}: the same logits without the "transformer." key prefix`, async () => {
          const dir = copyCheckpoint(caseDir, "noprefix");
          try {
            for (const f of readdirSync(dir).filter((x) => x.endsWith(".safetensors"))) renameKeys(join(dir, f), (k) => k.replace(/^transformer\./, ""));
            const idx = join(dir, "model.safetensors.index.json");
            if (existsSync(idx)) {
              const j = JSON.parse(readFileSync(idx, "utf8")) as { weight_map: Record<string, string> };
              j.weight_map = Object.fromEntries(Object.entries(j.weight_map).map(([k, v]) => [k.replace(/^transformer\./, ""), v]));
              writeFileSync(idx, JSON.stringify(j));
            }
            expectClose(await logitsOf(dir, exp), exp, TOL, `${exp.case} (no prefix)`);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        });
      }
    }
  }
});

describe.skipIf(tokenizerCases.length === 0)(`HF parity: tokenizer.json files trained by HF tokenizers (${fixtures})`, () => {
  for (const exp of tokenizerCases) {
    it(`${exp.case}${exp.note ? ` (${exp.note})` : ""}: encode and decode as tokenizers ${exp.tokenizers}`, async () => {
      const tok = await loadTokenizer(join(fixtures, exp.case));
      for (const t of exp.texts) {
        const what = `${exp.case} ${JSON.stringify(t.text)}`;
        expect(tok.encode(t.text), `${what}: ids`).toEqual(t.ids);
        expect(tok.encode(t.text, { addSpecialTokens: false }), `${what}: ids without special tokens`).toEqual(t.idsNoSpecial);
        expect(tok.decode(t.ids), `${what}: decode`).toBe(t.decoded);
        expect(tok.decode(t.ids, { skipSpecialTokens: true }), `${what}: decode skipping special tokens`).toBe(t.decodedSkipSpecial);
      }
    });
  }
});
