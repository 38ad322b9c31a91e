/**
 * The `ctxwin analyze positional` pipeline (lib/analyze/command.ts parses its arguments): checks the model directory (config.json, weights,
 * tokenizer.json), loads the model and tokenizer, reads and encodes the corpus, runs
 * analyzePositional, renders report.json + report.html through lib/report, and only then writes
 * them (both staged, then renamed: a failure anywhere leaves nothing half-written; the output
 * directory is created at that last step).
 *
 * Model kind: a study model's study_meta.json names it (nope, rope, alibi, window; its fine-tunes
 * are RoPE models); otherwise the positional scheme and windows of config.json decide.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CtxwinError } from "../errors.js";
import { packageRoot, packageVersion } from "../backend.js";
import { writeAllAtomic, writeFully } from "../util/atomic.js";
import type { Device } from "../tensor.js";
import { loadModel } from "../models/load.js";
import type { CausalLM } from "../models/causal_lm.js";
import { loadTokenizer } from "../models/tokenizer/index.js";
import type { Tokenizer } from "../models/tokenizer/types.js";
import { loadBrown, loadFiles, type Corpus } from "../study/corpus.js";
import { createStageProgress, type ProgressSink } from "../util/progress.js";
import { renderPositionalHtml, renderPositionalSummary } from "../report/positional.js";
import { analyzePositional, checkLengths, modelKind } from "./positional.js";
import type { MethodSpec } from "./methods.js";
import { readStudyParams } from "./study_params.js";
import type { ModelKind, PositionalReport } from "./positional_schema.js";

const CMD = "analyze positional";

export interface AnalyzePositionalCommand {
  /** Model directory (study model or HF checkpoint with tokenizer.json). */
  model: string;
  /** Text files (default: the Brown corpus). */
  corpus?: string[];
  lengths?: number[] | null;
  samples?: number;
  attentionSamples?: number;
  methods?: (string | MethodSpec)[] | null;
  trainLength?: number | null;
  /** Output directory (default ./ctxwin-analyze). */
  out?: string;
  device?: Device;
  seed?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** The ctxwin version written into the report (default: package.json's). */
  version?: string;
}

export interface AnalyzePositionalResult {
  report: PositionalReport;
  json: string;
  html: string;
  /** The terminal summary. */
  summary: string;
}


/** Re-labels an error of a reused loader (the study's corpus, loadModel) for this command. */
function relabel(e: unknown, prefix: string): never {
  if (e instanceof CtxwinError) throw new CtxwinError(e.code, `${prefix}${e.message.replace(/^study: /, "").replace(/^analyzePositional: /, `${CMD}: `)}`);
  throw e;
}

function checkModelDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new CtxwinError("ERR_ARG", `${CMD}: --model: expected a model directory (config.json, *.safetensors, tokenizer.json), got ${JSON.stringify(dir)} (no such directory)`);
  }
  if (!st.isDirectory()) throw new CtxwinError("ERR_ARG", `${CMD}: --model: expected a model directory (config.json, *.safetensors, tokenizer.json), got ${JSON.stringify(dir)} (a file)`);
  for (const f of ["config.json", "tokenizer.json"]) {
    if (!existsSync(join(dir, f))) throw new CtxwinError("ERR_ARG", `${CMD}: --model: expected a model directory with ${f}, got ${JSON.stringify(dir)} (no ${f} in it)`);
  }
}

