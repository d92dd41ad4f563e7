/**
 * Runs the bundled review Action (action/dist/index.js) the way act_runner does: a real `node`
 * child process with INPUT_* variables, GITHUB_* / GITEA_* environment and file-command files,
 * against a local orchestrator receiver (verifying with the server's own verifier) and a stand-in
 * Gitea that serves the repository over git's smart HTTP (the Action fetches the head itself, with
 * the job token) and the commit-status endpoint.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SIGNATURE_HEADER, verifySignature } from '../../src/shared/signing.js';
import { parseReviewResult, type ReviewResult } from '../../src/domain/reviewResult.js';
import { ACTION_DIST, parseOutputFile } from '../support/runAction.js';

export const REPO = 'acme/widgets';

/** A bare repository for REPO with one commit, made with fixed names and dates: its head SHA is the same on every machine. */
function makeFixtureRepo(): { root: string; headSha: string; pullSha: string } {
  const root = mkdtempSync(join(tmpdir(), 'damascus-action-git-'));
  const bare = join(root, `${REPO}.git`);
  const work = join(root, 'work');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: root,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Fixture',
    GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
    GIT_COMMITTER_NAME: 'Fixture',
    GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
    GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
    GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
  };
  const git = (...args: string[]) => execFileSync('git', args, { env, encoding: 'utf8' }).trim();
  git('init', '-q', '--bare', '--initial-branch=main', bare);
  git('init', '-q', '--initial-branch=main', work);
  writeFileSync(join(work, 'README.md'), '# widgets\n');
  git('-C', work, 'add', 'README.md');
  git('-C', work, 'commit', '-q', '-m', 'the head under review');
  git('-C', work, 'push', '-q', bare, 'HEAD:refs/heads/main');
  const headSha = git('-C', work, 'rev-parse', 'HEAD');
  // A later commit the pull request's ref points at (the head moved after the dispatch).
  git('-C', work, 'commit', '-q', '--allow-empty', '-m', 'pushed later');
  git('-C', work, 'push', '-q', bare, 'HEAD:refs/pull/9/head');
  return { root, headSha, pullSha: git('-C', work, 'rev-parse', 'HEAD') };
}

const FIXTURE = makeFixtureRepo();
/** The head under review: a real commit of the fixture repository. */
export const HEAD_SHA = FIXTURE.headSha;
/** What refs/pull/9/head holds: a commit after HEAD_SHA. */
export const MOVED_SHA = FIXTURE.pullSha;
export const CALLBACK_TOKEN = 'project-callback-secret-7f3a9c';
export const JOB_TOKEN = 'gitea-job-token-5e1d2b';

export interface ReceivedResult {
  rawBody: string;
  signatureValid: boolean;
  deliveryId: string | undefined;
  contentType: string | undefined;
  parsed: ReturnType<typeof parseReviewResult>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return (server.address() as AddressInfo).port;
}

export interface Receiver {
  url: string;
  results: ReceivedResult[];
  /** The accepted result (the last one the receiver answered 2xx to). */
  accepted(): ReviewResult;
  close(): Promise<void>;
}

/**
 * The orchestrator's review-results endpoint. `script` gives the status of each successive answer
 * (the last one repeats); an answer of 200 is only given to a correctly signed, valid body (else 401/422).
 */
export async function startReceiver(secret: string, script: Array<{ status: number; body?: string }> = [{ status: 200 }]): Promise<Receiver> {
  const results: ReceivedResult[] = [];
  let acceptedResult: ReviewResult | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const raw = await readBody(req);
      if (req.method !== 'POST' || req.url !== '/api/v1/review-results') {
        res.writeHead(404).end();
        return;
      }
      const header = req.headers[SIGNATURE_HEADER];
      const signatureValid = verifySignature(secret, raw, typeof header === 'string' ? header : undefined);
      let json: unknown = null;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        // parseReviewResult reports it
      }
      const parsed = parseReviewResult(json);
      results.push({
        rawBody: raw.toString('utf8'),
        signatureValid,
        deliveryId: req.headers['x-damascus-delivery'] as string | undefined,
        contentType: req.headers['content-type'],
        parsed,
      });
      const step = script[Math.min(results.length - 1, script.length - 1)]!;
      if (step.status >= 200 && step.status < 300) {
        if (!signatureValid) return void res.writeHead(401).end('{"error":"bad signature"}');
        if (!parsed.ok) return void res.writeHead(422).end(JSON.stringify({ error: parsed.error }));
        acceptedResult = parsed.value;
      }
      res.writeHead(step.status, { 'content-type': 'application/json' }).end(step.body ?? '{}');
    })();
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    results,
    accepted() {
      if (!acceptedResult) throw new Error('no result was accepted');
      return acceptedResult;
    },
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

