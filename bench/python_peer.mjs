// The same-run PyTorch peers of the CPU benches (bench/*_torch.py): one runner for all of them.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";

/** The Python the peers run under: $CTXWIN_BENCH_PYTHON, else python3. */
export const peerPython = () => process.env.CTXWIN_BENCH_PYTHON || "python3";

/**
 * Runs bench/<script> with `--config <json> --threads <cores> ...args` and returns its JSON lines
 * (one object per line), or { skipped: why } when Python, torch or the script is unavailable.
 */
export function runPythonPeer(script, config, args = []) {
  const py = peerPython();
  const file = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const r = spawnSync(py, [file, "--config", JSON.stringify(config), "--threads", String(cpus().length), ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) return { skipped: r.error ? `${py}: ${r.error.message}` : `${py} exited ${r.status}: ${(r.stderr || "").trim().split("\n").slice(-1)[0]}` };
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const skipped = lines.find((j) => j.skipped);
  return skipped ? { skipped: skipped.skipped } : { lines };
}
