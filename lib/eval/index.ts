/** `ctxwin eval`: checkpoints × methods × lengths with the study's paired evaluation and passkey, resumable cell by cell. */
export { runEval, parseLengthItems, type EvalOptions, type EvalRunResult } from "./run.js";
export { cellId, parseCellLog, readCellLog, openCellLog, runCells, CELL_VERSION, EVAL_METRICS, type CellKey, type CellRecord, type CellLog, type EvalMetric, type PplResult, type PasskeyResult } from "./cells.js";
export { parseEvalMethod, resolveEvalMethod, EVAL_METHOD_IDS, type ResolvedMethod, type MethodTarget } from "./methods.js";
export { EVAL_REPORT_KIND, type EvalReport, type EvalModel, type EvalRow, type PplCell, type PasskeyCellReport, type CellStatus } from "./schema.js";
export { parseEvalArgs, evalCommand, EVAL_HELP } from "./command.js";
