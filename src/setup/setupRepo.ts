/**
 * `damascus setup OWNER/REPO`: make a repository ready for Damascus. It first checks every right it needs and says
 * all that is missing before it writes anything. Then, in this order, each step looking before it writes (so a
 * second run changes nothing but the secret, which Gitea cannot show back):
 *
 *   1. the review Action published to the Gitea itself (a public repo of the bot's), pinned by commit;
 *   2. the DAMASCUS_CALLBACK_TOKEN Actions secret;
 *   3. the trigger and state labels;
 *   4. the webhook, subscribed to app.yml's `default_events`, replaced when its secret may differ;
 *   5. last, the review workflow, in the folder Gitea reads the repo's workflows from.
 *
 * The workflow comes last so that a run that fails half-way never leaves a workflow without its secret, labels
 * or webhook; running setup again resumes.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { STATES } from '../domain/states.js';
import type { GiteaClient } from '../gitea/client.js';
import { GiteaError, orNullIfNotFound } from '../gitea/errors.js';
import { labelCreateOption } from '../gitea/labels.js';
import { REVIEW_WORKFLOW_FILE } from '../gitea/reviewWorkflow.js';
import { sendOnce } from '../gitea/sendOnce.js';
import type { CreateLabelOption, Hook, Label, User } from '../gitea/types.js';
import { packageFile } from '../shared/packageFile.js';

/** The Actions secret the review workflow signs its result with (`secrets.DAMASCUS_CALLBACK_TOKEN`). */
export const CALLBACK_SECRET_NAME = 'DAMASCUS_CALLBACK_TOKEN';
/** The repository of the bot's that setup publishes the review Action to. */
export const ACTION_REPO_NAME = 'damascus-action';

export interface AppManifest {
  /** Gitea webhook subscription names (POST /repos/{o}/{r}/hooks `events`). */
  defaultEvents: string[];
  defaultPermissions: Record<string, string>;
}

/** Reads the Probot-format manifest (by default the package's app.yml); throws when `default_events` is not a non-empty list of names. */
export function loadAppManifest(path: string = packageFile('app.yml')): AppManifest {
  const doc = parse(readFileSync(path, 'utf8')) as { default_events?: unknown; default_permissions?: unknown } | null;
  const events = doc?.default_events;
  if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === 'string' && /^[a-z_]+$/.test(e))) {
    throw new Error(`${path}: default_events must be a non-empty list of Gitea event names`);
  }
  const perms = doc?.default_permissions;
  return { defaultEvents: events as string[], defaultPermissions: perms && typeof perms === 'object' ? (perms as Record<string, string>) : {} };
}

/** The review Action's files as the package ships them (action/action.yml and the bundle), for publishing. */
export function bundledActionFiles(): { path: string; content: string }[] {
  const files = ['action.yml', 'dist/index.js', 'dist/package.json'].map((path) => ({ path, content: readFileSync(packageFile(`action/${path}`), 'utf8') }));
  const readme = [
    '# Damascus review Action',
    '',
    'Published here by `damascus setup`: the review workflow it writes into a repository uses this Action,',
    'pinned to a commit of this repository. It must stay public, because the runner clones step actions',
    'without a token. Do not edit it by hand: the next `damascus setup` publishes the bundled version again.',
    '',
  ].join('\n');
  return [...files, { path: 'README.md', content: readme }];
}

/** The trigger label's create body (the label a person adds to hand an issue to Damascus). */
export function triggerLabelOption(name: string): CreateLabelOption {
  return { name, color: '#1d76db', description: 'Damascus takes this story from spec to merge' };
}

/** Every label setup ensures: the trigger label, then one `damascus/<state>` label per state. */
export function wantedLabels(triggerLabel: string): CreateLabelOption[] {
  return [triggerLabelOption(triggerLabel), ...STATES.map((s) => labelCreateOption(s))];
}

