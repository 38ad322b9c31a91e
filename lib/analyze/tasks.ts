/**
 * Task data for head activation analyses: JSONL files, one example per line,
 *
 *   {"task": "reverse", "prompt": "Reverse: a b c\nAnswer:", "response": " c b a"}
 *
 * `task` names the task (a non-empty string; one file may hold several tasks, and a task may span
 * files); `prompt` and `response` are text (encoded with the model's tokenizer: the prompt with
 * its special tokens, e.g. BOS, the response without) or arrays of token ids. Blank lines are
 * skipped; other fields are ignored. Anything else is an ERR_FORMAT error naming the file, the
 * line and the field.
 */
import { readFile } from "node:fs/promises";
import { CtxwinError, show } from "../errors.js";
import type { Tokenizer } from "../models/tokenizer/types.js";

/** One line of a task file. */
export interface TaskRecord {
  task: string;
  prompt: string | number[];
  response: string | number[];
  /** Where it came from (for messages). */
  file: string;
  line: number;
}

/** The examples of one task (in file order), as token ids. */
export interface TaskData {
  task: string;
  examples: { prompt: number[]; response: number[] }[];
  /** The files it came from. */
  files: string[];
}

const FN = "readTaskFile";

function bad(file: string, line: number, what: string): never {
  throw new CtxwinError("ERR_FORMAT", `${FN}: ${file} line ${line}: ${what}`);
}

function textOrIds(v: unknown, field: string, file: string, line: number): string | number[] {
  if (typeof v === "string") {
    if (field === "response" && v.length === 0) bad(file, line, `field "response": expected a non-empty string or array of token ids, got ""`);
    return v;
  }
  if (Array.isArray(v)) {
    v.forEach((id, i) => {
      if (!Number.isInteger(id) || (id as number) < 0) bad(file, line, `field "${field}": expected token ids (non-negative integers), got ${show(id)} at index ${i}`);
    });
    if (field === "response" && v.length === 0) bad(file, line, `field "response": expected a non-empty string or array of token ids, got []`);
    return v as number[];
  }
  return bad(file, line, `field "${field}": expected a string or an array of token ids, got ${v === undefined ? "nothing (missing)" : show(v)}`);
}

/** Parses the text of a task file (`file` names it in messages). */
export function parseTaskJsonl(text: string, file: string): TaskRecord[] {
  const out: TaskRecord[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      bad(file, line, `expected a JSON object {"task", "prompt", "response"}, got invalid JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) bad(file, line, `expected a JSON object {"task", "prompt", "response"}, got ${show(v)}`);
    const o = v as Record<string, unknown>;
    const task = o["task"];
    if (typeof task !== "string" || task.trim() === "") bad(file, line, `field "task": expected a non-empty string, got ${task === undefined ? "nothing (missing)" : show(task)}`);
    out.push({ task, prompt: textOrIds(o["prompt"], "prompt", file, line), response: textOrIds(o["response"], "response", file, line), file, line });
  });
  if (out.length === 0) throw new CtxwinError("ERR_FORMAT", `${FN}: ${file}: expected at least one example (JSONL lines {"task", "prompt", "response"}), got none`);
  return out;
}

/** Reads and parses task files (ERR_FORMAT naming file, line and field; ERR_ARG for a missing file). */
export async function readTaskFiles(files: readonly string[]): Promise<TaskRecord[]> {
  if (!Array.isArray(files) || files.length === 0) throw new CtxwinError("ERR_ARG", `${FN}: files: expected at least one task file, got none`);
  const out: TaskRecord[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, "utf8");
    } catch (e) {
      throw new CtxwinError("ERR_ARG", `${FN}: ${f}: expected a readable JSONL file, got ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    out.push(...parseTaskJsonl(text, f));
  }
  return out;
}

/**
 * Groups records by task (in order of first appearance) and encodes them: text with the tokenizer
 * (prompt with special tokens, response without), ids checked against the vocabulary. Errors name
 * the file, the line and the field.
 */
export function encodeTasks(records: readonly TaskRecord[], vocabSize: number, tokenizer: Tokenizer | null, opts: { maxExamples?: number } = {}): TaskData[] {
  const byTask = new Map<string, TaskData>();
  for (const r of records) {
    const ids = (v: string | number[], field: "prompt" | "response"): number[] => {
      let out: number[];
      if (typeof v === "string") {
        if (!tokenizer) bad(r.file, r.line, `field "${field}": expected token ids (no tokenizer: put tokenizer.json in the model directory or give one), got a string`);
        out = tokenizer.encode(v, { addSpecialTokens: field === "prompt" });
      } else out = v;
      for (const id of out) if (id >= vocabSize) bad(r.file, r.line, `field "${field}": expected token ids below the model's vocabulary size ${vocabSize}, got ${id}`);
      if (field === "response" && out.length === 0) bad(r.file, r.line, `field "response": expected text that encodes to at least one token, got none`);
      return out;
    };
    let t = byTask.get(r.task);
    if (!t) {
      t = { task: r.task, examples: [], files: [] };
      byTask.set(r.task, t);
    }
    if (opts.maxExamples && t.examples.length >= opts.maxExamples) continue;
    const prompt = ids(r.prompt, "prompt");
    const response = ids(r.response, "response");
    if (prompt.length === 0 && response.length < 2) bad(r.file, r.line, `field "response": expected at least 2 tokens when the prompt is empty (the first token is never predicted), got ${response.length}`);
    t.examples.push({ prompt, response });
    if (!t.files.includes(r.file)) t.files.push(r.file);
  }
  return [...byTask.values()];
}
