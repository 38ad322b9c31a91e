/**
 * The `ctxwin` command's argument handling (node:util parseArgs): --help for every command, and a
 * clear error naming the command and option for every kind of bad argument — with no output
 * directory left behind when a study cannot start.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = resolve(__dirname, "../dist/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "ctxwin-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ctxwin(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("ctxwin CLI", () => {
  it("prints the usage (exit 0 with --help, 1 without a command, 2 for an unknown one)", () => {
    const help = ctxwin("--help");
    expect(help.code).toBe(0);
    for (const cmd of ["doctor", "study", "report DIR", "--version"]) expect(help.out).toContain(cmd);
    expect(ctxwin().code).toBe(1);
    const unknown = ctxwin("frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain(`unknown command "frobnicate"`);
    expect(ctxwin("--version").out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  for (const cmd of ["study", "report", "doctor"]) {
    it(`${cmd} --help, -h and \`help ${cmd}\` print the command's own help`, () => {
      for (const args of [[cmd, "--help"], [cmd, "-h"], ["help", cmd]]) {
        const r = ctxwin(...args);
        expect(r.code).toBe(0);
        expect(r.out).toContain(`usage: ctxwin ${cmd}`);
      }
    });
  }

  it("study --help lists every option", () => {
    const out = ctxwin("study", "--help").out;
    for (const o of ["--preset", "--corpus", "--device", "--out", "--seed", "micro", "quick", "standard", "large"]) expect(out).toContain(o);
  });

  const bad: [string[], RegExp][] = [
    [["study", "--bogus"], /study: Unknown option '--bogus'/],
    [["study", "--seed", "x"], /study: --seed: expected a non-negative integer, got "x"/],
    [["study", "--seed", "1.5"], /study: --seed: expected a non-negative integer, got "1.5"/],
    [["study", "--preset", "huge"], /study: --preset: expected one of micro, quick, standard, large, got "huge"/],
    [["study", "--device", "tpu"], /study: --device: expected "cpu" or "cuda", got "tpu"/],
    [["study", "--out="], /study: --out: expected a directory/],
    [["study", "--corpus"], /study: Option '--corpus <value>' argument missing/],
    [["study", "notes.txt"], /study: unexpected argument "notes.txt".*after --corpus/],
    [["report"], /report: expected one argument .* got 0/],
    [["report", "a", "b"], /report: expected one argument .* got 2/],
    [["report", "--frob", "a"], /report: Unknown option '--frob'/],
    [["doctor", "extra"], /doctor: expected no arguments, got "extra"/],
  ];
  for (const [args, want] of bad) {
    it(`rejects \`ctxwin ${args.join(" ")}\` with a clear error`, () => {
      const r = ctxwin(...args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(want);
      expect(r.err).not.toMatch(/\n\s+at /); // a message, not a stack trace
    });
  }

  it("--corpus takes several files (space- or =-separated) and a bad one leaves no output directory", () => {
    const out = join(tmp, "study-out");
    const r = ctxwin("study", "--corpus", join(tmp, "a.txt"), join(tmp, "b.txt"), "--seed", "3", "--out", out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`corpus ${join(tmp, "a.txt")}, ${join(tmp, "b.txt")}`); // both files parsed
    expect(r.err).toMatch(/--corpus .*a\.txt: expected a readable text file, got no such file/);
    expect(existsSync(out)).toBe(false);
    const eq = ctxwin("study", `--corpus=${join(tmp, "c.txt")}`, "--preset", "micro", "--out", out);
    expect(eq.err).toMatch(/--corpus .*c\.txt: expected a readable text file/);
    expect(existsSync(out)).toBe(false);
  });
});
