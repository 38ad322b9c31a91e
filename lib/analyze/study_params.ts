/**
 * The settings a study chose for a model's methods, read from the study's report.json when the
 * model directory is one of its cached models (<out>/models/<name>-<hash>/ → <out>/report.json):
 * the swept temperatures (`lambda@T`), the PV layer and α, and the RoPE factor. Anything missing or
 * malformed is simply not used (the analysis then says which defaults it took).
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface StudyParams {
  /** The study's report.json. */
  file: string;
  /** params of each method id (numbers only). */
  methods: Record<string, Record<string, number>>;
  ropeFactor?: number;
}

export function readStudyParams(modelDir: string): StudyParams | null {
  const models = dirname(modelDir.replace(/\/+$/, ""));
  if (basename(models) !== "models") return null;
  const file = join(dirname(models), "report.json");
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as { methods?: { id?: unknown; params?: Record<string, unknown> }[]; config?: { ropeFactor?: unknown } };
    const methods: StudyParams["methods"] = {};
    for (const m of Array.isArray(r.methods) ? r.methods : []) {
      if (typeof m?.id !== "string" || !m.params || typeof m.params !== "object") continue;
      const p: Record<string, number> = {};
      for (const [k, v] of Object.entries(m.params)) if (typeof v === "number" && Number.isFinite(v)) p[k] = v;
      methods[m.id] = p;
    }
    const f = r.config?.ropeFactor;
    return { file, methods, ...(typeof f === "number" && f >= 1 ? { ropeFactor: f } : {}) };
  } catch {
    return null;
  }
}