/** Gitea's stored groups: a hook created with `issues` / `pull_request` reports every member event. */
const STORED_GROUPS: Record<string, string[]> = {
  issues: ['issues', 'issue_assign', 'issue_label', 'issue_milestone', 'issue_comment'],
  pull_request: [
    'pull_request',
    'pull_request_assign',
    'pull_request_label',
    'pull_request_milestone',
    'pull_request_comment',
    'pull_request_review',
    'pull_request_sync',
    'pull_request_review_request',
  ],
};

/**
 * Subscription names as Gitea reports them back on GET /hooks (`Webhook.EventsArray()`): `issues_only` is stored as
 * `issues`, `pull_request_only` as `pull_request`, and the groups as their members; sorted, without repeats.
 */
export function storedEvents(names: readonly string[]): string[] {
  return [...new Set(names.flatMap((n) => STORED_GROUPS[n] ?? [n.replace(/_only$/, '')]))].sort();
}

/**
 * The name setup gives its webhook: `damascus` and a tag derived from the secret (an HMAC, which says nothing about
 * the secret itself). Gitea never shows a hook's secret and ignores one sent in an edit, so this name is how a
 * second run knows whether the hook still has today's secret.
 */
export function webhookName(secret: string): string {
  return `damascus ${createHmac('sha256', secret).update('damascus-webhook-name').digest('hex').slice(0, 16)}`;
}

/**
 * The hook's branch filter. It applies to push deliveries only (issue and PR events ignore it), and the hook
 * subscribes to push only for Gitea's hook test: a branch nobody pushes keeps every real push out, and the test,
 * sent with this ref, through.
 */
export const WEBHOOK_TEST_BRANCH = 'damascus/webhook-test';

/** True when a hook Gitea reports delivers exactly `events` as JSON, actively, pushes only for the test branch, with today's secret. */
export function hookIsCurrent(hook: Hook, events: readonly string[], name: string): boolean {
  // Gitea reports the stored form already (`issues` there means issues_only): compare as is, do not expand again.
  const have = [...new Set(hook.events ?? [])].sort();
  const want = storedEvents(events);
  return (
    hook.name === name &&
    hook.active &&
    hook.config?.content_type === 'json' &&
    hook.branch_filter === WEBHOOK_TEST_BRANCH &&
    have.length === want.length &&
    have.every((e, i) => e === want[i])
  );
}

/** Whether two URLs are the same but for trailing slashes (a hook's `config.url` against Damascus's webhook URL). */
export function sameUrl(a: string | undefined, b: string): boolean {
  return (a ?? '').replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/** git's blob id of a text: what Gitea's contents API reports as a file's `sha`. */
export function blobSha(content: string): string {
  const bytes = Buffer.from(content, 'utf8');
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export type StepOutcome = 'created' | 'updated' | 'replaced' | 'unchanged' | 'set' | 'moved';

export interface SetupStep {
  outcome: StepOutcome;
  /** What the step is about, e.g. `label damascus/spec`. Never holds a secret. */
  what: string;
}

export interface SetupInput {
  owner: string;
  repo: string;
  /** The review workflow's text once the Action's repository URL and pinned ref are known (renderReviewWorkflow). */
  workflow: (action: { url: string; ref: string }) => string;
  /**
   * Publish the bundled Action to `<bot>/damascus-action` on this Gitea (`giteaUrl` is where the runner reaches
   * it), or use an Action published elsewhere (`url` and `ref`, e.g. from --action-url/--action-ref).
   */
  action: { publish: { giteaUrl: string; files: { path: string; content: string }[] } } | { url: string; ref: string };
  /** Where Gitea delivers webhooks: `${publicUrl}/api/gitea/webhooks`. */
  webhookUrl: string;
  /** This repository's own webhook secret (deriveWebhookSecret of DAMASCUS_WEBHOOK_SECRET), installed on its hook. */
  webhookSecret: string;
  /** The per-repository secret (deriveProjectSecret) stored as CALLBACK_SECRET_NAME. */
  callbackToken: string;
  triggerLabel: string;
  /** Webhook subscription names (app.yml `default_events`). */
  events: string[];
  /** Look only: report what would change and write nothing. */
  dryRun?: boolean;
}

/** A step that failed; the message names the step and carries Gitea's answer (never a secret). */
export class SetupError extends Error {
  override name = 'SetupError';
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export type SetupGitea = Pick<
  GiteaClient,
  | 'getCurrentUser'
  | 'getRepo'
  | 'getCollaboratorPermission'
  | 'getContents'
  | 'createFile'
  | 'updateFile'
  | 'deleteFile'
  | 'setActionsSecret'
  | 'listRepoLabels'
  | 'createRepoLabel'
  | 'listHooks'
  | 'createHook'
  | 'deleteHook'
  | 'editHook'
  | 'createIssueComment'
  | 'createCurrentUserRepo'
  | 'changeFiles'
  | 'getBranch'
>;

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SetupError) throw err;
    throw new SetupError(name, err);
  }
}

