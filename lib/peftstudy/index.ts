/** `ctxwin peft` (seed 004): APT vs P-tuning v2, LoRA and full fine-tuning on encoders. */
export { runPeftStudy, type PeftStudyOptions, type PeftStudyResult } from "./study.js";
export { parsePeftArgs, peftCommand, PEFT_HELP, type PeftArgs } from "./command.js";
export { PEFT_PRESETS, PEFT_PRESET_NAMES, getPeftPreset, validatePeftPreset, type PeftPreset, type PeftPresetName } from "./presets.js";
export { computePeftFindings, gateStatistics, methodSummary, NONINFERIORITY, LAYER_RATIO, TASK_RATIO } from "./findings.js";
export { variableLengths } from "./methods.js";
export { defaultParts, MissingPart, type PeftParts } from "./parts.js";
export { PEFT_REPORT_KIND, PEFT_METHODS, type PeftReport, type PeftCell, type PeftFinding, type PeftVerdict, type PeftTaskInfo, type PeftMethod, type PeftSetting } from "./report_schema.js";
