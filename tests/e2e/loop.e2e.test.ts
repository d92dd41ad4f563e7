/**
 * End to end: `damascus serve`, `damascus worker` and `damascus scheduler` as separate OS processes,
 * the real PostgreSQL and Redis, the simulated Gitea (real bare repos) prepared by `damascus setup`,
 * a scripted OpenAI-compatible server, the real Claude Code against a scripted Anthropic API, and the real bundled review Action
 * run on every workflow dispatch. Two stories run at once:
 *   #1 "Say hello": label → spec → build → review (passes) → merged;
 *   #2 "Record the greeting language": the spec asks a question, alice answers on the issue, the first
 *      build writes the wrong content, its review fails, the next build fixes it, its review passes → merged.
 *      Before its first review runs, #1 is merged and alice pushes to main: the next build continues a branch
 *      that is behind main, and its change must still count as only the story's own file.
 */
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { deriveProjectSecret } from '../../src/shared/signing.js';
import { AGENT_KEY, HELLO, LANG, OWNER, REPO, World, type ItemRow } from './world.js';

const t0 = Date.now();
const world = new World({ say: process.env.E2E_VERBOSE ? (l) => process.stderr.write(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}\n`) : undefined });
let hello: ItemRow;
let lang: ItemRow;
let helloIssue: number;
let langIssue: number;
let question: { id: number; tag: string; question: string; commentBody: string };
let helloApproval: string;
const NOTES = 'Notes pushed by a person while a story was in review.\n';

const botComments = (issue: number) => world.sim.comments(OWNER, REPO, issue).filter((c) => c.user === world.sim.botLogin);
const verdicts = async (id: number) =>
  (await world.db.sql`SELECT phase, verdict, to_state FROM verdicts WHERE item_id = ${id} ORDER BY id`).map((v) => `${v.phase}:${v.verdict}→${v.toState}`);
const damascusLabels = (issue: number) => world.sim.issueLabels(OWNER, REPO, issue).filter((l) => l.startsWith('damascus/'));
const markerIds = (issue: number, kind: 'status' | 'event' | 'question') =>
  botComments(issue).flatMap((c) => [...c.body.matchAll(new RegExp(`^<!-- damascus:${kind}:(\\d+) -->$`, 'gm'))].map((m) => Number(m[1])));

beforeAll(async () => {
  try {
    await world.start();
    await world.setup();
    await world.startProcesses();
    helloIssue = world.openIssue(HELLO.title, HELLO.body);
    langIssue = world.openIssue(LANG.title, LANG.body);
    await world.scriptAgent(helloIssue, { writes: { [HELLO.file]: HELLO.content } });
    await world.scriptAgent(langIssue, { writes: { [LANG.file]: LANG.wrongContent } }, { writes: { [LANG.file]: LANG.content } });
    // Before #2's first review runs (so before its result exists, and before #2's next build), #1 is merged and
    // alice pushes to main: #2's next build continues a branch that is two commits behind main. (Waiting for #1
    // first also keeps alice's push from racing #1's merge.)
    let pushed = false;
    world.beforeReviewRun = async (d) => {
      if (pushed || world.issueOfDispatch(d) !== langIssue) return;
      pushed = true;
      await world.waitForState(helloIssue, ['done'], { unexpected: ['blocked', 'cancelled', 'awaiting_human'] });
      await world.sim.pushToBranch(OWNER, REPO, 'main', { files: { 'NOTES.md': NOTES }, message: 'Add notes', by: 'alice' });
    };
    world.label(helloIssue);
    world.label(langIssue);

    // No test_command in the repo: each spec's command waits for alice's `/damascus approve`, shown verbatim.
    helloApproval = await world.waitForApprovalRequest(helloIssue);
    world.approve(helloIssue);
    // #2's spec has an open question: the bot asks it on the issue; alice quote-replies.
    question = await world.waitForQuestion(langIssue);
    world.answer(langIssue, question.question, LANG.answer);
    await world.waitForAnswered(question.id);
    await world.waitForApprovalRequest(langIssue);
    world.approve(langIssue);

    const settled = ['blocked', 'cancelled', 'awaiting_human'];
    hello = await world.waitForState(helloIssue, ['done'], { unexpected: settled });
    lang = await world.waitForState(langIssue, ['done'], { unexpected: settled });
    await world.waitForRelay();
  } catch (err) {
    // keep the cause visible: jest reports a failed beforeAll only through the tests
    process.stderr.write(`e2e setup failed: ${(err as Error).stack}\n`);
    throw err;
  }
}, 240_000);

afterAll(async () => {
  await world.stop();
}, 60_000);

describe('the whole loop with real processes, a simulated Gitea and the real review Action', () => {
  test('damascus setup prepared the repo: workflow file on main, per-project callback secret, webhook', () => {
    expect(world.fileOnMain('.gitea/workflows/damascus-review.yml')).toContain('workflow_dispatch');
    const stored = world.sim.secrets(OWNER, REPO).get('DAMASCUS_CALLBACK_TOKEN');
    expect(stored === deriveProjectSecret(world.callbackSecret, `${OWNER}/${REPO}`)).toBe(true);
    // every webhook Gitea sent reached serve (2xx); alice's were applied (200)
    const deliveries = world.sim.deliveries.map((d) => ({
      what: `${d.eventType}/${d.action}`,
      status: d.status,
      sender: (JSON.parse(d.body) as { sender: { login: string } }).sender.login,
    }));
    expect(deliveries.filter((d) => d.sender === 'alice')).toEqual([
      ...[helloIssue, langIssue].flatMap(() => [{ what: 'issues/opened', status: 200, sender: 'alice' }]),
      { what: 'issue_label/label_updated', status: 200, sender: 'alice' },
      { what: 'issue_label/label_updated', status: 200, sender: 'alice' },
      // #1's approve, #2's answer, #2's approve
      ...[1, 2, 3].map(() => ({ what: 'issue_comment/created', status: 200, sender: 'alice' })),
    ]);
    // (the sim attributes the build's file:// push to the repo owner, so its pull_request_sync is applied too)
    expect(deliveries.filter((d) => d.status === null || d.status < 200 || d.status > 299)).toEqual([]);
    expect(world.sim.responseViolations).toEqual([]);
  });

  test('story #1: spec → build → review → merge; the verdict history and the cost ledger say so', async () => {
    expect(await verdicts(hello.id)).toEqual(['spec:pass→build', 'build:pass→review', 'review:pass→done']);
    expect(hello).toMatchObject({ state: 'done', specVersion: 1, attempts: 0 });
    const costs = await world.db.sql`SELECT phase, kind, usd::float8 AS usd FROM cost_ledger WHERE item_id = ${hello.id} ORDER BY id`;
    expect(costs.map((c) => `${c.phase}:${c.kind}`)).toEqual(['spec:llm', 'build:agent']);
    // Claude Code's own report of what its (scripted) model's tokens cost.
    expect(costs[1]!.usd).toBeGreaterThan(0);
    expect(costs[0]!.usd).toBeGreaterThan(0); // priced from the LLM's token usage
    expect(hello.costUsd).toBeCloseTo(
      costs.reduce((s, c) => s + (c.usd as number), 0),
      6,
    );
    expect(await world.agentRuns(helloIssue)).toEqual(['first']);
  });

  test('story #1 on Gitea: merged file on main, PR merged at the tested head, issue closed, one status comment, one comment per verdict, one state label', async () => {
    expect(world.fileOnMain(HELLO.file)).toBe(HELLO.content);
    const pr = world.sim.issue(OWNER, REPO, hello.prNumber!);
    expect(pr.pull).toMatchObject({ merged: true, headSha: hello.headSha });
    expect(world.sim.issue(OWNER, REPO, helloIssue).state).toBe('closed');

    expect(markerIds(helloIssue, 'status')).toEqual([hello.id]);
    const status = botComments(helloIssue).find((c) => c.body.includes(`<!-- damascus:status:${hello.id} -->`))!;
    expect(status.body).toContain('`damascus/done`');
    const verdictEvents = await world.db.sql`SELECT id FROM events_outbox WHERE item_id = ${hello.id} AND type = 'work.verdict' ORDER BY id`;
    expect(verdictEvents).toHaveLength(3);
    const commented = await world.db
      .sql`SELECT id FROM events_outbox WHERE item_id = ${hello.id} AND (type = 'work.verdict' OR type = 'reply.approved') ORDER BY id`;
    expect(commented).toHaveLength(4);
    expect(markerIds(helloIssue, 'event')).toEqual(commented.map((e) => Number(e.id)));
    // the spec's verdict comment showed the test command verbatim, and alice's approve of it is on its gate
    expect(helloApproval).toContain(`\`\`\`sh\n${HELLO.testCommand}\n\`\`\``);
    const gates = await world.db.sql`SELECT is_open, resolved_by, details->>'testCommand' AS command FROM coordination_gates WHERE item_id = ${hello.id}`;
    expect(gates).toEqual([{ isOpen: false, resolvedBy: 'alice', command: HELLO.testCommand }]);
    expect(markerIds(helloIssue, 'question')).toEqual([]);
    expect(damascusLabels(helloIssue)).toEqual(['damascus/done']);

    // the one review run: the real Action checked out the PR head, ran the spec's test command and reported a pass
    const runs = world.actionRuns.filter((r) => r.inputs['work-item'] === String(hello.id));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ exitCode: 0, outputs: { passed: 'true', 'exit-code': '0' }, inputs: { 'head-sha': hello.headSha } });
    // The Action the run used is the one setup published to the Gitea itself, pinned by commit.
    expect(runs[0]!.action.url).toBe(`${world.sim.url}/${world.sim.botLogin}/damascus-action`);
    expect(runs[0]!.action.ref).toMatch(/^[0-9a-f]{40}$/);
    expect(runs[0]!.inputs['test-command']).toBe(HELLO.testCommand);
    expect(world.sim.statuses(OWNER, REPO, hello.headSha!).map((s) => `${s.context}:${s.state}`)).toEqual(['damascus/review:success']);
    const results = await world.db.sql`SELECT head_sha, passed, run_id FROM ci_results WHERE item_id = ${hello.id} ORDER BY id`;
    expect(results).toEqual([{ headSha: hello.headSha, passed: true, runId: `${runs[0]!.runId}-task-${runs[0]!.runId}` }]);
  });

  test('story #2: question → answer → spec → build → failing review → build with the failure as feedback → review passes → merge', async () => {
    expect(await verdicts(lang.id)).toEqual([
      'spec:needs_human→awaiting_human',
      'spec:pass→build',
      'build:pass→review',
      'review:fail→build',
      'build:pass→review',
      'review:pass→done',
    ]);
    expect(lang).toMatchObject({ state: 'done', specVersion: 1, attempts: 1 });
    // the question was answered by alice's comment, and the next spec prompt carried the answer
    const [hi] = await world.db.sql`SELECT status, answer, answered_by, question FROM human_issues WHERE item_id = ${lang.id}`;
    expect(hi).toEqual({ status: 'answered', answer: LANG.answer, answeredBy: 'alice', question: LANG.question });
    const prompts = world.llm.requests.map((r) => JSON.stringify(r.messages)).filter((p) => p.includes(LANG.body));
    expect(prompts).toHaveLength(2);
    expect(prompts[0]).not.toContain(LANG.answer);
    expect(prompts[1]).toContain(LANG.answer);
    // the second build got the failing review's output (the agent picked its retry script because feedback.md was there)
    expect(await world.agentRuns(langIssue)).toEqual(['first', 'retry']);

    const costs = await world.db.sql`SELECT phase, kind, usd::float8 AS usd FROM cost_ledger WHERE item_id = ${lang.id} ORDER BY id`;
    expect(costs.map((c) => `${c.phase}:${c.kind}`)).toEqual(['spec:llm', 'spec:llm', 'build:agent', 'build:agent']);
    expect(lang.costUsd).toBeCloseTo(
      costs.reduce((s, c) => s + (c.usd as number), 0),
      6,
    );

    // Three reviews: the failing one; the fixed head, which passed but was behind main (alice's push), so Damascus
    // merged main into the branch through Gitea; and that new head, which is what was merged: never a tree untested.
    const results = await world.db.sql`SELECT head_sha, passed, exit_code, output_tail FROM ci_results WHERE item_id = ${lang.id} ORDER BY id`;
    expect(results.map((r) => r.passed)).toEqual([false, true, true]);
    expect(results[0]!.exitCode).toBe(1);
    expect(results[0]!.outputTail).toContain('lang.txt says french, expected english');
    expect(results[2]!.headSha).toBe(lang.headSha);
    expect(new Set(results.map((r) => r.headSha)).size).toBe(3);
    const [brought] = await world.db
      .sql`SELECT count(*)::int AS n FROM events_outbox WHERE item_id = ${lang.id} AND type = 'work.waiting' AND payload->>'reason' LIKE 'main moved on: Damascus merged it into the branch%'`;
    expect(brought!.n).toBe(1);
    expect(world.sim.issue(OWNER, REPO, lang.prNumber!).pull!.headSha).toBe(lang.headSha);
    const [failedReview] = await world.db
      .sql`SELECT details->>'feedback' AS feedback FROM verdicts WHERE item_id = ${lang.id} AND phase = 'review' AND verdict = 'fail'`;
    expect(failedReview!.feedback).toContain('lang.txt says french, expected english');

    const runs = world.actionRuns.filter((r) => r.inputs['work-item'] === String(lang.id));
    expect(runs.map((r) => [r.exitCode, r.outputs.passed])).toEqual([
      [1, 'false'],
      [0, 'true'],
      [0, 'true'],
    ]);
    expect(runs.map((r) => r.inputs['head-sha'])).toEqual(results.map((r) => r.headSha));
    expect(world.sim.statuses(OWNER, REPO, results[0]!.headSha as string).map((s) => `${s.context}:${s.state}`)).toEqual(['damascus/review:failure']);
    expect(world.sim.statuses(OWNER, REPO, lang.headSha!).map((s) => `${s.context}:${s.state}`)).toEqual(['damascus/review:success']);
  });

  test('story #2 on Gitea: the question comment, one comment per verdict, one status comment, one state label, merged and closed', async () => {
    expect(world.fileOnMain(LANG.file)).toBe(LANG.content);
    expect(world.sim.issue(OWNER, REPO, lang.prNumber!).pull).toMatchObject({ merged: true, headSha: lang.headSha });
    expect(world.sim.issue(OWNER, REPO, langIssue).state).toBe('closed');

    expect(markerIds(langIssue, 'question')).toEqual([question.id]);
    expect(question.commentBody).toContain(question.tag);
    expect(question.commentBody).toContain(LANG.question);
    expect(markerIds(langIssue, 'status')).toEqual([lang.id]);
    const verdictEvents = await world.db.sql`SELECT id FROM events_outbox WHERE item_id = ${lang.id} AND type = 'work.verdict' ORDER BY id`;
    expect(verdictEvents).toHaveLength(6);
    const commented = await world.db
      .sql`SELECT id FROM events_outbox WHERE item_id = ${lang.id} AND (type = 'work.verdict' OR type = 'reply.approved') ORDER BY id`;
    expect(markerIds(langIssue, 'event')).toEqual(commented.map((e) => Number(e.id)));
    expect(damascusLabels(langIssue)).toEqual(['damascus/done']);
    // both stories' changes are on main, and so is what alice pushed meanwhile
    expect(world.fileOnMain(HELLO.file)).toBe(HELLO.content);
    expect(world.fileOnMain('NOTES.md')).toBe(NOTES);
    // what the merge brought to main is the story's own file only, though the branch fell behind main
    const merge = world.sim.issue(OWNER, REPO, lang.prNumber!).pull!.mergeCommitSha!;
    const changed = execFileSync('git', ['--git-dir', world.sim.repoPath(OWNER, REPO), 'diff', '--name-only', `${merge}^1`, merge], { encoding: 'utf8' });
    expect(changed.split('\n').filter(Boolean)).toEqual([LANG.file]);
  });

  test('every outbox event was delivered once: none pending, none parked; no comment was posted twice', async () => {
    const [o] = await world.db.sql`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE delivered_at IS NULL)::int AS undelivered,
             count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked
      FROM events_outbox`;
    expect(o!.total).toBeGreaterThanOrEqual(3 + 6 + 1); // the verdicts and the question at least
    expect(o).toMatchObject({ undelivered: 0, parked: 0 });
    for (const issue of [helloIssue, langIssue]) {
      const bodies = botComments(issue).map((c) => c.body);
      expect(new Set(bodies).size).toBe(bodies.length);
      // Claude Code's key reached its model API, and nothing else: no comment, no log line.
      expect(bodies.join('\n')).not.toContain(AGENT_KEY);
    }
    expect(world.model.server.requests.some((r) => r.headers['x-api-key'] === AGENT_KEY)).toBe(true);
    expect(world.logs(1e7)).not.toContain(AGENT_KEY);
    // the phases ran in the worker process (serve only took the webhooks and the review results)
    const workers = await world.db.sql`SELECT DISTINCT worker FROM verdicts`;
    expect(workers.map((w) => w.worker)).toEqual([`${hostname()}:${world.procs.worker!.proc.pid}`]);
  });

  test('a trigger label added and at once removed, the deliveries overtaking each other: Damascus reads the issue back and ends where Gitea is', async () => {
    const n = world.openIssue('Changed my mind', 'Never mind this one.');
    await world.sim.waitForDeliveries();
    // The removal's delivery arrives first (no item yet: nothing to do), the addition's last (a story is made).
    world.sim.holdWebhooks();
    world.sim.labelIssue(OWNER, REPO, n, ['damascus'], { by: 'alice' });
    world.sim.unlabel(OWNER, REPO, n, ['damascus'], { by: 'alice' });
    world.sim.releaseWebhooks('reverse');
    await world.sim.waitForDeliveries();
    expect(world.sim.issueLabels(OWNER, REPO, n)).not.toContain('damascus');
    const it = await world.waitForState(n, ['cancelled'], { timeoutMs: 30_000, unexpected: ['done'] });
    expect(it.state).toBe('cancelled');
    const [why] = await world.db.sql`SELECT payload->>'reason' AS reason FROM events_outbox WHERE item_id = ${it.id} AND type = 'work.cancelled'`;
    expect(why!.reason).toBe('trigger label removed');
  });
});