/** The kind from study_meta.json (a study model), else null. */
export function studyKind(dir: string): ModelKind | null {
  const file = join(dir, "study_meta.json");
  if (!existsSync(file)) return null;
  try {
    const name = (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name;
    if (name === "nope" || name === "rope" || name === "alibi" || name === "window") return name;
    if (typeof name === "string" && name.endsWith("-ft")) return "rope";
  } catch {
    /* not a study model after all */
  }
  return null;
}

/** Documents → one stream, each followed by EOS when the tokenizer has one. */
function encodeCorpus(tok: Tokenizer, corpus: Corpus): Int32Array {
  const parts = corpus.documents.map((d) => tok.encode(d.text, { addSpecialTokens: false }));
  const eos = tok.eosId;
  const out = new Int32Array(parts.reduce((a, p) => a + p.length + (eos === undefined ? 0 : 1), 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    if (eos !== undefined) out[o++] = eos;
  }
  return out;
}

/** Runs the command (see the file header). */
export async function runAnalyzePositional(o: AnalyzePositionalCommand): Promise<AnalyzePositionalResult> {
  const progress = o.progress ?? createStageProgress();
  if (typeof o.model !== "string" || !o.model) throw new CtxwinError("ERR_ARG", `${CMD}: --model: expected a model directory, got ${JSON.stringify(o.model)}`);
  const dir = resolve(o.model);
  checkModelDir(dir);
  const out = resolve(o.out ?? "ctxwin-analyze");
  progress.stage(`load ${dir}`);
  let model: CausalLM;
  try {
    model = await loadModel(dir, { device: o.device ?? "cpu" });
  } catch (e) {
    relabel(e, `${CMD}: --model ${o.model}: `);
  }
  try {
    const tok = await loadTokenizer(dir).catch((e) => relabel(e, `${CMD}: --model ${o.model}: `));
    const L = o.trainLength ?? model.config.maxPositions;
    if (!(Number.isInteger(L) && L >= 2)) throw new CtxwinError("ERR_ARG", `${CMD}: --train-length: expected an integer ≥ 2 (the model's config has max_position_embeddings ${model.config.maxPositions}), got ${L}`);
    let lengths: number[];
    try {
      lengths = checkLengths(o.lengths ?? [L, 2 * L, 4 * L], L, "--lengths");
    } catch (e) {
      relabel(e, "");
    }
    const sk = studyKind(dir);
    progress.done(`${model.config.modelType}, ${model.numLayers} layers, d = ${model.config.hiddenSize}, L = ${L}, ${sk ?? modelKind(model)} model`);

    progress.stage("corpus");
    let corpus: Corpus;
    try {
      corpus = o.corpus?.length ? loadFiles(o.corpus) : loadBrown(0);
    } catch (e) {
      relabel(e, `${CMD}: `);
    }
    const stream = encodeCorpus(tok, corpus);
    const need = lengths[lengths.length - 1]! - (tok.bosId === undefined ? 0 : 1) + 1;
    if (stream.length < need) throw new CtxwinError("ERR_ARG", `${CMD}: --corpus: expected text of at least ${need} tokens (a window of the longest length ${lengths[lengths.length - 1]}), got ${stream.length} tokens in ${corpus.source}`);
    progress.done(`${corpus.documents.length} documents, ${stream.length} tokens`);

    let report: PositionalReport;
    try {
      report = await analyzePositional(model, {
        stream,
        bos: tok.bosId ?? null,
        trainLength: L,
        lengths,
        samples: o.samples,
        attentionSamples: o.attentionSamples,
        methods: o.methods ?? undefined,
        ...(sk ? { kind: sk, kindSource: "study_meta.json" } : {}),
        studyParams: readStudyParams(dir),
        seed: o.seed,
        progress,
        signal: o.signal,
        modelDir: dir,
        corpus: { source: corpus.source, documents: corpus.documents.length },
        version: o.version ?? packageVersion(),
      });
    } catch (e) {
      relabel(e, "");
    }
    // render everything in memory, then write both files (staged, renamed together)
    progress.stage("report");
    const jsonText = JSON.stringify(report, null, 1) + "\n";
    const html = renderPositionalHtml(report);
    const summary = renderPositionalSummary(report);
    await mkdir(out, { recursive: true });
    const json = join(out, "report.json");
    const htmlPath = join(out, "report.html");
    const bytes = (s: string) => async (fh: Parameters<Parameters<typeof writeAllAtomic>[0][number]["write"]>[0]) => writeFully(fh, Buffer.from(s, "utf8"), 0);
    await writeAllAtomic([
      { target: json, write: bytes(jsonText) },
      { target: htmlPath, write: bytes(html) },
    ]);
    progress.done(out);
    return { report, json, html: htmlPath, summary };
  } finally {
    model.dispose();
  }
}
