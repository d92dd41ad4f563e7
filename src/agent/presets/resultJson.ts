import { finiteNumber as num, jsonObjectLine } from './jsonLine.js';
import { emptyReport, type AgentReport, type OutputReader } from './types.js';

/**
 * A report from one final JSON object in Claude Code's `--output-format json` shape (`result`, `is_error`,
 * `num_turns`, `total_cost_usd`, `subtype`): what a `command` builder is expected to print, and what Claude
 * Code's stream ends with.
 */
export function reportFromResult(o: Record<string, unknown>, into: AgentReport = emptyReport()): AgentReport {
  const cost = num(o.total_cost_usd);
  const usage = (typeof o.usage === 'object' && o.usage !== null ? o.usage : {}) as Record<string, unknown>;
  const isError = o.is_error === true;
  const text = typeof o.result === 'string' ? o.result : null;
  return {
    ...into,
    turns: num(o.num_turns) ?? into.turns,
    costUsd: cost ?? into.costUsd,
    costSource: cost !== null ? 'reported' : into.costSource,
    inputTokens: num(usage.input_tokens) ?? into.inputTokens,
    outputTokens: num(usage.output_tokens) ?? into.outputTokens,
    result: text ?? into.result,
    stop: o.subtype === 'error_max_turns' ? 'turn_limit' : isError ? 'error' : 'completed',
    error: isError ? (text ?? (typeof o.subtype === 'string' ? o.subtype : 'the agent reported an error')) : null,
  };
}

/** Reads stdout for the last line that is a JSON object (a `command` builder's final report). */
export function resultJsonReader(): OutputReader {
  let report = emptyReport();
  return {
    line(text) {
      const o = jsonObjectLine(text);
      if (o) report = reportFromResult(o, report);
    },
    report: () => report,
  };
}
