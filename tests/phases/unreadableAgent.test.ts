import { join } from 'node:path';
import { Loop, specText } from './harness.js';
import { useEnv } from './agentModels.js';
import { ROOT } from '../support/cli.js';

/**
 * A CLI whose output Damascus cannot read (nothing, text that is not JSON, a JSON line cut off), run as the Claude
 * Code preset's program: the work it did is still taken, and what it cost is unknown, never zero.
 */
describe('a coding agent whose output cannot be read', () => {
  const loop = new Loop();
  let undoEnv: () => void;
  beforeAll(async () => {
    undoEnv = useEnv({ ANTHROPIC_API_KEY: 'sk-ant-unreadable-test-key' });
    await loop.start({}, { DAMASCUS_BUILDER: 'broken', DAMASCUS_BUILDERS_FILE: join(ROOT, 'tests', 'fixtures', 'agent', 'broken-builders.yml') });
  });
  afterAll(async () => {
    await loop.stop();
    undoEnv();
  });
  afterEach(async () => {
    await loop.db.sql`UPDATE work_items SET state = 'cancelled' WHERE state IN ('spec', 'build', 'review')`;
  });

  test.each(['none', 'garbage', 'truncated'])('output %s, exit 0: the change is built on, the cost recorded as unknown', async (mode) => {
    const undo = useEnv({ BROKEN_CLI_OUTPUT: mode, BROKEN_CLI_CONTENT: `hello (${mode})\n`, BROKEN_CLI_EXIT: '0' });
    try {
      loop.scriptLlm({ text: specText() });
      const id = await loop.story(`Unreadable ${mode}`);
      await loop.tick();
      await loop.tick();
      const [v] = await loop.db.sql`SELECT verdict, reason FROM verdicts WHERE item_id = ${id} AND phase = 'build'`;
      expect(v).toMatchObject({ verdict: 'pass', reason: expect.stringMatching(/^pushed [0-9a-f]{10} to damascus\//) });
      const [cost] = await loop.db.sql`SELECT usd, details FROM cost_ledger WHERE item_id = ${id} AND kind = 'agent'`;
      expect(cost).toMatchObject({ usd: null, details: { builder: 'broken', stop: null, costSource: 'unknown' } });
    } finally {
      undo();
    }
  });

  test('garbage and a non-zero exit: a failed attempt quoting what it printed on stderr', async () => {
    const undo = useEnv({ BROKEN_CLI_OUTPUT: 'garbage', BROKEN_CLI_EXIT: '3' });
    try {
      loop.scriptLlm({ text: specText() });
      const id = await loop.story('Unreadable and failed');
      await loop.tick();
      await loop.tick();
      const [v] = await loop.db.sql`SELECT verdict, reason FROM verdicts WHERE item_id = ${id} AND phase = 'build'`;
      expect(v).toMatchObject({ verdict: 'fail', reason: expect.stringContaining('the coding agent reported an error') });
      expect(v!.reason).toMatch(/not json at all|broken-cli: done/);
    } finally {
      undo();
    }
  });
});
