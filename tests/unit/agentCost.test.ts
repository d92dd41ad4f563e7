import { agentCostUsd, describeCost } from '../../src/agent/cost.js';
import { emptyReport } from '../../src/agent/presets/types.js';
import { reportFromResult, resultJsonReader } from '../../src/agent/presets/resultJson.js';
import { estimateCostUsd } from '../../src/domain/prices.js';

describe('what an agent run cost', () => {
  test("the CLI's own report wins; else its tokens at the table's price; else unknown, never zero", () => {
    expect(agentCostUsd({ ...emptyReport(), costUsd: 0.42, model: 'gpt-4.1', inputTokens: 1e6, outputTokens: 1e6 })).toBe(0.42);
    expect(agentCostUsd({ ...emptyReport(), model: 'gpt-4.1', inputTokens: 1_000_000, outputTokens: 500_000 })).toBeCloseTo(2 + 4, 10);
    expect(agentCostUsd({ ...emptyReport(), model: 'qwen2.5-coder:7b', inputTokens: 1000, outputTokens: 10 })).toBeNull();
    expect(agentCostUsd({ ...emptyReport(), model: 'gpt-4.1', inputTokens: null, outputTokens: 3 })).toBeNull();
    expect(estimateCostUsd('my-local-llama', 100, 100)).toBeNull();
    expect(describeCost(null)).toBe('an unknown amount');
    expect(describeCost(0.1234567)).toBe('$0.1235');
  });

  test("a command builder's final JSON line: cost, turns, the turn limit, an error", () => {
    const r = resultJsonReader();
    r.line('progress text, not JSON');
    expect(r.report().stop).toBeNull();
    r.line(
      JSON.stringify({ type: 'result', is_error: false, num_turns: 5, total_cost_usd: 0.3, result: 'done', usage: { input_tokens: 10, output_tokens: 20 } }),
    );
    expect(r.report()).toMatchObject({
      stop: 'completed',
      turns: 5,
      costUsd: 0.3,
      costSource: 'reported',
      result: 'done',
      inputTokens: 10,
      outputTokens: 20,
      error: null,
    });
    expect(reportFromResult({ subtype: 'error_max_turns', is_error: true, num_turns: 9 })).toMatchObject({ stop: 'turn_limit', turns: 9, costUsd: null });
    expect(reportFromResult({ is_error: true, result: 'boom' })).toMatchObject({ stop: 'error', error: 'boom' });
  });
});
