/**
 * The whole loop against a real Gitea and a real act_runner (npm run test:live; see support/liveGitea.ts for its
 * environment). Each run makes its own bot, writer, organisation (the bot in its Owners team) and repository, runs
 * the real `damascus setup`, and drives real `serve`, `worker` and `scheduler` processes with the scripted LLM and
 * the scripted agent. The review runs in the act_runner, with the Action setup published to the Gitea itself.
 *
 * Stories: #1 straight through; #2 a question answered by a reply and a failing review; #3 and #4 edit the same
 * line of the same file at once, so whichever merges second conflicts and must end merged after its branch is
 * updated or rebuilt (never stuck, never a hot loop).
 *
 * It checks Gitea through its API and the database, and prints per story the Gitea requests Damascus made (by
 * method and route) and the wall time of each phase beyond the scripted parts. With DAMASCUS_LIVE_RECORD=1 it
 * writes the webhook deliveries and API answers it saw to tests/fixtures/gitea-<version>/ (captures the
 * simulator is held to).
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { ACTION_REPO_NAME } from '../../src/setup/setupRepo.js';
import { damascus, ROOT } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startLlmServer, type LlmRequest, type LlmScript, type LlmServer } from '../support/llmServer.js';
import { freePort, spawnDamascus, stopAll, tempDir, waitFor, type DamascusProcess } from '../support/processes.js';
import { HELLO, LANG, specText } from '../e2e/world.js';
import { StoryModel, type StoryScript } from '../support/models/storyModel.js';
import { LiveGitea, liveEnv, type LiveEnv, type LiveUser } from './support/liveGitea.js';
import { routeOf, startRecordingProxy, type Exchange, type RecordingProxy } from './support/recordingProxy.js';
import { writeCaptures } from './support/captures.js';

const env = liveEnv();
const live = typeof env === 'string' ? describe.skip : describe;
if (typeof env === 'string') test.skip(env, () => {});

/** Stories #3 and #4: each appends its own line after line0 of shared.txt, so the second to merge conflicts. */
const GUEST = (who: 'A' | 'B') => ({
  title: `Sign the guest book as ${who}`,
  body: `Please add the line ${who} to shared.txt, right after line0.`,
  line: `${who}\n`,
  // #4's review takes a little longer, so #3 is merged while #4's PR is open: #4 then meets the conflict.
  testCommand: who === 'A' ? 'grep -qx A shared.txt' : 'sleep 8; grep -qx B shared.txt',
});

function llmAnswer(req: LlmRequest): LlmScript {
  const prompt = req.messages.map((m) => m.content).join('\n');
  const usage = { promptTokens: 1200, completionTokens: 300 };
  if (prompt.includes(LANG.body)) {
    const answered = prompt.includes(LANG.answer);
    return {
      ...usage,
      text: specText({
        summary: 'Record the greeting language in lang.txt.',
        criterion: '`lang.txt` names the greeting language.',
        testCommand: LANG.testCommand,
        scope: LANG.file,
        questions: answered ? [] : [LANG.question],
      }),
    };
  }
  if (prompt.includes(HELLO.body))
    return {
      ...usage,
      text: specText({ summary: 'Add a greeting file.', criterion: '`greeting.txt` says hello.', testCommand: HELLO.testCommand, scope: HELLO.file }),
    };
  for (const who of ['A', 'B'] as const) {
    const g = GUEST(who);
    if (prompt.includes(g.body))
      return {
        ...usage,
        text: specText({
          summary: `Sign the guest book as ${who}.`,
          criterion: `shared.txt has the line ${who}.`,
          testCommand: g.testCommand,
          scope: 'shared.txt',
        }),
      };
  }
  return { status: 400, message: 'the scripted LLM does not know this story' };
}

interface Story {
  key: string;
  title: string;
  body: string;
  issue: number;
  itemId: number;
}

