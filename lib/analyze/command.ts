/**
 * `ctxwin analyze <analysis>`: argument parsing and the run of each analysis (lib/cli.ts
 * dispatches here). Every bad argument is a CtxwinError naming the option; checks that need the
 * model come later, before anything runs.
 *   heads       lib/analyze/heads_report.ts, rendered by lib/report/heads.ts
 *   positional  lib/analyze/positional_report.ts, rendered by lib/report/positional.ts
 */
import { CtxwinError } from "../errors.js";
import { parseCommand, filesAfter, listsAfter } from "../util/args.js";
import { createStageProgress } from "../util/progress.js";
import { renderHeadsReport } from "../report/heads.js";
import { runHeadsAnalysis, type ScoreVariant } from "./heads_report.js";
import { parseMethodSpec, type MethodSpec } from "./methods.js";
import { runAnalyzePositional } from "./positional_report.js";

export const ANALYZE_HELP = `usage: ctxwin analyze <analysis> [options]   (ctxwin analyze <analysis> --help for its options)

analyses:
  heads       head activation maps of a model on tasks given as JSONL (seed 002)
  positional  positional vectors (seed 001) of a causal model: their formation, principal
              components, similarity and anchors, attention sinks, long-term decay, what happens
              past the trained length, and how extension methods change it`;

export const ANALYZE_HEADS_HELP = `usage: ctxwin analyze heads --model DIR --tasks FILE... [options]
       ctxwin analyze heads --before DIR --after DIR --tasks FILE... [options]

Scores every attention head for every task with the gradient attribution of seed 002: for each
example, Σ Γ·∂L/∂Γ over the head's output Γ (before the output projection), L the mean
cross-entropy of the response tokens; the map of a task is the mean over its examples (signed), or
of the per-example magnitudes (absolute). Then, per checkpoint: the Gini coefficient of each map,
each task's map decomposed onto the other tasks' maps (non-negative least squares with an
intercept: coefficients and R²), and k-means clusters of heads by their profile across tasks.
With --before and --after: what changed per head, how much (relative L2 change, correlation of
the maps) and Gini before → after. Writes OUT/report.json (every number) and OUT/report.html.

Task files: JSONL, one example per line: {"task": "...", "prompt": "...", "response": "..."};
prompt and response are text (encoded with the model's tokenizer.json: the prompt with its
special tokens, the response without) or arrays of token ids.

options:
  --model DIR          an HF-format checkpoint (Llama family, BLOOM) or a ctxwin-saved model
  --before DIR         the checkpoint before fine-tuning (with --after; instead of --model)
  --after DIR          the checkpoint after fine-tuning
  --tasks FILE...      JSONL task files
  --out DIR            output directory (default ./ctxwin-heads)
  --tokenizer DIR      the directory of tokenizer.json (default: the model's)
  --device DEVICE      cpu | cuda (default cpu)
  --score VARIANT      absolute | signed: the maps the analyses use (default absolute; both are saved)
  --clusters K         number of head clusters (default 4)
  --decompose METHOD   nnls | ls: non-negative or plain least squares (default nnls)
  --batch-size N       examples per forward/backward (default 8)
  --max-examples N     at most N examples per task, the first in file order (default all)
  --max-length N       truncate examples to N tokens (the prompt from the left first)
  -h, --help           this help`;

export interface HeadsArgs {
  checkpoints: { label: string; dir: string }[];
  tasks: string[];
  out: string;
  tokenizer?: string;
  device: "cpu" | "cuda";
  score: ScoreVariant;
  clusters: number;
  plainLeastSquares: boolean;
  batchSize: number;
  maxExamples?: number;
  maxLength?: number;
}

const CMD = "analyze heads";

function badOption(command: string, opt: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_ARG", `${command}: --${opt}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
}

function bad(opt: string, expected: string, got: unknown): never {
  badOption(CMD, opt, expected, got);
}

function positiveInt(opt: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) bad(opt, min > 1 ? `an integer >= ${min}` : "a positive integer", v);
  return n;
}

