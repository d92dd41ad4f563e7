import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { applyWebhookEvent } from '../../src/db/ops/applyWebhookEvent.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict, type VerdictRecord } from '../../src/db/ops/recordVerdict.js';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { isBotSender, routeWebhook } from '../../src/gitea/events.js';
import { processInbox } from '../../src/inbox/inbox.js';
import { reconcile } from '../../src/reconcile/reconcile.js';
import { createPermissionCache, type PermissionCache } from '../../src/gitea/permissions.js';
import { relayOutbox } from '../../src/mirror/relay.js';
import { findMarker } from '../../src/gitea/render.js';
import { createLogger } from '../../src/shared/log.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import type { LooseJson } from '../support/looseJson.js';

const OWNER = 'acme';
const REPO = 'app';
const TRIGGER = 'damascus';
const backoff = { baseMs: 1000, maxMs: 60_000 };
const log = createLogger('silent');

let db: TestDb;
let sim: GiteaSim;
let gitea: GiteaClient;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let permissions: PermissionCache;
let fed = 0;

beforeAll(async () => {
  [db, sim, receiver] = await Promise.all([createTestDb(), startGiteaSim(), startWebhookReceiver()]);
  await sim.createRepo(OWNER, REPO, { files: { 'README.md': '# app\n' } });
  sim.addWebhook(OWNER, REPO, { url: receiver.url, secret: 'hook-secret', events: ['issues', 'issue_comment'] });
  sim.setPermission(OWNER, REPO, 'wendy', 'write');
  sim.setPermission(OWNER, REPO, 'rita', 'read');
  gitea = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
  await ensureLeaseSlots(db.sql, 8);
});

beforeEach(() => {
  permissions = createPermissionCache({ gitea });
});

afterAll(async () => {
  await sim.close();
  await Promise.all([db.drop(), receiver.close()]);
});

afterEach(async () => {
  sim.faults.clear();
  expect(sim.responseViolations).toEqual([]);
  await db.sql`UPDATE work_items SET run_after = now() + interval '10 years' WHERE lease_token IS NULL`;
});

/**
 * Every webhook the sim sent since last time, through the real routing and intake. Like the webhook
 * server, the bot's own events are dropped, unless `keepBotEvents` (to test the inbox's own guard).
 */
async function feedWebhooks(opts: { keepBotEvents?: boolean } = {}): Promise<void> {
  await sim.waitForDeliveries();
  for (const d of receiver.received.slice(fed)) {
    const h = (k: string) => String(d.headers[k]);
    const payload = JSON.parse(d.body) as { action?: string };
    const ev = routeWebhook({ event: h('x-gitea-event'), eventType: h('x-gitea-event-type'), payload });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') continue;
    if (!opts.keepBotEvents && isBotSender(ev.sender.login, sim.botLogin)) continue;
    await db.sql.begin((tx) =>
      applyWebhookEvent(
        tx,
        { deliveryId: h('x-gitea-delivery'), event: h('x-gitea-event'), eventType: h('x-gitea-event-type'), action: payload.action ?? null },
        ev,
        TRIGGER,
      ),
    );
  }
  fed = receiver.received.length;
}

const inbox = () => processInbox({ sql: db.sql, gitea, log, botLogin: sim.botLogin, permissions });

/**
 * A real comment whose webhook is replaced by a forged one: validly signed (by someone who learnt the hook's secret),
 * the payload edited by `forge`, and fed to the intake in place of Gitea's (which is dropped).
 */
