/**
 * `damascus doctor [OWNER/REPO]`: checks a real installation and says, per check, `ok` or what to fix. The checks
 * are plain functions over a small set of dependencies (the Gitea client, a fetch for the public URL and the
 * anonymous Action read, a clock), run in a fixed order; a check whose prerequisite failed is skipped with the reason.
 *
 * Nothing here writes to Gitea except the hook test (Gitea sends the hook a test `push`); the scope probes target
 * things that cannot exist (tokenLacks). No detail ever holds a token or a secret: the hook name's tag is an HMAC.
 */
import { parse } from 'yaml';
import type { SandboxStatus } from '../agent/sandbox.js';
import { describeBuilderStatus, type BuilderStatus } from '../agent/builderCheck.js';
import type { Settings } from '../config/env.js';
import { deriveWebhookSecret } from '../shared/signing.js';
import { WEBHOOK_PATH } from '../shared/endpoints.js';
import type { GiteaClient } from '../gitea/client.js';
import { GiteaError, orNullIfNotFound } from '../gitea/errors.js';
import { REVIEW_WORKFLOW_FILE, runnerLabelProblem } from '../gitea/reviewWorkflow.js';
import { ACTION_REPO_NAME, hookIsCurrent, missingScope, sameUrl, storedEvents, tokenLacks, WEBHOOK_TEST_BRANCH, webhookName } from './setupRepo.js';
import type { ActionRunner, ActionWorkflow, ActionWorkflowRun, Hook, Repository, User } from '../gitea/types.js';

export type DoctorStatus = 'ok' | 'fail' | 'warn' | 'skip';

export interface DoctorCheck {
  check: string;
  status: DoctorStatus;
  detail: string;
}

/** The checks in the order they run, with what each looks at (the command's --help prints these). */
export const DOCTOR_CHECKS = [
  { check: 'settings', about: 'GITEA_URL, GITEA_TOKEN, DAMASCUS_WEBHOOK_SECRET, DAMASCUS_CALLBACK_SECRET and DAMASCUS_PUBLIC_URL are set and well formed' },
  {
    check: 'agent sandbox',
    about: "bubblewrap can make the coding agent's sandbox on this machine (a FAIL means no build runs), or DAMASCUS_SANDBOX=off turned it off (WARN)",
  },
  {
    check: 'coding agent',
    about:
      'each builder the installation offers: its CLI is installed and new enough, and its model credentials are set (a FAIL means its builds end in an error)',
  },
  { check: 'gitea reachable', about: 'GET /version answers, and the server is new enough for every endpoint Damascus calls' },
  { check: 'token user', about: 'GET /user answers (the token needs read:user): whose token it is, and whether that user is a site admin' },
  {
    check: 'token scopes',
    about: 'the token has write:repository and write:issue (probes that change nothing); write:user only when <bot>/damascus-action is still to be created',
  },
  {
    check: 'setup rights',
    about:
      "the user of the token setup uses (DAMASCUS_SETUP_TOKEN, else the bot's) has owner rights on the repository: Gitea lets only the owner set Actions secrets",
  },
  { check: 'actions enabled', about: 'Actions are enabled for the repository and Gitea lists its workflows' },
  { check: 'review workflow', about: `${REVIEW_WORKFLOW_FILE} is among the workflows Gitea reads; its runs-on and the Action it uses` },
  {
    check: 'action readable',
    about: "the Action's repository answers an anonymous git read (the runner clones it without a token), pinned to a full commit SHA",
  },
  {
    check: 'runner online',
    about: "an online runner carries the workflow's runs-on label (repo, owner and, for site admins, global runners; else the last review run)",
  },
  { check: 'webhook', about: "a hook on DAMASCUS_PUBLIC_URL/api/gitea/webhooks: active, JSON, app.yml's events, named for today's DAMASCUS_WEBHOOK_SECRET" },
  { check: 'test delivery', about: "Gitea's hook test arrives at serve and its signature verifies (read from serve's /metrics)" },
  { check: 'public URL', about: 'DAMASCUS_PUBLIC_URL/healthz answers 200 from this machine' },
] as const;

export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number]['check'];

export type DoctorGitea = Pick<
  GiteaClient,
  | 'checkServer'
  | 'getCurrentUser'
  | 'getRepo'
  | 'getCollaboratorPermission'
  | 'listWorkflows'
  | 'getRawFile'
  | 'listRepoRunners'
  | 'listOrgRunners'
  | 'listUserRunners'
  | 'listAdminRunners'
  | 'listWorkflowRuns'
  | 'listHooks'
  | 'testHook'
  // tokenLacks' side-effect-free probes
  | 'createIssueComment'
  | 'editHook'
  | 'createCurrentUserRepo'
>;

