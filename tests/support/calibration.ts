/**
 * The behaviours of Gitea that Damascus broke on, as probes that run the same against a real Gitea (the live suite)
 * and against the simulator (npm test). Each probe returns an observation with no ids, times or host names in it;
 * the live suite records the real Gitea's observations in tests/fixtures/gitea-1.26.3/behaviors.json, and
 * tests/gitea/captures.test.ts holds the simulator to them: where they disagree, the capture wins.
 *
 * A probe uses only the API (as the bot, or as a user the world made) and a local webhook receiver, so the two
 * worlds differ only in how they make users, organisations and repositories.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { GiteaError } from '../../src/gitea/errors.js';
import { startWebhookReceiver, type ReceivedWebhook } from './giteaSim/receiver.js';

/** What a probe needs of a Gitea: the bot's client, more users, and repositories owned in one of two ways. */
export interface CalibrationWorld {
  /** Server root (what GITEA_URL would be). */
  url: string;
  bot: GiteaClient;
  botLogin: string;
  botToken: string;
  /** A repo whose org has the bot in its Owners team (`owner`), or where the bot is an admin collaborator (`admin`). */
  repo(name: string, opts: { botPermission: 'owner' | 'admin'; files?: Record<string, string> }): Promise<{ owner: string; name: string }>;
  /** A user with write access to `repo`, and a token of theirs with these scopes. */
  writer(repo: { owner: string; name: string }): Promise<{ login: string; client: GiteaClient; token: string }>;
  /** A token of the bot's with only these scopes. */
  botTokenWith(scopes: string[]): Promise<string>;
}

export type Observation = Record<string, unknown>;
export type Probe = (w: CalibrationWorld) => Promise<Observation>;

/** `<status> <message>` of a failed call, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (!(err instanceof GiteaError)) throw err;
    const message = (err.body as { message?: unknown } | undefined)?.message;
    return `${err.status}${typeof message === 'string' && message !== '' ? ` ${message}` : ''}`;
  }
}

async function raw(
  w: CalibrationWorld,
  path: string,
  token = w.botToken,
  init: RequestInit = {},
): Promise<{ status: number; link: string | null; total: string | null; body: unknown }> {
  const res = await fetch(`${w.url}/api/v1${path}`, {
    ...init,
    headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, link: res.headers.get('link'), total: res.headers.get('x-total-count'), body };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`calibration: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** A branch `branch` off `from` with `files` changed, made through the contents API (as the bot). */