/** Gitea's answer when a token lacks a scope: `token does not have at least one of required scope(s), required=[…], token scope=…`. */
export function missingScope(err: unknown): { required: string; tokenScopes: string } | null {
  if (!(err instanceof GiteaError) || err.status !== 403) return null;
  const m = /token does not have at least one of required scope\(s\), required=\[([^\]]*)\], token scope=(.*)$/.exec(
    String((err.body as { message?: unknown })?.message ?? ''),
  );
  return m ? { required: m[1]!, tokenScopes: m[2]! } : null;
}

/**
 * Probes that need a scope and change nothing: each targets a thing that cannot exist (issue 0, hook 0, a repo
 * without a name), so a token with the scope gets 404 or 422 and one without it gets Gitea's scope 403.
 */
export async function tokenLacks(
  gitea: Pick<SetupGitea, 'createIssueComment' | 'editHook' | 'createCurrentUserRepo'>,
  owner: string,
  repo: string,
  scope: 'write:issue' | 'write:repository' | 'write:user',
): Promise<string | null> {
  const probe: Record<typeof scope, () => Promise<unknown>> = {
    'write:issue': () => gitea.createIssueComment(owner, repo, 0, ''),
    'write:repository': () => gitea.editHook(owner, repo, 0, {}),
    'write:user': () => gitea.createCurrentUserRepo({ name: '' }),
  };
  try {
    await probe[scope]();
  } catch (err) {
    const lacks = missingScope(err);
    if (lacks) return lacks.tokenScopes;
    if (err instanceof GiteaError && err.status !== null && err.status < 500) return null;
    throw err;
  }
  return null;
}

/** Where Gitea reads this repo's workflows: .gitea/workflows when that folder exists, else .github/workflows (FACTS §0). */
async function workflowDirs(gitea: SetupGitea, owner: string, repo: string, branch: string): Promise<{ gitea: string[] | null; github: boolean }> {
  const [g, h] = await Promise.all([gitea.getContents(owner, repo, '.gitea/workflows', branch), gitea.getContents(owner, repo, '.github/workflows', branch)]);
  return { gitea: g?.type === 'dir' ? g.entries.map((e) => e.name) : null, github: h?.type === 'dir' };
}

interface Preflight {
  bot: User;
  branch: string;
  /** False when `<bot>/damascus-action` must be created (true when the Action is given). */
  actionRepoExists: boolean;
}

