/**
 * Library-wide defaults, defined once. (Positional defaults — RoPE theta, YaRN betas, ALiBi slopes —
 * are defined in native/include/ctxwin/positional.h and reach JS through the binding.)
 */

/** The target id that loss functions skip (HF transformers' and PyTorch's convention). */
export const IGNORE_INDEX = -100;
