/**
 * The public API is what docs/api.md documents: every runtime export of the package is listed
 * there (as `name` in a table row), and every name listed there is exported.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as ctxwin from "ctxwin";

const doc = readFileSync(resolve(__dirname, "../docs/api.md"), "utf8");
/** Names in the first column of the reference tables. */
const documented = new Set<string>();
for (const line of doc.split("\n")) {
  const m = /^\| ([^|]+) \|/.exec(line);
  if (!m || m[1]!.trim() === "export" || m[1]!.startsWith("---")) continue;
  for (const name of m[1]!.matchAll(/`([A-Za-z_$][\w$]*)`/g)) documented.add(name[1]!);
}

describe("public API", () => {
  const exported = Object.keys(ctxwin).sort();
  it("documents every export in docs/api.md", () => {
    expect(exported.filter((n) => !documented.has(n))).toEqual([]);
  });
  it("exports every name docs/api.md lists", () => {
    expect([...documented].filter((n) => !(n in ctxwin)).sort()).toEqual([]);
  });
  it("keeps internals out (progress printers, padding ids, seed mixing)", () => {
    for (const n of ["PAD", "trainingProgressLine", "createStageProgress", "formatRate", "formatDuration", "mixSeed", "checkSeed", "orderedBatches", "runAll", "runSliced"]) expect(exported).not.toContain(n);
  });
});
