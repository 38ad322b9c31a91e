/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit.
 *
 *   <checkpointDir>/
 *     step-00000100/
 *       params.safetensors     the trainable parameters by dotted name, in their own dtype
 *                              (f32 master copies of half-precision weights as "__master__.<name>")
 *       optimizer.safetensors  AdamW moments "<name>.exp_avg" / "<name>.exp_avg_sq" (f32); the
 *                              per-parameter step counts in the metadata
 *       trainer_state.json     step, data-loader position + PRNG state, loss curve, evaluations
 *       hf/                    (optional) the model in HF layout (saveModel) or its PEFT adapter
 *     latest.json              {"step": 100, "dir": "step-00000100"}
 *
 * A checkpoint directory is written under a temporary name and renamed into place when complete,
 * then latest.json is replaced atomically: a crash mid-write leaves the previous checkpoint intact.
 * Frozen parameters are not saved (the resumed run rebuilds the same base model).
 */
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { CtxwinError } from "../errors.js";
import { Tensor, type DType } from "../tensor.js";
import * as ops from "../ops/index.js";
import type { Parameter } from "../nn/autograd.js";
import { readSafetensorsHeader, readTensor, writeSafetensors, type FloatDtype, type TensorInput } from "../models/io/safetensors.js";
import { writeFileAtomic, syncDir } from "../util/atomic.js";
import type { AdamW, AdamWState } from "./optim.js";
import type { LoaderState } from "./data.js";

export const CHECKPOINT_VERSION = 1;
const FILE_DTYPE: Record<DType, FloatDtype> = { f32: "F32", bf16: "BF16", f16: "F16" };
const MASTER = "__master__.";

export interface EvalResult {
  /** Optimizer step after which the evaluation ran. */
  step: number;
  /** Mean next-token loss over the scored validation tokens. */
  loss: number;
  /** exp(loss). */
  ppl: number;
  /** Scored tokens evaluated. */
  tokens: number;
}

/** trainer_state.json. */
export interface TrainerState {
  version: number;
  /** Optimizer steps completed. */
  step: number;
  /** The data loader's position and shuffling PRNG state. */
  loader: LoaderState;
  /** Mean loss of every step so far (index = step − 1). */
  losses: number[];
  /** Global gradient norm of every step so far (before clipping). */
  gradNorms: number[];
  evals: EvalResult[];
  /** Training tokens (inputs) processed so far. */
  tokens: number;
  /** Settings a resumed run must share to continue the same curve. */
  settings: { batchSize: number; gradAccum: number; seqLen: number; seed: number };
  /** Names of the trainable parameters saved. */
  params: string[];
}

