/**
 * Runs the bundled review Action (action/dist/index.js) the way act_runner does: a real `node`
 * child process with INPUT_* variables, GITHUB_* / GITEA_* environment and file-command files,
 * against a local orchestrator receiver (verifying with the server's own verifier) and a fake
 * Gitea commit-status endpoint.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIGNATURE_HEADER, verifySignature } from '../../src/signing.js';
import { parseReviewResult, type ReviewResult } from '../../src/review/resultSchema.js';
import { ACTION_DIST, parseOutputFile } from '../support/runAction.js';

export const HEAD_SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const REPO = 'acme/widgets';
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

/** Gitea's POST /repos/{owner}/{repo}/statuses/{sha}: validates CreateStatusOption as the spec does. */
export async function startGiteaStatuses(): Promise<{ apiUrl: string; serverUrl: string; calls: StatusCall[]; close(): Promise<void> }> {
  const calls: StatusCall[] = [];
  const STATES = ['pending', 'success', 'error', 'failure', 'warning', 'skipped'];
  const FIELDS = ['context', 'description', 'state', 'target_url'];
  const server = createServer((req, res) => {
    void (async () => {
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
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({ id: calls.length, status: body.state, context: body.context, description: body.description, target_url: body.target_url }),
      );
    })();
  });
  const port = await listen(server);
  const serverUrl = `http://127.0.0.1:${port}`;
  return { apiUrl: `${serverUrl}/api/v1`, serverUrl, calls, close: () => new Promise((ok) => server.close(() => ok())) };
}

export interface ActionRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  workspace: string;
}

export interface RunOptions {
  inputs: Record<string, string>;
  env?: Record<string, string>;
  /** Prepare files in the workspace before the run. */
  prepare?: (workspace: string) => void;
  /** Inputs that depend on what prepare() made (merged over `inputs`). */
  inputsAfterPrepare?: () => Record<string, string>;
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
  workspaces.push(workspace);
  const files = mkdtempSync(join(tmpdir(), 'damascus-files-'));
  opts.prepare?.(workspace);
  const outputFile = join(files, 'output');
  const summaryFile = join(files, 'summary');
  // act creates the file-command files empty before the step runs.
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: workspace,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITEA_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: REPO,
    GITHUB_RUN_ID: '77',
    GITHUB_RUN_ATTEMPT: '2',
    GITHUB_SHA: '0000000000000000000000000000000000000000', // the dispatch ref's commit, not the head
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...(opts.giteaFileNamesOnly
      ? { GITEA_OUTPUT: outputFile, GITEA_STEP_SUMMARY: summaryFile }
      : { GITHUB_OUTPUT: outputFile, GITEA_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile, GITEA_STEP_SUMMARY: summaryFile }),
    ...opts.env,
  };
  const inputs = { ...opts.inputs, ...opts.inputsAfterPrepare?.() };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

  const child = spawn(process.execPath, [ACTION_DIST], { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  };
  rmSync(files, { recursive: true, force: true });
  return run;
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

/** True while `pid` is a live (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
