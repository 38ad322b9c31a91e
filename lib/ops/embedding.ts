/**
 * Embedding lookup and its backward.
 */
import type { Tensor } from "../tensor.js";
import { checkF32, checkRank, fail, integer, numel, shapeStr, tensorArg } from "./check.js";
import { argError } from "../errors.js";
import { runOp } from "./run.js";

/**
 * Rows of `weight` [V, d] picked by `ids` [*] (f32 holding integer ids) → [*, d], weight's dtype.
 * An id outside [0, V) makes the result fail when read ("embedding: ids: expected ids in [0, V), got X"):
 * ids are checked on the device, never copied to JS.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const fn = "embedding";
  tensorArg(fn, "weight", weight);
  tensorArg(fn, "ids", ids);
  if (weight.shape.length !== 2) fail("ERR_SHAPE", fn, "weight", "a 2-d tensor [V, d]", `shape ${shapeStr(weight.shape)}`);
  checkF32(fn, "ids", ids);
  return runOp("embedding", [weight, ids])[0]!;
}

/**
 * Gradient of embedding w.r.t. the weight: dweight [vocab, d] (f32), row v = the sum of the rows
 * of dy [*, d] whose id is v. `ids` has one id per row of dy.
 */
export function embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor {
  const fn = "embeddingBackward";
  tensorArg(fn, "dy", dy);
  tensorArg(fn, "ids", ids);
  integer(fn, "vocab", vocab, 1, 2 ** 40);
  checkRank(fn, "dy", dy, 1);
  checkF32(fn, "ids", ids);
  const rows = numel(dy.shape.slice(0, -1));
  if (numel(ids.shape) !== rows) fail("ERR_SHAPE", fn, "ids", `${rows} ids (one per row of dy ${shapeStr(dy.shape)})`, `shape ${shapeStr(ids.shape)}`);
  return runOp("embedding_backward", [dy, ids], { vocab })[0]!;
}
