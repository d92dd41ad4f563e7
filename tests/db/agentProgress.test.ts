import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { readItemView } from '../../src/db/ops/readItemView.js';
import { recordCost } from '../../src/db/ops/recordCost.js';
import { emptyReport } from '../../src/agent/presets/types.js';
import { buildStatusView } from '../../src/mirror/statusView.js';
import { createLogger } from '../../src/shared/log.js';
import { agentProgressPublisher } from '../../src/phases/agentProgress.js';
import { createTestDb, seedItems, setState, type TestDb } from '../support/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
  await ensureLeaseSlots(db.sql, 4);
});
afterAll(async () => {
  await db.drop();
});

const progressEvents = async (id: number) =>
  (await db.sql`SELECT count(*)::int AS n FROM events_outbox WHERE item_id = ${id} AND type = 'agent.progress'`)[0]!.n as number;

describe("a running agent's progress on the status comment", () => {
  test('at most one write per interval, whatever the CLI streams; shown while the build holds its lease', async () => {
    const [seed] = await seedItems(db.sql, 1);
    await setState(db.sql, seed!.id, 'build');
    const item = (await claimNextItem(db.sql, 'w', { cap: 4, leaseMs: 60_000 }))!;
    expect(item.id).toBe(seed!.id);
    const p = agentProgressPublisher({ sql: db.sql, item, builder: 'codex', intervalMs: 3_600_000, log: createLogger('silent') });
    for (let turn = 1; turn <= 50; turn++)
      p.update({ ...emptyReport(), turns: turn, activity: `turn ${turn}`, model: 'gpt-4.1', inputTokens: 1_000_000 * turn, outputTokens: 0 });
    // One write, at once, of the latest report; nothing more within the hour (close drops what waits).
    await new Promise((r) => setTimeout(r, 50));
    await p.close();
    expect(await progressEvents(item.id)).toBe(1);
    const view = (await readItemView(db.sql, item.id))!;
    // Codex reports tokens, not money: the cost so far is estimated from the price table (gpt-4.1: $2 per M input, 50 M tokens).
    expect(buildStatusView(view).agent).toMatchObject({ builder: 'codex', turns: 50, activity: 'turn 50', costUsd: 100 });
    p.update({ ...emptyReport(), turns: 51 });
    expect(await progressEvents(item.id)).toBe(1);
    // Once the lease is gone (the run ended), the last report is history: not shown.
    await db.sql`UPDATE work_items SET lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE id = ${item.id}`;
    expect(buildStatusView((await readItemView(db.sql, item.id))!).agent).toBeNull();
    await setState(db.sql, item.id, 'done');
  });

  test('a run that lost its lease writes nothing', async () => {
    const [seed] = await seedItems(db.sql, 1);
    await setState(db.sql, seed!.id, 'build');
    const item = (await claimNextItem(db.sql, 'w', { cap: 4, leaseMs: 60_000 }))!;
    expect(item.id).toBe(seed!.id);
    const p = agentProgressPublisher({ sql: db.sql, item: { ...item, leaseToken: 'not-ours' }, builder: 'codex', intervalMs: 10, log: createLogger('silent') });
    p.update({ ...emptyReport(), turns: 1 });
    await new Promise((r) => setTimeout(r, 50));
    await p.close();
    expect(await progressEvents(item.id)).toBe(0);
    expect((await readItemView(db.sql, item.id))!.agentProgress).toBeNull();
  });

  test('a run of unknown cost is counted as unknown: the total stays the sum of the known', async () => {
    const [seed] = await seedItems(db.sql, 1);
    await recordCost(db.sql, { itemId: seed!.id, phase: 'build', kind: 'agent', model: 'qwen2.5-coder', usd: null });
    const total = await recordCost(db.sql, { itemId: seed!.id, phase: 'build', kind: 'agent', model: null, usd: 0.5 });
    expect(Number(total)).toBe(0.5);
    const view = (await readItemView(db.sql, seed!.id))!;
    expect(buildStatusView(view)).toMatchObject({ costUsd: 0.5, unknownCostRuns: 1 });
  });
});
