/** Parameter-efficient fine-tuning on CausalLM and Encoder: LoRA and prefix tuning (train only the adapter and the head). */
export { addLora, mergeLora, removeLora, getLoraInfo, hfLinearModules, type LoraOptions, type LoraInfo } from "./lora.js";
export { addPrefix, removePrefix, prefixParameters, promptEmbeddings, layerPrefixLengths, prefixLength, prefixProjection, type PrefixOptions } from "./prefix.js";
export { PrefixProjection, type PrefixProjectionShape } from "./prefix_projection.js";
export { peftTarget, type PeftModel, type PeftTarget, type PeftTaskType } from "./target.js";
export { parameterCounts, type ParameterCounts } from "./count.js";
export { addApt, aptParameters, aptInfo, meanAptGates, saveAptAdapter, loadAptAdapter, APT_PEFT_TYPE, type AptOptions, type AptModel, type GateBatch } from "./apt.js";