function pad8(n: number): string {
  return String(n).padStart(8, "0");
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a checkpoint of `params` (name → Parameter), the optimizer and the trainer state into
 * `dir`, then points latest.json at it and removes checkpoints beyond the newest `keep`.
 * `extra(tmpDir)` may add files (e.g. the HF export) before the directory is committed.
 * Returns the checkpoint's directory.
 */
export async function saveCheckpoint(
  dir: string,
  opts: {
    params: readonly (readonly [string, Parameter])[];
    optimizer: AdamW;
    state: TrainerState;
    keep?: number;
    extra?: (tmpDir: string) => Promise<void>;
  },
): Promise<string> {
  const { params, optimizer, state } = opts;
  const keep = Math.max(1, opts.keep ?? 2);
  await mkdir(dir, { recursive: true });
  const name = `step-${pad8(state.step)}`;
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp);
  try {
    const tensors = new Map<string, TensorInput>();
    for (const [n, p] of params) {
      const v = p.value;
      tensors.set(n, { data: () => v.data(), shape: [...v.shape], dtype: FILE_DTYPE[v.dtype] });
      const m = p.master;
      if (m) tensors.set(MASTER + n, { data: () => m.data(), shape: [...m.shape], dtype: "F32" });
    }
    await writeSafetensors(path.join(tmp, "params.safetensors"), tensors, { format: "ctxwin-train" });
    const os = await optimizer.state();
    const otensors = new Map<string, TensorInput>();
    const steps: Record<string, number> = {};
    for (const p of os.params) {
      otensors.set(`${p.name}.exp_avg`, { data: p.m, shape: p.shape });
      otensors.set(`${p.name}.exp_avg_sq`, { data: p.v, shape: p.shape });
      steps[p.name] = p.step;
    }
    await writeSafetensors(path.join(tmp, "optimizer.safetensors"), otensors, {
      format: "ctxwin-adamw",
      steps: JSON.stringify(os.steps),
      param_steps: JSON.stringify(steps),
    });
    await writeFileAtomic(path.join(tmp, "trainer_state.json"), JSON.stringify(state));
    if (opts.extra) await opts.extra(tmp);
    await syncDir(tmp);
    // commit: move an older copy of the same step aside, rename the new one in, drop the old
    let trash: string | null = null;
    if (await exists(final)) {
      trash = path.join(dir, `.${name}.old-${randomBytes(4).toString("hex")}`);
      await rename(final, trash);
    }
    await rename(tmp, final);
    await syncDir(dir);
    if (trash) await rm(trash, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  await writeFileAtomic(path.join(dir, "latest.json"), JSON.stringify({ step: state.step, dir: name }) + "\n");
  const entries = await readdir(dir);
  // leftovers of interrupted writes (a crash between mkdir and rename)
  for (const f of entries) {
    if (/^\.step-\d{8}\.(tmp|old)-[0-9a-f]+$/.test(f)) await rm(path.join(dir, f), { recursive: true, force: true });
  }
  const all = entries.filter((f) => /^step-\d{8}$/.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old !== name) await rm(path.join(dir, old), { recursive: true, force: true });
  }
  return final;
}

/** The newest complete checkpoint under `dir` (from latest.json), or null when there is none. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, "latest.json"), "utf8");
  } catch {
    return null;
  }
  let j: { dir?: unknown };
  try {
    j = JSON.parse(text);
  } catch {
    throw new CtxwinError("ERR_FORMAT", `train: resume: ${path.join(dir, "latest.json")}: expected JSON, got ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (typeof j.dir !== "string" || !/^step-\d{8}$/.test(j.dir)) throw new CtxwinError("ERR_FORMAT", `train: resume: ${path.join(dir, "latest.json")}: dir: expected "step-NNNNNNNN", got ${JSON.stringify(j.dir)}`);
  return path.join(dir, j.dir);
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainerState;
  params: Map<string, { data: Float32Array; shape: number[] }>;
  masters: Map<string, { data: Float32Array; shape: number[] }>;
  optimizer: AdamWState;
}

/** Reads a checkpoint directory written by saveCheckpoint. */
export async function readCheckpoint(ckDir: string): Promise<LoadedCheckpoint> {
  const fn = "train: resume";
  const statePath = path.join(ckDir, "trainer_state.json");
  let state: TrainerState;
  try {
    state = JSON.parse(await readFile(statePath, "utf8"));
  } catch (e) {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${statePath}: expected a trainer_state.json written by train(), got ${(e as Error).message}`);
  }
  if (state.version !== CHECKPOINT_VERSION) throw new CtxwinError("ERR_FORMAT", `${fn}: ${statePath}: version: expected ${CHECKPOINT_VERSION}, got ${state.version}`);
  const pfile = path.join(ckDir, "params.safetensors");
  const ph = await readSafetensorsHeader(pfile, fn);
  const params = new Map<string, { data: Float32Array; shape: number[] }>();
  const masters = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const n of Object.keys(ph.tensors)) {
    const t = await readTensor(pfile, ph, n, fn);
    if (n.startsWith(MASTER)) masters.set(n.slice(MASTER.length), { data: t.data, shape: t.shape });
    else params.set(n, { data: t.data, shape: t.shape });
  }
  const ofile = path.join(ckDir, "optimizer.safetensors");
  const oh = await readSafetensorsHeader(ofile, fn);
  const meta = oh.metadata ?? {};
  let pSteps: Record<string, number>;
  let steps: number;
  try {
    pSteps = JSON.parse(meta.param_steps ?? "");
    steps = JSON.parse(meta.steps ?? "");
  } catch {
    throw new CtxwinError("ERR_FORMAT", `${fn}: ${ofile}: __metadata__: expected "steps" and "param_steps" (JSON), got ${JSON.stringify(meta)}`);
  }
  const oparams: AdamWState["params"] = [];
  for (const [name, step] of Object.entries(pSteps)) {
    const m = await readTensor(ofile, oh, `${name}.exp_avg`, fn);
    const v = await readTensor(ofile, oh, `${name}.exp_avg_sq`, fn);
    oparams.push({ name, step, m: m.data, v: v.data, shape: m.shape });
  }
  return { dir: ckDir, state, params, masters, optimizer: { steps, params: oparams } };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Writes saved values into the parameters in place (converted to each parameter's dtype). */
export function restoreParams(params: readonly (readonly [string, Parameter])[], ck: LoadedCheckpoint): void {
  const fn = "train: resume";
  const mine = new Set(params.map(([n]) => n));
  const missing = [...ck.params.keys()].filter((n) => !mine.has(n));
  if (missing.length > 0) {
    throw new CtxwinError("ERR_ARG", `${fn}: ${ck.dir}: holds trainable parameters the model does not train: ${missing.slice(0, 5).join(", ")} (the model or its adapters/freezing differ from the saved run)`);
  }
  const write = (dst: Tensor, src: { data: Float32Array; shape: number[] }) => {
    const s = Tensor.from(src.data, [src.data.length], { device: dst.device });
    const d = dst.reshape([-1]);
    ops.copyInto(d, s, 0, 0);
    d.dispose();
    s.dispose();
  };
  for (const [n, p] of params) {
    const saved = ck.params.get(n);
    if (!saved) throw new CtxwinError("ERR_ARG", `${fn}: ${ck.dir}: expected the trainable parameter "${n}", got none (the model or its adapters/freezing differ from the saved run)`);
    if (!sameShape(saved.shape, p.value.shape)) {
      throw new CtxwinError("ERR_SHAPE", `${fn}: ${ck.dir}: "${n}": expected shape [${p.value.shape.join(", ")}], got [${saved.shape.join(", ")}]`);
    }
    write(p.value, saved);
    if (p.master) write(p.master, ck.masters.get(n) ?? saved);
  }
}
