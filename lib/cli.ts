#!/usr/bin/env node
/**
 * The `ctxwin` command.
 *   ctxwin doctor        backends found, CPU features and threads, CUDA or the reason it is unavailable
 *   ctxwin --version
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { backendInfo } from "./index.js";
import { packageRoot } from "./backend.js";

const USAGE = `usage: ctxwin <command>

commands:
  doctor      show the backends ctxwin can use on this machine and why CUDA is or is not available
  --version   print the version`;

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
    lines.push("cuda backend    ok");
    for (const [k, v] of Object.entries(info.cuda.info as Record<string, unknown>)) row(k, String(v));
  } else {
    lines.push("cuda backend    unavailable");
    row("reason", info.cuda.reason);
  }
  return lines.join("\n");
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