/** Parses `analyze heads` options (CtxwinError naming the option on bad ones); null for --help. */
export function parseHeadsArgs(args: string[]): HeadsArgs | null {
  const { values, tokens } = parseCommand(CMD, args, {
    model: { type: "string" },
    before: { type: "string" },
    after: { type: "string" },
    tasks: { type: "string", multiple: true },
    out: { type: "string" },
    tokenizer: { type: "string" },
    device: { type: "string" },
    score: { type: "string" },
    clusters: { type: "string" },
    decompose: { type: "string" },
    "batch-size": { type: "string" },
    "max-examples": { type: "string" },
    "max-length": { type: "string" },
  } as const);
  if (values.help) return null;
  const tasks = filesAfter(CMD, "tasks", tokens);
  if (tasks.length === 0) bad("tasks", "one or more JSONL task files", undefined);
  for (const o of ["model", "before", "after", "out", "tokenizer"] as const) if (values[o] === "") bad(o, "a directory", "");
  let checkpoints: HeadsArgs["checkpoints"];
  if (values.model !== undefined) {
    if (values.before !== undefined || values.after !== undefined) throw new CtxwinError("ERR_ARG", `${CMD}: expected either --model or --before with --after, got both`);
    checkpoints = [{ label: "model", dir: values.model }];
  } else if (values.before !== undefined || values.after !== undefined) {
    if (values.before === undefined) bad("before", "a directory (with --after)", undefined);
    if (values.after === undefined) bad("after", "a directory (with --before)", undefined);
    checkpoints = [
      { label: "before", dir: values.before },
      { label: "after", dir: values.after },
    ];
  } else throw new CtxwinError("ERR_ARG", `${CMD}: expected --model DIR (or --before DIR --after DIR), got neither (ctxwin ${CMD} --help lists the options)`);
  const device = values.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") bad("device", `"cpu" or "cuda"`, device);
  const score = values.score ?? "absolute";
  if (score !== "absolute" && score !== "signed") bad("score", `"absolute" or "signed"`, score);
  const decompose = values.decompose ?? "nnls";
  if (decompose !== "nnls" && decompose !== "ls") bad("decompose", `"nnls" or "ls"`, decompose);
  return {
    checkpoints,
    tasks,
    out: values.out ?? "ctxwin-heads",
    tokenizer: values.tokenizer,
    device,
    score,
    clusters: positiveInt("clusters", values.clusters) ?? 4,
    plainLeastSquares: decompose === "ls",
    batchSize: positiveInt("batch-size", values["batch-size"]) ?? 8,
    maxExamples: positiveInt("max-examples", values["max-examples"]),
    maxLength: positiveInt("max-length", values["max-length"], 2),
  };
}

