/**
 * The end-to-end world: `damascus serve`, `damascus worker` and `damascus scheduler` as separate OS
 * processes against the real PostgreSQL (a private database) and Redis (a private redis-server, or a
 * shared one under a unique queue prefix); the simulated Gitea with real bare repos, prepared by the
 * real `damascus setup` (workflow file, Actions secret, labels, webhook); a scripted OpenAI-compatible
 * server; the real Claude Code as the builder, against a scripted Anthropic API (tests/support/models/storyModel.ts); and, on every workflow dispatch,
 * the real bundled review Action run as a runner would run the installed workflow.
 *
 * Used by tests/e2e/loop.e2e.test.ts and by `npm run demo` (bench/demo.ts). No jest in here.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { damascus, ROOT } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startGiteaSim, type GiteaSim, type SimDispatch } from '../support/giteaSim/index.js';
import { startLlmServer, type LlmRequest, type LlmScript, type LlmServer } from '../support/llmServer.js';
import { StoryModel, type StoryScript } from '../support/models/storyModel.js';
import { freePort, spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../support/processes.js';
import { runReviewWorkflow, type ActionRunResult } from '../support/runAction.js';

export const OWNER = 'acme';
export const REPO = 'widgets';
/** Claude Code's key in this world: secret-looking, so none of it may show on Gitea or in a log. */
export const AGENT_KEY = 'sk-ant-api03-e2e-scripted-0123456789abcdef';

/** A spec with every required section (the shape the spec phase checks). */
export function specText(o: { summary: string; criterion: string; testCommand: string; scope: string; questions?: string[] }): string {
  return [
    '# Summary',
    o.summary,
    '',
    '# Acceptance Criteria',
    `1. AC-1: ${o.criterion}`,
    '',
    '# Test Command',
    '```sh',
    o.testCommand,
    '```',
    '',
    '# Scope',
    `- \`${o.scope}\``,
    '',
    '# Open Questions',
    o.questions?.length ? o.questions.map((q) => `- ${q}`).join('\n') : 'None.',
    '',
  ].join('\n');
}

/** Story 1: straight through. */
export const HELLO = {
  title: 'Say hello',
  body: 'Please add a greeting file that says hello.',
  file: 'greeting.txt',
  content: 'hello\n',
  testCommand: 'test "$(cat greeting.txt)" = hello',
};

/** Story 2: a question for a human first, then a build whose review fails, then one that passes. */
export const LANG = {
  title: 'Record the greeting language',
  body: 'Please write the language of the greeting into lang.txt.',
  file: 'lang.txt',
  wrongContent: 'french\n',
  content: 'english\n',
  question: 'Should the greeting language be English or French?',
  answer: 'English, please.',
  testCommand: 'grep -qx english lang.txt || { echo "lang.txt says $(cat lang.txt), expected english"; exit 1; }',
};

/** The scripted LLM: which spec to answer, decided by the story in the prompt (the two stories run at once). */
export function llmAnswer(req: LlmRequest): LlmScript {
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
  if (prompt.includes(HELLO.body)) {
    return {
      ...usage,
      text: specText({ summary: 'Add a greeting file.', criterion: '`greeting.txt` says hello.', testCommand: HELLO.testCommand, scope: HELLO.file }),
    };
  }
  return { status: 400, message: 'the scripted LLM does not know this story' };
}

export interface WorldOptions {
  /** Use this Redis (with a unique queue prefix) instead of starting a private redis-server. */
  redisUrl?: string;
  /** Progress lines (the demo prints them). */
  say?: (line: string) => void;
}

export interface ItemRow {
  id: number;
  state: string;
  issueNumber: number;
  prNumber: number | null;
  headSha: string | null;
  specVersion: number;
  attempts: number;
  costUsd: number;
}