/** Every right setup needs, checked before anything is written; all that is missing in one error. */
async function preflight(gitea: SetupGitea, input: SetupInput): Promise<Preflight> {
  const { owner, repo } = input;
  const bot = await step("read the token's user (GET /user)", () => gitea.getCurrentUser());
  const info = await step(`read repository ${owner}/${repo}`, () => gitea.getRepo(owner, repo));
  const problems: string[] = [];
  const permission = await step(`check the rights of ${bot.login} on ${owner}/${repo}`, () => gitea.getCollaboratorPermission(owner, repo, bot.login));
  if (permission !== 'owner') {
    problems.push(
      `${bot.login} has "${permission}" rights on ${owner}/${repo}, but Gitea lets only the repository's owner set Actions secrets: ` +
        `make ${bot.login} own the repository, a site admin, or a member of an org team with admin access (e.g. the org's Owners team)`,
    );
  }
  for (const scope of ['write:repository', 'write:issue'] as const) {
    const lacking = await step(`check the token's ${scope} scope`, () => tokenLacks(gitea, owner, repo, scope));
    if (lacking !== null) problems.push(`the token lacks ${scope} (it has ${lacking || 'no scope'})`);
  }
  let actionRepoExists = true;
  if ('publish' in input.action) {
    const existing = await step(`read repository ${bot.login}/${ACTION_REPO_NAME}`, () => orNullIfNotFound(gitea.getRepo(bot.login, ACTION_REPO_NAME)));
    actionRepoExists = existing !== null;
    if (existing?.private) {
      problems.push(`${bot.login}/${ACTION_REPO_NAME} is private: the runner clones step actions without a token, so make it public`);
    } else if (!existing) {
      const lacking = await step("check the token's write:user scope", () => tokenLacks(gitea, owner, repo, 'write:user'));
      if (lacking !== null) {
        problems.push(
          `${bot.login}/${ACTION_REPO_NAME} does not exist and the token lacks write:user to create it (it has ${lacking || 'no scope'}): ` +
            `create that repository (public, empty is fine), give the token write:user, or pass --action-url and --action-ref`,
        );
      }
    }
  }
  if (problems.length > 0) throw new SetupError(`check what setup needs on ${owner}/${repo}`, new Error(problems.join('; ')));
  return { bot, branch: info.default_branch, actionRepoExists };
}

/**
 * Brings the repository to the wanted state, step by step, calling `onStep` as each one finishes (so a failure
 * half-way still shows what was done). With `dryRun` nothing is written; outcomes say what would happen.
 */
export async function setupRepo(gitea: SetupGitea, input: SetupInput, onStep: (s: SetupStep) => void = () => {}): Promise<SetupStep[]> {
  const { owner, repo } = input;
  const dry = input.dryRun === true;
  const steps: SetupStep[] = [];
  const report = (s: SetupStep) => {
    steps.push(s);
    onStep(s);
  };
  const pre = await preflight(gitea, input);
  const branch = pre.branch;

  const action =
    'publish' in input.action
      ? await step(`publish the review Action to ${pre.bot.login}/${ACTION_REPO_NAME}`, () =>
          publishAction(gitea, pre, (input.action as { publish: { giteaUrl: string; files: { path: string; content: string }[] } }).publish, dry, report),
        )
      : input.action;

  await step(`set Actions secret ${CALLBACK_SECRET_NAME}`, async () => {
    // Gitea never shows a secret's value, so there is nothing to compare: writing the same value again is harmless.
    if (!dry) await gitea.setActionsSecret(owner, repo, CALLBACK_SECRET_NAME, input.callbackToken);
    report({ outcome: 'set', what: `Actions secret ${CALLBACK_SECRET_NAME}` });
  });

  const existing = await step('list labels', () => gitea.listRepoLabels(owner, repo));
  for (const label of wantedLabels(input.triggerLabel)) {
    await step(`create label ${label.name}`, async () => {
      if (existing.some((l) => l.name === label.name)) {
        report({ outcome: 'unchanged', what: `label ${label.name}` });
        return;
      }
      if (!dry) await createLabelOnce(gitea, owner, repo, label);
      report({ outcome: 'created', what: `label ${label.name}` });
    });
  }

  await step(`create webhook ${input.webhookUrl}`, async () => {
    const what = `webhook ${input.webhookUrl} (${input.events.join(', ')})`;
    const name = webhookName(input.webhookSecret);
    const hooks = await gitea.listHooks(owner, repo);
    // Ours: on our URL, or named by an earlier setup (its URL may have changed since).
    const ours = hooks.filter((h) => h.type === 'gitea' && (sameUrl(h.config?.url, input.webhookUrl) || /^damascus [0-9a-f]{16}$/.test(h.name ?? '')));
    const keep = ours.find((h) => sameUrl(h.config?.url, input.webhookUrl) && hookIsCurrent(h, input.events, name));
    if (keep && ours.length === 1) {
      report({ outcome: 'unchanged', what });
      return;
    }
    // Gitea ignores a secret sent in an edit, so a hook whose secret may differ is deleted and made again.
    if (!dry) {
      for (const h of ours) await gitea.deleteHook(owner, repo, h.id);
      const create = () =>
        gitea.createHook(owner, repo, {
          url: input.webhookUrl,
          secret: input.webhookSecret,
          events: input.events,
          active: true,
          name,
          branchFilter: WEBHOOK_TEST_BRANCH,
        });
      await sendOnce({
        send: create,
        lookup: async () => (await gitea.listHooks(owner, repo)).find((h) => h.name === name && sameUrl(h.config?.url, input.webhookUrl)) ?? null,
      });
    }
    report({ outcome: ours.length === 0 ? 'created' : 'replaced', what });
  });

  await step(`write the review workflow ${REVIEW_WORKFLOW_FILE}`, () => writeWorkflow(gitea, owner, repo, branch, input.workflow(action), dry, report));
  return steps;
}

