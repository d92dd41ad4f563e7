/**
 * The phases against what a real Gitea 1.26.3 does (the simulator calibrated to it; tests/gitea/captures): each
 * test is one of the ways the loop broke on a real Gitea, and fails on the code that broke.
 */
import { execFileSync } from 'node:child_process';
import { Loop, specText } from './harness.js';

const verdictsOf = async (loop: Loop, id: number) =>
  (await loop.db.sql`SELECT phase, verdict, to_state FROM verdicts WHERE item_id = ${id} ORDER BY id`).map((v) => `${v.phase}:${v.verdict}→${v.toState}`);

describe('the phases on a Gitea that behaves like 1.26.3', () => {
  const loop = new Loop();
  beforeAll(async () => {
    await loop.start({ 'shared.txt': 'line0\n' });
  });
  afterAll(async () => {
    await loop.stop();
  });
  afterEach(async () => {
    loop.sim.faults.clear();
    await loop.db.sql`UPDATE work_items SET state = 'cancelled' WHERE state IN ('spec', 'build', 'review')`;
  });
  const show = (path: string, ref = 'main') =>
    execFileSync('git', ['--git-dir', loop.sim.repoPath('acme', 'widgets'), 'show', `${ref}:${path}`], { encoding: 'utf8' });
  const item = async (id: number) => (await loop.db.sql`SELECT pr_number, head_sha, branch, state FROM work_items WHERE id = ${id}`)[0]!;

  test("clone and push go through GITEA_URL, never the clone_url a payload carried (here an attacker's host)", async () => {
    loop.scriptLlm({ text: specText({ scope: 'greeting.txt' }) });
    await loop.setAgent({ writes: { 'greeting.txt': 'hello\n' } });
    loop.reviews = [{ passed: true }];
    const id = await loop.story('Say hello through GITEA_URL', 'Please add a greeting.', 'http://attacker.invalid/acme/widgets.git');
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    expect(await verdictsOf(loop, id)).toEqual(['spec:pass→build', 'build:pass→review', 'review:pass→done']);
    expect(show('greeting.txt')).toBe('hello\n');
    // The bot pushed over Gitea's HTTP (the sim saw the token's user push), not to the payload's host.
    expect(loop.sim.requests.length).toBeGreaterThan(0);
  });

  test("the spec prompt carries the repo's real top-level tree", async () => {
    loop.scriptLlm({ text: specText({ questions: ['Which file?'] }) });
    const before = loop.llm.requests.length;
    const id = await loop.story('Tree please');
    await loop.runUntil(id, ['awaiting_human', 'build']);
    const prompt = JSON.stringify(loop.llm.requests[before]!.messages);
    expect(prompt).toMatch(/top-level file tree[^<]*boundary[^\n]*\\n(?:[^\n]*\\n)*?[^\n]*README\.md/);
    expect(prompt).toContain('shared.txt');
    expect(prompt).toContain('.gitea/');
  });

  test('two stories edit the same line: the second to merge is updated through Gitea, meets the conflict, is rebuilt from main and merged', async () => {
    loop.scriptLlm({ text: specText({ scope: 'shared.txt', testCommand: 'grep -q line0 shared.txt' }) });
    loop.reviews = [{ passed: true }];
    await loop.setAgent({ appends: { 'shared.txt': 'A\n' } });
    const a = await loop.story('Guest A');
    await loop.runUntil(a, ['review']);
    // A waits while B builds on the same main.
    await loop.db.sql`UPDATE work_items SET run_after = now() + interval '1 hour' WHERE id = ${a}`;
    await loop.setAgent({ appends: { 'shared.txt': 'B\n' } });
    const b = await loop.story('Guest B');
    await loop.runUntil(b, ['review']);
    await loop.db.sql`UPDATE work_items SET run_after = now() + interval '1 hour' WHERE id = ${b}`;
    await loop.db.sql`UPDATE work_items SET run_after = NULL WHERE id = ${a}`;
    // Both PRs are open, both built on the same main. A merges; B is then behind and conflicts.
    await loop.runUntil(a, ['done']);
    await loop.db.sql`UPDATE work_items SET run_after = NULL WHERE id = ${b}`;
    expect(show('shared.txt')).toBe('line0\nA\n');
    await loop.runUntil(b, ['done', 'blocked', 'awaiting_human'], 30);
    expect(await verdictsOf(loop, b)).toEqual(['spec:pass→build', 'build:pass→review', 'review:fail→build', 'build:pass→review', 'review:pass→done']);
    const [conflict] = await loop.db.sql`SELECT reason, details FROM verdicts WHERE item_id = ${b} AND phase = 'review' AND verdict = 'fail'`;
    expect(conflict!.reason).toMatch(/cannot be merged: the branch conflicts with main; the next build starts again from main/);
    expect(show('shared.txt')).toBe('line0\nA\nB\n');
    // The update was asked of Gitea, and answered 409; the rebuild replaced the branch (no merge commit of the old one).
    expect(loop.sim.requests.filter((r) => /\/pulls\/\d+\/update$/.test(r.path)).map((r) => r.status)).toContain(409);
  });

  test('a PR that fell behind main without conflicting is brought up to date and its new head reviewed: what merges was tested', async () => {
    loop.scriptLlm({ text: specText({ scope: 'behind.txt' }) });
    await loop.setAgent({ writes: { 'behind.txt': 'mine\n' } });
    loop.reviews = [{ passed: true }];
    loop.dispatched = 0;
    const id = await loop.story('Behind main');
    await loop.runUntil(id, ['review']);
    // Someone else's change lands on main while the story is in review.
    await loop.sim.pushToBranch('acme', 'widgets', 'main', { files: { 'other.txt': 'theirs\n' }, by: 'alice' });
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    const it = await item(id);
    const pull = loop.sim.issue('acme', 'widgets', it.prNumber as number).pull!;
    expect(pull.merged).toBe(true);
    const results = await loop.db.sql`SELECT head_sha FROM ci_results WHERE item_id = ${id} AND passed ORDER BY id`;
    expect(results).toHaveLength(2);
    // The merged head is the updated one, which contains main: reviewed before it was merged.
    expect(pull.headSha).toBe(results[1]!.headSha);
    expect(execFileSync('git', ['--git-dir', loop.sim.repoPath('acme', 'widgets'), 'merge-base', '--is-ancestor', 'main~1', pull.headSha]).toString()).toBe('');
    expect(loop.dispatched).toBe(2);
  });

  test('a merge answered 409 with the tested head unchanged is not sent again at once: the item waits (no hot loop)', async () => {
    loop.scriptLlm({ text: specText({ scope: 'wait.txt' }) });
    await loop.setAgent({ writes: { 'wait.txt': 'w\n' } });
    loop.reviews = [{ passed: true }];
    const id = await loop.story('Merge refused');
    await loop.runUntil(id, ['review']);
    await loop.tick(); // the dispatch's result is in: the next claim merges
    loop.sim.faults.add({ method: 'POST', path: /\/pulls\/\d+\/merge$/, status: 409, body: { message: 'merge push out of date', url: '/api/swagger' } });
    const merges = () => loop.sim.requests.filter((r) => r.method === 'POST' && /\/pulls\/\d+\/merge$/.test(r.path)).length;
    const before = merges();
    await loop.tick();
    const [row] = await loop.db.sql`SELECT run_after > now() + interval '1 second' AS waits, state FROM work_items WHERE id = ${id}`;
    expect(row).toMatchObject({ state: 'review', waits: true });
    expect(merges() - before).toBe(1);
    // Nothing to claim until the wait is over: a tick does nothing.
    expect((await loop.tick()).kind).not.toBe('ran');
    expect(merges() - before).toBe(1);
    loop.sim.faults.clear();
    await loop.db.sql`UPDATE work_items SET run_after = NULL WHERE id = ${id}`;
    await loop.runUntil(id, ['done']);
  });

  test('answers lost after Gitea did the work: one PR, one review run', async () => {
    loop.scriptLlm({ text: specText({ scope: 'lost.txt' }) });
    await loop.setAgent({ writes: { 'lost.txt': 'x\n' } });
    loop.reviews = [{ passed: true }];
    loop.dispatched = 0;
    loop.sim.faults.add({ method: 'POST', path: '/repos/acme/widgets/pulls', status: 502, applied: true, times: 1 });
    loop.sim.faults.add({ method: 'POST', path: /\/actions\/workflows\/.*\/dispatches$/, status: 502, applied: true, times: 1 });
    const id = await loop.story('Lost answers');
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    expect(await verdictsOf(loop, id)).toEqual(['spec:pass→build', 'build:pass→review', 'review:pass→done']);
    const branch = (await item(id)).branch as string;
    const prs = loop.sim.state.mustRepo('acme', 'widgets').issues.filter((i) => i.pull?.headBranch === branch);
    expect(prs).toHaveLength(1);
    expect(loop.dispatched).toBe(1);
  });

  test('a branch that had a PR closed earlier: the build opens a new PR instead of reusing the closed one', async () => {
    loop.scriptLlm({ text: specText({ scope: 'again.txt' }) });
    await loop.setAgent({ writes: { 'again.txt': 'second\n' } });
    loop.reviews = [{ passed: true }];
    // An earlier PR of the story's branch, closed without merging (GET …/pulls/main/{branch} answers it first).
    await loop.sim.pushToBranch('acme', 'widgets', 'damascus/99-tried-before', { files: { 'again.txt': 'first\n' } });
    const old = await loop.gitea.createPullRequest('acme', 'widgets', { head: 'damascus/99-tried-before', base: 'main', title: 'first try' });
    loop.sim.closeIssue('acme', 'widgets', old.number, { by: 'alice' });
    const id = await loop.story('Tried before');
    await loop.db.sql`UPDATE work_items SET branch = 'damascus/99-tried-before' WHERE id = ${id}`;
    await loop.runUntil(id, ['done', 'blocked', 'awaiting_human']);
    const it = await item(id);
    expect(it.state).toBe('done');
    expect(it.prNumber).not.toBe(old.number);
    expect(show('again.txt')).toBe('second\n');
  });
});
