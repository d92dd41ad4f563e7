import { randomUUID } from 'node:crypto';
import { answerQuestions } from '../../src/db/ops/answerQuestions.js';
import { applyWebhookEvent, writeWebhookGroup } from '../../src/db/ops/applyWebhookEvent.js';
import { cancelItem } from '../../src/db/ops/cancelItem.js';
import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { deferItem } from '../../src/db/ops/deferItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordAgentProgress } from '../../src/db/ops/recordAgentProgress.js';
import { recordVerdict, type VerdictRecord } from '../../src/db/ops/recordVerdict.js';
import { retryItem } from '../../src/db/ops/retryItem.js';
import { writeOutboxEvent } from '../../src/db/ops/writeOutboxEvent.js';
import { outboxEvent, readOutboxEvent, replyEvent, type OutboxEvent } from '../../src/domain/events.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { createTestDb, seedItems, setState, type TestDb } from '../support/db.js';
import { issuePayload, ownCapture } from '../support/webhookFixtures.js';

const backoff = { baseMs: 60_000, maxMs: 600_000 };
const TRIGGER = 'damascus';

/**
 * Every writer of events_outbox, driven through its real operation: each row it writes has a type in the
 * event map and exactly its type's payload (statements that build payloads in SQL included).
 */
