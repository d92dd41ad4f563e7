import type { Server } from 'node:http';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadSettings, type Settings } from '../../src/config/env.js';
import { createWorkItem } from '../../src/db/ops/createWorkItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createGiteaClient } from '../../src/gitea/client.js';
import { renderReviewWorkflow } from '../../src/gitea/reviewWorkflow.js';
import { reviewResultsRoute } from '../../src/http/reviewResults.js';
import { createHttpServer, listen } from '../../src/http/server.js';
import { createLlm } from '../../src/llm/chat.js';
import { createLogger } from '../../src/shared/log.js';
import { builtinPhases } from '../../src/phases/builtin.js';
import { deriveProjectSecret, REPOSITORY_HEADER, signBody, SIGNATURE_HEADER } from '../../src/shared/signing.js';
import { runTick, type TickOutcome } from '../../src/tick/runTick.js';
import { ROOT } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { startLlmServer, type LlmScript, type LlmServer } from '../support/llmServer.js';

export const CALLBACK_SECRET = 'callback-secret-for-phase-tests';
/** The repo's `.gitea/damascus.yml` by default: its test_command always wins over a spec's (no approval needed). */
export const REPO_CONFIG = 'test_command: npm test\n';
export const SCRIPTED_AGENT = join(ROOT, 'tests', 'fixtures', 'agent', 'scripted-agent.mjs');

/** A spec with every required section; `questions` fills Open Questions. */
export function specText(opts: { testCommand?: string | null; questions?: string[]; scope?: string } = {}): string {
  const test = opts.testCommand === null ? '' : `\`\`\`sh\n${opts.testCommand ?? 'npm test'}\n\`\`\``;
  return [
    '# Summary',
    'Add a greeting file.',
    '',
    '# Acceptance Criteria',
    '1. AC-1: `greeting.txt` says hello.',
    '',
    '# Test Command',
    test,
    '',
    '# Scope',
    `- \`${opts.scope ?? 'greeting.txt'}\``,
    '',
    '# Open Questions',
    opts.questions?.length ? opts.questions.map((q) => `- ${q}`).join('\n') : 'None.',
    '',
  ].join('\n');
}

export interface ReviewOutcome {
  passed: boolean;
  failing?: string[];
  output?: string;
}

/**
 * The loop's world: real PostgreSQL, the simulated Gitea with a real bare repo, a scripted
 * OpenAI-compatible server, the scripted agent, and a stand-in for the review Action that posts
 * signed results to the real review-results endpoint.
 */
export class Loop {
  db!: TestDb;
  sim!: GiteaSim;
  llm!: LlmServer;
  settings!: Settings;
  private server!: Server;
  private dir!: string;
  private agentFile!: string;
  /** The agent's script and anything it records: the one directory outside its worktree the sandboxed agent may write. */
  agentDir!: string;
  private llmScript: LlmScript[] = [];
  /** What the next review runs report, in order (the last one repeats). */
  reviews: ReviewOutcome[] = [{ passed: true }];
  dispatched = 0;
  /** The inputs of every review dispatch, in order (the test command the review would run, …). */
  dispatchInputs: Record<string, string>[] = [];
  /** What the review-results endpoint answered the stand-in. */
  posted: { status: number; body: string }[] = [];
  private pending: Promise<unknown>[] = [];
  phases!: ReturnType<typeof builtinPhases>;
  gitea!: ReturnType<typeof createGiteaClient>;
  log = createLogger('silent');