/** A label, created once: a POST whose answer was lost is looked up by name before it is sent again. */
async function createLabelOnce(gitea: SetupGitea, owner: string, repo: string, label: CreateLabelOption): Promise<Label> {
  return sendOnce({
    send: () => gitea.createRepoLabel(owner, repo, label),
    lookup: async () => (await gitea.listRepoLabels(owner, repo)).find((l) => l.name === label.name) ?? null,
  });
}

/**
 * The bundled Action on `<bot>/damascus-action`'s default branch, committed only where a file differs (blob ids are
 * compared, nothing is downloaded); returns the URL and the full commit SHA to pin.
 */
async function publishAction(
  gitea: SetupGitea,
  pre: Preflight,
  publish: { giteaUrl: string; files: { path: string; content: string }[] },
  dry: boolean,
  report: (s: SetupStep) => void,
): Promise<{ url: string; ref: string }> {
  const bot = pre.bot.login;
  const url = `${publish.giteaUrl.replace(/\/+$/, '')}/${bot}/${ACTION_REPO_NAME}`;
  if (!pre.actionRepoExists) {
    if (dry) {
      report({ outcome: 'created', what: `Action ${url} (a public repository)` });
      return { url, ref: '0'.repeat(40) };
    }
    await sendOnce({
      send: () =>
        gitea.createCurrentUserRepo({
          name: ACTION_REPO_NAME,
          private: false,
          auto_init: true,
          default_branch: 'main',
          description: 'The Damascus review Action, published by damascus setup',
        }),
      lookup: async () => gitea.getRepo(bot, ACTION_REPO_NAME).catch(() => null),
    });
  }
  const repoInfo = await gitea.getRepo(bot, ACTION_REPO_NAME);
  const branch = repoInfo.default_branch || 'main';
  const ops: { operation: 'create' | 'update'; path: string; content: string; sha?: string }[] = [];
  for (const f of publish.files) {
    const have = await gitea.getContents(bot, ACTION_REPO_NAME, f.path, branch);
    if (have === null) ops.push({ operation: 'create', path: f.path, content: f.content });
    else if (have.type !== 'file') throw new Error(`${bot}/${ACTION_REPO_NAME}: ${f.path} is a ${have.type}, not a file`);
    else if (have.sha !== blobSha(f.content)) ops.push({ operation: 'update', path: f.path, content: f.content, sha: have.sha });
  }
  if (ops.length > 0 && dry) {
    report({ outcome: pre.actionRepoExists ? 'updated' : 'created', what: `Action ${url}` });
    return { url, ref: '0'.repeat(40) };
  }
  if (ops.length > 0) {
    const res = await gitea.changeFiles(bot, ACTION_REPO_NAME, { branch, message: 'damascus setup: publish the review Action', files: ops });
    const sha = res.commit?.sha ?? (await gitea.getBranch(bot, ACTION_REPO_NAME, branch))?.commit.id;
    if (!sha) throw new Error(`${bot}/${ACTION_REPO_NAME}: no commit after publishing`);
    report({ outcome: pre.actionRepoExists && ops.some((o) => o.operation === 'update') ? 'updated' : 'created', what: `Action ${url}@${sha.slice(0, 12)}` });
    return { url, ref: sha };
  }
  const head = await gitea.getBranch(bot, ACTION_REPO_NAME, branch);
  if (!head) throw new Error(`${bot}/${ACTION_REPO_NAME} has no branch ${branch}`);
  report({ outcome: 'unchanged', what: `Action ${url}@${head.commit.id.slice(0, 12)}` });
  return { url, ref: head.commit.id };
}

