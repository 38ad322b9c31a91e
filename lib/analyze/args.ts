/**
 * `ctxwin analyze positional` arguments (node:util parseArgs, as the other commands): every bad
 * argument is a CtxwinError naming the option. Checks that need the model (lengths against L,
 * methods against its positional scheme) come later, before anything runs.
 */
import { parseArgs } from "node:util";
import { CtxwinError } from "../errors.js";
import { parseMethodSpec, type MethodSpec } from "./methods.js";

export const ANALYZE_HELP = `usage: ctxwin analyze <analysis> [options]   (ctxwin analyze <analysis> --help)

analyses:
  positional  positional vectors (seed 001) of a causal model: their formation, principal
              components, similarity and anchors, attention sinks, long-term decay, what happens
              past the trained length, and how extension methods change it`;

export const POSITIONAL_HELP = `usage: ctxwin analyze positional --model DIR [options]

Decomposes a causal model's hidden states into positional vectors p_{l,t} (the mean hidden state
at layer l and position t over many windows of text) up to and past the trained length L, and
writes DIR/report.json (every number) and a self-contained report.html (SVG plots): positional
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

const CMD = "analyze positional";

function bad(opt: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_ARG", `${CMD}: --${opt}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
}

function int(opt: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) bad(opt, min > 0 ? `an integer ≥ ${min}` : "a non-negative integer", v);
  return n;
}

/** Parses the options after `ctxwin analyze positional`; null for --help. */
export function parsePositionalArgs(args: string[]): PositionalArgs | null {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
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
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (e) {
    throw new CtxwinError("ERR_ARG", `${CMD}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (ctxwin ${CMD} --help lists the options)`);
  }
  const { values, tokens } = parsed;
  if (values.help) return null;
  // `--corpus a b c` / `--method x y`: positionals right after those options continue the list
  const corpus: string[] = [];
  const methods: string[] = [];
  let list: string[] | null = null;
  for (const t of tokens ?? []) {
    if (t.kind === "option") {
      list = t.name === "corpus" ? corpus : t.name === "method" ? methods : null;
      if (list) {
        if (t.value === undefined || t.value === "") bad(t.name, t.name === "corpus" ? "one or more files" : "one or more methods", t.value);
        list.push(t.value!);
      }
    } else if (t.kind === "positional") {
      if (!list) throw new CtxwinError("ERR_ARG", `${CMD}: unexpected argument ${JSON.stringify(t.value)}: options only (text files go after --corpus, methods after --method; ctxwin ${CMD} --help lists the options)`);
      list.push(t.value);
    } else list = null;
  }
  if (values.model === undefined || values.model === "") bad("model", "a model directory", values.model);
  const r: PositionalArgs = {
    model: values.model!,
    corpus,
    lengths: null,
    samples: 128,
    attentionSamples: 8,
    methods: methods.length ? methods.map(parseMethodSpec) : null,
    trainLength: null,
    out: "ctxwin-analyze",
    device: "cpu",
    seed: 0,
  };
  if (values.lengths !== undefined) {
    const parts = values.lengths.split(",").map((s) => s.trim());
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 2)) bad("lengths", "comma-separated integers ≥ 2 (e.g. 64,128,256)", values.lengths);
    r.lengths = parts.map(Number);
  }
  if (values.samples !== undefined) r.samples = int("samples", values.samples, 2);
  if (values["attention-samples"] !== undefined) r.attentionSamples = int("attention-samples", values["attention-samples"], 0);
  if (r.attentionSamples > r.samples) {
    if (values["attention-samples"] !== undefined) bad("attention-samples", `at most --samples (${r.samples})`, values["attention-samples"]);
    r.attentionSamples = r.samples;
  }
  if (values["train-length"] !== undefined) r.trainLength = int("train-length", values["train-length"], 2);
  if (values.out !== undefined) {
    if (values.out === "") bad("out", "a directory", values.out);
    r.out = values.out;
  }
  if (values.device !== undefined) {
    if (values.device !== "cpu" && values.device !== "cuda") bad("device", `"cpu" or "cuda"`, values.device);
    r.device = values.device as "cpu" | "cuda";
  }
  if (values.seed !== undefined) r.seed = int("seed", values.seed, 0);
  return r;
}
