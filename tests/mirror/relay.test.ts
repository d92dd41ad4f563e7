import { recordAgentProgress } from '../../src/db/ops/recordAgentProgress.js';
import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { claimOutboxEvents } from '../../src/db/ops/claimOutboxEvents.js';
import { renewOutboxClaim } from '../../src/db/ops/renewOutboxClaim.js';
import { createWorkItem } from '../../src/db/ops/createWorkItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { readStatus } from '../../src/db/ops/readStatus.js';
import { recordVerdict, type VerdictRecord } from '../../src/db/ops/recordVerdict.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { relayOutbox, type RelayOptions } from '../../src/mirror/relay.js';
import { findMarker, markerFor } from '../../src/gitea/render.js';
import { createLogger } from '../../src/shared/log.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

const OWNER = 'acme';
const REPO = 'app';
const backoff = { baseMs: 1000, maxMs: 60_000 };
const log = createLogger('silent');

let db: TestDb;
let sim: GiteaSim;
let gitea: GiteaClient;
let projectId: number;

beforeAll(async () => {
  [db, sim] = await Promise.all([createTestDb(), startGiteaSim()]);
  await sim.createRepo(OWNER, REPO, { files: { 'README.md': '# app\n' } });
  // No transport retries: each relay run sees Gitea's answer as it is.
  gitea = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
  await ensureLeaseSlots(db.sql, 8);
  projectId = (await upsertProject(db.sql, { owner: OWNER, name: REPO, htmlUrl: `${sim.url}/${OWNER}/${REPO}` })).id;
});

afterAll(async () => {
  await Promise.all([db.drop(), sim.close()]);
});

afterEach(async () => {
  sim.faults.clear();
  expect(sim.responseViolations).toEqual([]);
  // Earlier tests' items and events stay out of the next test's way.
  await db.sql`UPDATE work_items SET run_after = now() + interval '10 years' WHERE lease_token IS NULL`;
  await db.sql`UPDATE events_outbox SET delivered_at = now() WHERE delivered_at IS NULL AND parked_at IS NULL`;
});

const relay = (over: Partial<RelayOptions> = {}) => relayOutbox({ sql: db.sql, gitea, log, botLogin: sim.botLogin, baseBackoffMs: 0, ...over });

/** An issue on the sim and its work item (with its work.created event). */
async function newStory(title = 'Add a feature'): Promise<{ n: number; itemId: number }> {
  const n = sim.createIssue(OWNER, REPO, { title, user: 'alice', labels: ['damascus'] });
  const { item } = await createWorkItem(db.sql, { projectId, issueNumber: n, title });
  return { n, itemId: item.id };
}

/** Claim exactly this item (the others wait) and record a verdict for it, as a worker would. */
async function verdict(itemId: number, record: VerdictRecord): Promise<void> {
  const claimed = await claimNextItem(db.sql, 'test-worker', { cap: 8, leaseMs: 60_000 });
  expect(claimed?.id).toBe(itemId);
  const r = await recordVerdict(db.sql, claimed!, record, { backoff });
  expect(r.recorded).toBe(true);
}

/** The bot's comments on an issue, by marker kind. */
function botComments(n: number) {
  const mine = sim.comments(OWNER, REPO, n).filter((c) => c.user === sim.botLogin);
  const kinds = mine.map((c) => findMarker(c.body));
  return {
    all: mine,
    status: mine.filter((_, i) => kinds[i]?.kind === 'status'),
    events: mine.filter((_, i) => kinds[i]?.kind === 'event'),
    questions: mine.filter((_, i) => kinds[i]?.kind === 'question'),
  };
}

