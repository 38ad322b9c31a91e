/**
 * Command-line argument parsing shared by the `ctxwin` commands: node:util parseArgs with ctxwin's
 * errors (an unknown or malformed option names the command), and the "files after an option"
 * convention (`--corpus a.txt b.txt`, `--tasks a.jsonl b.jsonl`, `--method yarn rope-pi`).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CtxwinError } from "../errors.js";

type HelpOption = { help: { type: "boolean"; short: "h" } };
/** What parseCommand returns for options O. */
export type ParsedCommand<O extends NonNullable<ParseArgsConfig["options"]>> = ReturnType<typeof parseArgs<{ args: string[]; options: O & HelpOption; allowPositionals: true; strict: true; tokens: true }>>;

/** parseArgs with strict options, positionals and tokens, plus -h/--help; errors name the command. */
export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(command: string, args: string[], options: O): ParsedCommand<O> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } } as O & HelpOption, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new CtxwinError("ERR_ARG", `${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (ctxwin ${command} --help lists the options)`);
  }
}

type Token = NonNullable<ParsedCommand<NonNullable<ParseArgsConfig["options"]>>["tokens"]>[number];

/**
 * The values of a multi-file option: `--opt a b c` (the positionals right after it) and repeated
 * `--opt x`. A positional anywhere else is an error naming the command and the option to use.
 */
export function filesAfter(command: string, option: string, tokens: readonly Token[] | undefined): string[] {
  return listsAfter(command, { [option]: "files" }, tokens)[option]!;
}

/**
 * The values of several list options at once, `lists` mapping each option to what it takes
 * ("files", "methods"): `--corpus a b --method x y` and repeated `--corpus z`. A positional not
 * right after one of them is an error naming the command and where such arguments go.
 */
export function listsAfter(command: string, lists: Record<string, string>, tokens: readonly Token[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(Object.keys(lists).map((o) => [o, []]));
  let list: string[] | null = null;
  for (const t of tokens ?? []) {
    if (t.kind === "option") {
      list = Object.hasOwn(lists, t.name) ? out[t.name]! : null;
      if (list) {
        if (t.value === undefined || t.value === "") throw new CtxwinError("ERR_ARG", `${command}: --${t.name}: expected one or more ${lists[t.name]}, got ${t.value === undefined ? "nothing" : '""'}`);
        list.push(t.value);
      }
    } else if (t.kind === "positional") {
      if (!list) {
        const where = Object.entries(lists).map(([o, what]) => `${what} go after --${o}`).join(", ");
        throw new CtxwinError("ERR_ARG", `${command}: unexpected argument ${JSON.stringify(t.value)}: ${where} (ctxwin ${command} --help lists the options)`);
      }
      list.push(t.value);
    } else list = null;
  }
  return out;
}

/** A CtxwinError naming the command's option: `study: --seed: expected …, got "x"`. */
export function optionError(command: string, option: string, expected: string, got: unknown): never {
  throw new CtxwinError("ERR_ARG", `${command}: --${option}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
}

/** --device, --out and --seed of a command that runs a pipeline (study, sft-study), checked, with defaults. */
export function runOptions(command: string, values: { device?: string; out?: string; seed?: string }, defaultOut: string): { device: "cpu" | "cuda"; out: string; seed: number } {
  const r = { device: "cpu" as "cpu" | "cuda", out: defaultOut, seed: 0 };
  if (values.device !== undefined) {
    if (values.device !== "cpu" && values.device !== "cuda") optionError(command, "device", `"cpu" or "cuda"`, values.device);
    r.device = values.device;
  }
  if (values.out !== undefined) {
    if (values.out === "") optionError(command, "out", "a directory", values.out);
    r.out = values.out;
  }
  if (values.seed !== undefined) {
    const n = Number(values.seed);
    if (!/^\d+$/.test(values.seed) || !Number.isSafeInteger(n)) optionError(command, "seed", "a non-negative integer", values.seed);
    r.seed = n;
  }
  return r;
}