  /** `env` adds to or overrides the settings' environment (another builder, say). */
  async start(files: Record<string, string> = {}, env: Record<string, string> = {}): Promise<void> {
    this.db = await createTestDb();
    await ensureLeaseSlots(this.db.sql, 4);
    this.dir = await mkdtemp(join(tmpdir(), 'damascus-loop-'));
    this.agentDir = await mkdtemp(join(tmpdir(), 'damascus-loop-agent-'));
    await chmod(this.agentDir, 0o777); // the sandboxed agent runs as another user
    this.agentFile = join(this.agentDir, 'agent.json');
    await this.setAgent({ writes: { 'greeting.txt': 'hello\n' }, cost: 0.25 });
    process.env.SCRIPTED_AGENT_FILE = this.agentFile;
    this.sim = await startGiteaSim();
    // The workflow setup writes (its run-name names the dispatch: how a dispatch whose answer was lost is found).
    const workflow = renderReviewWorkflow({ actionUrl: 'http://127.0.0.1:9/damascus-bot/damascus-action', actionRef: '0'.repeat(40), runsOn: 'damascus' });
    await this.sim.createRepo('acme', 'widgets', {
      files: { 'README.md': '# widgets\n', '.gitea/workflows/damascus-review.yml': workflow, '.gitea/damascus.yml': REPO_CONFIG, ...files },
    });
    this.sim.addUser('alice', { permissions: { 'acme/widgets': 'write' } });
    this.llm = await startLlmServer({ responses: (_req, i) => this.llmScript[Math.min(i, this.llmScript.length - 1)] ?? { status: 500 } });
    this.server = createHttpServer(
      [reviewResultsRoute({ sql: this.db.sql, callbackSecret: CALLBACK_SECRET, log: this.log, afterCommit: async () => {} })],
      this.log,
    );
    const port = await listen(this.server, 0, '127.0.0.1');
    this.settings = loadSettings({
      DATABASE_URL: this.db.url,
      DAMASCUS_DATA_DIR: this.dir,
      GITEA_URL: this.sim.url,
      GITEA_TOKEN: this.sim.token,
      DAMASCUS_CALLBACK_SECRET: CALLBACK_SECRET,
      DAMASCUS_PUBLIC_URL: `http://127.0.0.1:${port}`,
      DAMASCUS_BUILDER_COMMAND: JSON.stringify([process.execPath, SCRIPTED_AGENT]),
      // The agent runs in the sandbox: it may read its program and write its script's directory, nothing else.
      DAMASCUS_AGENT_READ: dirname(SCRIPTED_AGENT),
      DAMASCUS_AGENT_WRITE: this.agentDir,
      LLM_BASE_URL: this.llm.url,
      LLM_MODEL: 'gpt-4o-mini',
      LLM_API_KEY: 'sk-test',
      ...env,
    });
    const gitea = createGiteaClient({ baseUrl: this.sim.url, token: this.sim.token, retries: 1, minBackoffMs: 10 });
    this.gitea = gitea;
    this.phases = builtinPhases({
      sql: this.db.sql,
      gitea,
      settings: this.settings,
      log: this.log,
      llm: createLlm({ baseUrl: this.settings.llmBaseUrl ?? this.llm.url, apiKey: 'sk-test', model: this.settings.llmModel ?? 'gpt-4o-mini' }),
      botIdentity: { name: 'Damascus Bot', email: 'bot@damascus.invalid' },
    });
    // The review Action stand-in: what a runner would post after running the test command.
    this.sim.onDispatch(async (d) => {
      this.dispatchInputs.push({ ...(d.inputs as Record<string, string>) });
      const outcome = this.reviews[Math.min(this.dispatched, this.reviews.length - 1)]!;
      this.dispatched++;
      const body = JSON.stringify({
        version: 1,
        workItem: Number(d.inputs['work-item']),
        repository: `${d.owner}/${d.repo}`,
        headSha: d.inputs['head-sha'],
        runId: String(d.runId),
        runUrl: `${this.sim.url}/${d.owner}/${d.repo}/actions/runs/${d.runId}`,
        dispatch: d.inputs.dispatch,
        passed: outcome.passed,
        exitCode: outcome.passed ? 0 : 1,
        timedOut: false,
        durationMs: 10,
        outputTail: outcome.output ?? (outcome.passed ? 'ok' : 'FAIL'),
        outputTruncated: false,
        tests: outcome.failing ? { total: 3, failed: outcome.failing.length, skipped: 0, failing: outcome.failing, skippedNames: [] } : null,
      });
      const post = fetch(`${d.inputs['orchestrator-url']}/api/v1/review-results`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          [REPOSITORY_HEADER]: `${d.owner}/${d.repo}`,
          [SIGNATURE_HEADER]: signBody(deriveProjectSecret(CALLBACK_SECRET, `${d.owner}/${d.repo}`), body),
        },
      });
      this.pending.push(post);
      const res = await post;
      this.posted.push({ status: res.status, body: await res.text() });
    });
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
    await this.llm.close();
    await this.sim.close();
    await this.db.drop();
    await rm(this.dir, { recursive: true, force: true });
    await rm(this.agentDir, { recursive: true, force: true });
  }

  scriptLlm(...responses: LlmScript[]): void {
    this.llmScript = responses;
  }

  async setAgent(script: Record<string, unknown>): Promise<void> {
    await writeFile(this.agentFile, JSON.stringify(script));
  }

  /** A labelled issue and its item. `cloneUrl` is what the project row says (a payload's clone_url: never used for git). */
  async story(title = 'Say hello', body = 'Please add a greeting.', cloneUrl = `${this.sim.url}/acme/widgets.git`): Promise<number> {
    const n = this.sim.createIssue('acme', 'widgets', { title, body, user: 'alice', labels: ['damascus'] });
    const project = await upsertProject(this.db.sql, { owner: 'acme', name: 'widgets', cloneUrl });
    const { item } = await createWorkItem(this.db.sql, { projectId: project.id, issueNumber: n, title, budgetCycles: 3 });
    return item.id;
  }

  async tick(): Promise<TickOutcome> {
    const out = await runTick({
      sql: this.db.sql,
      phases: this.phases,
      workerId: 'test',
      cap: 4,
      leaseMs: 60_000,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
      log: this.log,
    });
    await Promise.allSettled(this.pending);
    this.pending = [];
    await this.sim.waitForDeliveries();
    return out;
  }

  async state(id: number): Promise<{ state: string; attempts: number; resumePhase: string | null }> {
    const [r] = await this.db.sql`SELECT state, attempts, resume_phase FROM work_items WHERE id = ${id}`;
    return r as never;
  }

  /** Tick until the item reaches one of `states` (error backoff made instant by letting time pass). */
  async runUntil(id: number, states: string[], max = 20): Promise<TickOutcome[]> {
    const outcomes: TickOutcome[] = [];
    for (let i = 0; i < max; i++) {
      if (states.includes((await this.state(id)).state)) return outcomes;
      await this.db.sql`UPDATE work_items SET run_after = NULL WHERE id = ${id} AND run_after IS NOT NULL AND state <> 'review'`;
      outcomes.push(await this.tick());
    }
    throw new Error(
      `item ${id} did not reach ${states.join('/')} (is ${(await this.state(id)).state}): ${JSON.stringify(outcomes.map((o) => ('verdict' in o ? `${o.phase}:${o.verdict}` : o.kind)))}`,
    );
  }
}