export class World {
  db!: TestDb;
  sim!: GiteaSim;
  llm!: LlmServer;
  /** The Anthropic API behind the real Claude Code, the builder of every story. */
  readonly model = new StoryModel();
  redisUrl = '';
  readonly prefix = `e2e${randomBytes(4).toString('hex')}`;
  readonly webhookSecret = randomBytes(16).toString('hex');
  readonly callbackSecret = randomBytes(16).toString('hex');
  port = 0;
  publicUrl = '';
  /** Every review workflow run, in the order they finished. */
  readonly actionRuns: (ActionRunResult & { dispatch: SimDispatch })[] = [];
  readonly actionErrors: string[] = [];
  /** Runs before the runner starts a review run (the dispatch is already recorded). */
  beforeReviewRun: ((d: SimDispatch) => Promise<void>) | null = null;
  procs: { serve?: DamascusProcess; worker?: DamascusProcess; scheduler?: DamascusProcess } = {};
  private redis: PrivateRedis | null = null;
  private dir!: { path: string; remove(): Promise<void> };
  private readonly say: (line: string) => void;

  constructor(private readonly opts: WorldOptions = {}) {
    this.say = opts.say ?? (() => {});
  }

  /** Everything but the Damascus processes: database, Redis, Gitea, LLM, the agent's scripts. */
  async start(): Promise<void> {
    this.dir = await tempDir('damascus-e2e-');
    this.db = await createTestDb('dme2e');
    this.say(`database ${this.db.url.replace(/^.*\//, '')} created and migrated`);
    if (this.opts.redisUrl) this.redisUrl = this.opts.redisUrl;
    else {
      this.redis = await startPrivateRedis();
      this.redisUrl = this.redis.url;
    }
    this.sim = await startGiteaSim();
    await this.sim.createRepo(OWNER, REPO, { files: { 'README.md': '# widgets\n\nA tiny repository for the Damascus loop.\n' } });
    this.sim.addUser('alice', { permissions: { [`${OWNER}/${REPO}`]: 'write' }, fullName: 'Alice' });
    this.say(`simulated Gitea at ${this.sim.url} with ${OWNER}/${REPO} (a real bare git repo)`);
    this.llm = await startLlmServer({ responses: (req) => llmAnswer(req) });
    await this.model.start();
    this.say(`scripted LLM at ${this.llm.url}; the real Claude Code builds against a scripted Anthropic API at ${this.model.server.url}`);
    this.port = await freePort();
    this.publicUrl = `http://127.0.0.1:${this.port}`;
    // What a runner does with each dispatch of the review workflow.
    this.sim.onDispatch(async (d) => {
      this.say(`#${this.issueOfDispatch(d) ?? '?'} review workflow dispatched (run ${d.runId}) for ${String(d.inputs['head-sha']).slice(0, 10)}`);
      try {
        await this.beforeReviewRun?.(d);
        const result = await runReviewWorkflow({
          bareRepo: this.sim.repoPath(d.owner, d.repo),
          dispatch: d,
          secrets: this.sim.secrets(d.owner, d.repo),
          serverUrl: this.sim.url,
          jobToken: this.sim.token,
          inputOverrides: { 'delivery-timeout-seconds': '30' },
        });
        this.actionRuns.push({ ...result, dispatch: d });
        const passed = result.outputs.passed === 'true';
        this.say(
          `#${this.issueOfDispatch(d) ?? '?'} review run ${d.runId} ${passed ? 'passed' : `failed (exit code ${result.outputs['exit-code'] || 'none'})`}; the Action reported to Damascus`,
        );
      } catch (err) {
        this.actionErrors.push((err as Error).message);
        throw err;
      }
    });
  }

  /** The story issue a review dispatch is for: its PR's branch is damascus/<issue>-<slug> (the dispatch's ref is main). */
  issueOfDispatch(d: SimDispatch): number | null {
    const pr = Number(d.inputs['pull-request']);
    if (!pr) return null;
    const m = /damascus\/(\d+)-/.exec(this.sim.issue(d.owner, d.repo, pr).pull?.headBranch ?? '');
    return m ? Number(m[1]) : null;
  }