const damascusLabels = (n: number) => sim.issueLabels(OWNER, REPO, n).filter((l) => l.startsWith('damascus/'));
const pendingEvents = async (itemId: number) =>
  (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events_outbox WHERE item_id = ${itemId} AND delivered_at IS NULL`)[0]!.n;

describe('relayOutbox mirrors an item on its issue', () => {
  it('says on the status comment when the coding agent runs without a sandbox', async () => {
    const { n } = await newStory();
    expect(await relay({ statusWarnings: ['the coding agent runs without a sandbox on this installation (DAMASCUS_SANDBOX=off)'] })).toEqual({
      delivered: 1,
      failed: 0,
      parked: 0,
    });
    expect(botComments(n).status[0]!.body).toContain('- **Warning:** the coding agent runs without a sandbox on this installation (DAMASCUS_SANDBOX=off)');
  });

  it('keeps one status comment edited in place, one comment per verdict, tagged questions and exactly one state label', async () => {
    const { n, itemId } = await newStory();

    expect(await relay()).toEqual({ delivered: 1, failed: 0, parked: 0 });
    let c = botComments(n);
    expect(c.all).toHaveLength(1);
    expect(c.status[0]!.body).toContain(markerFor.status(itemId));
    expect(c.status[0]!.body).toContain('`damascus/spec`');
    expect(damascusLabels(n)).toEqual(['damascus/spec']);
    // The trigger label is not Damascus's to touch.
    expect(sim.issueLabels(OWNER, REPO, n)).toContain('damascus');
    const [row] = await db.sql<{ statusCommentId: number }[]>`SELECT status_comment_id FROM work_items WHERE id = ${itemId}`;
    expect(row!.statusCommentId).toBe(c.status[0]!.id);
    const statusId = c.status[0]!.id;

    await verdict(itemId, { verdict: 'pass', reason: 'spec written' });
    expect(await relay()).toEqual({ delivered: 1, failed: 0, parked: 0 });
    c = botComments(n);
    expect(c.status.map((s) => s.id)).toEqual([statusId]);
    expect(c.status[0]!.body).toContain('`damascus/build`');
    expect(c.status[0]!.body).toContain('- [x] spec');
    expect(c.events).toHaveLength(1);
    expect(c.events[0]!.body).toContain('**spec: pass** → build');
    expect(damascusLabels(n)).toEqual(['damascus/build']);

    await verdict(itemId, { verdict: 'needs_human', questions: ['Which database should it use?', 'Should it log to a file?'] });
    expect(await relay()).toEqual({ delivered: 3, failed: 0, parked: 0 });
    c = botComments(n);
    expect(c.status.map((s) => s.id)).toEqual([statusId]);
    expect(c.events).toHaveLength(2);
    expect(c.questions).toHaveLength(2);
    const issues = await db.sql<{ id: number; tag: string; commentId: number }[]>`
      SELECT id, tag, comment_id FROM human_issues WHERE item_id = ${itemId} ORDER BY id`;
    expect(issues).toHaveLength(2);
    for (const [i, q] of issues.entries()) {
      const comment = c.questions.find((x) => x.id === q.commentId)!;
      expect(comment.body).toContain(markerFor.question(q.id));
      expect(comment.body).toContain(`\`${q.tag}\``);
      expect(comment.body).toContain(i === 0 ? 'Which database should it use?' : 'Should it log to a file?');
      expect(comment.body).toContain('How to answer');
    }
    expect(c.status[0]!.body).toContain(issues[0]!.tag);
    expect(damascusLabels(n)).toEqual(['damascus/awaiting_human']);
    // The repo got the state labels with their colours, once each.
    const repoLabels = sim.labels(OWNER, REPO).filter((l) => l.name.startsWith('damascus/'));
    expect(repoLabels.map((l) => l.name).sort()).toEqual(['damascus/awaiting_human', 'damascus/build', 'damascus/spec']);
    expect(repoLabels.find((l) => l.name === 'damascus/spec')!.color).toBe('1d76db');

    // Nothing pending: another run writes nothing.
    const before = sim.requests.length;
    expect(await relay()).toEqual({ delivered: 0, failed: 0, parked: 0 });
    expect(sim.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(botComments(n).all).toHaveLength(5);
  });

  it('after a crash between posting and marking delivered, a rerun finds its comments instead of writing them again', async () => {
    const { n, itemId } = await newStory();
    await verdict(itemId, { verdict: 'fail', reason: 'spec lacks acceptance criteria' });
    await verdict(itemId, { verdict: 'needs_human', questions: ['What should the button say?'] });
    expect(await relay()).toEqual({ delivered: 4, failed: 0, parked: 0 });
    const first = botComments(n);
    expect([first.status.length, first.events.length, first.questions.length]).toEqual([1, 2, 1]);

    // The relay "died" before its delivery marks committed, and before it stored the status comment's id;
    // after restart its claims have run out (claimMs), so the events are due again.
    await db.sql`UPDATE events_outbox SET delivered_at = NULL, next_attempt_at = now() WHERE item_id = ${itemId}`;
    await db.sql`UPDATE work_items SET status_comment_id = NULL WHERE id = ${itemId}`;
    await db.sql`UPDATE human_issues SET comment_id = NULL WHERE item_id = ${itemId}`;
    const before = sim.requests.length;
    expect(await relay()).toEqual({ delivered: 4, failed: 0, parked: 0 });

    const again = botComments(n);
    expect(again.all.map((x) => x.id)).toEqual(first.all.map((x) => x.id));
    expect(sim.requests.slice(before).filter((r) => r.method === 'POST' && r.path.endsWith('/comments'))).toEqual([]);
    const [row] = await db.sql<{ statusCommentId: number }[]>`SELECT status_comment_id FROM work_items WHERE id = ${itemId}`;
    expect(row!.statusCommentId).toBe(first.status[0]!.id);
    const [q] = await db.sql<{ commentId: number }[]>`SELECT comment_id FROM human_issues WHERE item_id = ${itemId}`;
    expect(q!.commentId).toBe(first.questions[0]!.id);
  });

  it('does not trust a marker typed by someone else', async () => {
    const { n, itemId } = await newStory();
    sim.comment(OWNER, REPO, n, `${markerFor.status(itemId)}\n\nfake status`, { by: 'mallory' });
    await relay();
    const c = botComments(n);
    expect(c.status).toHaveLength(1);
    expect(sim.comments(OWNER, REPO, n).find((x) => x.user === 'mallory')!.body).toContain('fake status');
  });
});

