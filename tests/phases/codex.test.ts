import { specText } from './harness.js';
import { AGENT_KEYS, realAgentLoop, repoGit, verdictSteps } from './agentModels.js';

/**
 * The build phase with the real Codex CLI (`codex exec`, 0.171.0, from the project's node_modules) in its sandbox,
 * against a scripted OpenAI Responses API. Codex has no turn limit of its own: Damascus counts its round trips.
 */

describe('Codex builds a story for real', () => {
  // Each story writes greeting.txt with its own text: main holds what the last merged story wrote.
  const { loop, model } = realAgentLoop('codex', () => ({ DAMASCUS_AGENT_MAX_TURNS: '3' }));

  test('label → spec → Codex writes the file with its own tools → review → merged; its tokens are priced from the table', async () => {
    loop.scriptLlm({ text: specText() });
    model.runs = [[{ write: { path: 'greeting.txt', content: 'hello from codex' } }, { text: 'Added greeting.txt.' }]];
    const before = model.turns.length;
    const id = await loop.story();
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    expect((await verdictSteps(loop, id)).map((v) => v.step)).toEqual(['spec:pass→build', 'build:pass→review', 'review:pass→done']);
    expect(repoGit(loop, 'show', 'main:greeting.txt').trimEnd()).toBe('hello from codex');
    const turns = model.turns.slice(before);
    expect(turns).toHaveLength(2);
    expect(turns[0]!.headers.authorization).toBe(`Bearer ${AGENT_KEYS.codex}`);
    const [cost] = await loop.db
      .sql`SELECT usd::float8 AS usd, model, input_tokens::int AS input, output_tokens::int AS output, details FROM cost_ledger WHERE item_id = ${id} AND kind = 'agent'`;
    expect(cost).toMatchObject({ model: 'gpt-4.1', details: { builder: 'codex', turns: 2, stop: 'completed', costSource: 'tokens' } });
    expect(cost!.input).toBeGreaterThan(0);
    expect(cost!.usd).toBeCloseTo((cost!.input * 2 + cost!.output * 8) / 1e6, 9);
  });

  test('the model API answers 429: an infrastructure error, no attempt used, its message on the verdict', async () => {
    loop.scriptLlm({ text: specText() });
    const id = await loop.story('Rate limited');
    await loop.tick();
    model.fail = { status: 429, message: 'Rate limit reached for requests' };
    await loop.tick();
    const v = await verdictSteps(loop, id);
    expect(v.map((x) => x.step)).toEqual(['spec:pass→build', 'build:error→build']);
    expect(v[1]!.reason).toMatch(/^the codex builder's model API failed: .*429/);
    expect(await loop.state(id)).toMatchObject({ attempts: 0 });
  });

  test('Damascus stops it at its turn limit: the work is pushed, and the next attempt continues from it', async () => {
    loop.scriptLlm({ text: specText() });
    model.runs = [
      [1, 2, 3, 4, 5, 6].map((n) => ({ write: { path: 'greeting.txt', content: `draft ${n}` } })),
      [{ shell: 'cat greeting.txt' }, { write: { path: 'greeting.txt', content: 'hello, codex at last' } }, { text: 'Done.' }],
    ];
    const id = await loop.story('Long codex story');
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    const v = await verdictSteps(loop, id);
    expect(v.map((x) => x.step)).toEqual(['spec:pass→build', 'build:fail→build', 'build:pass→review', 'review:pass→done']);
    expect(v[1]!.reason).toMatch(
      /^the coding agent was stopped at its turn limit \(3 turns\) after an unknown amount; its work so far \(1 file\) is pushed to /,
    );
    // Killed mid-run, Codex never printed its usage (it reports tokens once, at the end): the cost is unknown, not zero.
    // The second attempt's shell saw a draft the first one left on the branch.
    expect(JSON.stringify(model.turns.slice(-2).map((t) => t.body.input))).toMatch(/draft [3-4]/);
    expect(repoGit(loop, 'log', '--format=%s', 'main')).toMatch(/attempt 1 \(stopped at its turn limit \(3 turns\)\)/);
    expect(repoGit(loop, 'show', 'main:greeting.txt').trimEnd()).toBe('hello, codex at last');
  });
});
