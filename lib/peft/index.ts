/** Parameter-efficient fine-tuning on CausalLM: LoRA and prefix tuning (train only the adapter). */
export { addLora, mergeLora, removeLora, getLoraInfo, hfLinearModules, type LoraOptions, type LoraInfo } from "./lora.js";
export { addPrefix, prefixParameters, promptEmbeddings, type PrefixOptions } from "./prefix.js";
export { addApt, aptParameters, aptInfo, meanAptGates, saveAptAdapter, loadAptAdapter, APT_PEFT_TYPE, type AptOptions, type AptModel, type GateBatch } from "./apt.js";