describe('relayOutbox under Gitea failures', () => {
  it('Gitea answering 500 for a while: events fail and back off, then arrive later, none lost, none doubled', async () => {
    const { n, itemId } = await newStory();
    await relay();
    await verdict(itemId, { verdict: 'pass' });
    await verdict(itemId, { verdict: 'fail', reason: 'tests fail' });
    await verdict(itemId, { verdict: 'pass' });
    sim.faults.add({ method: 'POST', path: `/repos/${OWNER}/${REPO}/issues/${n}/comments`, status: 500, times: 3 });

    const first = await relay();
    expect(first).toEqual({ delivered: 0, failed: 1, parked: 0 });
    const [failed] = await db.sql<{ attempts: number; lastError: string }[]>`
      SELECT attempts, last_error FROM events_outbox WHERE item_id = ${itemId} AND delivered_at IS NULL ORDER BY id LIMIT 1`;
    expect(failed!.attempts).toBe(1);
    expect(failed!.lastError).toContain('500');
    expect(failed!.lastError).not.toContain(sim.token);

    let runs = 1;
    while ((await pendingEvents(itemId)) > 0 && runs < 10) {
      await relay();
      runs += 1;
    }
    expect(await pendingEvents(itemId)).toBe(0);
    const c = botComments(n);
    expect(c.status).toHaveLength(1);
    expect(c.events.map((e) => e.body.split('\n')[2])).toEqual([
      '**spec: pass** → build (attempts 0 of 3 used)',
      '**build: fail** → build (attempts 1 of 3 used): tests fail',
      '**build: pass** → review (attempts 1 of 3 used)',
    ]);
    expect(damascusLabels(n)).toEqual(['damascus/review']);
  });

  it('parks an event that keeps failing, with its error, and `damascus status` counts it', async () => {
    const { n, itemId } = await newStory();
    sim.faults.add({ path: new RegExp(`^/repos/${OWNER}/${REPO}/issues/${n}/comments$`), status: 503 });
    for (let i = 0; i < 2; i++) expect(await relay({ maxAttempts: 3 })).toEqual({ delivered: 0, failed: 1, parked: 0 });
    expect(await relay({ maxAttempts: 3 })).toEqual({ delivered: 0, failed: 0, parked: 1 });
    const [ev] = await db.sql<{ attempts: number; lastError: string; parkedAt: Date | null; deliveredAt: Date | null }[]>`
      SELECT attempts, last_error, parked_at, delivered_at FROM events_outbox WHERE item_id = ${itemId}`;
    expect(ev!.attempts).toBe(3);
    expect(ev!.parkedAt).toBeInstanceOf(Date);
    expect(ev!.deliveredAt).toBeNull();
    expect(ev!.lastError).toMatch(/GET .*\/comments → 503/);
    expect((await readStatus(db.sql)).outbox.parked).toBeGreaterThanOrEqual(1);
    // Parked means left alone: no further attempts.
    expect(await relay({ maxAttempts: 3 })).toEqual({ delivered: 0, failed: 0, parked: 0 });
    expect(botComments(n).all).toHaveLength(0);
  });

  it('an item whose earlier event is backing off waits; other items go ahead', async () => {
    const a = await newStory('first');
    const b = await newStory('second');
    sim.faults.add({ method: 'POST', path: `/repos/${OWNER}/${REPO}/issues/${a.n}/comments`, status: 500 });
    expect(await relay({ baseBackoffMs: 3_600_000 })).toEqual({ delivered: 1, failed: 1, parked: 0 });
    expect(botComments(b.n).status).toHaveLength(1);
    // a's next event may not overtake its failed first one.
    await db.sql`INSERT INTO events_outbox (item_id, type) VALUES (${a.itemId}, 'status.refresh')`;
    expect(await claimOutboxEvents(db.sql, { batch: 50, claimMs: 60_000 })).toEqual([]);
    // ...nor take a place in a batch from an item that has work (a's id is lower, so it would come first)
    const c = await newStory('third');
    const batch = await claimOutboxEvents(db.sql, { batch: 1, claimMs: 60_000 });
    expect(batch.map((e) => e.itemId)).toEqual([c.itemId]);
  });

  it("a running build's progress edits only its status comment (no label request), and shows it", async () => {
    const s = await newStory('progress');
    expect(await relay()).toMatchObject({ delivered: 1 });
    await db.sql`UPDATE work_items SET state = 'build', run_after = NULL WHERE id = ${s.itemId}`;
    const claimed = await claimNextItem(db.sql, 'test-worker', { cap: 8, leaseMs: 60_000 });
    expect(claimed?.id).toBe(s.itemId);
    const progress = { builder: 'codex', turns: 3, costUsd: 0.0123, activity: 'Bash npm test', at: new Date().toISOString() };
    expect(await recordAgentProgress(db.sql, s.itemId, claimed!.leaseToken, progress)).toBe(true);
    const before = sim.requests.length;
    expect(await relay()).toMatchObject({ delivered: 1, failed: 0 });
    const calls = sim.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(calls.filter((c) => c.includes('/labels'))).toEqual([]);
    expect(calls.some((c) => c.startsWith('PATCH') && c.includes('/issues/comments/'))).toBe(true);
    expect(botComments(s.n).status[0]!.body).toContain('- **Agent:** `codex` · 3 turns · $0.01 so far · last: Bash npm test');
    await db.sql`UPDATE work_items SET lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE id = ${s.itemId}`;
    await db.sql`UPDATE lease_slots SET lease_token = NULL, lease_until = NULL WHERE lease_token = ${claimed!.leaseToken}`;
  });

  it('two relays never claim the same event', async () => {
    const stories = await Promise.all([newStory('one'), newStory('two'), newStory('three')]);
    const ids = stories.map((s) => s.itemId);
    const [x, y] = await Promise.all([claimOutboxEvents(db.sql, { batch: 2, claimMs: 60_000 }), claimOutboxEvents(db.sql, { batch: 2, claimMs: 60_000 })]);
    const claimed = [...x!, ...y!].map((e) => e.itemId).sort();
    expect(claimed).toEqual([...ids].sort());
    // Claimed means not due: a third relay gets nothing until claimMs passes.
    expect(await claimOutboxEvents(db.sql, { batch: 10, claimMs: 60_000 })).toEqual([]);
  });

  it('racing relays together take every due event, round after round (an empty claim means nothing is due)', async () => {
    // The race this guards: relay B's first statement sees items as due, relay A commits its claim
    // of them and lets go of their rows, B locks them and finds nothing due any more. Without a
    // retry, B returned nothing though another item was due.
    for (let round = 0; round < 60; round++) {
      const stories = await Promise.all(['one', 'two', 'three', 'four'].map((t) => newStory(t)));
      const claims = await Promise.all(stories.map(() => claimOutboxEvents(db.sql, { batch: 1, claimMs: 60_000 })));
      const claimed = claims
        .flat()
        .map((e) => e.itemId)
        .sort();
      expect({ round, claimed }).toEqual({ round, claimed: stories.map((s) => s.itemId).sort() });
      await db.sql`UPDATE events_outbox SET delivered_at = now() WHERE delivered_at IS NULL`;
    }
  });

  it('a relay whose claim lapsed mid-run leaves the items another relay has taken since', async () => {
    const stories = [await newStory('slow one'), await newStory('two'), await newStory('three')];
    // relay A stalls inside its first item (on its first label read) until the test lets it go
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let stalled = false;
    const slow: RelayOptions['gitea'] = {
      listIssueComments: (...a) => gitea.listIssueComments(...a),
      createIssueComment: (...a) => gitea.createIssueComment(...a),
      editIssueComment: (...a) => gitea.editIssueComment(...a),
      ensureRepoLabel: (...a) => gitea.ensureRepoLabel(...a),
      addIssueLabels: (...a) => gitea.addIssueLabels(...a),
      removeIssueLabel: (...a) => gitea.removeIssueLabel(...a),
      getIssueLabels: async (...a) => {
        if (!stalled) {
          stalled = true;
          await gate;
        }
        return gitea.getIssueLabels(...a);
      },
    };
    const runA = relay({ gitea: slow, claimMs: 200 });
    while (!stalled) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // A's claim has lapsed
    const b = await relay({ claimMs: 60_000 });
    release();
    const a = await runA;
    expect(b.delivered).toBe(3);
    // A finishes the item it was on, and renews nothing for the two that B took
    expect(a).toEqual({ delivered: 1, failed: 0, parked: 0 });
    for (const st of stories) {
      expect(botComments(st.n).status).toHaveLength(1);
      expect(damascusLabels(st.n)).toEqual(['damascus/spec']);
      expect(await pendingEvents(st.itemId)).toBe(0);
    }
  });

  it('renewing a claim extends it, and fails for an event another relay claimed after it lapsed', async () => {
    const st = await newStory('renew');
    const [mine] = await claimOutboxEvents(db.sql, { batch: 50, claimMs: 60_000 });
    expect(mine!.itemId).toBe(st.itemId);
    const [renewed] = await renewOutboxClaim(db.sql, [mine!], 120_000);
    expect(new Date(renewed!.claimedUntil).getTime()).toBeGreaterThan(new Date(mine!.claimedUntil).getTime());
    // the claim lapses; another relay takes the event; the old claim can no longer be renewed
    await db.sql`UPDATE events_outbox SET next_attempt_at = now() WHERE id = ${mine!.id}`;
    const [theirs] = await claimOutboxEvents(db.sql, { batch: 50, claimMs: 60_000 });
    expect(theirs!.id).toBe(mine!.id);
    expect(await renewOutboxClaim(db.sql, [renewed!], 120_000)).toEqual([]);
    expect((await renewOutboxClaim(db.sql, [theirs!], 120_000)).map((e) => e.id)).toEqual([mine!.id]);
  });

  it('a comment POST whose answer was lost after Gitea made it: looked up by its marker, not posted twice', async () => {
    const { n, itemId } = await newStory('Lost answer');
    await relay();
    sim.faults.add({ method: 'POST', path: `/repos/${OWNER}/${REPO}/issues/${n}/comments`, status: 502, applied: true, times: 1 });
    await verdict(itemId, { verdict: 'pass', reason: 'spec written' });
    expect(await relay()).toEqual({ delivered: 1, failed: 0, parked: 0 });
    expect(botComments(n).events).toHaveLength(1);
  });

  it('an item whose issue was deleted: its events are settled without a call to Gitea (which answers 404, and 500 for comments)', async () => {
    const { n, itemId } = await newStory('Deleted meanwhile');
    await relay();
    sim.deleteIssue(OWNER, REPO, n, { by: 'alice' });
    await db.sql`UPDATE work_items SET state = 'cancelled', details = details || '{"issueDeleted": true}'::jsonb WHERE id = ${itemId}`;
    await db.sql`INSERT INTO events_outbox (item_id, type, payload) VALUES (${itemId}, 'work.cancelled', '{"reason": "issue deleted"}'::jsonb)`;
    const before = sim.requests.length;
    expect(await relay()).toEqual({ delivered: 1, failed: 0, parked: 0 });
    expect(sim.requests.slice(before).filter((r) => r.path.includes(`/issues/${n}`))).toEqual([]);
  });
});
