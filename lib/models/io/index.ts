/**
 * Checkpoint formats: safetensors (single / sharded), HF config.json, PEFT adapters.
 * Formats only: building models from them is lib/models/load.ts's job.
 */
export * from "./safetensors.js";
export * from "./config.js";
export * from "./peft.js";
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, bf16BitsFromF32Bits, f16BitsFromF32Bits, decodeHalf, encodeFloat32 } from "./convert.js";
