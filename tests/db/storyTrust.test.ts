/**
 * The store's side of a story's trust boundaries (schema/008): the labelled issue body is snapshotted by every
 * intake path, approvals are bound to what they approve (a gate's test command, a change's fingerprint) and
 * recorded with the approver.
 */
import { applyWebhookEvent, writeWebhookGroup } from '../../src/db/ops/applyWebhookEvent.js';
import { approveSpecGate } from '../../src/db/ops/approveSpecGate.js';
import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { readApprovedTestCommands } from '../../src/db/ops/readApprovedTestCommands.js';
import { recordChangeApproval } from '../../src/db/ops/recordChangeApproval.js';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import { testCommandSha256 } from '../../src/domain/spec.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { processInbox } from '../../src/inbox/inbox.js';
import { createPermissionCache } from '../../src/gitea/permissions.js';
import { createLogger } from '../../src/shared/log.js';
import { commentPayload, issuePayload } from '../support/webhookFixtures.js';

const backoff = { baseMs: 1000, maxMs: 1000 };

describe('story trust in the store', () => {
  let db: TestDb;
  let seq = 0;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 8);
  });
  afterAll(async () => {
    await db.drop();
  });
  afterEach(async () => {
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'done', lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE state IN ('spec', 'build', 'review', 'awaiting_human')`;
  });

  const labelEvent = (number: number, body: string, sender = 'alice', labels = ['damascus']) => {
    const ev = routeWebhook({
      event: 'issues',
      eventType: 'issue_label',
      payload: issuePayload({ action: 'label_updated', number, labels, body, sender, title: `title ${number}` }),
    });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
    return { delivery: { deliveryId: `d-${number}-${seq++}`, event: 'issues', eventType: 'issue_label', action: 'label_updated' }, event: ev };
  };
  const story = async (number: number) =>
    (await db.sql`SELECT id, title, story_body, story_vouched_by, requested_by, state FROM work_items WHERE issue_number = ${number}`)[0]!;

  test('every intake path stores the body as labelled: the group write, the general path (with dependencies), a reactivation', async () => {
    // the group's one-statement path (no item yet, project current after the first delivery)
    await db.sql.begin((tx) => applyWebhookEvent(tx, labelEvent(1, 'first body').delivery, labelEvent(1, 'first body').event, 'damascus'));
    await writeWebhookGroup(db.sql, [labelEvent(2, 'second body')], 'damascus');
    await db.sql.begin((tx) => {
      const l = labelEvent(3, 'Depends on #99\n\nthird body');
      return applyWebhookEvent(tx, l.delivery, l.event, 'damascus');
    });
    expect(await story(1)).toMatchObject({ storyBody: 'first body', storyVouchedBy: null, requestedBy: 'alice' });
    expect(await story(2)).toMatchObject({ storyBody: 'second body', title: 'title 2' });
    expect(await story(3)).toMatchObject({ storyBody: 'Depends on #99\n\nthird body' });

    // vouched, then cancelled (label removed), then labelled again by someone else with a new body: a new snapshot, to be vouched again
    const { id } = await story(2);
    await db.sql`UPDATE work_items SET story_vouched_by = 'alice' WHERE id = ${id}`;
    await db.sql.begin((tx) => {
      const l = labelEvent(2, 'second body', 'alice', []);
      return applyWebhookEvent(tx, l.delivery, l.event, 'damascus');
    });
    expect((await story(2)).state).toBe('cancelled');
    await db.sql.begin((tx) => {
      const l = labelEvent(2, 'edited body', 'mallory');
      return applyWebhookEvent(tx, l.delivery, l.event, 'damascus');
    });
    expect(await story(2)).toMatchObject({ storyBody: 'edited body', storyVouchedBy: null, requestedBy: 'mallory', state: 'spec' });
  });

  test('a spec gate bound to a test command: approving with another sha approves nothing; the approval is recorded with the approver', async () => {
    await writeWebhookGroup(db.sql, [labelEvent(10, 'gate body')], 'damascus');
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    const sha = testCommandSha256('true');
    await recordVerdict(
      db.sql,
      c!,
      {
        verdict: 'pass',
        openGate: { kind: 'spec_approval', reason: 'spec command', approval: { reasons: ['spec command'], testCommand: 'true', testCommandSha256: sha } },
      },
      { backoff },
    );
    expect(await approveSpecGate(db.sql, c!.id, 'alice', testCommandSha256('npm test').slice(0, 12))).toMatchObject({ closed: 0 });
    expect(await approveSpecGate(db.sql, c!.id, 'alice', 'abc')).toMatchObject({ closed: 0 }); // too short to name anything
    expect(await readApprovedTestCommands(db.sql, c!.id)).toEqual([]);
    expect(await approveSpecGate(db.sql, c!.id, 'alice', sha.slice(0, 12).toUpperCase())).toMatchObject({ closed: 1, gateCount: 0, state: 'build' });
    expect(await readApprovedTestCommands(db.sql, c!.id)).toEqual([sha]);
    const [g] = await db.sql`SELECT resolved_by, resolved_at, details FROM coordination_gates WHERE item_id = ${c!.id}`;
    expect(g).toMatchObject({ resolvedBy: 'alice', details: { testCommand: 'true', testCommandSha256: sha } });
    expect(g!.resolvedAt).toBeInstanceOf(Date);
    // the verdict comment's event carries what is approved
    const [ev] = await db.sql`SELECT payload FROM events_outbox WHERE item_id = ${c!.id} AND type = 'work.verdict'`;
    expect(ev!.payload.approval).toEqual({ reasons: ['spec command'], testCommand: 'true', testCommandSha256: sha });
  });

  test('a change approval binds to the pending fingerprint, only while its question waits, and names the approver', async () => {
    await writeWebhookGroup(db.sql, [labelEvent(20, 'change body')], 'damascus');
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    const fp = 'a1'.repeat(32);
    const question = `approve change ${fp.slice(0, 12)}`;
    // not waiting yet: nothing to approve
    expect(await recordChangeApproval(db.sql, c!.id, 'alice', null)).toBeNull();
    await recordVerdict(
      db.sql,
      c!,
      { verdict: 'needs_human', questions: [question], patch: { details: { pendingApproval: fp, approvalQuestion: question } } },
      { backoff },
    );
    // an earlier change's fingerprint, or no fingerprint-looking word: nothing
    expect(await recordChangeApproval(db.sql, c!.id, 'alice', 'b2'.repeat(6))).toBeNull();
    expect(await recordChangeApproval(db.sql, c!.id, 'alice', 'please')).toBeNull();
    expect((await db.sql`SELECT details->'changeApproval' AS a FROM work_items WHERE id = ${c!.id}`)[0]!.a).toBeNull();
    const ok = await recordChangeApproval(db.sql, c!.id, 'alice', fp.slice(0, 12));
    expect(ok).toMatchObject({ fingerprint: fp, questionId: expect.any(Number) });
    const [a] = await db.sql`SELECT details->'changeApproval' AS a FROM work_items WHERE id = ${c!.id}`;
    expect(a!.a).toMatchObject({ fingerprint: fp, by: 'alice', at: expect.any(String) });
  });

  test('one writer comment with prose and `/damascus approve <fingerprint>` both answers and approves; the same from a reader does neither', async () => {
    await writeWebhookGroup(db.sql, [labelEvent(30, 'inbox body')], 'damascus');
    await db.sql`UPDATE work_items SET state = 'build' WHERE issue_number = 30`; // the build asked
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    const fp = 'c3'.repeat(32);
    const question = `approve change ${fp.slice(0, 12)}`;
    await recordVerdict(
      db.sql,
      c!,
      { verdict: 'needs_human', questions: [question], patch: { details: { pendingApproval: fp, approvalQuestion: question } } },
      { backoff },
    );
    const permissions = createPermissionCache({ gitea: { getCollaboratorPermission: async (_o, _r, login) => (login === 'alice' ? 'write' : 'read') } });
    // The inbox reads each comment back from Gitea by id: a stand-in that knows the comments this test wrote.
    const comments = new Map<number, { user: { id: number; login: string }; body: string; issue_url: string }>();
    const gitea = {
      getIssueComment: async (_o: string, _r: string, id: number) => comments.get(id) ?? Promise.reject(Object.assign(new Error('not found'), { status: 404 })),
    } as unknown as Parameters<typeof processInbox>[0]['gitea'];
    const say = async (sender: string) => {
      const body = `Looks right.\n/damascus approve ${fp.slice(0, 16)}`;
      const commentId = 9000 + seq;
      comments.set(commentId, { user: { id: commentId, login: sender }, body, issue_url: 'http://gitea.invalid/api/v1/repos/acme/widgets/issues/30' });
      const ev = routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: commentPayload({ number: 30, body, sender, commentId }) });
      if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
      await db.sql.begin((tx) =>
        applyWebhookEvent(tx, { deliveryId: `c-${seq++}`, event: 'issue_comment', eventType: 'issue_comment', action: 'created' }, ev, 'damascus'),
      );
      return processInbox({ sql: db.sql, gitea, log: createLogger('silent'), botLogin: 'damascus-bot', permissions });
    };
    await say('mallory');
    expect((await db.sql`SELECT state, details->'changeApproval' AS a FROM work_items WHERE id = ${c!.id}`)[0]).toEqual({ state: 'awaiting_human', a: null });
    const r = await say('alice');
    expect(r.resumedItemIds).toEqual([c!.id]);
    const [row] = await db.sql`SELECT state, details->'changeApproval' AS a FROM work_items WHERE id = ${c!.id}`;
    expect(row).toMatchObject({ state: 'build', a: { fingerprint: fp, by: 'alice' } });
    const replies =
      await db.sql`SELECT type, payload->'reply'->>'fingerprint' AS fp FROM events_outbox WHERE item_id = ${c!.id} AND type LIKE 'reply.%' ORDER BY id`;
    expect(replies).toEqual([
      { type: 'reply.refused', fp: null },
      { type: 'reply.approved', fp },
    ]);
  });
});