export interface StatusCall {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** One git smart-HTTP request against the fixture repository (git http-backend), as Gitea serves it: the job token required. */
async function serveGit(req: IncomingMessage, res: ServerResponse, gitAuth: string[]): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const auth = req.headers.authorization ?? '';
  gitAuth.push(auth);
  const basic = /^basic (\S+)$/i.exec(auth);
  const password = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':') : null;
  if (password !== JOB_TOKEN) return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Gitea"' }).end();
  const body = await readBody(req);
  const backend = spawnSync('git', ['http-backend'], {
    input: body,
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: FIXTURE.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method,
      CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
      CONTENT_LENGTH: String(body.length),
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    },
  });
  // An unknown object makes upload-pack fail after the headers: git then reports the remote's error.
  const out = backend.stdout ?? Buffer.alloc(0);
  const split = out.indexOf('\r\n\r\n');
  if (split < 0) return void res.writeHead(500).end(backend.stderr);
  const headers: Record<string, string> = {};
  let status = 200;
  for (const line of out.subarray(0, split).toString('latin1').split('\r\n')) {
    const [name, ...rest] = line.split(':');
    if (name!.toLowerCase() === 'status') status = Number(rest.join(':').trim().split(' ')[0]);
    else if (name) headers[name] = rest.join(':').trim();
  }
  res.writeHead(status, headers).end(out.subarray(split + 4));
}

/**
 * A stand-in Gitea: the fixture repository over git's smart HTTP at /acme/widgets.git (basic auth with the job
 * token, as act sends it), and POST /repos/{owner}/{repo}/statuses/{sha} validating CreateStatusOption as the spec does.
 */
export async function startGiteaStatuses(): Promise<{ apiUrl: string; serverUrl: string; calls: StatusCall[]; gitAuth: string[]; close(): Promise<void> }> {
  const calls: StatusCall[] = [];
  const gitAuth: string[] = [];
  const STATES = ['pending', 'success', 'error', 'failure', 'warning', 'skipped'];
  const FIELDS = ['context', 'description', 'state', 'target_url'];
  const server = createServer((req, res) => {
    void (async () => {
      if ((req.url ?? '').startsWith(`/${REPO}.git/`)) return serveGit(req, res, gitAuth);
      const raw = (await readBody(req)).toString('utf8');
      const m = /^\/api\/v1\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return void res.writeHead(404).end('{"message":"not found"}');
      if (!/^token \S+$/.test(req.headers.authorization ?? '')) return void res.writeHead(401).end('{"message":"token is required"}');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return void res.writeHead(422).end('{"message":"invalid json"}');
      }
      const bad = Object.keys(body).find((k) => !FIELDS.includes(k) || typeof body[k] !== 'string');
      if (bad || !STATES.includes(String(body.state))) return void res.writeHead(422).end('{"message":"invalid status"}');
      calls.push({ path: req.url!, authorization: req.headers.authorization, body });
      res
        .writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: calls.length, status: body.state, context: body.context, description: body.description, target_url: body.target_url }));
    })();
  });
  const port = await listen(server);
  const serverUrl = `http://127.0.0.1:${port}`;
  return { apiUrl: `${serverUrl}/api/v1`, serverUrl, calls, gitAuth, close: () => new Promise((ok) => server.close(() => ok())) };
}

export interface ActionRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  workspace: string;
  home: string;
  /** $FIXTURES of the command: a directory the test user can read and write (the command's HOME is its own, fresh). */
  fixtures: string;
}