async function branchWith(
  w: CalibrationWorld,
  r: { owner: string; name: string },
  branch: string,
  files: Record<string, string>,
  from = 'main',
): Promise<string> {
  const ops = [];
  for (const [path, content] of Object.entries(files)) {
    const have = await w.bot.getContents(r.owner, r.name, path, from);
    ops.push(have?.type === 'file' ? { operation: 'update' as const, path, content, sha: have.sha } : { operation: 'create' as const, path, content });
  }
  const res = await raw(w, `/repos/${r.owner}/${r.name}/contents`, w.botToken, {
    method: 'POST',
    body: JSON.stringify({
      branch: from,
      new_branch: branch === from ? undefined : branch,
      message: `change ${branch}`,
      files: ops.map((o) => ({ ...o, content: b64(o.content) })),
    }),
  });
  if (res.status !== 201) throw new Error(`calibration: could not commit to ${branch}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { commit: { sha: string } }).commit.sha;
}

export const PROBES: Record<string, Probe> = {
  async secretsNeedTheOwner(w) {
    const admin = await w.repo(unique('cal-admin'), { botPermission: 'admin' });
    const owned = await w.repo(unique('cal-owned'), { botPermission: 'owner' });
    return {
      permissionAsAdmin: await w.bot.getCollaboratorPermission(admin.owner, admin.name, w.botLogin),
      permissionAsOwner: await w.bot.getCollaboratorPermission(owned.owner, owned.name, w.botLogin),
      secretAsAdmin: await outcome(w.bot.setActionsSecret(admin.owner, admin.name, 'CAL_SECRET', 'v')),
      secretAsOwner: await outcome(w.bot.setActionsSecret(owned.owner, owned.name, 'CAL_SECRET', 'v')),
      roleName: ((await raw(w, `/repos/${owned.owner}/${owned.name}/collaborators/${w.botLogin}/permission`)).body as { role_name: string }).role_name,
    };
  },

  async hookEditKeepsItsSecret(w) {
    const r = await w.repo(unique('cal-hook'), { botPermission: 'owner' });
    const receiver = await startWebhookReceiver();
    try {
      const hook = await w.bot.createHook(r.owner, r.name, {
        url: receiver.url,
        secret: 'first-secret',
        events: ['issues'],
        active: true,
        name: 'calibration',
      });
      await w.bot.editHook(r.owner, r.name, hook.id, {
        config: { url: receiver.url, content_type: 'json', secret: 'second-secret' },
        events: ['issues'],
        active: true,
      });
      const listed = await w.bot.listHooks(r.owner, r.name);
      await raw(w, `/repos/${r.owner}/${r.name}/issues`, w.botToken, { method: 'POST', body: JSON.stringify({ title: 'hook probe' }) });
      const d = await until('a delivery', async () => receiver.received[0] ?? null);
      const signedWith =
        ['first-secret', 'second-secret'].find((s) => createHmac('sha256', s).update(d.body).digest('hex') === d.headers['x-gitea-signature']) ?? 'neither';
      return { signedWith, listedShowsSecret: JSON.stringify(listed).includes('secret'), name: listed[0]?.name ?? null };
    } finally {
      await receiver.close();
    }
  },

  async conflictingPullRequest(w) {
    const r = await w.repo(unique('cal-merge'), { botPermission: 'owner', files: { 'shared.txt': 'line0\n' } });
    await branchWith(w, r, 'a', { 'shared.txt': 'line0\nA\n' });
    await branchWith(w, r, 'b', { 'shared.txt': 'line0\nB\n' });
    await branchWith(w, r, 'c', { 'c.txt': 'c\n' });
    const a = await w.bot.createPullRequest(r.owner, r.name, { head: 'a', base: 'main', title: 'A' });
    const b = await w.bot.createPullRequest(r.owner, r.name, { head: 'b', base: 'main', title: 'B' });
    const c = await w.bot.createPullRequest(r.owner, r.name, { head: 'c', base: 'main', title: 'C' });
    const mergeableAtCreation = [a.mergeable, b.mergeable, c.mergeable];
    const aHead = (
      await until('A mergeable', async () => {
        const p = await w.bot.getPullRequest(r.owner, r.name, a.number);
        return p.mergeable ? p : null;
      })
    ).head.sha;
    await w.bot.mergePullRequest(r.owner, r.name, a.number, { style: 'merge', headCommitId: aHead });
    const bAfter = await until('B checked', async () => {
      const p = await w.bot.getPullRequest(r.owner, r.name, b.number);
      return p.mergeable ? null : p;
    });
    const cBehind = await until('C checked', async () => {
      const p = await w.bot.getPullRequest(r.owner, r.name, c.number);
      return p.mergeable ? p : null;
    });
    const mainTip = (await w.bot.getBranch(r.owner, r.name, 'main'))!.commit.id;
    const obs: Observation = {
      mergeableAtCreation,
      conflictMergeable: bAfter.mergeable,
      conflictMerge: await outcome(w.bot.mergePullRequest(r.owner, r.name, b.number, { style: 'merge', headCommitId: bAfter.head.sha })),
      conflictUpdateMerge: await outcome(w.bot.updatePullRequest(r.owner, r.name, b.number, 'merge')),
      conflictUpdateRebase: await outcome(w.bot.updatePullRequest(r.owner, r.name, b.number, 'rebase')),
      behindMergeBaseIsMainTip: cBehind.merge_base === mainTip,
      behindUpdate: await outcome(w.bot.updatePullRequest(r.owner, r.name, c.number, 'merge')),
    };
    const cUpdated = await w.bot.getPullRequest(r.owner, r.name, c.number);
    obs.updatedHeadMoved = cUpdated.head.sha !== cBehind.head.sha;
    // Gitea re-checks the PR asynchronously after the update: its merge base catches up with main's tip (right
    // after the update it may still be the old one, and a merge may meet 405 while the check runs).
    obs.mergeBaseCatchesUp = await until('the merge base to catch up', async () =>
      (await w.bot.getPullRequest(r.owner, r.name, c.number)).merge_base === mainTip ? true : null,
    ).catch(() => false);
    obs.updateWhenUpToDate = await outcome(w.bot.updatePullRequest(r.owner, r.name, c.number, 'merge'));
    obs.staleHeadMerge = await outcome(w.bot.mergePullRequest(r.owner, r.name, c.number, { style: 'merge', headCommitId: cBehind.head.sha }));
    obs.currentHeadMergeEventually = await until('the merge of the current head', async () => {
      const got = await outcome(w.bot.mergePullRequest(r.owner, r.name, c.number, { style: 'merge', headCommitId: cUpdated.head.sha }));
      return got === '405 Please try again later' ? null : got;
    }).catch(() => 'still 405');
    // How many commits the base has that the head lacks (what "behind" means), before and after the update.
    obs.compareBehindConflicting = (
      (await raw(w, `/repos/${r.owner}/${r.name}/compare/${bAfter.head.sha}...main`)).body as { total_commits: number }
    ).total_commits;
    return obs;
  },

  async listsWithoutLink(w) {
    const r = await w.repo(unique('cal-pages'), { botPermission: 'owner' });
    for (let i = 0; i < 3; i++) await w.bot.createRepoLabel(r.owner, r.name, { name: `l${i}`, color: '#aabbcc' });
    for (let i = 0; i < 3; i++) await raw(w, `/repos/${r.owner}/${r.name}/issues`, w.botToken, { method: 'POST', body: JSON.stringify({ title: `i${i}` }) });
    await w.bot.createHook(r.owner, r.name, { url: 'http://127.0.0.1:9/none', secret: 's', events: ['issues'], active: true });
    const out: Observation = {};
    for (const [what, path] of [
      ['labels', 'labels'],
      ['hooks', 'hooks'],
      ['timeline', 'issues/1/timeline'],
      ['issues', 'issues'],
    ] as const) {
      const res = await raw(w, `/repos/${r.owner}/${r.name}/${path}?limit=1`);
      out[what] = { link: res.link !== null, total: res.total !== null };
    }
    const sorted = (await w.bot.listRepoLabels(r.owner, r.name)).map((l) => l.name);
    out.labelsSortedByName = sorted.join(',') === [...sorted].sort().join(',');
    return out;
  },

  async pullRequestByBaseHead(w) {
    const r = await w.repo(unique('cal-bh'), { botPermission: 'owner' });
    await branchWith(w, r, 'feature', { 'f.txt': 'f\n' });
    const old = await w.bot.createPullRequest(r.owner, r.name, { head: 'feature', base: 'main', title: 'old' });
    await w.bot.editPullRequest(r.owner, r.name, old.number, { state: 'closed' });
    const current = await w.bot.createPullRequest(r.owner, r.name, { head: 'feature', base: 'main', title: 'current' });
    const found = (await raw(w, `/repos/${r.owner}/${r.name}/pulls/main/feature`)).body as { number: number; state: string };
    // The first row that matches, in no order and whatever its state: seen to be the closed one on one run and the
    // open one on the next. The simulator answers the closed one (the case that broke Damascus).
    return {
      baseHeadIsOneOfThem: [old.number, current.number].includes(found.number),
      baseHeadFiltersNothing: found.number === old.number ? found.state === 'closed' : found.state === 'open',
      openOneFoundByList: (await w.bot.findOpenPullRequest(r.owner, r.name, { base: 'main', head: 'feature' }))?.number === current.number,
    };
  },

  async deletedIssue(w) {
    const r = await w.repo(unique('cal-del'), { botPermission: 'owner' });
    const receiver = await startWebhookReceiver();
    try {
      await w.bot.createHook(r.owner, r.name, { url: receiver.url, secret: 's', events: ['issues'], active: true });
      const created = (await raw(w, `/repos/${r.owner}/${r.name}/issues`, w.botToken, { method: 'POST', body: JSON.stringify({ title: 'doomed' }) })).body as {
        number: number;
      };
      const n = created.number;
      await w.bot.createIssueComment(r.owner, r.name, n, 'a comment');
      await until('the issue deliveries', async () => (receiver.received.length >= 1 ? true : null));
      const deleted = await raw(w, `/repos/${r.owner}/${r.name}/issues/${n}`, w.botToken, { method: 'DELETE' });
      const d = await until(
        'the deleted delivery',
        async () => receiver.received.find((x: ReceivedWebhook) => (JSON.parse(x.body) as { action?: string }).action === 'deleted') ?? null,
      );
      return {
        deleteStatus: deleted.status,
        delivery: `${d.headers['x-gitea-event']}/${d.headers['x-gitea-event-type']}/deleted`,
        getIssue: await outcome(w.bot.getIssue(r.owner, r.name, n)),
        getLabels: await outcome(w.bot.getIssueLabels(r.owner, r.name, n)),
        listComments: await outcome(w.bot.listIssueComments(r.owner, r.name, n)),
        timeline: await outcome(w.bot.getIssueTimeline(r.owner, r.name, n)),
        createComment: await outcome(w.bot.createIssueComment(r.owner, r.name, n, 'x')),
      };
    } finally {
      await receiver.close();
    }
  },

  async timelineNamesTheLabeller(w) {
    const r = await w.repo(unique('cal-tl'), { botPermission: 'owner' });
    const alice = await w.writer(r);
    const label = await w.bot.createRepoLabel(r.owner, r.name, { name: 'damascus', color: '#1d76db' });
    const issue = (await raw(w, `/repos/${r.owner}/${r.name}/issues`, w.botToken, { method: 'POST', body: JSON.stringify({ title: 'labels' }) })).body as {
      number: number;
    };
    await alice.client.addIssueLabels(r.owner, r.name, issue.number, [label.id]);
    await w.bot.removeIssueLabel(r.owner, r.name, issue.number, label.id);
    await alice.client.addIssueLabels(r.owner, r.name, issue.number, [label.id]);
    const entries = (await w.bot.getIssueTimeline(r.owner, r.name, issue.number)).filter((t) => t.type === 'label');
    return {
      entries: entries.map((t) => `${t.user?.login === w.botLogin ? 'bot' : t.user?.login === alice.login ? 'writer' : '?'}:${t.body}:${t.label?.name}`),
    };
  },

  async tokenScopes(w) {
    const r = await w.repo(unique('cal-scope'), { botPermission: 'owner' });
    const token = await w.botTokenWith(['write:repository', 'read:user']);
    const c = createGiteaClient({ baseUrl: w.url, token, retries: 0 });
    return {
      commentWithoutIssueScope: await outcome(c.createIssueComment(r.owner, r.name, 0, '')),
      userRepoWithoutUserWrite: await outcome(c.createCurrentUserRepo({ name: '' })),
      hookProbeWithRepoScope: await outcome(c.editHook(r.owner, r.name, 0, {})),
      commentProbeWithIssueScope: await outcome(w.bot.createIssueComment(r.owner, r.name, 0, '')),
    };
  },

  async dispatchedRuns(w) {
    const wf =
      'name: r\nrun-name: "review of ${{ inputs.item }}"\non:\n  workflow_dispatch:\n    inputs:\n      item:\n        type: string\njobs:\n  r:\n    runs-on: calibration-no-such-runner\n    steps:\n      - run: "true"\n';
    const r = await w.repo(unique('cal-runs'), {
      botPermission: 'owner',
      files: { '.gitea/workflows/r.yml': wf, '.github/workflows/hidden.yml': wf },
    });
    const run = await w.bot.dispatchWorkflow(r.owner, r.name, 'r.yml', { ref: 'main', inputs: { item: '7', undeclared: 'x' } });
    const runs = await w.bot.listWorkflowRuns(r.owner, r.name, { event: 'workflow_dispatch' });
    return {
      answersWithRun: run !== null && typeof run.workflow_run_id === 'number',
      title: runs[0]?.display_title,
      runNumber: runs[0]?.run_number,
      // Gitea 1.26's links name the run by its id (the web route takes the id first, the number as a legacy fallback).
      htmlUrlNamesRunId: run?.html_url.endsWith(`/actions/runs/${run.workflow_run_id}`),
      hiddenFolder: await outcome(w.bot.dispatchWorkflow(r.owner, r.name, 'hidden.yml', { ref: 'main' })),
      workflows: (await w.bot.listWorkflows(r.owner, r.name)).map((x) => `${x.name} ${x.path} ${x.state}`).sort(),
    };
  },
};

/** Run every probe (or the named ones) and return their observations by name. */
export async function observe(w: CalibrationWorld, names: string[] = Object.keys(PROBES)): Promise<Record<string, Observation>> {
  const out: Record<string, Observation> = {};
  for (const name of names) out[name] = await PROBES[name]!(w);
  return out;
}