describe('outbox events: every row a writer writes reads as its typed event', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 4);
  });
  afterAll(async () => {
    await db.drop();
  });
  // one claimable item at a time: park what earlier claims left behind
  async function parkAll() {
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
  }

  /** The item's events, each read with the relay's reader (which throws on a payload of the wrong shape). */
  async function eventsOf(itemId: number): Promise<OutboxEvent[]> {
    const rows = await db.sql<{ type: string; payload: unknown }[]>`SELECT type, payload FROM events_outbox WHERE item_id = ${itemId} ORDER BY id`;
    return rows.map((r) => {
      const ev = readOutboxEvent(r);
      if (ev === null) throw new Error(`${r.type} is not in the event map`);
      return ev;
    });
  }
  const types = async (itemId: number) => (await eventsOf(itemId)).map((e) => e.type);
  async function claimed() {
    await parkAll();
    const [item] = await seedItems(db.sql, 1);
    const c = await claimNextItem(db.sql, 'w', { cap: 4, leaseMs: 60_000 });
    expect(c!.id).toBe(item!.id);
    return c!;
  }
  const verdict = async (record: VerdictRecord, over: { budgetCycles?: number; maxErrors?: number } = {}) => {
    const c = await claimed();
    const r = await recordVerdict(db.sql, { ...c, ...over }, record, { backoff });
    expect(r.recorded).toBe(true);
    return c.id;
  };
  const webhook = (payload: Record<string, unknown>, event = 'issues', eventType = 'issue_label') => {
    const ev = routeWebhook({ event, eventType, payload });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
    const action = typeof payload.action === 'string' ? payload.action : null;
    return db.sql.begin((tx) => applyWebhookEvent(tx, { deliveryId: randomUUID(), event, eventType, action }, ev, TRIGGER));
  };

  test('createWorkItem and both webhook paths write one work.created shape', async () => {
    const [seeded] = await seedItems(db.sql, 1);
    expect(await eventsOf(seeded!.id)).toEqual([{ type: 'work.created', payload: { issueNumber: seeded!.issueNumber, title: seeded!.title, by: null } }]);

    const ev = routeWebhook({
      event: 'issues',
      eventType: 'issue_label',
      payload: issuePayload({ action: 'label_updated', number: 9001, labels: [TRIGGER], sender: 'alice' }),
    });
    if (ev.kind !== 'issue.labels') throw new Error(ev.kind);
    const first = { delivery: { deliveryId: randomUUID(), event: 'issues', eventType: 'issue_label', action: 'label_updated' }, event: ev };
    // the first delivery of a repository creates its project: the general path; the second goes through recordNewStories
    const [general] = await writeWebhookGroup(db.sql, [first], TRIGGER);
    const second = {
      ...first,
      delivery: { ...first.delivery, deliveryId: randomUUID() },
      event: { ...ev, issue: { ...ev.issue, number: 9002, title: 'story 9002' } },
    };
    const [grouped] = await writeWebhookGroup(db.sql, [second], TRIGGER);
    for (const [out, n] of [
      [general, 9001],
      [grouped, 9002],
    ] as const) {
      if (out?.status !== 'recorded' || out.itemId === null) throw new Error(JSON.stringify(out));
      expect(await eventsOf(out.itemId)).toEqual([{ type: 'work.created', payload: { issueNumber: n, title: `story ${n}`, by: 'alice' } }]);
    }
  });

  test('recordVerdict: each verdict, a block, questions and an approval gate', async () => {
    expect(await types(await verdict({ verdict: 'pass' }))).toEqual(['work.created', 'work.verdict']);
    const retried = await verdict({ verdict: 'error', reason: 'git timed out' });
    expect((await eventsOf(retried))[1]).toMatchObject({ type: 'work.verdict', payload: { verdict: 'error', errorCount: 1, retryInMs: 60_000 } });
    expect(await types(await verdict({ verdict: 'fail' }, { budgetCycles: 1 }))).toEqual(['work.created', 'work.verdict', 'work.blocked', 'human.question']);
    expect(await types(await verdict({ verdict: 'error' }, { maxErrors: 1 }))).toEqual(['work.created', 'work.verdict', 'work.blocked', 'human.question']);
    expect(await types(await verdict({ verdict: 'needs_human', questions: ['a?', 'b?'] }))).toEqual([
      'work.created',
      'work.verdict',
      'human.question',
      'human.question',
    ]);
    const gated = await verdict({
      verdict: 'pass',
      openGate: {
        kind: 'spec_approval',
        reason: 'test command from the spec',
        approval: { reasons: ['no test_command'], testCommand: 'npm test', testCommandSha256: 'ab'.repeat(32) },
      },
    });
    expect((await eventsOf(gated))[1]).toMatchObject({
      type: 'work.verdict',
      payload: { approval: { reasons: ['no test_command'], testCommand: 'npm test' } },
    });
  });

  test('deferItem, recordAgentProgress and writeOutboxEvent', async () => {
    const c = await claimed();
    expect(await recordAgentProgress(db.sql, c.id, c.leaseToken, { step: 1 })).toBe(true);
    expect(await deferItem(db.sql, c, { delayMs: 1000, reason: 'waiting for CI' })).toBe(true);
    await db.sql`UPDATE work_items SET run_after = NULL WHERE id = ${c.id}`;
    const again = await claimNextItem(db.sql, 'w', { cap: 4, leaseMs: 60_000 });
    const dispatched = outboxEvent('review.dispatched', { headSha: 'a'.repeat(40), workflow: 'damascus-review.yml', attempt: 1, runUrl: null });
    expect(await deferItem(db.sql, again!, { delayMs: 1000, reason: 'dispatched', event: dispatched })).toBe(true);
    await writeOutboxEvent(db.sql, c.id, replyEvent({ kind: 'not_applicable', command: 'retry', state: 'spec' }, 7, 'alice'));
    await writeOutboxEvent(db.sql, c.id, outboxEvent('status.refresh', { by: 'alice', commentId: 7 }));
    expect(await types(c.id)).toEqual(['work.created', 'agent.progress', 'work.waiting', 'review.dispatched', 'reply.not_applicable', 'status.refresh']);
  });

  test('cancel, retry, answers and reactivation', async () => {
    const c = await claimed();
    expect((await cancelItem(db.sql, c.id, 'alice', 'not now')).ok).toBe(true);
    expect((await retryItem(db.sql, c.id, 'alice')).ok).toBe(true);
    expect((await eventsOf(c.id)).slice(1)).toEqual([
      { type: 'work.cancelled', payload: { from: 'spec', by: 'alice', reason: 'not now' } },
      { type: 'work.retried', payload: { from: 'cancelled', to: 'spec', by: 'alice' } },
    ]);

    const asked = await verdict({ verdict: 'needs_human', questions: ['which colour?'] });
    const [q] = await db.sql<{ id: number }[]>`SELECT id FROM human_issues WHERE item_id = ${asked}`;
    expect((await answerQuestions(db.sql, asked, [{ humanIssueId: q!.id, text: 'blue', by: 'bob' }])).resumedTo).toBe('spec');
    expect((await eventsOf(asked)).at(-1)).toEqual({ type: 'work.resumed', payload: { to: 'spec', answered: [q!.id], by: 'bob' } });

    // the trigger label removed (cancelled) and added again (reactivated)
    const created = await webhook(issuePayload({ action: 'label_updated', number: 9100, labels: [TRIGGER], sender: 'carol' }));
    if (created.status !== 'recorded' || created.itemId === null) throw new Error(JSON.stringify(created));
    await webhook(issuePayload({ action: 'label_cleared', number: 9100, labels: [], sender: 'carol' }));
    await webhook(issuePayload({ action: 'label_updated', number: 9100, labels: [TRIGGER], sender: 'carol' }));
    expect((await eventsOf(created.itemId)).slice(1)).toEqual([
      { type: 'work.cancelled', payload: { from: 'spec', by: 'carol', reason: 'trigger label removed' } },
      { type: 'work.reactivated', payload: { to: 'spec', by: 'carol' } },
    ]);
  });

  test('a pull request merged (work.done, and gate.resolved for its dependent) or closed unmerged (human.question)', async () => {
    const pr = ownCapture('pull_request.pull_request.closed.json').payload as {
      number: number;
      repository: { owner: { login: string }; name: string };
      pull_request: Record<string, unknown>;
    };
    const repo = `${pr.repository.owner.login}/${pr.repository.name}`;
    const [merged, dependent, closed] = await seedItems(db.sql, 3, {}, repo);
    await setState(db.sql, merged!.id, 'review', { pr_number: pr.number });
    await setState(db.sql, dependent!.id, 'spec');
    await db.sql`INSERT INTO coordination_gates (item_id, kind, depends_on_item_id) VALUES (${dependent!.id}, 'depends_on', ${merged!.id})`;
    await db.sql`UPDATE work_items SET gate_count = 1 WHERE id = ${dependent!.id}`;
    await webhook(pr, 'pull_request', 'pull_request');
    expect((await eventsOf(merged!.id)).at(-1)).toMatchObject({ type: 'work.done', payload: { mergedBy: expect.any(String) } });
    expect((await eventsOf(dependent!.id)).at(-1)).toEqual({ type: 'gate.resolved', payload: { dependency: merged!.id, openGates: 0 } });

    await db.sql`UPDATE work_items SET pr_number = NULL WHERE id = ${merged!.id}`;
    await setState(db.sql, closed!.id, 'review', { pr_number: pr.number });
    const unmerged = { ...pr, pull_request: { ...pr.pull_request, merged: false, merged_at: null, merge_commit_sha: null, merged_by: null } };
    await webhook(unmerged, 'pull_request', 'pull_request');
    expect(await types(closed!.id)).toEqual(['work.created', 'human.question']);
  });
});