  /** The environment every Damascus process gets. */
  env(role: string): Record<string, string> {
    return {
      DATABASE_URL: this.db.url,
      REDIS_URL: this.redisUrl,
      DAMASCUS_QUEUE_PREFIX: this.prefix,
      DAMASCUS_PORT: String(this.port),
      DAMASCUS_PUBLIC_URL: this.publicUrl,
      GITEA_URL: this.sim.url,
      GITEA_TOKEN: this.sim.token,
      DAMASCUS_WEBHOOK_SECRET: this.webhookSecret,
      DAMASCUS_CALLBACK_SECRET: this.callbackSecret,
      LLM_BASE_URL: this.llm.url,
      LLM_MODEL: 'gpt-4o-mini',
      LLM_API_KEY: 'sk-e2e-scripted',
      // The builder is the default one, Claude Code, as the project installs it (in its sandbox, with its own key only).
      DAMASCUS_BUILDER: 'claude-code',
      DAMASCUS_BUILDER_COMMAND: '',
      PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      ANTHROPIC_BASE_URL: this.model.server.url,
      ANTHROPIC_API_KEY: AGENT_KEY,
      DAMASCUS_PROGRESS_INTERVAL_MS: '200',
      DAMASCUS_DATA_DIR: join(this.dir.path, role),
      DAMASCUS_CONCURRENCY: '2',
      DAMASCUS_HEARTBEAT_MS: '500',
      DAMASCUS_RELAY_SWEEP_MS: '500',
      DAMASCUS_RECONCILE_SWEEP_MS: '600000',
      DAMASCUS_ERROR_BACKOFF_MS: '1000',
      DAMASCUS_SHUTDOWN_GRACE_MS: '3000',
      DAMASCUS_LOG_LEVEL: 'info',
      // whatever the caller's environment says, these stay unset
      DAMASCUS_PHASES_MODULE: '',
      DAMASCUS_BOT_LOGIN: '',
      DAMASCUS_DASHBOARD_TOKEN: '',
      DAMASCUS_TRIGGER_LABEL: '',
    };
  }

  /** `damascus setup acme/widgets`: review workflow, Actions secret, labels and webhook (the real CLI). */
  async setup(): Promise<string> {
    const r = await damascus(['setup', `${OWNER}/${REPO}`], this.env('setup'), 60_000);
    if (r.code !== 0) throw new Error(`damascus setup exited ${r.code}: ${r.stderr || r.stdout}`);
    this.say(`damascus setup ${OWNER}/${REPO}: review workflow, callback secret, labels and webhook installed`);
    return r.stdout;
  }

