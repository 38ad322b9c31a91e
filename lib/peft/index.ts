/** Parameter-efficient fine-tuning on CausalLM: LoRA and prefix tuning (train only the adapter). */
export { addLora, mergeLora, removeLora, getLoraInfo, hfLinearModules, type LoraOptions, type LoraInfo } from "./lora.js";
export { addPrefix, prefixParameters, promptEmbeddings, type PrefixOptions } from "./prefix.js";