/** The subset of `fetch` doctor uses: a GET, never with credentials. */
export type DoctorFetch = (url: string, init: { signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }>;

export interface DoctorDeps {
  /** Whether the coding agent's sandbox can be made here (src/agent/sandbox.ts probeSandbox). */
  sandbox: () => Promise<SandboxStatus>;
  /** The builders' CLIs and credentials (src/agent/builderCheck.ts checkBuilders). */
  builders: () => Promise<BuilderStatus[]>;
  /** Null when GITEA_URL is not set (or not a URL). */
  gitea: DoctorGitea | null;
  /** With DAMASCUS_SETUP_TOKEN: a client with that token, for the setup-rights check (undefined: setup uses the bot's token). */
  setupGitea?: DoctorGitea | null;
  fetch: DoctorFetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface DoctorInput {
  settings: Pick<Settings, 'giteaUrl' | 'giteaToken' | 'webhookSecret' | 'callbackSecret' | 'publicUrl' | 'runsOn'>;
  repo: { owner: string; name: string } | null;
  /** Webhook subscription names (app.yml `default_events`). */
  events: string[];
  /** A queued review run older than this means no runner takes it. */
  runnerWaitSeconds: number;
  /** How long to wait for the hook test to show in serve's counters. */
  deliveryWaitSeconds: number;
  /** Per-request timeout of the plain HTTP reads (default 10 s). */
  httpTimeoutMs?: number;
}

const POLL_MS = 250;

type Verdict = { status: DoctorStatus; detail: string };
const ok = (detail: string): Verdict => ({ status: 'ok', detail });
const fail = (detail: string): Verdict => ({ status: 'fail', detail });
const warn = (detail: string): Verdict => ({ status: 'warn', detail });
const skip = (detail: string): Verdict => ({ status: 'skip', detail });

/** What the checks learn and later ones build on. */
interface Findings {
  giteaUrl: string | null;
  /** `${publicUrl}` without trailing slashes, when it is a plain http(s) URL. */
  publicBase: string | null;
  giteaAnswered: boolean;
  tokenRefused: boolean;
  bot: User | null;
  repo: Repository | null;
  repoProblem: string | null;
  workflows: ActionWorkflow[] | null;
  workflow: { path: string; labels: string[]; uses: string; actionUrl: string; actionRef: string } | null;
  hook: Hook | null;
}

/** Runs every check in order; never throws for what it finds (an unexpected error fails that one check). */
export async function runDoctor(deps: DoctorDeps, input: DoctorInput): Promise<DoctorCheck[]> {
  const s = input.settings;
  const f: Findings = {
    giteaUrl: s.giteaUrl && plainUrlProblem(s.giteaUrl) === null ? s.giteaUrl.replace(/\/+$/, '') : null,
    publicBase: s.publicUrl && plainUrlProblem(s.publicUrl) === null ? baseOf(s.publicUrl) : null,
    giteaAnswered: false,
    tokenRefused: false,
    bot: null,
    repo: null,
    repoProblem: null,
    workflows: null,
    workflow: null,
    hook: null,
  };
  const timeoutMs = input.httpTimeoutMs ?? 10_000;
  const get = (url: string) => deps.fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  // Check 12's probe, also the prerequisite of check 11: asked once.
  let health: Promise<Verdict> | null = null;
  const publicHealth = () => (health ??= probeHealth(get, f.publicBase));

  const out: DoctorCheck[] = [];
  const run = async (check: DoctorCheckName, fn: () => Promise<Verdict>) => {
    let v: Verdict;
    try {
      v = await fn();
    } catch (err) {
      v = fail(`could not check: ${errorText(err)}`);
    }
    out.push({ check, status: v.status, detail: v.detail });
  };
  const needsRepo = (fn: (owner: string, name: string) => Promise<Verdict>) => async () => {
    if (!input.repo) return skip('no OWNER/REPO given');
    return fn(input.repo.owner, input.repo.name);
  };
  /** The repository as check 4 read it, or why the check cannot run. */
  const repoGate = (): string | null => {
    if (f.repo) return null;
    return f.repoProblem ?? 'the repository was not read (see token scopes)';
  };

  await run('settings', async () => checkSettings(s));
  await run('agent sandbox', async () => {
    const status = await deps.sandbox();
    if (status.mode === 'off') return warn(status.detail);
    return status.ok ? ok(status.detail) : fail(status.detail);
  });
  await run('coding agent', async () => {
    const statuses = await deps.builders();
    const bad = statuses.filter((b) => b.problem !== null);
    return bad.length > 0 ? fail(bad.map(describeBuilderStatus).join('; ')) : ok(statuses.map(describeBuilderStatus).join(', '));
  });
  await run('gitea reachable', () => checkGitea(deps.gitea, f, s));
  await run('token user', () => checkTokenUser(deps.gitea, f, s));
  await run(
    'token scopes',
    needsRepo((o, r) => checkTokenScopes(deps.gitea, f, s, o, r, deps.setupGitea !== undefined)),
  );
  await run(
    'setup rights',
    needsRepo(async (o, r) => {
      if (deps.setupGitea !== undefined) {
        const gate = repoGate() ?? (deps.setupGitea ? null : 'GITEA_URL is not set (see settings)');
        return gate ? skip(gate) : checkSetupRights(deps.setupGitea!, await deps.setupGitea!.getCurrentUser(), o, r, true);
      }
      const gate = repoGate() ?? (f.bot ? null : "the token's user is unknown (see token user)");
      return gate ? skip(gate) : checkSetupRights(deps.gitea!, f.bot!, o, r);
    }),
  );
  await run(
    'actions enabled',
    needsRepo(async (o, r) => {
      const gate = repoGate();
      return gate ? skip(gate) : checkActions(deps.gitea!, f, o, r);
    }),
  );
  await run(
    'review workflow',
    needsRepo(async (o, r) => {
      if (!f.workflows) return skip(repoGate() ?? 'Gitea did not list the workflows (see actions enabled)');
      return checkReviewWorkflow(deps.gitea!, f, s, o, r);
    }),
  );
  await run(
    'action readable',
    needsRepo(async () => {
      if (!f.workflow) return skip('the review workflow was not read (see review workflow)');
      return checkActionReadable(get, f.workflow);
    }),
  );
  await run(
    'runner online',
    needsRepo(async (o, r) => {
      const gate = repoGate();
      return gate ? skip(gate) : checkRunner(deps, f, s, input.runnerWaitSeconds, o, r);
    }),
  );
  await run(
    'webhook',
    needsRepo(async (o, r) => {
      const gate =
        repoGate() ??
        (f.publicBase ? null : 'DAMASCUS_PUBLIC_URL is not set or not a plain URL (see settings)') ??
        (s.webhookSecret ? null : 'DAMASCUS_WEBHOOK_SECRET is not set (see settings)');
      return gate ? skip(gate) : checkWebhook(deps.gitea!, f, s.webhookSecret!, input.events, o, r);
    }),
  );
  await run(
    'test delivery',
    needsRepo(async (o, r) => {
      if (!f.hook) return skip('no webhook on the public URL to test (see webhook)');
      if ((await publicHealth()).status !== 'ok') return skip(`${f.publicBase} is not reachable from here (see public URL)`);
      return checkTestDelivery(deps, get, f.hook, f.publicBase!, input.deliveryWaitSeconds, o, r);
    }),
  );
  await run('public URL', async () => (f.publicBase ? publicHealth() : skip('DAMASCUS_PUBLIC_URL is not set or not a plain URL (see settings)')));
  return out;
}

// ───────────────────────── the checks ─────────────────────────

function checkSettings(s: DoctorInput['settings']): Verdict {
  const required: [string, string | undefined][] = [
    ['GITEA_URL', s.giteaUrl],
    ['GITEA_TOKEN', s.giteaToken],
    ['DAMASCUS_WEBHOOK_SECRET', s.webhookSecret],
    ['DAMASCUS_CALLBACK_SECRET', s.callbackSecret],
    ['DAMASCUS_PUBLIC_URL', s.publicUrl],
  ];
  const missing = required.filter(([, v]) => !v).map(([name]) => name);
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  // The values are not echoed: a URL with credentials in it would print them.
  if (s.giteaUrl && plainUrlProblem(s.giteaUrl)) problems.push(`GITEA_URL ${plainUrlProblem(s.giteaUrl)}`);
  if (s.publicUrl && plainUrlProblem(s.publicUrl)) problems.push(`DAMASCUS_PUBLIC_URL ${plainUrlProblem(s.publicUrl)}`);
  const label = runnerLabelProblem(s.runsOn);
  if (label) problems.push(`DAMASCUS_RUNS_ON: ${label}`);
  if (problems.length > 0) return fail(`${problems.join('; ')} (set them as for damascus serve; a *_FILE variable may name a file holding a secret)`);
  return ok(`${required.map(([name]) => name).join(', ')} are set; runner label ${s.runsOn}`);
}

async function checkGitea(gitea: DoctorGitea | null, f: Findings, s: DoctorInput['settings']): Promise<Verdict> {
  if (!gitea || !f.giteaUrl) return skip(s.giteaUrl ? 'GITEA_URL is not a plain http(s) URL (see settings)' : 'GITEA_URL is not set');
  try {
    const { version, missing } = await gitea.checkServer();
    f.giteaAnswered = true;
    if (missing.length > 0) return fail(`Gitea ${version} at ${f.giteaUrl} is too old: ${missing.join('; ')}: upgrade Gitea`);
    return ok(`Gitea ${version} at ${f.giteaUrl}`);
  } catch (err) {
    if (err instanceof GiteaError && err.status === 401) {
      // Gitea refuses a bad token even on GET /version.
      f.giteaAnswered = true;
      f.tokenRefused = true;
      return warn(`Gitea at ${f.giteaUrl} answers but refuses ${s.giteaToken ? 'GITEA_TOKEN' : 'a request without a token'} (401), so its version is unknown`);
    }
    if (err instanceof GiteaError && err.status !== null) {
      return fail(`Gitea at ${f.giteaUrl} answered GET /api/v1/version with ${err.status}: GITEA_URL must be the server's root URL (without /api/v1)`);
    }
    return fail(`cannot reach Gitea at ${f.giteaUrl}: ${errorText(err)}: check GITEA_URL and the network between this machine and Gitea`);
  }
}

async function checkTokenUser(gitea: DoctorGitea | null, f: Findings, s: DoctorInput['settings']): Promise<Verdict> {
  if (!gitea || !f.giteaAnswered) return skip('Gitea did not answer (see gitea reachable)');
  if (!s.giteaToken) return skip('GITEA_TOKEN is not set');
  if (f.tokenRefused) return fail("Gitea refuses GITEA_TOKEN (401 invalid username, password or token): make a new token for the bot's account");
  try {
    const user = await gitea.getCurrentUser();
    f.bot = user;
    return ok(`the token is ${user.login}'s (site admin: ${user.is_admin ? 'yes' : 'no'})`);
  } catch (err) {
    const lacks = missingScope(err);
    if (lacks) {
      return fail(
        `the token lacks read:user (it has ${lacks.tokenScopes || 'no scope'}): Damascus reads GET /user to know its bot; make a token with read:user, write:repository and write:issue`,
      );
    }
    if (err instanceof GiteaError && err.status === 401) return fail("Gitea refuses GITEA_TOKEN (401): make a new token for the bot's account");
    throw err;
  }
}

async function checkTokenScopes(
  gitea: DoctorGitea | null,
  f: Findings,
  s: DoctorInput['settings'],
  owner: string,
  name: string,
  setupHasOwnToken = false,
): Promise<Verdict> {
  if (!gitea || !f.giteaAnswered || !s.giteaToken || f.tokenRefused) {
    f.repoProblem =
      !gitea || !f.giteaAnswered
        ? 'Gitea did not answer (see gitea reachable)'
        : !s.giteaToken
          ? 'GITEA_TOKEN is not set'
          : 'Gitea refuses the token (see token user)';
    return skip(f.repoProblem);
  }
  const full = `${owner}/${name}`;
  const lacking: string[] = [];
  let has = '';
  for (const scope of ['write:repository', 'write:issue'] as const) {
    const scopes = await tokenLacks(gitea, owner, name, scope);
    if (scopes !== null) {
      lacking.push(scope);
      has = scopes;
    }
  }
  const problems: string[] = [];
  if (lacking.length > 0) {
    problems.push(`the token lacks ${lacking.join(' and ')} (it has ${has || 'no scope'}): make a token with write:repository, write:issue and read:user`);
  }
  try {
    f.repo = await gitea.getRepo(owner, name);
  } catch (err) {
    if (err instanceof GiteaError && err.status === 404) {
      f.repoProblem = `${full} was not found`;
      problems.push(`${full} does not exist, or ${f.bot?.login ?? "the token's user"} cannot see it: check OWNER/REPO, or give the bot access`);
    } else if (missingScope(err)) {
      f.repoProblem = `the token may not read ${full} (see token scopes)`;
      if (lacking.length === 0) problems.push(`the token may not read ${full}: ${errorText(err)}`);
    } else {
      f.repoProblem = `${full} could not be read (see token scopes)`;
      problems.push(`could not read ${full}: ${errorText(err)}`);
    }
  }
  if (problems.length > 0) return fail(problems.join('; '));

  const have = 'the token has write:repository and write:issue';
  // Publishing the Action is setup's work, done with DAMASCUS_SETUP_TOKEN: the running token needs no write:user.
  if (setupHasOwnToken) return ok(`${have} (write:user is not needed: damascus setup uses DAMASCUS_SETUP_TOKEN)`);
  if (!f.bot) return ok(`${have} (write:user not checked: the token's user is unknown)`);
  const bot = f.bot.login;
  const actionRepo = await orNullIfNotFound(gitea.getRepo(bot, ACTION_REPO_NAME));
  if (actionRepo) return ok(`${have}; ${bot}/${ACTION_REPO_NAME} exists, so write:user is not needed`);
  const lacksUser = await tokenLacks(gitea, owner, name, 'write:user');
  if (lacksUser !== null) {
    return warn(
      `${have}, but ${bot}/${ACTION_REPO_NAME} does not exist and the token lacks write:user (it has ${lacksUser || 'no scope'}): ` +
        `damascus setup will need write:user to publish the Action there, or create ${bot}/${ACTION_REPO_NAME} by hand (public, empty is fine), or run setup with --action-url and --action-ref`,
    );
  }
  return ok(`${have}, and write:user to create ${bot}/${ACTION_REPO_NAME}`);
}

/** Whether the user of the token setup uses may do setup's writes on the repository (`viaSetupToken`: DAMASCUS_SETUP_TOKEN's user). */
async function checkSetupRights(gitea: DoctorGitea, bot: User, owner: string, name: string, viaSetupToken = false): Promise<Verdict> {
  const full = `${owner}/${name}`;
  const who = viaSetupToken ? `${bot.login} (the user of DAMASCUS_SETUP_TOKEN)` : bot.login;
  const permission = await gitea.getCollaboratorPermission(owner, name, bot.login);
  if (permission === 'owner') return ok(`${who} has owner rights on ${full} (Actions secrets need them)`);
  return fail(
    `${who} has "${permission}" rights on ${full}, but Gitea lets only the repository's owner set Actions secrets (an admin collaborator gets 403): ` +
      `make ${bot.login} own the repository, a site admin, or a member of an org team with admin access (e.g. the org's Owners team)`,
  );
}

const ENABLE_ACTIONS = 'enable Actions for the repository in its settings, and [actions] ENABLED in app.ini';

async function checkActions(gitea: DoctorGitea, f: Findings, owner: string, name: string): Promise<Verdict> {
  const full = `${owner}/${name}`;
  // Gitea still lists the workflows of a repository whose Actions are off: has_actions is what tells.
  if (f.repo?.has_actions === false) return fail(`Actions are disabled for ${full}: ${ENABLE_ACTIONS}`);
  try {
    f.workflows = await gitea.listWorkflows(owner, name);
  } catch (err) {
    return fail(`Gitea does not list the workflows of ${full} (${errorText(err)}): ${ENABLE_ACTIONS}`);
  }
  return ok(`Actions are enabled for ${full}; Gitea lists ${f.workflows.length} workflow(s)`);
}

const RUN_SETUP = 'run damascus setup';

async function checkReviewWorkflow(gitea: DoctorGitea, f: Findings, s: DoctorInput['settings'], owner: string, name: string): Promise<Verdict> {
  // Gitea's `name` is the workflow's own `name:`; the file name is its id and the end of its path.
  const entry = f.workflows!.find((w) => w.id === REVIEW_WORKFLOW_FILE || w.path.split('/').pop() === REVIEW_WORKFLOW_FILE);
  if (!entry) {
    const seen = f.workflows!.map((w) => w.path).join(', ') || 'none';
    return fail(
      `${REVIEW_WORKFLOW_FILE} is not among the workflows Gitea reads for ${owner}/${name} (it lists: ${seen}; Gitea reads .gitea/workflows when that folder exists, else .github/workflows): ${RUN_SETUP}`,
    );
  }
  if (entry.state && entry.state !== 'active') {
    return fail(`${entry.path} is ${entry.state}: Damascus cannot dispatch it; enable the workflow on the repository's Actions page`);
  }
  const branch = f.repo!.default_branch;
  const text = await gitea.getRawFile(owner, name, entry.path, branch);
  if (text === null) return fail(`Gitea lists ${entry.path} but it cannot be read on ${branch}: ${RUN_SETUP}`);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return fail(`${entry.path} on ${branch} is not valid YAML (${firstLine(errorText(err))}): ${RUN_SETUP}`);
  }
  const review = (doc as { jobs?: { review?: { 'runs-on'?: unknown; steps?: { uses?: unknown }[] } } } | null)?.jobs?.review;
  const runsOn = review?.['runs-on'];
  const labels = typeof runsOn === 'string' ? [runsOn] : Array.isArray(runsOn) && runsOn.every((l) => typeof l === 'string') ? (runsOn as string[]) : null;
  const uses = review?.steps?.[0]?.uses;
  if (!labels || labels.length === 0 || typeof uses !== 'string') {
    return fail(
      `${entry.path} on ${branch} has no jobs.review with a runs-on label and a first step that uses the Action: it is not the workflow damascus setup writes; ${RUN_SETUP}`,
    );
  }
  const at = uses.lastIndexOf('@');
  if (at <= 0 || at === uses.length - 1) return fail(`${entry.path}: the review step uses ${scrubUrl(uses)}, which names no ref (<url>@<ref>): ${RUN_SETUP}`);
  f.workflow = { path: entry.path, labels, uses, actionUrl: uses.slice(0, at), actionRef: uses.slice(at + 1) };
  const label = labels.join(', ');
  const summary = `${entry.path} on ${branch}: runs-on ${label}, uses ${scrubUrl(uses)}`;
  if (labels.length !== 1 || labels[0] !== s.runsOn) {
    return warn(`${summary}; but DAMASCUS_RUNS_ON is ${s.runsOn}: ${RUN_SETUP} to write ${s.runsOn}, or set DAMASCUS_RUNS_ON=${label}`);
  }
  return ok(summary);
}

async function checkActionReadable(get: (url: string) => ReturnType<DoctorFetch>, wf: NonNullable<Findings['workflow']>): Promise<Verdict> {
  const pinned = /^[0-9a-f]{40}$/.test(wf.actionRef);
  const pinNote = pinned
    ? ''
    : `; and it is used @${wf.actionRef}, not a full 40-hex commit SHA: a tag or branch can move (and the runner rejects short SHAs), ${RUN_SETUP} to pin a commit`;
  if (!/^https?:\/\//.test(wf.actionUrl) || plainUrlProblem(wf.actionUrl) !== null) {
    return warn(
      `the review step uses ${scrubUrl(wf.uses)}, not a plain http(s) URL: the runner resolves it against [actions] DEFAULT_ACTIONS_URL (github.com by default), which this cannot check; damascus setup writes the full URL of the Action on this Gitea${pinNote}`,
    );
  }
  const repoUrl = wf.actionUrl.replace(/\/+$/, '').replace(/\.git$/, '');
  const repoName = new URL(repoUrl).pathname.replace(/^\/+/, '');
  const probe = `${repoUrl}.git/info/refs?service=git-upload-pack`;
  const makePublic = `the runner clones step actions without a token: make ${repoName} public`;
  let status: number;
  try {
    // Deliberately without credentials: this is what the runner's clone sees.
    status = await statusOf(get, probe);
  } catch (err) {
    return fail(`cannot read ${repoUrl} from here (${errorText(err)}): ${makePublic}, and reachable from the runner${pinNote}`);
  }
  if (status !== 200) return fail(`${repoUrl} answers ${status} to an anonymous git read: ${makePublic}${pinNote}`);
  if (!pinned) return warn(`${repoUrl} is readable without a token${pinNote}`);
  return ok(`${repoUrl} is readable without a token; pinned to commit ${wf.actionRef.slice(0, 12)}`);
}

interface RunnerLevel {
  name: string;
  list: () => Promise<ActionRunner[]>;
  global?: boolean;
}

async function checkRunner(deps: DoctorDeps, f: Findings, s: DoctorInput['settings'], waitSeconds: number, owner: string, name: string): Promise<Verdict> {
  const gitea = deps.gitea!;
  const labels = f.workflow?.labels ?? [s.runsOn];
  const label = labels.join(', ');
  const from = f.workflow ? '' : ' (DAMASCUS_RUNS_ON: the review workflow was not read)';
  const bot = f.bot?.login ?? 'the bot';
  const levels: RunnerLevel[] = [{ name: `repo ${owner}/${name}`, list: () => gitea.listRepoRunners(owner, name) }];
  // A user's own runners are listed only to that user; an org's to its owners.
  if (f.bot && f.bot.login.toLowerCase() === owner.toLowerCase()) levels.push({ name: `user ${owner}`, list: () => gitea.listUserRunners() });
  else levels.push({ name: `owner ${owner}`, list: () => gitea.listOrgRunners(owner) });
  if (f.bot?.is_admin) levels.push({ name: 'global', list: () => gitea.listAdminRunners(), global: true });

  const hidden: string[] = [];
  const seen = new Map<number, ActionRunner>();
  let globalVisible = false;
  for (const level of levels) {
    let runners: ActionRunner[];
    try {
      runners = await level.list();
    } catch (err) {
      if (err instanceof GiteaError && (err.status === 401 || err.status === 403 || err.status === 404)) {
        const said = (err.body as { message?: unknown } | undefined)?.message;
        hidden.push(`${level.name} (${err.status}${typeof said === 'string' && said ? ` ${said}` : ''})`);
        continue;
      }
      throw err;
    }
    if (level.global) globalVisible = true;
    const usable = runners.filter((r) => runnerServes(r, labels));
    if (usable.length > 0) {
      // The site-wide list does not say where a runner is registered: one of another repository's would count too.
      const where = level.global ? 'the site-wide list (global, or registered to another owner: Gitea does not say which)' : `the ${level.name} runners`;
      return ok(`${usable.map((r) => `${r.name} (${r.status})`).join(', ')} in ${where} ${usable.length === 1 ? 'has' : 'have'} label ${label}${from}`);
    }
    for (const r of runners) seen.set(r.id, r);
  }
  const seenText =
    [...seen.values()].map((r) => `${r.name}[${r.labels.map((l) => l.name).join(',')}] ${r.status}${r.disabled ? ' disabled' : ''}`).join(', ') || 'none';
  const register = `register an act_runner with label ${label} (or set DAMASCUS_RUNS_ON to a label a runner has and ${RUN_SETUP})`;
  if (globalVisible) return fail(`no online runner has label ${label}${from} (seen: ${seenText}): ${register}`);

  const hiddenText = hidden.length > 0 ? `; hidden from ${bot}: ${hidden.join(', ')}` : '';
  const invisible = `no runner with label ${label}${from} is visible to ${bot} (seen: ${seenText}${hiddenText}; global runners are listed only to site admins)`;
  const runs = (await gitea.listWorkflowRuns(owner, name, { event: 'workflow_dispatch' }))
    .filter((r) => r.path === REVIEW_WORKFLOW_FILE || r.path.startsWith(`${REVIEW_WORKFLOW_FILE}@`))
    .sort((a, b) => b.id - a.id);
  const last = runs[0] as (ActionWorkflowRun & { started_at?: string; completed_at?: string }) | undefined;
  if (!last) return warn(`cannot tell: ${invisible}, and the review workflow has not run yet: run doctor with a site admin's token to see global runners`);
  const runName = `the last review run (#${last.id})`;
  if (last.status === 'completed') {
    return warn(`${invisible}, but ${runName} completed${when(last.completed_at)}${last.conclusion ? ` (${last.conclusion})` : ''}: a runner took it then`);
  }
  if (last.status === 'in_progress' || last.status === 'running') {
    // Running means a runner took its one job.
    return warn(`${invisible}, but ${runName} is running${when(last.started_at, 'since')}: a runner took it`);
  }
  if (last.status === 'queued' || last.status === 'waiting' || last.status === 'pending' || last.status === 'requested') {
    const since = timestamp(last.started_at);
    if (since === null) {
      // Gitea 1.26 reports a run that no runner took yet as started at 1970: how long it waited is unknown.
      return warn(
        `${invisible}, and ${runName} is still ${last.status} (Gitea does not say since when): if it stays so, no online runner has that label; run doctor with a site admin's token to see global runners`,
      );
    }
    const waited = Math.round((deps.now() - since) / 1000);
    if (waited > waitSeconds) return fail(`${runName} has waited ${waited} s for a runner with label ${label}${from}: ${register}; ${invisible}`);
    return warn(`${runName} has waited ${waited} s for a runner with label ${label} so far (at most ${waitSeconds} s is expected); ${invisible}`);
  }
  return warn(`cannot tell: ${invisible}, and ${runName} is ${last.status}: run doctor with a site admin's token to see global runners`);
}

/** A runner takes the job when it carries every runs-on label and is neither offline nor disabled. */
function runnerServes(r: ActionRunner, labels: readonly string[]): boolean {
  const have = new Set((r.labels ?? []).map((l) => l.name));
  return r.status !== 'offline' && !r.disabled && labels.every((l) => have.has(l));
}

const SECRET_UNSEEN = "Gitea never shows a hook's secret and ignores one sent in an edit";

async function checkWebhook(gitea: DoctorGitea, f: Findings, secret: string, events: string[], owner: string, name: string): Promise<Verdict> {
  const url = `${f.publicBase}${WEBHOOK_PATH}`;
  const hooks = await gitea.listHooks(owner, name);
  const onUrl = hooks.filter((h) => sameUrl(h.config?.url, url));
  if (onUrl.length === 0) {
    const elsewhere = hooks.find((h) => /^damascus [0-9a-f]{16}$/.test(h.name ?? ''));
    const hint = elsewhere ? ` (a hook damascus setup made delivers to ${scrubUrl(elsewhere.config?.url ?? '')}: has DAMASCUS_PUBLIC_URL changed?)` : '';
    return fail(`no webhook on ${owner}/${name} delivers to ${url}${hint}: ${RUN_SETUP}`);
  }
  // setup installs the repository's own secret (deriveWebhookSecret), and names the hook after it.
  const wantName = webhookName(deriveWebhookSecret(secret, `${owner}/${name}`));
  const hook = onUrl.find((h) => hookIsCurrent(h, events, wantName)) ?? onUrl[0]!;
  f.hook = hook;
  const problems: string[] = [];
  if (hook.name !== wantName) {
    problems.push(
      /^damascus [0-9a-f]{16}$/.test(hook.name ?? '')
        ? 'its name says it was made with another secret, so its secret may differ from DAMASCUS_WEBHOOK_SECRET'
        : 'damascus setup did not make it, so its secret may differ from DAMASCUS_WEBHOOK_SECRET',
    );
  }
  if (hook.type !== 'gitea') problems.push(`it is a ${hook.type} hook, not a gitea one`);
  if (!hook.active) problems.push('it is inactive');
  if (hook.config?.content_type !== 'json') problems.push(`it sends ${hook.config?.content_type || 'no content type'}, not JSON`);
  const want = storedEvents(events);
  const have = [...new Set(hook.events ?? [])].sort();
  const lacks = want.filter((e) => !have.includes(e));
  const extra = have.filter((e) => !want.includes(e));
  if (lacks.length > 0) problems.push(`it lacks the events ${lacks.join(', ')}`);
  if (extra.length > 0) problems.push(`it also sends ${extra.join(', ')}, which app.yml does not ask for`);
  if (hook.branch_filter !== WEBHOOK_TEST_BRANCH)
    problems.push(
      `its branch filter is ${JSON.stringify(hook.branch_filter ?? '')}, not ${WEBHOOK_TEST_BRANCH} (the one branch its push subscription is for: Gitea's hook test)`,
    );
  if (onUrl.length > 1) problems.push(`${onUrl.length} hooks deliver to this URL, so each event arrives ${onUrl.length} times`);
  if (problems.length === 0 && !hookIsCurrent(hook, events, wantName)) problems.push('it is not the hook damascus setup makes');
  const why = hook.name !== wantName ? `${SECRET_UNSEEN}; ` : '';
  if (problems.length > 0) return fail(`hook #${hook.id} on ${url}: ${problems.join('; ')}; ${why}run damascus setup, which replaces the hook`);
  return ok(`hook #${hook.id} delivers ${events.join(', ')} as JSON to ${url}, named for today's DAMASCUS_WEBHOOK_SECRET`);
}

async function checkTestDelivery(
  deps: DoctorDeps,
  get: (url: string) => ReturnType<DoctorFetch>,
  hook: Hook,
  base: string,
  waitSeconds: number,
  owner: string,
  name: string,
): Promise<Verdict> {
  const metricsUrl = `${base}/metrics`;
  const read = async () => {
    const res = await get(metricsUrl);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${metricsUrl} answered ${res.status}`);
    return { test: deliveryCount(text, 'test'), bad: deliveryCount(text, 'bad_signature') };
  };
  let before: { test: number; bad: number };
  try {
    before = await read();
  } catch (err) {
    return warn(`cannot read serve's counters at ${metricsUrl} (${errorText(err)}), so a test delivery could not be checked`);
  }
  // The hook subscribes to push for this only, filtered to a branch nobody pushes: the test is sent with that ref.
  await deps.gitea!.testHook(owner, name, hook.id, { ref: `refs/heads/${WEBHOOK_TEST_BRANCH}` });
  const deadline = deps.now() + waitSeconds * 1000;
  do {
    await deps.sleep(POLL_MS);
    const now = await read().catch(() => null);
    if (!now) continue;
    if (now.bad > before.bad) {
      return fail(`a test delivery arrived but its signature did not verify: the hook's secret is not DAMASCUS_WEBHOOK_SECRET; ${RUN_SETUP}`);
    }
    if (now.test > before.test) return ok('a test delivery arrived and its signature verified');
  } while (deps.now() < deadline);
  const url = `${base}${WEBHOOK_PATH}`;
  if (!hook.active || !(hook.events ?? []).includes('push')) {
    // Gitea 1.26 (checked on 1.26.3) sends a hook test only to an active hook subscribed to push (setup's is).
    return warn(
      `no test delivery arrived within ${waitSeconds} s, which proves nothing here: Gitea 1.26 sends a hook test only to an active hook subscribed to push, and this one is not (run damascus setup); ` +
        `if labelling an issue does nothing, Gitea cannot reach ${url} (check [webhook] ALLOWED_HOST_LIST and the hook's Recent deliveries)`,
    );
  }
  return fail(`no test delivery arrived within ${waitSeconds} s: Gitea cannot reach ${url} (check [webhook] ALLOWED_HOST_LIST and the network between them)`);
}

/** The status a plain GET of `url` answers (its body read and dropped); throws when nothing answers. */
async function statusOf(get: (url: string) => ReturnType<DoctorFetch>, url: string): Promise<number> {
  const res = await get(url);
  await res.text().catch(() => '');
  return res.status;
}

async function probeHealth(get: (url: string) => ReturnType<DoctorFetch>, base: string | null): Promise<Verdict> {
  if (!base) return skip('DAMASCUS_PUBLIC_URL is not set or not a plain URL (see settings)');
  const url = `${base}/healthz`;
  let status: number;
  try {
    status = await statusOf(get, url);
  } catch (err) {
    return fail(`cannot reach ${url} from this machine (${errorText(err)}): start damascus serve (or start) there, or fix DAMASCUS_PUBLIC_URL`);
  }
  if (status !== 200) return fail(`${url} answered ${status}, not 200: DAMASCUS_PUBLIC_URL must be where damascus serve listens`);
  return ok(`${url} answers 200: reachable from this machine; the runner and Gitea must reach it too`);
}

// ───────────────────────── output and helpers ─────────────────────────

/** One output line: `ok    webhook: …`, `FAIL  …`, `warn  …`, `skip  …`. */
export function formatCheck(c: DoctorCheck): string {
  const word = c.status === 'fail' ? 'FAIL' : c.status;
  return `${word.padEnd(6)}${c.check}: ${c.detail}`;
}

/** `N checks: A ok, B failed, C warnings` (and how many were skipped, when any were). */
export function summarizeChecks(checks: readonly DoctorCheck[]): string {
  const n = (status: DoctorStatus) => checks.filter((c) => c.status === status).length;
  const skipped = n('skip');
  return `${checks.length} checks: ${n('ok')} ok, ${n('fail')} failed, ${n('warn')} warnings${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

/**
 * The value of `damascus_webhook_deliveries_total{result="<result>"}` in Prometheus text; 0 when the series is
 * absent (a counter that never rose is not printed).
 */
export function deliveryCount(metricsText: string, result: string): number {
  for (const line of metricsText.split('\n')) {
    const m = /^damascus_webhook_deliveries_total\{([^}]*)\}\s+(\S+)/.exec(line.trim());
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.result === result) {
      const value = Number(m[2]);
      return Number.isFinite(value) ? value : 0;
    }
  }
  return 0;
}

/** Why a URL is not a plain http(s) URL (credentials, query or fragment), or null. Never repeats the URL. */
export function plainUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL';
  if (url.username || url.password || url.search || url.hash) return 'must be a plain http(s) URL without credentials, query or fragment';
  return null;
}

function baseOf(raw: string): string {
  const url = new URL(raw);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A URL (or `url@ref`) for printing, without any credentials it holds. */
function scrubUrl(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/, '//');
}

/** Milliseconds since the epoch, or null for Gitea's zero times (1970, 0001) and anything unreadable. */
function timestamp(value: string | undefined): number | null {
  const t = value ? Date.parse(value) : Number.NaN;
  return Number.isFinite(t) && t > Date.UTC(2000, 0, 1) ? t : null;
}

function when(value: string | undefined, word = 'at'): string {
  return timestamp(value) === null ? '' : ` ${word} ${value}`;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

function errorText(err: unknown): string {
  if (err instanceof GiteaError) return err.message;
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (err.name === 'TimeoutError') return 'no answer in time';
    return cause instanceof Error ? `${err.message} (${(cause as NodeJS.ErrnoException).code ?? cause.message})` : err.message;
  }
  return String(err);
}