live('the whole loop against a real Gitea and act_runner', () => {
  const e = env as LiveEnv;
  const g = new LiveGitea(e);
  const prefix = `live${randomBytes(4).toString('hex')}`;
  const webhookSecret = randomBytes(16).toString('hex');
  const callbackSecret = randomBytes(16).toString('hex');
  let bot: LiveUser;
  let botToken: string;
  let alice: LiveUser;
  let aliceClient: GiteaClient;
  let botClient: GiteaClient;
  let repo: { owner: string; name: string };
  let db: TestDb;
  let llm: LlmServer;
  let giteaProxy: RecordingProxy;
  let serveProxy: RecordingProxy;
  let llmProxy: RecordingProxy;
  let dir: { path: string; remove(): Promise<void> };
  let port: number;
  const procs: Record<string, DamascusProcess> = {};
  const stories: Record<string, Story> = {};
  let setupOutput = '';
  let failed = false;

  // The builder is the real Claude Code (the default), against a scripted Anthropic API.
  const model = new StoryModel();
  const agentKey = 'sk-ant-api03-live-scripted-0123456789';
  const damascusEnv = (role: string): Record<string, string> => ({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DAMASCUS_QUEUE_PREFIX: prefix,
    DAMASCUS_PORT: String(port),
    DAMASCUS_PUBLIC_URL: serveProxy.url,
    GITEA_URL: giteaProxy.url,
    GITEA_TOKEN: botToken,
    DAMASCUS_WEBHOOK_SECRET: webhookSecret,
    DAMASCUS_CALLBACK_SECRET: callbackSecret,
    DAMASCUS_RUNS_ON: e.runnerLabel,
    LLM_BASE_URL: `${llmProxy.url}/v1`,
    LLM_MODEL: 'gpt-4o-mini',
    LLM_API_KEY: 'sk-live-scripted',
    DAMASCUS_BUILDER: 'claude-code',
    DAMASCUS_BUILDER_COMMAND: '',
    PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
    ANTHROPIC_BASE_URL: model.server.url,
    ANTHROPIC_API_KEY: agentKey,
    DAMASCUS_DATA_DIR: join(dir.path, role),
    DAMASCUS_CONCURRENCY: '4',
    DAMASCUS_HEARTBEAT_MS: '1000',
    DAMASCUS_RELAY_SWEEP_MS: '1000',
    DAMASCUS_RECONCILE_SWEEP_MS: '15000',
    DAMASCUS_ERROR_BACKOFF_MS: '2000',
    DAMASCUS_SHUTDOWN_GRACE_MS: '3000',
    DAMASCUS_LOG_LEVEL: 'info',
    DAMASCUS_PHASES_MODULE: '',
    DAMASCUS_BOT_LOGIN: '',
    DAMASCUS_DASHBOARD_TOKEN: '',
    DAMASCUS_TRIGGER_LABEL: '',
  });

  /** alice opens an issue through the API (as a person would in the UI). */
  async function openIssue(title: string, body: string): Promise<number> {
    const res = await fetch(`${g.url}/api/v1/repos/${repo.owner}/${repo.name}/issues`, {
      method: 'POST',
      headers: { Authorization: `token ${await aliceToken()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title, body }),
    });
    if (res.status !== 201) throw new Error(`could not open an issue: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { number: number }).number;
  }
  let aliceTokenValue = '';
  const aliceToken = async () => aliceTokenValue;

  async function itemOf(issue: number): Promise<{ id: number; state: string; prNumber: number | null; headSha: string | null } | null> {
    const [r] = await db.sql`SELECT w.id, w.state, w.pr_number, w.head_sha FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE p.owner = ${repo.owner} AND p.name = ${repo.name} AND w.issue_number = ${issue}`;
    return (r as never) ?? null;
  }

  async function history(itemId: number): Promise<string[]> {
    return (await db.sql`SELECT phase, verdict, to_state FROM verdicts WHERE item_id = ${itemId} ORDER BY id`).map(
      (v) => `${v.phase}:${v.verdict}→${v.toState}`,
    );
  }

  async function logs(): Promise<string> {
    return Object.entries(procs)
      .map(([n, p]) => `--- ${n} ---\n${p.output().slice(-6000)}`)
      .join('\n');
  }

  async function waitDone(story: Story, timeoutMs = 360_000): Promise<void> {
    await waitFor(
      `#${story.issue} (${story.key}) to be done`,
      async () => {
        for (const [n, p] of Object.entries(procs)) if (p.proc.exitCode !== null) throw new Error(`damascus ${n} exited: ${p.output().slice(-3000)}`);
        const it = await itemOf(story.issue);
        if (it && ['blocked', 'cancelled'].includes(it.state))
          throw new Error(`#${story.issue} is ${it.state}: ${(await history(it.id)).join(', ')}\n${await logs()}`);
        return it?.state === 'done';
      },
      timeoutMs,
      500,
    ).catch(async (err: Error) => {
      const it = await itemOf(story.issue);
      throw new Error(`${err.message} (it is ${it?.state}): ${it ? (await history(it.id)).join(', ') : ''}\n${await logs()}`);
    });
  }

  beforeAll(async () => {
    try {
      await g.start();
      dir = await tempDir('damascus-live-');
      await model.start();
      bot = await g.user('dmbot');
      botToken = await g.token(bot, ['write:repository', 'write:issue', 'read:user', 'write:user']);
      alice = await g.user('alice');
      aliceTokenValue = await g.token(alice, ['write:issue', 'write:repository', 'read:user']);
      aliceClient = createGiteaClient({ baseUrl: g.url, token: aliceTokenValue, retries: 0 });
      botClient = createGiteaClient({ baseUrl: g.url, token: botToken, retries: 0 });
      const org = await g.org('dmlive', bot);
      repo = await g.repo(org, 'widgets', { 'shared.txt': 'line0\n' });
      await g.collaborator(repo, alice.login, 'write');
      db = await createTestDb('dmlive');
      llm = await startLlmServer({ responses: (req) => llmAnswer(req) });
      llmProxy = await startRecordingProxy(llm.url.replace(/\/v1$/, ''));
      port = await freePort();
      giteaProxy = await startRecordingProxy(g.url);
      serveProxy = await startRecordingProxy(`http://127.0.0.1:${port}`);

      const setup = await damascus(['setup', `${repo.owner}/${repo.name}`], damascusEnv('setup'), 120_000);
      setupOutput = setup.stdout + setup.stderr;
      if (setup.code !== 0) throw new Error(`damascus setup exited ${setup.code}: ${setupOutput}`);
      for (const role of ['serve', 'worker', 'scheduler']) procs[role] = spawnDamascus([role], damascusEnv(role));
      await waitFor('serve to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok, 60_000, 200);

      const scripts: Record<string, { first: StoryScript; retry?: StoryScript }> = {
        hello: { first: { writes: { [HELLO.file]: HELLO.content } } },
        lang: { first: { writes: { [LANG.file]: LANG.wrongContent } }, retry: { writes: { [LANG.file]: LANG.content } } },
        guestA: { first: { appends: { 'shared.txt': GUEST('A').line } }, retry: { appends: { 'shared.txt': GUEST('A').line } } },
        guestB: { first: { appends: { 'shared.txt': GUEST('B').line } }, retry: { appends: { 'shared.txt': GUEST('B').line } } },
      };
      const defs: Record<string, { title: string; body: string }> = { hello: HELLO, lang: LANG, guestA: GUEST('A'), guestB: GUEST('B') };
      const trigger = (await botClient.listRepoLabels(repo.owner, repo.name)).find((l) => l.name === 'damascus')!;
      for (const key of Object.keys(defs)) {
        const issue = await openIssue(defs[key]!.title, defs[key]!.body);
        model.script(issue, scripts[key]!.first, scripts[key]!.retry);
        stories[key] = { key, ...defs[key]!, issue, itemId: 0 };
      }
      // Label them all at once: #3 and #4 build from the same main and race to merge.
      await Promise.all(Object.values(stories).map((s) => aliceClient.addIssueLabels(repo.owner, repo.name, s.issue, [trigger.id])));
      for (const s of Object.values(stories)) s.itemId = (await waitFor(`#${s.issue} to become an item`, () => itemOf(s.issue), 60_000, 200))!.id;

      // #2 asks a question on the issue; alice quote-replies.
      const [q] = await waitFor(
        'the question of #2',
        async () => {
          const rows =
            await db.sql`SELECT id, tag, question, comment_id FROM human_issues WHERE item_id = ${stories.lang!.itemId} AND status = 'open' AND comment_id IS NOT NULL`;
          return rows.length ? rows : null;
        },
        120_000,
        500,
      );
      await aliceClient.createIssueComment(repo.owner, repo.name, stories.lang!.issue, `> ${String(q!.question)}\n\n${LANG.answer}`);

      for (const s of Object.values(stories)) await waitDone(s);
      await waitFor(
        'the relay to deliver every event',
        async () => {
          const [r] = await db.sql`SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL)::int AS pending FROM events_outbox`;
          return r!.pending === 0;
        },
        60_000,
        500,
      );
    } catch (err) {
      failed = true;
      process.stderr.write(`live setup failed: ${(err as Error).stack}\n`);
      throw err;
    }
  }, 900_000);

  afterAll(async () => {
    const ps = Object.values(procs);
    for (const p of ps) p.kill('SIGTERM');
    await Promise.race([Promise.all(ps.map((p) => p.exited)), new Promise((r) => setTimeout(r, 8000))]);
    await stopAll(ps);
    if (!failed && giteaProxy) report();
    if (process.env.DAMASCUS_LIVE_RECORD && giteaProxy && serveProxy) {
      const version = ((await (await fetch(`${g.url}/api/v1/version`)).json()) as { version: string }).version;
      const written = writeCaptures(join(ROOT, 'tests', 'fixtures', `gitea-${version}`), {
        gitea: version,
        api: giteaProxy.exchanges,
        deliveries: serveProxy.exchanges,
      });
      process.stderr.write(`recorded ${written} captures of Gitea ${version}\n`);
    }
    await Promise.all([giteaProxy?.close(), serveProxy?.close(), llmProxy?.close(), llm?.close(), model.server?.close()]);
    await db?.drop().catch(() => {});
    await dir?.remove();
  }, 60_000);

  /** Per story: Gitea requests by route, and Damascus's own time per phase (the scripted LLM, agent and tests taken out). */
  function report(): void {
    const lines: string[] = ['', `live loop on Gitea ${g.url} (runner label ${e.runnerLabel})`];
    const byItem = new Map<number | null, Exchange[]>();
    for (const x of giteaProxy.exchanges) byItem.set(x.item, [...(byItem.get(x.item) ?? []), x]);
    const logLines = procs
      .worker!.output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { item?: number; phase?: string; durationMs?: number; agentMs?: number }];
        } catch {
          return [];
        }
      });
    for (const s of Object.values(stories)) {
      const ex = byItem.get(s.itemId) ?? [];
      const counts = new Map<string, number>();
      for (const x of ex) counts.set(routeOf(x), (counts.get(routeOf(x)) ?? 0) + 1);
      lines.push(`#${s.issue} ${s.title}: ${ex.length} Gitea requests`);
      for (const [route, n] of [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) lines.push(`    ${String(n).padStart(3)}  ${route}`);
      const phaseMs = (phase: string) =>
        logLines.filter((l) => l.item === s.itemId && l.phase === phase && typeof l.durationMs === 'number').reduce((t, l) => t + l.durationMs!, 0);
      const llmMs = llmProxy.exchanges.filter((x) => JSON.stringify(x.requestJson ?? '').includes(s.body.slice(0, 40))).reduce((t, x) => t + x.ms, 0);
      // The coding agent's own time, as the worker logged it for each run ('agent finished').
      const agentMs = logLines.filter((l) => l.item === s.itemId && typeof l.agentMs === 'number').reduce((t, l) => t + l.agentMs!, 0);
      lines.push(
        `    phases, Damascus's own time: spec ${phaseMs('spec') - llmMs} ms (LLM ${llmMs} ms left out), build ${phaseMs('build') - agentMs} ms (agent ${agentMs} ms left out), review ${phaseMs('review')} ms (dispatch and merge)`,
      );
    }
    const shared = byItem.get(null) ?? [];
    const sharedCounts = new Map<string, number>();
    for (const x of shared) sharedCounts.set(routeOf(x), (sharedCounts.get(routeOf(x)) ?? 0) + 1);
    lines.push(`not for one story (setup, start-up checks, sweeps): ${shared.length} requests`);
    for (const [route, n] of [...sharedCounts].sort((a, b) => b[1] - a[1])) lines.push(`    ${String(n).padStart(3)}  ${route}`);
    process.stderr.write(`${lines.join('\n')}\n`);
  }

  const bots = async (issue: number) => (await botClient.listIssueComments(repo.owner, repo.name, issue)).filter((c) => c.user.login === bot.login);
  const markers = (bodies: string[], kind: string) =>
    bodies.flatMap((b) => [...b.matchAll(new RegExp(`<!-- damascus:${kind}:(\\d+) -->`, 'g'))].map((m) => Number(m[1])));

  test('setup published the Action to the Gitea itself and pinned it; one webhook; every label once', async () => {
    expect(setupOutput).toMatch(
      new RegExp(
        `created\\s+Action ${g.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|Action http://127\\.0\\.0\\.1:\\d+/${bot.login}/${ACTION_REPO_NAME}@[0-9a-f]{12}`,
      ),
    );
    const workflow = await botClient.getRawFile(repo.owner, repo.name, '.gitea/workflows/damascus-review.yml', 'main');
    expect(workflow).toMatch(new RegExp(`uses: \\S+/${bot.login}/${ACTION_REPO_NAME}@[0-9a-f]{40}`));
    expect(workflow).not.toMatch(/actions\/checkout/);
    expect(workflow).toContain(`runs-on: ${e.runnerLabel}`);
    const hooks = await botClient.listHooks(repo.owner, repo.name);
    expect(hooks).toHaveLength(1);
    const names = (await botClient.listRepoLabels(repo.owner, repo.name)).map((l) => l.name);
    expect(new Set(names).size).toBe(names.length);
  });

  test.each(['hello', 'lang', 'guestA', 'guestB'])(
    'story %s: PR merged at the tested SHA, issue closed, one status comment, a comment per verdict and question, one state label',
    async (key) => {
      const s = stories[key]!;
      const it = (await itemOf(s.issue))!;
      expect(it.state).toBe('done');
      const pr = await botClient.getPullRequest(repo.owner, repo.name, it.prNumber!);
      expect(pr.merged).toBe(true);
      const [tested] = await db.sql`SELECT head_sha FROM ci_results WHERE item_id = ${it.id} AND passed ORDER BY id DESC LIMIT 1`;
      expect(pr.head.sha).toBe(tested!.headSha);
      expect((await botClient.getIssue(repo.owner, repo.name, s.issue)).state).toBe('closed');
      const comments = (await bots(s.issue)).map((c) => c.body);
      expect(markers(comments, 'status')).toEqual([it.id]);
      const verdictEvents = (await db.sql`SELECT id FROM events_outbox WHERE item_id = ${it.id} AND type = 'work.verdict' ORDER BY id`).map((r) =>
        Number(r.id),
      );
      expect(markers(comments, 'event').sort((a, b) => a - b)).toEqual(verdictEvents);
      const questions = (await db.sql`SELECT id FROM human_issues WHERE item_id = ${it.id} AND kind = 'question' ORDER BY id`).map((r) => Number(r.id));
      expect(markers(comments, 'question')).toEqual(questions);
      const labels = (await botClient.getIssueLabels(repo.owner, repo.name, s.issue)).map((l) => l.name).filter((n) => n.startsWith('damascus/'));
      expect(labels).toEqual(['damascus/done']);
    },
  );

  test("the files are on main: each story's change, and both guest-book lines", async () => {
    expect(await botClient.getRawFile(repo.owner, repo.name, HELLO.file, 'main')).toBe(HELLO.content);
    expect(await botClient.getRawFile(repo.owner, repo.name, LANG.file, 'main')).toBe(LANG.content);
    const shared = (await botClient.getRawFile(repo.owner, repo.name, 'shared.txt', 'main'))!.split('\n').filter(Boolean);
    expect(shared[0]).toBe('line0');
    expect([...shared.slice(1)].sort()).toEqual(['A', 'B']);
  });

  test('story #2 asked its question, took the answer, failed one review and then passed', async () => {
    expect(await history(stories.lang!.itemId)).toEqual([
      'spec:needs_human→awaiting_human',
      'spec:pass→build',
      'build:pass→review',
      'review:fail→build',
      'build:pass→review',
      'review:pass→done',
    ]);
    const [hi] = await db.sql`SELECT status, answered_by FROM human_issues WHERE item_id = ${stories.lang!.itemId}`;
    expect(hi).toEqual({ status: 'answered', answeredBy: alice.login });
  });

  test('#3 and #4 edit the same line: the second met the conflict, was brought up to date or rebuilt, and merged; no hot loop', async () => {
    const ha = await history(stories.guestA!.itemId);
    const hb = await history(stories.guestB!.itemId);
    const conflicted = await db.sql`
      SELECT item_id FROM verdicts WHERE item_id IN (${stories.guestA!.itemId}, ${stories.guestB!.itemId}) AND (details ->> 'conflict')::boolean`;
    process.stderr.write(`guest A: ${ha.join(', ')}\nguest B: ${hb.join(', ')}\n`);
    expect(conflicted.length).toBeGreaterThanOrEqual(1);
    for (const h of [ha, hb]) {
      expect(h.at(-1)).toBe('review:pass→done');
      expect(h.length).toBeLessThan(12);
    }
    // Never a hot loop: the review phase ran a bounded number of times for each.
    const [runs] =
      await db.sql`SELECT count(*)::int AS n FROM events_outbox WHERE item_id IN (${stories.guestA!.itemId}, ${stories.guestB!.itemId}) AND type = 'work.waiting'`;
    expect(runs!.n).toBeLessThan(60);
  });

  test('damascus doctor on the repository after the loop: every check passes but the runner one, which the bot cannot see and reads from the runs', async () => {
    const r = await damascus(['doctor', `${repo.owner}/${repo.name}`], damascusEnv('doctor'), 120_000);
    process.stderr.write(`doctor after the loop:\n${r.stdout}\n`);
    const status = new Map(
      r.stdout.split('\n').flatMap((l) => {
        const m = /^(ok|FAIL|warn|skip)\s+([^:]+):/.exec(l);
        return m ? [[m[2]!, m[1]!] as const] : [];
      }),
    );
    for (const check of [
      'gitea reachable',
      'token scopes',
      'setup rights',
      'actions enabled',
      'review workflow',
      'action readable',
      'webhook',
      'test delivery',
      'public URL',
    ]) {
      expect([check, status.get(check)]).toEqual([check, 'ok']);
    }
    expect(status.get('runner online')).not.toBe('FAIL');
    expect(r.stdout + r.stderr).not.toContain(botToken);
  });

  test("every webhook Gitea sent reached serve and was accepted; serve's review results came from the runner", () => {
    const hooks = serveProxy.exchanges.filter((x) => x.path === '/api/gitea/webhooks');
    expect(hooks.length).toBeGreaterThan(5);
    expect(hooks.filter((x) => x.status === null || x.status >= 300).map((x) => `${x.requestHeaders['x-gitea-event-type']} ${x.status}`)).toEqual([]);
    const results = serveProxy.exchanges.filter((x) => x.path === '/api/v1/review-results');
    expect(results.filter((x) => x.status === 202).length).toBeGreaterThanOrEqual(5);
  });
});