async function headsCommand(args: string[], version: string): Promise<number> {
  const a = parseHeadsArgs(args);
  if (a === null) {
    console.log(ANALYZE_HEADS_HELP);
    return 0;
  }
  const controller = new AbortController();
  const onSigint = () => {
    console.error(`\nctxwin ${CMD}: stopping after the current batch ...`);
    controller.abort(new CtxwinError("ERR_ARG", `${CMD}: interrupted`));
  };
  process.on("SIGINT", onSigint);
  try {
    const progress = createStageProgress();
    const report = await runHeadsAnalysis({
      checkpoints: a.checkpoints,
      taskFiles: a.tasks,
      tokenizer: a.tokenizer,
      out: a.out,
      device: a.device,
      score: a.score,
      clusters: a.clusters,
      plainLeastSquares: a.plainLeastSquares,
      batchSize: a.batchSize,
      maxExamples: a.maxExamples,
      maxLength: a.maxLength,
      progress,
      signal: controller.signal,
      version,
    }).catch((e: unknown) => {
      if (controller.signal.aborted) {
        console.error(`ctxwin ${CMD}: interrupted, no report written`);
        return null;
      }
      throw e;
    });
    if (report === null) return 130;
    const out = await renderHeadsReport(report, a.out);
    console.log(out.summary);
    console.log("");
    console.log(`report: ${out.json}, ${out.html}`);
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

// ------------------------------------------------------------------ positional

export const ANALYZE_POSITIONAL_HELP = `usage: ctxwin analyze positional --model DIR [options]

Decomposes a causal model's hidden states into positional vectors p_{l,t} (the mean hidden state
at layer l and position t over many windows of text) up to and past the trained length L, and
writes OUT/report.json (every number) and a self-contained report.html (SVG plots): positional
signal per layer, PCA per layer coloured by position, cosine similarity and anchor tokens,
attention sinks per layer and head, attention vs distance, out-of-distribution distance past L,
the same under the extension methods that fit the model, and which of the paper's observations
hold under criteria fixed in advance.

options:
  --model DIR           a ctxwin study model (<study out>/models/<name>-<hash>) or an HF-format
                        Llama-family checkpoint (config.json, *.safetensors, tokenizer.json)
  --corpus FILE...      UTF-8 text files (default: the Brown corpus, as the study uses)
  --lengths A,B,...     analysed lengths in tokens (default L,2L,4L; the longest must be ≥ L)
  --samples N           windows averaged per run (default 128)
  --attention-samples N windows whose attention probabilities are measured (default 8)
  --method SPEC...      extension methods, as id or id:key=value,... (default: every method that
                        fits the model): nope-scale:lambda=X, nope-pv-r{r}[:layer=N,alpha=X],
                        alibi-pi, rope-pi[:factor=X], rope-ntk[:factor=X], rope-dynamic,
                        rope-dynamic-pi, yarn[:factor=X], yarn-dynamic, window-ext[:lambda=X]
  --train-length L      the length the model was trained at (default: max_position_embeddings)
  --out DIR             output directory (default ./ctxwin-analyze)
  --device DEVICE       cpu | cuda (default cpu)
  --seed N              seed of the window sampling (default 0)
  -h, --help            this help`;

export interface PositionalArgs {
  model: string;
  corpus: string[];
  lengths: number[] | null;
  samples: number;
  attentionSamples: number;
  methods: MethodSpec[] | null;
  trainLength: number | null;
  out: string;
  device: "cpu" | "cuda";
  seed: number;
}

const POSITIONAL = "analyze positional";

function badPositional(opt: string, expected: string, got: unknown): never {
  badOption(POSITIONAL, opt, expected, got);
}

function int(opt: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) badPositional(opt, min > 0 ? `an integer ≥ ${min}` : "a non-negative integer", v);
  return n;
}

/** Parses `analyze positional` options (CtxwinError naming the option on bad ones); null for --help. */
export function parsePositionalArgs(args: string[]): PositionalArgs | null {
  const { values, tokens } = parseCommand(POSITIONAL, args, {
    model: { type: "string" },
    corpus: { type: "string", multiple: true },
    lengths: { type: "string" },
    samples: { type: "string" },
    "attention-samples": { type: "string" },
    method: { type: "string", multiple: true },
    "train-length": { type: "string" },
    out: { type: "string" },
    device: { type: "string" },
    seed: { type: "string" },
  } as const);
  if (values.help) return null;
  // `--corpus a b c` / `--method x y`: positionals right after those options continue the list
  const { corpus, method: methods } = listsAfter(POSITIONAL, { corpus: "text files", method: "methods" }, tokens) as { corpus: string[]; method: string[] };
  if (values.model === undefined || values.model === "") badPositional("model", "a model directory", values.model);
  const r: PositionalArgs = {
    model: values.model,
    corpus,
    lengths: null,
    samples: 128,
    attentionSamples: 8,
    methods: methods.length ? methods.map((m) => parseMethodSpec(m)) : null,
    trainLength: null,
    out: "ctxwin-analyze",
    device: "cpu",
    seed: 0,
  };
  if (values.lengths !== undefined) {
    const parts = values.lengths.split(",").map((s) => s.trim());
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 2)) badPositional("lengths", "comma-separated integers ≥ 2 (e.g. 64,128,256)", values.lengths);
    r.lengths = parts.map(Number);
  }
  if (values.samples !== undefined) r.samples = int("samples", values.samples, 2);
  if (values["attention-samples"] !== undefined) r.attentionSamples = int("attention-samples", values["attention-samples"], 0);
  if (r.attentionSamples > r.samples) {
    if (values["attention-samples"] !== undefined) badPositional("attention-samples", `at most --samples (${r.samples})`, values["attention-samples"]);
    r.attentionSamples = r.samples;
  }
  if (values["train-length"] !== undefined) r.trainLength = int("train-length", values["train-length"], 2);
  if (values.out !== undefined) {
    if (values.out === "") badPositional("out", "a directory", values.out);
    r.out = values.out;
  }
  if (values.device !== undefined) {
    if (values.device !== "cpu" && values.device !== "cuda") badPositional("device", `"cpu" or "cuda"`, values.device);
    r.device = values.device;
  }
  if (values.seed !== undefined) r.seed = int("seed", values.seed, 0);
  return r;
}

async function positionalCommand(args: string[], version: string): Promise<number> {
  const a = parsePositionalArgs(args);
  if (a === null) {
    console.log(ANALYZE_POSITIONAL_HELP);
    return 0;
  }
  const controller = new AbortController();
  const onSigint = () => {
    console.error(`\nctxwin ${POSITIONAL}: interrupted (nothing written)`);
    controller.abort();
    process.exit(130);
  };
  process.on("SIGINT", onSigint);
  try {
    const started = Date.now();
    const res = await runAnalyzePositional({ ...a, signal: controller.signal, version });
    console.log(res.summary);
    console.log("");
    console.log(`report: ${res.json}, ${res.html}`);
    console.log(`wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** `ctxwin analyze ...` (returns the exit code). */
export async function analyzeCommand(args: string[], version: string): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "heads") return headsCommand(rest, version);
  if (sub === "positional") return positionalCommand(rest, version);
  if (sub === undefined || sub === "--help" || sub === "-h") {
    console.log(ANALYZE_HELP);
    return sub === undefined ? 1 : 0;
  }
  throw new CtxwinError("ERR_ARG", `analyze: expected an analysis (heads, positional), got ${JSON.stringify(sub)} (ctxwin analyze --help lists them)`);
}