  /** serve, worker and scheduler as three OS processes; resolves when serve is ready. */
  async startProcesses(): Promise<void> {
    this.procs.serve = spawnDamascus(['serve'], this.env('serve'));
    this.procs.worker = spawnDamascus(['worker'], this.env('worker'));
    this.procs.scheduler = spawnDamascus(['scheduler'], this.env('scheduler'));
    await waitFor(
      'damascus serve to be ready',
      async () => {
        for (const [name, p] of Object.entries(this.procs)) {
          if (p && p.proc.exitCode !== null) throw new Error(`damascus ${name} exited early (${p.proc.exitCode}):\n${p.output().slice(-3000)}`);
        }
        try {
          const res = await fetch(`${this.publicUrl}/readyz`);
          return res.ok;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );
    this.say(
      `damascus serve (pid ${this.procs.serve.proc.pid}), worker (pid ${this.procs.worker.proc.pid}) and scheduler (pid ${this.procs.scheduler.proc.pid}) are running`,
    );
  }

  /** The scripts the story's agent runs: the first build, and (optionally) a build after review feedback. */
  /** What the story's agent writes on its first build, and on a build after a failed review. */
  async scriptAgent(issue: number, first: StoryScript, retry?: StoryScript): Promise<void> {
    this.model.script(issue, first, retry);
  }

  /** Which scripts the story's agent ran ('first' | 'retry'), in order. */
  async agentRuns(issue: number): Promise<string[]> {
    return this.model.runsOf(issue);
  }

  /** alice opens an issue (no label yet). */
  openIssue(title: string, body: string): number {
    return this.sim.createIssue(OWNER, REPO, { title, body, user: 'alice' });
  }

  /** alice puts the trigger label on the issue: Gitea sends the webhook to serve. */
  label(issue: number): void {
    this.sim.labelIssue(OWNER, REPO, issue, ['damascus'], { by: 'alice' });
    this.say(`labelled ${OWNER}/${REPO}#${issue} with "damascus"`);
  }

  async item(issue: number): Promise<ItemRow | null> {
    const [r] = await this.db.sql`
      SELECT w.id, w.state, w.issue_number, w.pr_number, w.head_sha, w.spec_version, w.attempts, w.cost_usd::float8 AS cost_usd
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE p.owner = ${OWNER} AND p.name = ${REPO} AND w.issue_number = ${issue}`;
    return (r as ItemRow | undefined) ?? null;
  }

  /**
   * Wait until the story's item is in one of `states`. An item that reaches one of `unexpected` (default:
   * blocked, cancelled) fails the wait at once, with its verdicts and the processes' logs.
   */
  async waitForState(issue: number, states: string[], o: { timeoutMs?: number; unexpected?: string[] } = {}): Promise<ItemRow> {
    const unexpected = o.unexpected ?? ['blocked', 'cancelled'];
    return waitFor(
      `#${issue} to reach ${states.join('/')}`,
      async () => {
        this.checkAlive();
        const it = await this.item(issue);
        if (!it) return null;
        if (states.includes(it.state)) return it;
        if (unexpected.includes(it.state)) throw new Error(`#${issue} is ${it.state}: ${await this.history(it.id)}\n${this.logs()}`);
        return null;
      },
      o.timeoutMs ?? 120_000,
      200,
    ).catch(async (err: Error) => {
      if (!/timed out/.test(err.message)) throw err;
      const it = await this.item(issue);
      throw new Error(`${err.message} (it is ${it?.state ?? 'missing'}): ${it ? await this.history(it.id) : ''}\n${this.logs()}`);
    });
  }

  /** An item's verdicts with their reasons, one per line. */
  async history(itemId: number): Promise<string> {
    const vs = await this.db.sql`SELECT phase, verdict, to_state, reason FROM verdicts WHERE item_id = ${itemId} ORDER BY id`;
    return vs.map((v) => `\n  ${v.phase}:${v.verdict}→${v.toState} (${v.reason ?? ''})`).join('');
  }

  /** Wait until the relay has delivered every outbox event (none pending, none parked). */
  async waitForRelay(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'the relay to deliver every outbox event',
      async () => {
        this.checkAlive();
        const [r] = await this.db.sql`SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL)::int AS pending FROM events_outbox`;
        return r!.pending === 0;
      },
      timeoutMs,
      200,
    );
  }

  /** The open question's comment the bot posted on the issue (after the relay ran). */
  async waitForQuestion(issue: number, timeoutMs = 60_000): Promise<{ id: number; tag: string; question: string; commentBody: string }> {
    return waitFor(
      `a question comment on #${issue}`,
      async () => {
        this.checkAlive();
        const it = await this.item(issue);
        if (!it) return null;
        const [q] = await this.db.sql`SELECT id, tag, question FROM human_issues WHERE item_id = ${it.id} AND status = 'open' ORDER BY id LIMIT 1`;
        if (!q) return null;
        const c = this.sim.comments(OWNER, REPO, issue).find((x) => x.user === this.sim.botLogin && x.body.includes(`<!-- damascus:question:${q.id} -->`));
        return c ? { id: Number(q.id), tag: String(q.tag), question: String(q.question), commentBody: c.body } : null;
      },
      timeoutMs,
      200,
    );
  }

  /** Wait until the inbox has taken a human issue as answered. */
  async waitForAnswered(humanIssueId: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `question ${humanIssueId} to be answered`,
      async () => {
        this.checkAlive();
        const [q] = await this.db.sql`SELECT status FROM human_issues WHERE id = ${humanIssueId}`;
        return q?.status === 'answered';
      },
      timeoutMs,
      200,
    );
  }