async function forgedComment(n: number, body: string, by: string, forge: (p: LooseJson) => void): Promise<number> {
  const commentId = sim.comment(OWNER, REPO, n, body, { by }).id;
  await sim.waitForDeliveries();
  const real = receiver.received.slice(fed).find((d) => String(d.headers['x-gitea-event']) === 'issue_comment')!;
  fed = receiver.received.length;
  const payload = JSON.parse(real.body) as LooseJson;
  forge(payload);
  const ev = routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload });
  if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(`forged payload not routed: ${JSON.stringify(ev)}`);
  await db.sql.begin((tx) =>
    applyWebhookEvent(
      tx,
      { deliveryId: `forged-${commentId}-${Math.random()}`, event: 'issue_comment', eventType: 'issue_comment', action: 'created' },
      ev,
      TRIGGER,
    ),
  );
  return commentId;
}
const lastResult = async () => (await db.sql<{ result: string }[]>`SELECT result FROM webhook_deliveries ORDER BY id DESC LIMIT 1`)[0]!.result;
const relay = () => relayOutbox({ sql: db.sql, gitea, log, botLogin: sim.botLogin, baseBackoffMs: 0 });

/** A labelled issue, made a work item by the intake. */
async function newStory(): Promise<{ n: number; itemId: number }> {
  const n = sim.createIssue(OWNER, REPO, { title: 'Add export', user: 'wendy', labels: [TRIGGER] });
  await feedWebhooks();
  const [row] = await db.sql<{ id: number }[]>`
    SELECT w.id FROM work_items w JOIN projects p ON p.id = w.project_id WHERE p.owner = ${OWNER} AND p.name = ${REPO} AND w.issue_number = ${n}`;
  return { n, itemId: row!.id };
}

async function verdict(itemId: number, record: VerdictRecord): Promise<void> {
  const claimed = await claimNextItem(db.sql, 'test-worker', { cap: 8, leaseMs: 60_000 });
  expect(claimed?.id).toBe(itemId);
  expect((await recordVerdict(db.sql, claimed!, record, { backoff })).recorded).toBe(true);
}

/** A story waiting on questions, with the question comments on the issue. */
async function storyWithQuestions(questions: string[]) {
  const s = await newStory();
  await verdict(s.itemId, { verdict: 'needs_human', questions });
  await relay();
  const qs = await db.sql<{ id: number; tag: string; commentId: number }[]>`
    SELECT id, tag, comment_id FROM human_issues WHERE item_id = ${s.itemId} ORDER BY id`;
  return { ...s, questions: [...qs] };
}

async function comment(n: number, body: string, by: string) {
  sim.comment(OWNER, REPO, n, body, { by });
  await feedWebhooks();
}

const item = async (id: number) =>
  (await db.sql<{ state: string; resumePhase: string | null; attempts: number }[]>`SELECT state, resume_phase, attempts FROM work_items WHERE id = ${id}`)[0]!;
const questionRows = async (itemId: number) =>
  db.sql<{ id: number; status: string; answer: string | null; answeredBy: string | null }[]>`
    SELECT id, status, answer, answered_by FROM human_issues WHERE item_id = ${itemId} ORDER BY id`;
