import { specText } from './harness.js';
import { AGENT_KEYS, realAgentLoop, repoGit, verdictSteps } from './agentModels.js';

/**
 * The fully local setup: one OpenAI-compatible endpoint (what Ollama, vLLM or LiteLLM would be) serves both the spec
 * phase and the real opencode CLI (1.18.33, from the project's node_modules, in its sandbox), with a model Damascus has
 * no price for. Nothing else is reached: the sandbox's egress proxy allows only that endpoint.
 */

describe('opencode on a local model builds a story for real', () => {
  // The spec phase's LLM is the same endpoint: a request without tools gets the spec.
  const { loop, model } = realAgentLoop('opencode', (m) => {
    m.llm = () => ({ text: specText() });
    return { LLM_BASE_URL: `${m.server.url}/v1`, LLM_MODEL: 'qwen2.5-coder:32b', DAMASCUS_PROGRESS_INTERVAL_MS: '1' };
  });

  test('spec and build through the one endpoint → merged; its cost is unknown, never zero; its progress reached the status comment', async () => {
    model.runs = [[{ write: { path: 'greeting.txt', content: 'hello from opencode\n' } }, { text: 'Added greeting.txt.' }]];
    const id = await loop.story();
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    expect((await verdictSteps(loop, id)).map((v) => v.step)).toEqual(['spec:pass→build', 'build:pass→review', 'review:pass→done']);
    expect(repoGit(loop, 'show', 'main:greeting.txt')).toBe('hello from opencode\n');
    // Every model call went to the one endpoint: the spec phase's and opencode's, each with its own key.
    const paths = model.server.requests.map((r) => `${r.path} ${r.headers.authorization}`);
    expect(paths).toContain('/v1/chat/completions Bearer sk-test');
    expect(paths).toContain(`/v1/chat/completions Bearer ${AGENT_KEYS.opencode}`);
    const costs = await loop.db.sql`SELECT kind, usd, model, input_tokens::int AS input, details FROM cost_ledger WHERE item_id = ${id} ORDER BY id`;
    expect(costs.map((c) => [c.kind, c.usd])).toEqual([
      ['llm', null],
      ['agent', null],
    ]);
    expect(costs[1]).toMatchObject({ model: 'qwen2.5-coder:32b', details: { builder: 'opencode', stop: 'completed', costSource: 'unknown' } });
    expect(costs[1]!.input).toBeGreaterThan(0);
    const [item] = await loop.db.sql`SELECT agent_progress FROM work_items WHERE id = ${id}`;
    expect(item!.agentProgress).toMatchObject({ builder: 'opencode', costUsd: null });
    const [events] = await loop.db.sql`SELECT count(*)::int AS n FROM events_outbox WHERE item_id = ${id} AND type = 'agent.progress'`;
    expect(events!.n).toBeGreaterThan(0);
  });

  test("the endpoint answers 500 (after opencode's own retries): an infrastructure error, no attempt used", async () => {
    const id = await loop.story('Server down');
    await loop.tick();
    model.fail = { status: 500, message: 'model runner crashed' };
    await loop.tick();
    const v = await verdictSteps(loop, id);
    expect(v.map((x) => x.step)).toEqual(['spec:pass→build', 'build:error→build']);
    expect(v[1]!.reason).toMatch(/^the opencode builder's model API failed: .*500/);
    expect(await loop.state(id)).toMatchObject({ attempts: 0 });
  });
});
