/**
 * Issue 14 item 4: PR code run as the test command must not get at the Action's secrets (the callback secret
 * that signs results, the job token that writes to the repository). The hostile test code reads its parent's
 * environment and every /proc/<pid>/environ it can see, tries every other process's memory, and signs a pass for
 * another work item with each value it found. Run through the real Action, as act_runner runs it: as root (a
 * docker job container: the command runs as uid 65534) and as a non-root runner user (the command runs in
 * bubblewrap). A control run with `isolation: none` shows the same attack succeeding where nothing isolates it.
 */
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/cli.js';
import {
  CALLBACK_TOKEN,
  HEAD_SHA,
  JOB_TOKEN,
  baseInputs,
  isAlive,
  processesNamed,
  removeWorkspaces,
  runAction,
  startGiteaStatuses,
  startReceiver,
  type Receiver,
} from './harness.js';

const HOSTILE = join(ROOT, 'tests', 'action', 'hostile-test-code.mjs');
const OTHER_ITEM = 43;
/** A uid with no account: the runner user of a non-root host runner. */
const RUNNER_UID = 4242;

let gitea: Awaited<ReturnType<typeof startGiteaStatuses>>;
const receivers: Receiver[] = [];
/** A PATH whose bwrap fails, as in a container without user namespaces. */
let noBwrapPath: string;
beforeAll(async () => {
  gitea = await startGiteaStatuses();
  const fakeBin = mkdtempSync(join(tmpdir(), 'damascus-nobwrap-'));
  chmodSync(fakeBin, 0o755);
  writeFileSync(join(fakeBin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', { mode: 0o755 });
  noBwrapPath = `${fakeBin}:${process.env.PATH}`;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await gitea.close();
  removeWorkspaces();
});

interface Found {
  environsRead: string[];
  memoryRead: string[];
  values: string[];
  forgeries: number;
  accepted: number;
}

async function attack(inputs: Record<string, string> = {}, actionUid?: number, env: Record<string, string> = {}) {
  const r = await startReceiver(CALLBACK_TOKEN);
  receivers.push(r);
  // The hostile code sits in $FIXTURES: the command's user must read it wherever the repository is checked out.
  const command = `id -u; node "$FIXTURES/hostile-test-code.mjs" "$ATTACK_URL" ${OTHER_ITEM} ${HEAD_SHA}`;
  const run = await runAction({
    prepare: (fixtures) => copyFileSync(HOSTILE, join(fixtures, 'hostile-test-code.mjs')),
    inputs: baseInputs(r.url, { 'test-command': command, ...inputs }),
    env: { GITHUB_API_URL: gitea.apiUrl, GITHUB_SERVER_URL: gitea.serverUrl, ATTACK_URL: r.url, GITEA_TOKEN: JOB_TOKEN, ...env },
    actionUid,
  });
  const found = JSON.parse(readFileSync(join(run.fixtures, 'found.json'), 'utf8')) as Found;
  const forgedAccepted = r.results.filter((x) => x.signatureValid && x.parsed.ok && x.parsed.value.workItem === OTHER_ITEM);
  return { run, r, found, forgedAccepted };
}

/** Every file of a tree, as text (the checkout the command could read). */
function treeText(dir: string): string {
  return readdirSync(dir)
    .map((name) => {
      const p = join(dir, name);
      const st = statSync(p);
      return st.isDirectory() ? treeText(p) : readFileSync(p).toString('latin1');
    })
    .join('\n');
}

const basic = Buffer.from(`x-access-token:${JOB_TOKEN}`).toString('base64');

describe('ATTACK: PR test code reads the environ of its parent and of every process, then signs a pass for another item', () => {
  test.each<[string, boolean, string]>([
    ['a root host runner (bubblewrap works too)', true, 'as uid 65534 in bubblewrap'],
    ['a docker job container (no bubblewrap)', false, 'as uid 65534 ('],
  ])('as root, %s: the command runs as uid 65534, finds no secret, and the other item gets nothing', async (_where, bwrap, says) => {
    const { run, r, found, forgedAccepted } = await attack({}, undefined, bwrap ? {} : { PATH: noBwrapPath });
    expect(run.stdout).toContain(says);
    expect(run.exitCode).toBe(0);
    const own = r.accepted();
    expect(own.workItem).toBe(42);
    expect(own.outputTail).toMatch(/^65534\n/);
    // Other processes' environ and stacks were read where the kernel allowed it: none of them held a secret.
    // The attack did run: its own environ was read, and it tried every value it found.
    expect(found.environsRead).toContain('self');
    expect(found.forgeries).toBeGreaterThan(0);
    const seen = found.values.join('\n');
    expect(seen).not.toContain(CALLBACK_TOKEN);
    expect(seen).not.toContain(JOB_TOKEN);
    expect(seen).not.toContain(basic);
    expect(found.accepted).toBe(0);
    expect(forgedAccepted).toHaveLength(0);
    expect(r.results.filter((x) => x.parsed.ok && x.parsed.value.workItem === OTHER_ITEM).every((x) => !x.signatureValid)).toBe(true);
    // Nor is the job token anywhere in the checkout the command could read.
    const checkout = treeText(run.workspace);
    expect(checkout).not.toContain(JOB_TOKEN);
    expect(checkout).not.toContain(basic);
  });

  test('as a non-root runner user: the command runs in bubblewrap, sees no runner process, finds no secret', async () => {
    const { run, r, found, forgedAccepted } = await attack({}, RUNNER_UID);
    expect(run.stdout).toContain('in bubblewrap');
    expect(run.exitCode).toBe(0);
    expect(r.accepted().outputTail).toMatch(new RegExp(`^${RUNNER_UID}\n`));
    // A fresh pid namespace: bwrap's init (pid 1), the command's bash and node; the Action is not among them.
    expect(found.environsRead.filter((p) => p !== 'self').every((p) => Number(p) < 10)).toBe(true);
    const seen = found.values.join('\n');
    expect(seen).not.toContain(CALLBACK_TOKEN);
    expect(seen).not.toContain(JOB_TOKEN);
    expect(found.forgeries).toBeGreaterThan(0);
    expect(found.accepted).toBe(0);
    expect(forgedAccepted).toHaveLength(0);
  });

  test('control: with isolation: none the same attack reads the callback secret from its parent and its forgery is accepted', async () => {
    const { run, found, forgedAccepted } = await attack({ isolation: 'none' });
    expect(run.stdout).toContain('::warning::isolation: none');
    expect(found.values.join('\n')).toContain(CALLBACK_TOKEN);
    expect(forgedAccepted.length).toBeGreaterThan(0);
  });
});

test('as root: a process the command detaches (setsid) does not outlive the review, so it cannot meddle with a later job', async () => {
  const r = await startReceiver(CALLBACK_TOKEN);
  receivers.push(r);
  const marker = `damascus-escapee-${process.pid}-${Date.now()}`;
  // Wait until the detached process is up, so the review ends while it runs.
  const command = `setsid bash -c 'echo up > "$FIXTURES/up"; exec -a ${marker} sleep 300' </dev/null >/dev/null 2>&1 & until [ -s "$FIXTURES/up" ]; do sleep 0.05; done; echo detached`;
  const run = await runAction({
    inputs: baseInputs(r.url, { 'test-command': command }),
    env: { GITHUB_API_URL: gitea.apiUrl, GITHUB_SERVER_URL: gitea.serverUrl },
  });
  expect(run.stdout).toContain('as uid 65534 in bubblewrap');
  expect(r.accepted().outputTail).toContain('detached');
  expect(processesNamed(marker).filter(isAlive)).toEqual([]);
});

describe('where the command cannot be isolated, nothing runs', () => {
  test('a non-root runner without a working bubblewrap: the job fails saying why, nothing is run or reported', async () => {
    const r = await startReceiver(CALLBACK_TOKEN);
    receivers.push(r);
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'touch "$FIXTURES/ran"' }),
      env: { GITHUB_API_URL: gitea.apiUrl, GITHUB_SERVER_URL: gitea.serverUrl, PATH: noBwrapPath },
      actionUid: RUNNER_UID,
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain("::error::Damascus review: the test command cannot be isolated from this step's secrets here");
    expect(run.stdout).toContain('isolation: none; nothing was run or reported');
    expect(() => statSync(join(run.fixtures, 'ran'))).toThrow();
    expect(r.results).toHaveLength(0);
  });

  test('test-user root is refused', async () => {
    const r = await startReceiver(CALLBACK_TOKEN);
    receivers.push(r);
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-user': '0' }), env: { GITHUB_API_URL: gitea.apiUrl, GITHUB_SERVER_URL: gitea.serverUrl } });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('input test-user must be a numeric uid or uid:gid other than root (got "0")');
    expect(r.results).toHaveLength(0);
  });
});
