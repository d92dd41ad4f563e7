/**
 * `damascus setup OWNER/REPO`: make a repository ready for Damascus — the review workflow file, the
 * DAMASCUS_CALLBACK_TOKEN Actions secret, the trigger and state labels, and the webhook subscribed to
 * app.yml's `default_events`. Each step looks before it writes, so a second run changes nothing
 * (except the secret, which Gitea cannot show back and is therefore always written).
 */
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { STATES } from '../domain/states.js';
import type { GiteaClient } from './client.js';
import { labelCreateOption } from './labels.js';
import { REVIEW_WORKFLOW_FILE } from './reviewWorkflow.js';
import type { CreateLabelOption, Hook } from './types.js';
import { packageFile } from '../packageFile.js';

/** The Actions secret the review workflow signs its result with (`secrets.DAMASCUS_CALLBACK_TOKEN`). */
export const CALLBACK_SECRET_NAME = 'DAMASCUS_CALLBACK_TOKEN';
export const REVIEW_WORKFLOW_PATH = `.gitea/workflows/${REVIEW_WORKFLOW_FILE}`;

export interface AppManifest {
  /** Gitea webhook subscription names (POST /repos/{o}/{r}/hooks `events`). */
  defaultEvents: string[];
  defaultPermissions: Record<string, string>;
}

/** Reads the Probot-format manifest (by default the package's app.yml); throws when `default_events` is not a non-empty list of names. */
export function loadAppManifest(path: string = packageFile('app.yml')): AppManifest {
  const doc = load(readFileSync(path, 'utf8')) as { default_events?: unknown; default_permissions?: unknown } | null;
  const events = doc?.default_events;
  if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === 'string' && /^[a-z_]+$/.test(e))) {
    throw new Error(`${path}: default_events must be a non-empty list of Gitea event names`);
  }
  const perms = doc?.default_permissions;
  return { defaultEvents: events as string[], defaultPermissions: perms && typeof perms === 'object' ? (perms as Record<string, string>) : {} };
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

/** True when a hook Gitea reports already delivers exactly `events` as JSON, actively, for every branch. */
export function hookIsCurrent(hook: Hook, events: readonly string[]): boolean {
  // Gitea reports the stored form already (`issues` there means issues_only): compare as is, do not expand again.
  const have = [...new Set(hook.events ?? [])].sort();
  const want = storedEvents(events);
  return (
    hook.active &&
    hook.config?.content_type === 'json' &&
    (hook.branch_filter === '' || hook.branch_filter === '*' || hook.branch_filter === undefined) &&
    have.length === want.length &&
    have.every((e, i) => e === want[i])
  );
}

/** A URL with its trailing slashes removed, for comparing a hook's URL with ours. */
function sameUrl(a: string | undefined, b: string): boolean {
  return (a ?? '').replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

export type StepOutcome = 'created' | 'updated' | 'unchanged' | 'set';

export interface SetupStep {
  outcome: StepOutcome;
  /** What the step is about, e.g. `label damascus/spec`. Never holds a secret. */
  what: string;
}

export interface SetupInput {
  owner: string;
  repo: string;
  /** The full text of the review workflow (renderReviewWorkflow). */
  workflow: string;
  /** Where Gitea delivers webhooks: `${publicUrl}/api/gitea/webhooks`. */
  webhookUrl: string;
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
  'getRepo' | 'getContents' | 'createFile' | 'updateFile' | 'setActionsSecret' | 'listRepoLabels' | 'createRepoLabel' | 'listHooks' | 'createHook' | 'editHook'
>;

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SetupError) throw err;
    throw new SetupError(name, err);
  }
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

  const info = await step(`read repository ${owner}/${repo}`, () => gitea.getRepo(owner, repo));
  // Webhooks and Actions secrets need repo admin; say so before half the steps have run.
  if (info.permissions && !info.permissions.admin) {
    throw new SetupError(`check permissions on ${owner}/${repo}`, new Error('the token\'s user needs admin rights on the repository (webhooks and Actions secrets)'));
  }
  const branch = info.default_branch;

  await step(`write ${REVIEW_WORKFLOW_PATH}`, async () => {
    const what = `${REVIEW_WORKFLOW_PATH} on ${branch}`;
    const current = await gitea.getContents(owner, repo, REVIEW_WORKFLOW_PATH, branch);
    if (current === null) {
      if (!dry) await gitea.createFile(owner, repo, REVIEW_WORKFLOW_PATH, { content: input.workflow, message: 'damascus: add review workflow', branch });
      report({ outcome: 'created', what });
    } else if (current.type !== 'file') {
      throw new Error(`${REVIEW_WORKFLOW_PATH} exists but is a ${current.type}, not a file`);
    } else if (current.content === input.workflow) {
      report({ outcome: 'unchanged', what });
    } else {
      if (!dry) await gitea.updateFile(owner, repo, REVIEW_WORKFLOW_PATH, { content: input.workflow, sha: current.sha, message: 'damascus: update review workflow', branch });
      report({ outcome: 'updated', what });
    }
  });

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
      if (!dry) await gitea.createRepoLabel(owner, repo, label);
      report({ outcome: 'created', what: `label ${label.name}` });
    });
  }

  await step(`create webhook ${input.webhookUrl}`, async () => {
    const what = `webhook ${input.webhookUrl} (${input.events.join(', ')})`;
    const hooks = await gitea.listHooks(owner, repo);
    const hook = hooks.find((h) => h.type === 'gitea' && sameUrl(h.config?.url, input.webhookUrl));
    if (!hook) {
      if (!dry) await gitea.createHook(owner, repo, { url: input.webhookUrl, secret: input.webhookSecret, events: input.events, active: true });
      report({ outcome: 'created', what });
    } else if (hookIsCurrent(hook, input.events)) {
      report({ outcome: 'unchanged', what });
    } else {
      if (!dry) {
        await gitea.editHook(owner, repo, hook.id, {
          config: { url: input.webhookUrl, content_type: 'json', secret: input.webhookSecret },
          events: input.events,
          active: true,
          branch_filter: '*',
        });
      }
      report({ outcome: 'updated', what });
    }
  });

  return steps;
}

/** One output line: `created  label damascus/spec`, or `would create …` in a dry run. */
export function formatStep(s: SetupStep, dryRun = false): string {
  if (!dryRun) return `${s.outcome.padEnd(9)} ${s.what}`;
  const verb = { created: 'would create', updated: 'would update', unchanged: 'unchanged', set: 'would set' }[s.outcome];
  return `${verb.padEnd(12)} ${s.what}`;
}
