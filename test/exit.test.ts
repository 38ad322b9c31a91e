/**
 * A process that exits while ops are still queued or running must exit cleanly: kernels run on
 * native threads that outlive the JS program, so nothing they use may be freed by static
 * destructors at exit (this once crashed with a segfault or "double free" at exit).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../dist/index.js", import.meta.url));

const script = `
import { Tensor, attention, attentionBackward, ops } from ${JSON.stringify(entry)};
const B = 1, T = 768, H = 4, D = 64;
const r = (n) => new Float32Array(n).map(() => Math.random() - 0.5);
const q = Tensor.from(r(B * T * H * D), [B, T, H, D]);
const k = Tensor.from(r(B * T * H * D), [B, T, H, D]);
const v = Tensor.from(r(B * T * H * D), [B, T, H, D]);
for (const positional of [{ type: "alibi" }, { type: "rope", scaling: { type: "yarn", factor: 4, originalMaxPositions: 128 } }]) {
  const out = attention(q, k, v, { positional });
  attentionBackward(q, k, v, out, { positional });
}
ops.matmul(q.reshape([T, H * D]), k.reshape([T, H * D]), { transB: true });
// no await: the process ends with work still queued
`;

describe("process exit with queued native work", () => {
  it("exits with code 0 every time", () => {
    for (let i = 0; i < 6; i++) {
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      expect(r.signal, `run ${i}: killed by ${r.signal}; stderr: ${r.stderr}`).toBeNull();
      expect(r.status, `run ${i}: stderr: ${r.stderr}`).toBe(0);
    }
  });
});
