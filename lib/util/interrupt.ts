/**
 * Ctrl-C for the long commands (study, sft-study, peft): the first SIGINT aborts the signal the
 * run is given (it stops after its current step and writes a partial report), a second exits at
 * once with status 130. `kept` says what survives that exit (e.g. "saved models stay cached").
 */
export async function withInterrupts<T>(cmd: string, kept: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      console.error(`\nctxwin ${cmd}: interrupted again, exiting now (${kept})`);
      process.exit(130);
    }
    console.error(`\nctxwin ${cmd}: stopping after the current step (Ctrl-C again to exit at once) ...`);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    return await run(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** The last lines of a long command: where the report is and the wall time (partial when interrupted). */
export function printRunEnd(files: string, startedMs: number, interrupted: boolean): void {
  console.log("");
  console.log(`report: ${files}`);
  console.log(`wall time ${((Date.now() - startedMs) / 1000).toFixed(0)} s${interrupted ? " (interrupted: partial report)" : ""}`);
}