/**
 * The review workflow where Gitea reads this repo's workflows. Gitea reads .gitea/workflows when it exists and
 * .github/workflows otherwise, never both (FACTS §0): a repo whose CI lives in .github/workflows gets the file
 * there, because creating .gitea/workflows would switch all of that CI off. A file an older setup left as the
 * only one in .gitea/workflows beside a .github/workflows folder is moved.
 */
async function writeWorkflow(
  gitea: SetupGitea,
  owner: string,
  repo: string,
  branch: string,
  text: string,
  dry: boolean,
  report: (s: SetupStep) => void,
): Promise<void> {
  const dirs = await workflowDirs(gitea, owner, repo, branch);
  const strandedInGitea = dirs.github && dirs.gitea !== null && dirs.gitea.length === 1 && dirs.gitea[0] === REVIEW_WORKFLOW_FILE;
  const dir = dirs.gitea !== null && !strandedInGitea ? '.gitea/workflows' : dirs.github ? '.github/workflows' : '.gitea/workflows';
  const path = `${dir}/${REVIEW_WORKFLOW_FILE}`;
  const what = `${path} on ${branch}`;
  const current = await gitea.getContents(owner, repo, path, branch);
  if (current !== null && current.type !== 'file') throw new Error(`${path} exists but is a ${current.type}, not a file`);
  if (current === null) {
    if (!dry) {
      const find = async () => ((await gitea.getContents(owner, repo, path, branch))?.type === 'file' ? undefined : null);
      await sendOnce({
        send: async () => void (await gitea.createFile(owner, repo, path, { content: text, message: 'damascus: add review workflow', branch })),
        lookup: find,
      });
    }
    report({ outcome: 'created', what });
  } else if (current.content === text) {
    report({ outcome: 'unchanged', what });
  } else {
    if (!dry) await gitea.updateFile(owner, repo, path, { content: text, sha: current.sha, message: 'damascus: update review workflow', branch });
    report({ outcome: 'updated', what });
  }
  if (strandedInGitea) {
    const old = `.gitea/workflows/${REVIEW_WORKFLOW_FILE}`;
    const stale = await gitea.getContents(owner, repo, old, branch);
    if (!dry && stale?.type === 'file') {
      await gitea.deleteFile(owner, repo, old, {
        sha: stale.sha,
        message: 'damascus: move the review workflow to .github/workflows, where this repo keeps its CI',
        branch,
      });
    }
    report({ outcome: 'moved', what: `${old} away (it hid .github/workflows from Gitea)` });
  }
}

/** One output line: `created  label damascus/spec`, or `would create …` in a dry run. */
export function formatStep(s: SetupStep, dryRun = false): string {
  if (!dryRun) return `${s.outcome.padEnd(9)} ${s.what}`;
  const verb = { created: 'would create', updated: 'would update', replaced: 'would replace', unchanged: 'unchanged', set: 'would set', moved: 'would move' }[
    s.outcome
  ];
  return `${verb.padEnd(12)} ${s.what}`;
}
