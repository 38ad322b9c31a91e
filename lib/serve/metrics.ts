/** GET /metrics: the engine's figures in the Prometheus text exposition format (version 0.0.4). */
import type { EngineStats, LatencySummary } from "../engine/stats.js";

function metric(lines: string[], name: string, type: "gauge" | "counter" | "summary", help: string, samples: [labels: string, value: number][]): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
}

function summary(lines: string[], name: string, help: string, s: LatencySummary): void {
  // seconds, as Prometheus prefers; quantiles over the engine's last 1000 samples
  metric(lines, name, "summary", help, [
    ['{quantile="0.5"}', s.p50 / 1000],
    ['{quantile="0.9"}', s.p90 / 1000],
    ['{quantile="0.99"}', s.p99 / 1000],
  ]);
  lines.push(`${name}_sum ${(s.mean * s.count) / 1000}`, `${name}_count ${s.count}`);
}

const escape = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function prometheusText(s: EngineStats, http: ReadonlyMap<string, number>): string {
  const lines: string[] = [];
  metric(lines, "ctxwin_queue_length", "gauge", "Requests waiting for a slot.", [["", s.queued]]);
  metric(lines, "ctxwin_active_requests", "gauge", "Requests prefilling or generating.", [["", s.active]]);
  metric(lines, "ctxwin_requests_total", "counter", "Finished requests by outcome.", [
    ['{outcome="completed"}', s.completed],
    ['{outcome="aborted"}', s.aborted],
    ['{outcome="failed"}', s.failed],
  ]);
  metric(lines, "ctxwin_prompt_tokens_total", "counter", "Prompt tokens prefilled.", [["", s.promptTokens]]);
  metric(lines, "ctxwin_generated_tokens_total", "counter", "Tokens generated.", [["", s.generatedTokens]]);
  metric(lines, "ctxwin_decode_steps_total", "counter", "Batched decode steps.", [["", s.decodeSteps]]);
  metric(lines, "ctxwin_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s.", [["", s.tokensPerSecond]]);
  summary(lines, "ctxwin_time_to_first_token_seconds", "Submission to first token.", s.timeToFirstTokenMs);
  summary(lines, "ctxwin_inter_token_seconds", "Time between consecutive tokens of a request.", s.perTokenMs);
  const byRoute: [string, number][] = [];
  for (const [key, n] of http) {
    const at = key.lastIndexOf(" ");
    byRoute.push([`{route="${escape(key.slice(0, at))}",status="${key.slice(at + 1)}"}`, n]);
  }
  metric(lines, "ctxwin_http_responses_total", "counter", "HTTP responses by route and status.", byRoute);
  return lines.join("\n") + "\n";
}