export interface RunOptions {
  inputs: Record<string, string>;
  env?: Record<string, string>;
  /** Prepare files in $FIXTURES before the run (the workspace starts empty: the Action checks the head out there). */
  prepare?: (fixtures: string) => void;
  /** Run the Action itself as this uid (a non-root host runner) instead of root. */
  actionUid?: number;
  /** Put files in the workspace before the run (a workflow that checked something out first). */
  prepareWorkspace?: (workspace: string) => void;
  /** Only GITEA_STEP_SUMMARY / GITEA_OUTPUT (no GITHUB_ names) for the file commands. */
  giteaFileNamesOnly?: boolean;
}

const workspaces: string[] = [];

/** Remove the workspaces runAction made (call from afterAll). */
export function removeWorkspaces(): void {
  for (const ws of workspaces.splice(0)) rmSync(ws, { recursive: true, force: true });
}

/** Run node action/dist/index.js with act_runner's environment; cwd is a fresh workspace. */
export async function runAction(opts: RunOptions): Promise<ActionRun> {
  const workspace = mkdtempSync(join(tmpdir(), 'damascus-action-'));
  const home = mkdtempSync(join(tmpdir(), 'damascus-home-'));
  workspaces.push(workspace, home);
  const files = mkdtempSync(join(tmpdir(), 'damascus-files-'));
  const fixtures = mkdtempSync(join(tmpdir(), 'damascus-fixtures-'));
  workspaces.push(fixtures);
  chmodSync(fixtures, 0o777);
  opts.prepare?.(fixtures);
  opts.prepareWorkspace?.(workspace);
  const outputFile = join(files, 'output');
  const summaryFile = join(files, 'summary');
  // act creates the file-command files empty before the step runs.
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  if (opts.actionUid !== undefined) for (const p of [workspace, home, files, outputFile, summaryFile]) chownSync(p, opts.actionUid, opts.actionUid);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    FIXTURES: fixtures,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITEA_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: REPO,
    // Gitea: the run's database id and its number; act sets no GITHUB_RUN_ATTEMPT, and each execution is a task
    // named in the runtime token.
    GITHUB_RUN_ID: '77',
    GITHUB_RUN_NUMBER: '5',
    ACTIONS_RUNTIME_TOKEN: runtimeToken(901),
    GITHUB_SHA: '0000000000000000000000000000000000000000', // the dispatch ref's commit, not the head
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...(opts.giteaFileNamesOnly
      ? { GITEA_OUTPUT: outputFile, GITEA_STEP_SUMMARY: summaryFile }
      : { GITHUB_OUTPUT: outputFile, GITEA_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile, GITEA_STEP_SUMMARY: summaryFile }),
    ...opts.env,
  };
  for (const [name, value] of Object.entries(opts.inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

  const asUser = opts.actionUid === undefined ? {} : { uid: opts.actionUid, gid: opts.actionUid };
  // Another user may not reach the repository (a clone under a private temporary directory): the runner's copy of
  // the Action is its own, as act's is.
  let main = ACTION_DIST;
  if (opts.actionUid !== undefined) {
    const copy = mkdtempSync(join(tmpdir(), 'damascus-action-copy-'));
    workspaces.push(copy);
    chmodSync(copy, 0o755);
    for (const f of readdirSync(dirname(ACTION_DIST))) copyFileSync(join(dirname(ACTION_DIST), f), join(copy, f));
    main = join(copy, basename(ACTION_DIST));
  }
  const child = spawn(process.execPath, [main], { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'], ...asUser });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exitCode = await new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
  const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const run: ActionRun = {
    exitCode,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    outputs: parseOutputFile(read(outputFile)),
    summary: read(summaryFile),
    workspace,
    home,
    fixtures,
  };
  rmSync(files, { recursive: true, force: true });
  return run;
}

/** A runtime token shaped like Gitea's: only its TaskID claim matters to the Action. */
export function runtimeToken(taskId: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ TaskID: taskId, RunID: 77, JobID: 1 })}.signature`;
}

export function baseInputs(receiverUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'test-command': 'true',
    'work-item': '42',
    'head-sha': HEAD_SHA,
    'orchestrator-url': receiverUrl,
    token: CALLBACK_TOKEN,
    'gitea-token': JOB_TOKEN,
    'working-directory': '.',
    'timeout-minutes': '5',
    'fail-on-test-failure': 'true',
    'delivery-timeout-seconds': '10',
    ...overrides,
  };
}

/** The pids of the processes whose argv[0] is `name`. */
export function processesNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] === name;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** True while `pid` is a live (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
