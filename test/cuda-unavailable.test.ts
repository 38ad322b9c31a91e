/**
 * On a host without an NVIDIA driver/GPU, asking for a CUDA tensor must throw one clear error,
 * "CUDA backend unavailable: <reason>", and never crash the process; the CPU keeps working.
 * Runs only where no NVIDIA device is visible (test/gpu/ covers hosts that have one).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Tensor } from "ctxwin";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// As lib/backend.ts cudaAddonPath(): the override, a local build, else the packaged prebuild.
const builtPath = join(root, "build-cuda", "Release", "ctxwin_cuda.node");
const prebuiltPath = join(root, "prebuilds", `${process.platform}-${process.arch}`, "cuda", "ctxwin_cuda.node");
const addonPath = process.env.CTXWIN_CUDA_ADDON ?? (existsSync(builtPath) || !existsSync(prebuiltPath) ? builtPath : prebuiltPath);
const addonBuilt = existsSync(addonPath);

/** True if an NVIDIA driver/device is visible to this process (then this suite does not apply). */
function nvidiaPresent(): boolean {
  if (process.platform === "linux") return existsSync("/proc/driver/nvidia/version") || existsSync("/dev/nvidiactl");
  if (process.platform === "win32") return existsSync(join(process.env.SystemRoot ?? "C:\\Windows", "System32", "nvcuda.dll"));
  return false; // macOS and others: no CUDA
}

function cpuAddonLoads(): boolean {
  try {
    (createRequire(import.meta.url)("node-gyp-build") as (dir: string) => unknown)(root);
    return true;
  } catch {
    return false;
  }
}

/** Runs a snippet in a fresh Node process (so a crash would show as a signal/exit code). */
function node(code: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe.skipIf(nvidiaPresent())("CUDA unavailable (no NVIDIA driver/device on this host)", () => {
  it('Tensor.from(..., { device: "cuda" }) throws "CUDA backend unavailable: <reason>"', () => {
    let err: unknown;
    try {
      Tensor.from([1, 2, 3], [3], { device: "cuda" });
    } catch (e) {
      err = e;
    }
    expect(err, "creating a CUDA tensor must throw here").toBeInstanceOf(Error);
    const e = err as { code: string; message: string };
    expect(e.code).toBe("ERR_DEVICE");
    expect(e.message).toMatch(/^CUDA backend unavailable: \S.+/);
    if (addonBuilt) {
      // the addon loads and its probe explains why: no driver / no device
      expect(e.message).toMatch(/no NVIDIA driver found|no CUDA device found|the NVIDIA driver supports CUDA/);
      expect(e.message).toMatch(/cudaGetDeviceCount returned \d+/);
    } else {
      expect(e.message).toMatch(/the CUDA addon was not built/);
    }
    // the same reason again (cached), not a crash or a different error
    expect(() => Tensor.from([1], [1], { device: "cuda" })).toThrow(e.message);
  });

  it.skipIf(!cpuAddonLoads())("a CPU tensor moved to CUDA fails the same way", () => {
    const t = Tensor.from([1, 2], [2]);
    expect(() => t.to("cuda")).toThrow(/^CUDA backend unavailable: /);
    expect(t.dataSync()).toEqual(new Float32Array([1, 2])); // the CPU still works
    t.dispose();
  });

  it("CTXWIN_CUDA_ADDON pointing at a missing file says the addon was not built", () => {
    const r = node(
      `import { Tensor } from "ctxwin";
       try { Tensor.from([1], [1], { device: "cuda" }); console.log("no error"); }
       catch (e) { console.log(e.code + " " + e.message); }`,
      { CTXWIN_CUDA_ADDON: join(root, "build-cuda", "no-such-addon.node") },
    );
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ERR_DEVICE CUDA backend unavailable: the CUDA addon was not built \(.*no-such-addon\.node is missing/);
  });

  it.skipIf(!addonBuilt)("the CUDA addon loads without a driver; probe(), info(), allocation and synchronize() fail cleanly", () => {
    const r = node(
      `import { createRequire } from "node:module";
       const a = createRequire(import.meta.url)(${JSON.stringify(addonPath)});
       const out = { device: a.device };
       const attempt = (name, f) => { try { f(); out[name] = "no error"; } catch (e) { out[name] = e.code + " " + e.message; } };
       attempt("probe", () => a.probe());
       attempt("fromF32", () => a.fromF32(new Float32Array(4), [4], "f32"));
       attempt("createPending", () => a.createPending([4], "bf16"));
       out.info = JSON.parse(a.info());
       out.memory = a.memory();
       try { await a.synchronize(); out.synchronize = "no error"; } catch (e) { out.synchronize = e.code + " " + e.message; }
       console.log(JSON.stringify(out));`,
    );
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.device).toBe("cuda");
    expect(out.probe).toMatch(/^ERR_CUDA (no NVIDIA driver found|no CUDA device found|the NVIDIA driver supports CUDA)/);
    const reason = out.probe.slice("ERR_CUDA ".length);
    expect(out.fromF32).toBe(`ERR_CUDA ${reason}`);
    expect(out.createPending).toBe(`ERR_CUDA ${reason}`);
    expect(out.synchronize).toMatch(/^ERR_\w+ /);
    expect(out.info).toMatchObject({ available: false, reason });
    expect(out.info.compiledArchs).toMatch(/\d/);
    expect(out.memory).toEqual({ tensors: 0, bytes: 0 });
  });
});