const pendingInbox = async () => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM webhook_deliveries WHERE processed_at IS NULL`)[0]!.n;
/** The bot's replies (event-marked comments that are not verdicts) on an issue. */
const replies = (n: number) =>
  sim.comments(OWNER, REPO, n).filter((c) => c.user === sim.botLogin && findMarker(c.body)?.kind === 'event' && !c.body.includes('→'));

describe('processInbox: answers', () => {
  it("a writer's quote-reply answers the question, stores who answered, and the item resumes its phase", async () => {
    const s = await storyWithQuestions(['Which file format should the export use?']);
    expect((await item(s.itemId)).state).toBe('awaiting_human');
    const asked = sim.comments(OWNER, REPO, s.n).find((c) => c.id === s.questions[0]!.commentId)!;
    const quoted = asked.body
      .split('\n')
      .filter((l) => !l.startsWith('<!--'))
      .map((l) => `> ${l}`)
      .join('\n');
    await comment(s.n, `${quoted}\n\nCSV, please.`, 'wendy');

    const r = await inbox();
    expect(r.resumedItemIds).toEqual([s.itemId]);
    expect(await item(s.itemId)).toMatchObject({ state: 'spec', resumePhase: null });
    expect(await questionRows(s.itemId)).toEqual([{ id: s.questions[0]!.id, status: 'answered', answer: 'CSV, please.', answeredBy: 'wendy' }]);
    const [resumed] = await db.sql<{ payload: { to: string } }[]>`SELECT payload FROM events_outbox WHERE item_id = ${s.itemId} AND type = 'work.resumed'`;
    expect(resumed!.payload.to).toBe('spec');
    expect(await pendingInbox()).toBe(0);
  });

  it('a comment naming a tag answers that one of two questions; the item waits for the other', async () => {
    const s = await storyWithQuestions(['Which file format?', 'Which delimiter?']);
    const [q1, q2] = s.questions;
    await comment(s.n, `${q2!.tag}: a semicolon`, 'wendy');
    expect((await inbox()).resumedItemIds).toEqual([]);
    expect((await questionRows(s.itemId)).map((q) => [q.id, q.status, q.answer])).toEqual([
      [q1!.id, 'open', null],
      [q2!.id, 'answered', `${q2!.tag}: a semicolon`],
    ]);
    expect((await item(s.itemId)).state).toBe('awaiting_human');

    // Now only one is open: any comment answers it.
    await comment(s.n, 'CSV', 'wendy');
    expect((await inbox()).resumedItemIds).toEqual([s.itemId]);
    expect((await item(s.itemId)).state).toBe('spec');
  });

  it("a reader's answer and a reader's command are refused with a polite reply and change nothing", async () => {
    const s = await storyWithQuestions(['Which file format?']);
    await comment(s.n, 'CSV obviously', 'rita');
    await comment(s.n, '/damascus cancel', 'rita');
    expect(await inbox()).toEqual({ processed: 2, resumedItemIds: [] });
    expect(await item(s.itemId)).toMatchObject({ state: 'awaiting_human' });
    expect((await questionRows(s.itemId))[0]).toMatchObject({ status: 'open', answer: null });
    await relay();
    const r = replies(s.n);
    expect(r).toHaveLength(2);
    for (const c of r) expect(c.body).toContain('only users with write access');
    const [d] = await db.sql<{ result: string }[]>`SELECT result FROM webhook_deliveries ORDER BY id DESC LIMIT 1`;
    expect(d!.result).toBe('refused: no write permission');
  });

  it("skips the bot's own comments", async () => {
    const s = await storyWithQuestions(['Which file format?']);
    await feedWebhooks({ keepBotEvents: true }); // the relay's comments came back as webhooks
    const r = await inbox();
    expect(r.resumedItemIds).toEqual([]);
    expect((await questionRows(s.itemId))[0]!.status).toBe('open');
    const results = await db.sql<{ result: string }[]>`SELECT DISTINCT result FROM webhook_deliveries WHERE item_id = ${s.itemId} AND event = 'issue_comment'`;
    expect(results.map((x) => x.result)).toEqual(['ignored: own comment']);
  });
});

describe('processInbox: commands', () => {
  it('/damascus retry on a blocked item resets its attempts and resumes it, with a reply', async () => {
    const s = await newStory();
    await db.sql`UPDATE work_items SET budget_cycles = 1 WHERE id = ${s.itemId}`;
    await verdict(s.itemId, { verdict: 'fail', reason: 'spec is vague' });
    expect(await item(s.itemId)).toMatchObject({ state: 'blocked', attempts: 1 });
    await comment(s.n, '/damascus retry', 'wendy');
    expect((await inbox()).resumedItemIds).toEqual([s.itemId]);
    expect(await item(s.itemId)).toMatchObject({ state: 'spec', attempts: 0 });
    await relay();
    expect(replies(s.n).map((c) => c.body.split('\n').pop())).toEqual(['Retry requested by wendy: attempts reset, resuming spec.']);
    expect(sim.issueLabels(OWNER, REPO, s.n).filter((l) => l.startsWith('damascus/'))).toEqual(['damascus/spec']);
  });

  it('/damascus cancel cancels the item; a second cancel is answered as not applicable', async () => {
    const s = await newStory();
    await comment(s.n, '/damascus cancel', 'wendy');
    await inbox();
    expect((await item(s.itemId)).state).toBe('cancelled');
    await comment(s.n, '/damascus cancel', 'wendy');
    await inbox();
    await relay();
    expect(replies(s.n).map((c) => c.body.split('\n').pop())).toEqual([
      'Cancelled by wendy. Damascus stops working on this issue.',
      '`/damascus cancel` does not apply while the item is cancelled.',
    ]);
  });

  it('/damascus why replies with the reasoning of the last transition', async () => {
    const s = await newStory();
    await verdict(s.itemId, { verdict: 'pass' });
    await comment(s.n, '/damascus why', 'wendy');
    await inbox();
    await relay();
    const [r] = replies(s.n);
    expect(r!.body).toContain('Why it moved from spec to build');
    expect(r!.body).toContain('spec passed; next is build');
  });

  it('/damascus frobnicate gets a reply listing the valid commands; /damascus status refreshes the status comment', async () => {
    const s = await newStory();
    await relay();
    await comment(s.n, '/damascus frobnicate\n/damascus status', 'wendy');
    await inbox();
    const types = await db.sql<{ type: string }[]>`SELECT type FROM events_outbox WHERE item_id = ${s.itemId} AND delivered_at IS NULL ORDER BY id`;
    expect(types.map((t) => t.type)).toEqual(['status.refresh', 'reply.unknown']);
    await relay();
    const [r] = replies(s.n);
    expect(r!.body).toContain('`frobnicate`');
    expect(r!.body).toContain('`/damascus retry`, `/damascus cancel`, `/damascus approve`, `/damascus status`, `/damascus why`');
  });

  it('/damascus approve closes an open spec-approval gate, and is not applicable without one', async () => {
    const s = await newStory();
    await comment(s.n, '/damascus approve', 'wendy');
    await inbox();
    await db.sql`INSERT INTO coordination_gates (item_id, kind) VALUES (${s.itemId}, 'spec_approval')`;
    await db.sql`UPDATE work_items SET gate_count = 1 WHERE id = ${s.itemId}`;
    await comment(s.n, '/damascus approve', 'wendy');
    expect((await inbox()).resumedItemIds).toEqual([s.itemId]);
    const [g] = await db.sql<{ isOpen: boolean; resolvedBy: string }[]>`SELECT is_open, resolved_by FROM coordination_gates WHERE item_id = ${s.itemId}`;
    expect(g).toEqual({ isOpen: false, resolvedBy: 'wendy' });
    expect((await db.sql<{ gateCount: number }[]>`SELECT gate_count FROM work_items WHERE id = ${s.itemId}`)[0]!.gateCount).toBe(0);
    await relay();
    expect(replies(s.n).map((c) => c.body.split('\n').pop())).toEqual([
      '`/damascus approve` does not apply while the item is spec.',
      'Approved by wendy. Resuming spec.',
    ]);
  });
});

describe('processInbox: the comment is read back from Gitea (forged payloads)', () => {
  it("ATTACK: a reader's /damascus cancel whose payload names a writer as its author is refused as the reader's", async () => {
    const s = await newStory();
    await forgedComment(s.n, '/damascus cancel', 'rita', (p) => {
      p.comment.user.login = 'wendy';
      p.sender.login = 'wendy';
    });
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await lastResult()).toBe('refused: no write permission');
    await relay();
    expect(replies(s.n).map((c) => c.body.split('\n').pop())).toEqual([expect.stringMatching(/^Sorry, rita: only users with write access/)]);
  });

  it("ATTACK: a writer's harmless comment whose payload body says /damascus cancel does nothing", async () => {
    const s = await newStory();
    await forgedComment(s.n, 'Looks good so far.', 'wendy', (p) => {
      p.comment.body = '/damascus cancel';
    });
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await lastResult()).toBe('ignored: nothing to act on');
  });

  it("ATTACK: a writer's real /damascus cancel on one story, its id put in a payload about another, cancels neither", async () => {
    const a = await newStory();
    const b = await newStory();
    await forgedComment(a.n, '/damascus cancel', 'wendy', (p) => {
      p.issue.number = b.n;
      p.issue.html_url = p.issue.html_url.replace(/\d+$/, String(b.n));
    });
    await inbox();
    expect([(await item(a.itemId)).state, (await item(b.itemId)).state]).toEqual(['spec', 'spec']);
    expect(await lastResult()).toBe('ignored: the comment no longer exists on this issue');
  });

  it('a comment deleted before the inbox reads it is ignored; a payload naming no real comment likewise', async () => {
    const s = await newStory();
    await forgedComment(s.n, '/damascus cancel', 'wendy', (p) => {
      p.comment.id = 987_654_321;
    });
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await lastResult()).toBe('ignored: the comment no longer exists on this issue');
  });

  it('a read-back that fails leaves the comment in the inbox for the next run', async () => {
    const s = await newStory();
    sim.faults.add({ path: /\/issues\/comments\/\d+$/, status: 500, times: 1 });
    await comment(s.n, '/damascus cancel', 'wendy');
    expect((await inbox()).processed).toBe(0);
    expect((await item(s.itemId)).state).toBe('spec');
    expect((await inbox()).processed).toBe(1);
    expect((await item(s.itemId)).state).toBe('cancelled');
  });
});

describe('processInbox: closing an issue', () => {
  const issueState = (n: number) => gitea.getIssue(OWNER, REPO, n).then((i) => i.state);

  it("a writer's closing cancels the story; the same delivery replayed does nothing more", async () => {
    const s = await newStory();
    sim.closeIssue(OWNER, REPO, s.n, { by: 'wendy' });
    await feedWebhooks();
    const closing = receiver.received.at(-1)!;
    expect(closing.headers['x-gitea-event']).toBe('issues');
    await inbox();
    expect((await item(s.itemId)).state).toBe('cancelled');
    expect(await lastResult()).toBe('cancelled');
    // Gitea's delivery again, same X-Gitea-Delivery: a duplicate, nothing written.
    const payload = JSON.parse(closing.body);
    const ev = routeWebhook({ event: 'issues', eventType: 'issues', payload });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error('not routed');
    const again = await db.sql.begin((tx) =>
      applyWebhookEvent(tx, { deliveryId: String(closing.headers['x-gitea-delivery']), event: 'issues', eventType: 'issues', action: 'closed' }, ev, TRIGGER),
    );
    expect(again).toEqual({ status: 'duplicate' });
    expect(await pendingInbox()).toBe(0);
  });

  it("ATTACK: the issue's author without write access closes it: the story goes on and the issue is reopened", async () => {
    const n = sim.createIssue(OWNER, REPO, { title: 'Rita asked for it', user: 'rita' });
    sim.labelIssue(OWNER, REPO, n, [TRIGGER], { by: 'wendy' });
    await feedWebhooks();
    const [row] = await db.sql<
      { id: number }[]
    >`SELECT w.id FROM work_items w JOIN projects p ON p.id = w.project_id WHERE p.name = ${REPO} AND w.issue_number = ${n}`;
    sim.closeIssue(OWNER, REPO, n, { by: 'rita' });
    await feedWebhooks();
    await inbox();
    expect((await item(row!.id)).state).toBe('spec');
    expect(await lastResult()).toBe('reopened: closed by rita, who cannot write to the repository; the story goes on');
    expect(await issueState(n)).toBe('open');
    await feedWebhooks(); // the bot's reopening comes back as its own event: dropped
    expect(await pendingInbox()).toBe(0);
  });

  it("ATTACK: a forged closing that names a writer as its sender, when a reader closed the issue, is a reader's", async () => {
    const s = await newStory();
    sim.dropWebhooks(true);
    sim.closeIssue(OWNER, REPO, s.n, { by: 'rita' });
    sim.dropWebhooks(false);
    const ev = routeWebhook({
      event: 'issues',
      eventType: 'issues',
      payload: JSON.parse(receiver.received.find((d) => String(d.headers['x-gitea-event']) === 'issues')!.body),
    });
    if (ev.kind !== 'issue.labels' && ev.kind !== 'issue.opened') throw new Error('expected an issue delivery as a template');
    const forged = {
      kind: 'issue.closed' as const,
      repo: ev.repo,
      issue: { ...ev.issue, number: s.n, state: 'closed' as const },
      sender: { id: 1, login: 'wendy' },
    };
    await db.sql.begin((tx) =>
      applyWebhookEvent(tx, { deliveryId: `forged-close-${s.n}`, event: 'issues', eventType: 'issues', action: 'closed' }, forged, TRIGGER),
    );
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await issueState(s.n)).toBe('open');
  });

  it("ATTACK: a reader's closing whose webhook was lost is found by the reconcile sweep, and still does not cancel", async () => {
    const s = await newStory();
    sim.dropWebhooks(true);
    sim.closeIssue(OWNER, REPO, s.n, { by: 'rita' });
    sim.dropWebhooks(false);
    const sweep = await reconcile({ sql: db.sql, gitea, triggerLabel: TRIGGER, log, botLogin: sim.botLogin });
    expect(sweep.errors).toEqual([]);
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await issueState(s.n)).toBe('open');
  });

  it("a reader's closing seen after the story ended reopens nothing", async () => {
    const s = await newStory();
    sim.closeIssue(OWNER, REPO, s.n, { by: 'rita' });
    await feedWebhooks();
    await db.sql`UPDATE work_items SET state = 'done' WHERE id = ${s.itemId}`;
    await inbox();
    expect(await lastResult()).toBe('ignored: already finished');
    expect(await issueState(s.n)).toBe('closed');
  });

  it('a closing whose issue was reopened before the inbox ran changes nothing', async () => {
    const s = await newStory();
    sim.closeIssue(OWNER, REPO, s.n, { by: 'wendy' });
    await feedWebhooks();
    await gitea.editIssue(OWNER, REPO, s.n, { state: 'open' });
    await inbox();
    expect((await item(s.itemId)).state).toBe('spec');
    expect(await lastResult()).toBe('ignored: the issue is open again');
  });
});

describe('processInbox: permissions', () => {
  it('caches permission lookups per user and repo', async () => {
    const s = await newStory();
    const lookups = () => sim.requests.filter((r) => r.path.endsWith('/permission')).map((r) => r.path);
    const before = lookups().length;
    await comment(s.n, '/damascus status', 'wendy');
    await comment(s.n, '/damascus status', 'wendy');
    await comment(s.n, '/damascus status', 'rita');
    await inbox();
    expect(lookups().slice(before).sort()).toEqual([
      `/repos/${OWNER}/${REPO}/collaborators/rita/permission`,
      `/repos/${OWNER}/${REPO}/collaborators/wendy/permission`,
    ]);
  });

  it('a failed permission lookup leaves the comment in the inbox with its error, and the next run processes it', async () => {
    const s = await newStory();
    sim.faults.add({ path: /\/permission$/, status: 500, times: 1 });
    await comment(s.n, '/damascus cancel', 'wendy');
    expect(await inbox()).toEqual({ processed: 0, resumedItemIds: [] });
    const [d] = await db.sql<{ error: string; processedAt: Date | null }[]>`SELECT error, processed_at FROM webhook_deliveries ORDER BY id DESC LIMIT 1`;
    expect(d!.processedAt).toBeNull();
    expect(d!.error).toContain('500');
    expect((await item(s.itemId)).state).toBe('spec');
    expect((await inbox()).processed).toBe(1);
    expect((await item(s.itemId)).state).toBe('cancelled');
  });
});
