/**
 * scripts/gpu-check.sh --dry-run: the GPU check's plan, read without a GPU, Python, Node or nvcc
 * (the script runs with a PATH of a few coreutils only). What a device call needs from it: every
 * step of the plan listed with a budget, the budgets within the call's time, every `timeout`
 * below the call's limit, and per-step logs brought back through $OUT.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(__dirname, "..");
const SCRIPT = join(ROOT, "scripts/gpu-check.sh");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-gpu-check-dry-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// A PATH with nothing but the tools the dry run may use: no python3, node, nvcc, nvidia-smi.
const TOOLS = ["bash", "dirname", "basename", "find", "sort", "xargs", "cat", "sha256sum", "cut", "grep", "sed", "tr"];
const bin = join(tmp, "bin");
mkdirSync(bin);
for (const tool of TOOLS) {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
  if (!found) throw new Error(`test setup: ${tool} not found`);
  symlinkSync(found, join(bin, tool));
}
const bash = join(bin, "bash");

const FIRST = ["env", "bin", "long", "test", "doctor", "suites", "bench", "torch", "merge"];
const ALL = ["env", "build", "long", "test", "sanitize", "addon", "doctor", "suites", "bench", "torch", "merge", "hf", "gemm", "models"];
const CALL_LIMIT = 600;

interface Step {
  name: string;
  budget: number;
  timeout: number;
  min: number;
  log: string;
  commands: string[];
}
interface Plan {
  code: number | null;
  out: string;
  err: string;
  budget: number;
  callLimit: number;
  margin: number;
  planTotal: number;
  steps: Step[];
  skipped: string[];
  scheduled: number;
  outLine: string;
}

function dryRun(args: string[], env: Record<string, string> = {}): Plan {
  const work = mkdtempSync(join(tmp, "run-"));
  const out = join(work, "out");
  mkdirSync(out);
  const r = spawnSync(bash, [SCRIPT, "--dry-run", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: bin,
      HOME: work,
      OUT: out,
      GPU_CHECK_BUILD: join(work, "build"),
      GPU_CHECK_CARRY: join(work, "no-carry"),
      ...env,
    },
  });
  // a dry run writes nothing: no build folder, nothing in $OUT
  expect(existsSync(join(work, "build"))).toBe(false);
  expect(readdirSync(out)).toEqual([]);
  const lines = r.stdout.split("\n");
  const head = /budget (\d+) s of a (\d+) s call, (\d+) s of it kept for packing; the plan's budgets add up to (\d+) s/.exec(r.stdout);
  const plan: Plan = {
    code: r.status,
    out: r.stdout,
    err: r.stderr,
    budget: head ? Number(head[1]) : NaN,
    callLimit: head ? Number(head[2]) : NaN,
    margin: head ? Number(head[3]) : NaN,
    planTotal: head ? Number(head[4]) : NaN,
    steps: [],
    skipped: [],
    scheduled: NaN,
    outLine: lines.find((l) => l.startsWith("out: ")) ?? "",
  };
  for (const line of lines) {
    const m = /^step (\S+) budget=(\d+) timeout=(\d+) min=(\d+) log=(\S+)$/.exec(line);
    if (m) {
      plan.steps.push({ name: m[1]!, budget: +m[2]!, timeout: +m[3]!, min: +m[4]!, log: m[5]!, commands: [] });
      continue;
    }
    const s = /^skip (\S+) budget=\d+ min=\d+: /.exec(line);
    if (s) plan.skipped.push(s[1]!);
    const c = /^ {4}\$ (.*)$/.exec(line);
    if (c && plan.steps.length) plan.steps[plan.steps.length - 1]!.commands.push(c[1]!);
    const t = /^total: (\d+) s scheduled/.exec(line);
    if (t) plan.scheduled = Number(t[1]);
  }
  return plan;
}

/** The checks every plan must pass. */
function checkPlan(p: Plan, names: string[], callLimit = CALL_LIMIT) {
  expect(p.code, p.err).toBe(0);
  expect(p.callLimit).toBe(callLimit);
  expect(p.budget).toBeLessThan(p.callLimit);
  // every step of the plan is either scheduled or skipped with a reason, in the plan's order
  expect([...p.steps.map((s) => s.name), ...p.skipped].sort()).toEqual([...names].sort());
  expect(p.steps.map((s) => s.name)).toEqual(names.filter((n) => !p.skipped.includes(n)));
  const sum = p.steps.reduce((a, s) => a + s.timeout, 0);
  expect(sum).toBe(p.scheduled);
  expect(sum).toBeLessThanOrEqual(p.budget - p.margin);
  for (const s of p.steps) {
    expect(s.timeout).toBeLessThanOrEqual(s.budget);
    expect(s.timeout).toBeGreaterThanOrEqual(s.min);
    expect(s.timeout).toBeLessThan(p.callLimit);
    expect(s.log).toBe(`logs/${s.name}.log`);
    // every inner timeout is below the step's, hence below the call's limit
    for (const cmd of s.commands) {
      const m = /^timeout -k (\d+) (\d+) /.exec(cmd);
      if (m) {
        expect(Number(m[1]) + Number(m[2])).toBeLessThanOrEqual(s.timeout);
        expect(Number(m[2])).toBeLessThan(p.callLimit);
      }
    }
  }
  // per-step logs come back through $OUT, within the device tool's 8 files
  expect(p.outLine).toContain("$OUT/summary.txt");
  expect(p.outLine).toContain("$OUT/gpu-check-logs.tar.gz (logs/<step>.log");
  expect(p.outLine).toContain("$OUT/running-step.log");
  expect(p.outLine).toMatch(/after every step/);
}

