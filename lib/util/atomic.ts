/**
 * Atomic file writes, the one implementation every writer in ctxwin uses (model and adapter
 * files, config.json, tokenizer files, training checkpoints, the study's report.json and model
 * metadata, report.html): the content goes to `<target>.tmp-<random>` in the same directory, is
 * fsynced, then renamed over the target, and the directory is fsynced. On any failure the temp
 * file is removed and a pre-existing target is left untouched.
 *
 *   await writeFileAtomic(file, "text");            // a string or bytes
 *   await writeJsonAtomic(file, value);             // pretty JSON + "\n"
 *   await writeAtomic(file, (fh) => ...);           // streamed into a FileHandle
 *   await writeAllAtomic([{ target, write }, ...]); // several files, all or none staged
 *   await appendDurable(file, line + "\n");        // an append-only log: one write, then fsync
 *
 * `writeFileAtomic` / `writeJsonAtomic` take an optional `AtomicIo` (the three file-system calls
 * they make) so that tests can simulate a disk filling up or a failing rename.
 */
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import * as path from "node:path";

/** A fresh temp path next to `target`. */
export function tempPathFor(target: string): string {
  return `${target}.tmp-${randomBytes(6).toString("hex")}`;
}

/** Writes all of `data` at `position` (fh.write may write less than asked). */
export async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
    done += bytesWritten;
  }
}

/** fsyncs a directory so a rename in it is durable; silently skipped where unsupported. */
export async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // Windows and some file systems cannot open or fsync directories.
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** A temp file written and fsynced, waiting to be renamed over its target (or thrown away). */
export interface StagedFile {
  readonly target: string;
  readonly temp: string;
  /** Renames the temp file over the target. */
  commit(): Promise<void>;
  /** Removes the temp file (never throws). */
  abort(): Promise<void>;
}

/**
 * Creates the temp file for `target`, lets `write` fill it, fsyncs and closes it. On failure the
 * temp file is removed and the error rethrown. The caller commits or aborts the result.
 */
export async function stageFile(target: string, write: (fh: FileHandle) => Promise<void>): Promise<StagedFile> {
  const temp = tempPathFor(target);
  let fh: FileHandle | undefined;
  try {
    fh = await open(temp, "wx", 0o666);
    await write(fh);
    await fh.sync();
    const h = fh;
    fh = undefined;
    await h.close();
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw e;
  }
  return {
    target,
    temp,
    async commit() {
      try {
        await rename(temp, target);
      } catch (e) {
        await unlink(temp).catch(() => {});
        throw e;
      }
    },
    async abort() {
      await unlink(temp).catch(() => {});
    },
  };
}

/** Writes `target` atomically (temp file in the same directory, fsync, rename, fsync the directory). */
export async function writeAtomic(target: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const staged = await stageFile(target, write);
  await staged.commit();
  await syncDir(path.dirname(target));
}

/** The file-system calls `writeFileAtomic` makes (replaceable in tests to simulate failures). */
export interface AtomicIo {
  /** Creates `path` (it does not exist yet), writes `data` to it and flushes it to disk. */
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** The real file system: create-exclusive, write everything, fsync, close. */
export const fsAtomicIo: AtomicIo = {
  async writeFile(p, data) {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const fh = await open(p, "wx", 0o666);
    try {
      await writeFully(fh, bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => rename(from, to),
  unlink: (p) => unlink(p),
};

/** Writes a whole string (UTF-8) or byte array to `target` atomically. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, io: AtomicIo = fsAtomicIo): Promise<void> {
  const temp = tempPathFor(target);
  try {
    await io.writeFile(temp, data);
    await io.rename(temp, target);
  } catch (e) {
    await io.unlink(temp).catch(() => {});
    throw e;
  }
  await syncDir(path.dirname(target));
}

/** Writes `value` as pretty JSON (2-space indent, trailing newline) to `target` atomically. */
export async function writeJsonAtomic(target: string, value: unknown, io?: AtomicIo): Promise<void> {
  await writeFileAtomic(target, JSON.stringify(value, null, 2) + "\n", io);
}

/**
 * Stages several files, then renames them all; if any staging fails, every temp file is removed
 * and no target is touched.
 */
export async function writeAllAtomic(files: { target: string; write: (fh: FileHandle) => Promise<void> }[]): Promise<void> {
  const staged: StagedFile[] = [];
  try {
    for (const f of files) staged.push(await stageFile(f.target, f.write));
  } catch (e) {
    await Promise.all(staged.map((s) => s.abort()));
    throw e;
  }
  let i = 0;
  try {
    for (; i < staged.length; i++) await staged[i]!.commit();
  } catch (e) {
    await Promise.all(staged.slice(i + 1).map((s) => s.abort()));
    throw e;
  }
  const dirs = new Set(staged.map((s) => path.dirname(s.target)));
  for (const d of dirs) await syncDir(d);
}

/**
 * Appends `text` to `file` (created if missing) in one write at the end (O_APPEND), then fsyncs
 * it. For append-only logs of self-contained lines: a crash can leave at most the last line
 * incomplete (no newline at its end), which the reader drops; lines before it are never touched.
 */
export async function appendDurable(file: string, text: string): Promise<void> {
  const bytes = Buffer.from(text, "utf8");
  const fh = await open(file, "a", 0o666);
  try {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, null);
      if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
      done += bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