  /**
   * The story's spec passed and holds at a spec_approval gate (its test command comes from the spec): wait until
   * the bot's verdict comment showing the command is on the issue, and return that comment's body.
   */
  async waitForApprovalRequest(issue: number, timeoutMs = 60_000): Promise<string> {
    return waitFor(
      `an approval request on #${issue}`,
      async () => {
        this.checkAlive();
        const it = await this.item(issue);
        if (!it) return null;
        const [g] = await this.db.sql`SELECT 1 FROM coordination_gates WHERE item_id = ${it.id} AND kind = 'spec_approval' AND is_open`;
        if (!g) return null;
        const c = this.sim.comments(OWNER, REPO, issue).find((x) => x.user === this.sim.botLogin && x.body.includes("Waiting for a writer's approval"));
        return c ? c.body : null;
      },
      timeoutMs,
      200,
    );
  }

  /** alice approves with `/damascus approve` on the issue. */
  approve(issue: number): void {
    this.sim.comment(OWNER, REPO, issue, '/damascus approve', { by: 'alice' });
    this.say(`alice approved on #${issue}`);
  }

  /** alice quote-replies the bot's question on the issue. */
  answer(issue: number, question: string, answer: string): void {
    this.sim.comment(OWNER, REPO, issue, `> ${question}\n\n${answer}`, { by: 'alice' });
    this.say(`alice answered on #${issue}: "${answer}"`);
  }

  /** A file on the default branch of the bare repo (null when missing). */
  fileOnMain(path: string): string | null {
    try {
      return execFileSync('git', ['--git-dir', this.sim.repoPath(OWNER, REPO), 'show', `main:${path}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      return null;
    }
  }

  private checkAlive(): void {
    for (const [name, p] of Object.entries(this.procs)) {
      if (p && p.proc.exitCode !== null) throw new Error(`damascus ${name} exited (${p.proc.exitCode}):\n${p.output().slice(-3000)}`);
    }
  }

  /** The last lines of each process's log, for a failure message. */
  logs(chars = 4000): string {
    return Object.entries(this.procs)
      .map(([name, p]) => `--- damascus ${name} ---\n${p ? p.output().slice(-chars) : '(not started)'}`)
      .concat(this.actionErrors.length ? [`--- runner errors ---\n${this.actionErrors.join('\n')}`] : [])
      .join('\n');
  }

  /** Stop the processes (SIGTERM, then SIGKILL), then everything else. Safe to call after a partial start. */
  async stop(): Promise<void> {
    const ps = Object.values(this.procs).filter((p): p is DamascusProcess => p !== undefined);
    for (const p of ps) p.kill('SIGTERM');
    const graceful = Promise.all(ps.map((p) => p.exited));
    const timer = new Promise((r) => setTimeout(r, 8_000).unref());
    await Promise.race([graceful, timer]);
    await stopAll(ps);
    if (this.sim) await this.sim.close().catch(() => {});
    if (this.llm) await this.llm.close().catch(() => {});
    if (this.model.server) await this.model.server.close().catch(() => {});
    if (this.redis) await this.redis.stop();
    else if (this.redisUrl) await dropQueueKeys(this.redisUrl, this.prefix).catch(() => {});
    if (this.db) await this.db.drop().catch(() => {});
    if (this.dir) await this.dir.remove();
  }
}

/** Remove this run's BullMQ keys from a shared Redis. */
async function dropQueueKeys(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