function fakeCarry(): string {
  const carry = mkdtempSync(join(tmp, "carry-"));
  const hash = spawnSync(bash, [SCRIPT, "--src-hash"], { cwd: ROOT, encoding: "utf8", env: { PATH: bin } }).stdout.trim();
  expect(hash).toMatch(/^[0-9a-f]{16}$/);
  writeFileSync(join(carry, "cuda_attention_test.xz"), "");
  writeFileSync(join(carry, "cuda_attention_test.stamp"), `sources ${hash}\narch 90\n`);
  return carry;
}

describe("scripts/gpu-check.sh --dry-run", () => {
  it("first plan with the carried test binary: every step, done within 8 minutes", () => {
    const p = dryRun(["first"], { GPU_CHECK_CARRY: fakeCarry() });
    checkPlan(p, FIRST);
    expect(p.skipped).toEqual([]);
    expect(p.planTotal).toBeLessThanOrEqual(480);
    expect(p.steps.reduce((a, s) => a + s.timeout, 0)).toBeLessThanOrEqual(480);
    expect(p.out).toMatch(/carried: .*cuda_attention_test\.xz matches the sources \(sm_90\)/);
    const cmds = (name: string) => p.steps.find((s) => s.name === name)!.commands.join("\n");
    expect(cmds("bin")).toMatch(/xz -dc .*cuda_attention_test\.xz/);
    expect(cmds("bin")).not.toMatch(/nvcc/);
    for (const dt of ["bf16", "f16", "f32"]) expect(cmds("long")).toContain(`cuda_attention_test --long --dtype ${dt}`);
    expect(cmds("suites")).toContain("env CTXWIN_TEST_DEVICE=cuda");
    expect(cmds("suites")).toContain("CTXWIN_CUBLAS=0");
    expect(cmds("doctor")).toContain("node dist/cli.js doctor");
    expect(cmds("bench")).toContain("cuda_attention_test --bench");
    expect(cmds("torch")).toContain("bench/torch_baselines.py --T 8192 --causal yes");
    expect(cmds("merge")).toContain("bench/attention-cuda.py");
    expect(cmds("env")).toContain("scripts/find-cublas.py");
  });

  it("first plan without it: the build takes the bin step's place and what no longer fits is skipped", () => {
    const p = dryRun(["first"]);
    checkPlan(p, FIRST);
    const binStep = p.steps.find((s) => s.name === "bin")!;
    expect(binStep.budget).toBeGreaterThanOrEqual(120);
    expect(binStep.commands.join("\n")).toMatch(/nvcc .*-gencode arch=compute_90,code=sm_90/);
    expect(p.skipped.length).toBeGreaterThan(0);
    expect(p.out).toMatch(/skip \S+ budget=\d+ min=\d+: only \d+ s left if every earlier step uses its whole budget/);
  });

  it("the default plan (every step) and the second plan keep within the budget", () => {
    checkPlan(dryRun([]), ALL);
    const second = dryRun(["second"], { GPU_CHECK_CARRY: fakeCarry() });
    checkPlan(second, ["env", "bin", "sanitize", "gemm", "models", "hf"]);
    expect(second.skipped).toEqual([]);
    expect(second.planTotal).toBeLessThanOrEqual(240);
  });

  it("budgets follow GPU_CHECK_BUDGET and never reach the call's limit", () => {
    const small = dryRun(["first"], { GPU_CHECK_CARRY: fakeCarry(), GPU_CHECK_BUDGET: "200" });
    checkPlan(small, FIRST);
    expect(small.budget).toBe(200);
    expect(small.skipped.length).toBeGreaterThan(0);
    const over = dryRun(["first"], { GPU_CHECK_BUDGET: "900" });
    expect(over.err).toContain("not below the call limit");
    checkPlan(over, FIRST);
    expect(over.budget).toBeLessThan(CALL_LIMIT);
    // a host without the device tool's limits: every step of the default plan gets its budget
    const longer = dryRun(["all"], { GPU_CHECK_BUDGET: "5000", GPU_CHECK_CALL_LIMIT: "6000" });
    checkPlan(longer, ALL, 6000);
    expect(longer.skipped).toEqual([]);
    for (const s of longer.steps) expect(s.timeout).toBe(s.budget);
  });

  it("named steps run in the given order; an unknown one is refused", () => {
    const p = dryRun(["smi", "bench", "torch"]);
    checkPlan(p, ["smi", "bench", "torch"]);
    expect(p.steps.find((s) => s.name === "torch")!.commands.join("\n")).not.toContain("--causal");
    const bad = dryRun(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown step or plan: frobnicate");
  });
});
