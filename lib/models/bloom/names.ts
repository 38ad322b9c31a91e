/**
 * BLOOM tensor names: internal names (always "transformer.…", q/k/v split) ↔ HF names (with or
 * without the "transformer." prefix; fused query_key_value [H·3·D, d] laid out per head as [H, 3, D]).
 */
import type { ArchConfig } from "../arch.js";

const QKV = /^(transformer\.h\.\d+\.self_attention\.)(q|k|v)_proj\.(weight|bias)$/;

export interface BloomSource {
  /** HF name with the "transformer." prefix (see bloomHfName for the checkpoint's actual prefix). */
  hfName: string;
  /** Shape of the HF tensor. */
  hfShape: number[];
  /** Which third of the fused q/k/v (0 q, 1 k, 2 v), or null for a 1:1 tensor. */
  split: 0 | 1 | 2 | null;
}

export function bloomSourceOf(internal: string, arch: ArchConfig): BloomSource {
  const m = QKV.exec(internal);
  if (!m) return { hfName: internal, hfShape: [], split: null };
  const H = arch.numHeads;
  const D = arch.headDim;
  const isW = m[3] === "weight";
  return {
    hfName: `${m[1]}query_key_value.${m[3]}`,
    hfShape: isW ? [3 * H * D, arch.hiddenSize] : [3 * H * D],
    split: ({ q: 0, k: 1, v: 2 } as const)[m[2] as "q" | "k" | "v"],
  };
}

/** "transformer.X" → prefix + "X" (prefix "" or "transformer."). */
export function bloomHfName(name: string, prefix: string): string {
  return name.startsWith("transformer.") ? prefix + name.slice("transformer.".length) : name;
}

/** Strips a leading "transformer." (to compare names across the two layouts). */
export function bloomCanonical(name: string): string {
  return name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
}
