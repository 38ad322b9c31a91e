/**
 * Command-line argument parsing shared by the `ctxwin` commands: node:util parseArgs with ctxwin's
 * errors (an unknown or malformed option names the command), and the "files after an option"
 * convention (`--corpus a.txt b.txt`, `--tasks a.jsonl b.jsonl`).
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
  const files: string[] = [];
  let after = false;
  for (const t of tokens ?? []) {
    if (t.kind === "option") {
      after = t.name === option;
      if (after) {
        if (t.value === undefined || t.value === "") throw new CtxwinError("ERR_ARG", `${command}: --${option}: expected one or more files, got ${t.value === undefined ? "nothing" : '""'}`);
        files.push(t.value);
      }
    } else if (t.kind === "positional") {
      if (!after) throw new CtxwinError("ERR_ARG", `${command}: unexpected argument ${JSON.stringify(t.value)}: files go after --${option} (ctxwin ${command} --help lists the options)`);
      files.push(t.value);
    } else after = false;
  }
  return files;
}
