/**
 * Webhook payload → domain event (pure). Routes on X-Gitea-Event, X-Gitea-Event-Type and `action`
 * with Gitea's names (FACTS §b): `label_updated`/`label_cleared`, `synchronized`, review events under
 * their own X-Gitea-Event names. The payload is untrusted JSON: every field read is checked, and a
 * handled event with a bad shape becomes `invalid` (HTTP 400); anything not handled becomes
 * `ignored` (HTTP 202).
 */
import type {
  GiteaComment,
  GiteaIssue,
  GiteaLabel,
  GiteaPRBranch,
  GiteaPullRequest,
  GiteaRepository,
  GiteaUser,
  IssueCommentPayload,
  IssuePayload,
  PullRequestPayload,
} from './payloads.js';
import type { CommentRef, GiteaEvent, IssueRef, RepoRef, SenderRef } from '../domain/webhookEvent.js';

export interface WebhookInput {
  /** X-Gitea-Event (grouped name). */
  event: string | undefined;
  /** X-Gitea-Event-Type (specific name, since Gitea 1.16; may be absent on older servers). */
  eventType: string | undefined;
  payload: unknown;
}

/** The system user that Actions-token operations are attributed to (FACTS §e). */
export const GITEA_ACTIONS_LOGIN = 'gitea-actions';

/** True for events the bot caused itself (its own login, case-insensitive) or that came from the Actions token. */
export function isBotSender(login: string, botLogin: string | null | undefined): boolean {
  const l = login.toLowerCase();
  if (l === GITEA_ACTIONS_LOGIN) return true;
  return !!botLogin && l === botLogin.toLowerCase();
}

/**
 * Which X-Gitea-Event-Type each handled (event, action) pair arrives with. An absent type header
 * (Gitea < 1.16) is accepted; a present one must match.
 */
const HANDLED: Record<string, Record<string, readonly string[]>> = {
  issues: {
    opened: ['issues'],
    closed: ['issues'],
    reopened: ['issues'],
    // Deleting an issue sends this once; afterwards the API answers 404 (500 for its comments) (FACTS §0).
    deleted: ['issues'],
    label_updated: ['issue_label'],
    label_cleared: ['issue_label'],
  },
  // A PR conversation comment is issue_comment + type pull_request_comment (FACTS §f.3).
  issue_comment: { created: ['issue_comment', 'pull_request_comment'], edited: ['issue_comment', 'pull_request_comment'] },
  pull_request: { closed: ['pull_request'], synchronized: ['pull_request_sync'] },
};

export function routeWebhook(input: WebhookInput): GiteaEvent {
  const event = input.event?.trim().toLowerCase();
  if (!event) return { kind: 'ignored', reason: 'no X-Gitea-Event header' };
  const actions = HANDLED[event];
  if (!actions) return { kind: 'ignored', reason: `event "${event}" is not handled` };
  const eventType = input.eventType?.trim().toLowerCase() || undefined;
  try {
    const action = str(obj<{ action: string }>(input.payload, 'payload'), 'action', 'payload');
    const types = actions[action];
    if (!types) return { kind: 'ignored', reason: `${event} action "${action}" is not handled` };
    if (eventType !== undefined && !types.includes(eventType)) {
      return { kind: 'ignored', reason: `${event} action "${action}" with event type "${eventType}" is not handled` };
    }
    switch (event) {
      case 'issues':
        return issueEvent(action, obj<IssuePayload>(input.payload, 'payload'));
      case 'issue_comment':
        return commentEvent(action as 'created' | 'edited', eventType, obj<IssueCommentPayload>(input.payload, 'payload'));
      default:
        return pullEvent(action, obj<PullRequestPayload>(input.payload, 'payload'));
    }
  } catch (e) {
    if (e instanceof PayloadError) return { kind: 'invalid', reason: e.message };
    throw e;
  }
}

function issueEvent(action: string, p: Unchecked<IssuePayload>): GiteaEvent {
  const repo = readRepo(p);
  const rawIssue = obj<GiteaIssue>(p.issue, 'issue');
  const issue = readIssue(rawIssue);
  const sender = readUser(p.sender, 'sender');
  switch (action) {
    case 'opened':
      return { kind: 'issue.opened', repo, issue, labels: readLabelNames(rawIssue), sender };
    case 'closed':
      return { kind: 'issue.closed', repo, issue, sender };
    case 'reopened':
      return { kind: 'issue.reopened', repo, issue, sender };
    case 'deleted':
      return { kind: 'issue.deleted', repo, issue, sender };
    case 'label_updated':
      return { kind: 'issue.labels', repo, issue, labels: readLabelNames(rawIssue), cleared: false, sender };
    default:
      // label_cleared: the payload's list still shows the removed labels (FACTS §c); after a clear there are none.
      return { kind: 'issue.labels', repo, issue, labels: [], cleared: true, sender };
  }
}

function commentEvent(action: 'created' | 'edited', eventType: string | undefined, p: Unchecked<IssueCommentPayload>): GiteaEvent {
  const repo = readRepo(p);
  const issue = readIssue(obj<GiteaIssue>(p.issue, 'issue'));
  const c = obj<GiteaComment>(p.comment, 'comment');
  const comment: CommentRef = {
    id: int(c, 'id', 'comment'),
    body: text(c, 'body', 'comment'),
    user: readUser(c.user, 'comment.user'),
    createdAt: str(c, 'created_at', 'comment'),
  };
  const isPull = p.is_pull === true || eventType === 'pull_request_comment' || issue.isPull;
  return { kind: 'comment', action, repo, issue: { ...issue, isPull }, isPull, comment, sender: readUser(p.sender, 'sender') };
}

function pullEvent(action: string, p: Unchecked<PullRequestPayload>): GiteaEvent {
  const repo = readRepo(p);
  const pr = obj<GiteaPullRequest>(p.pull_request, 'pull_request');
  const number = p.number === undefined ? positiveInt(pr, 'number', 'pull_request') : positiveInt(p, 'number', 'payload');
  const head = obj<GiteaPRBranch>(pr.head, 'pull_request.head');
  const headSha = str(head, 'sha', 'pull_request.head');
  const headRef = branchName(head);
  const sender = readUser(p.sender, 'sender');
  if (action === 'synchronized') return { kind: 'pr.synchronized', repo, number, headSha, headRef, sender };
  if (typeof pr.merged !== 'boolean') throw new PayloadError('pull_request.merged must be a boolean');
  const mergeCommitSha = typeof pr.merge_commit_sha === 'string' && pr.merge_commit_sha !== '' ? pr.merge_commit_sha : null;
  return { kind: 'pr.closed', repo, number, merged: pr.merged, headSha, headRef, mergeCommitSha, sender };
}

/** `head.ref` turns into `refs/pull/N/head` once the branch is deleted; `head.label` keeps the branch name (FACTS §c). */
function branchName(head: Unchecked<GiteaPRBranch>): string {
  const ref = str(head, 'ref', 'pull_request.head');
  if (/^refs\/pull\/\d+\/head$/.test(ref) && typeof head.label === 'string' && head.label !== '') return head.label;
  return ref;
}

/**
 * "owner/name" of the repository a payload names, read as routeWebhook reads it (repository.owner.login and
 * repository.name: what the intake then acts on), or null. Read before the signature is checked, to pick the key.
 */
export function payloadRepoFullName(payload: unknown): string | null {
  try {
    const r = obj<GiteaRepository>(obj<{ repository: GiteaRepository }>(payload, 'payload').repository, 'repository');
    return `${readUser(r.owner, 'repository.owner').login}/${str(r, 'name', 'repository')}`;
  } catch (e) {
    if (e instanceof PayloadError) return null;
    throw e;
  }
}

function readRepo(p: Unchecked<{ repository: GiteaRepository }>): RepoRef {
  const r = obj<GiteaRepository>(p.repository, 'repository');
  const owner = readUser(r.owner, 'repository.owner').login;
  const name = str(r, 'name', 'repository');
  return {
    id: int(r, 'id', 'repository'),
    owner,
    name,
    fullName: typeof r.full_name === 'string' && r.full_name !== '' ? r.full_name : `${owner}/${name}`,
    defaultBranch: text(r, 'default_branch', 'repository'),
    htmlUrl: str(r, 'html_url', 'repository'),
    cloneUrl: str(r, 'clone_url', 'repository'),
  };
}

function readIssue(i: Unchecked<GiteaIssue>): IssueRef {
  const state = str(i, 'state', 'issue');
  if (state !== 'open' && state !== 'closed') throw new PayloadError(`issue.state must be "open" or "closed", got "${state}"`);
  const prMeta = i.pull_request;
  if (prMeta !== undefined && prMeta !== null && !isObj(prMeta)) throw new PayloadError('issue.pull_request must be an object or null');
  const title = text(i, 'title', 'issue');
  if (title === '') throw new PayloadError('issue.title must be a non-empty string');
  return {
    number: positiveInt(i, 'number', 'issue'),
    title,
    body: text(i, 'body', 'issue'),
    state,
    htmlUrl: str(i, 'html_url', 'issue'),
    isPull: isObj(prMeta),
  };
}

function readLabelNames(issue: Unchecked<GiteaIssue>): string[] {
  const labels = issue.labels;
  if (labels === null || labels === undefined) return [];
  if (!Array.isArray(labels)) throw new PayloadError('issue.labels must be an array');
  return labels.map((l: unknown, n) => str(obj<GiteaLabel>(l, `issue.labels[${n}]`), 'name', `issue.labels[${n}]`));
}

function readUser(v: unknown, path: string): SenderRef {
  const u = obj<GiteaUser>(v, path);
  // gitea-actions has id -2, so any integer is a valid id.
  return { id: int(u, 'id', path), login: str(u, 'login', path) };
}

// ---- small checked readers over untrusted JSON ----

class PayloadError extends Error {}

/** An untrusted object expected to be a T: its field names are T's (so typos fail to compile), its values unchecked. */
type Unchecked<T> = { readonly [K in keyof T]?: unknown };

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj<T>(v: unknown, path: string): Unchecked<T> {
  if (!isObj(v)) throw new PayloadError(`${path} must be an object`);
  return v as Unchecked<T>;
}

/** A required non-empty string (a name: a NUL character in it is a bad payload). */
function str<T>(o: Unchecked<T>, key: keyof T & string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new PayloadError(`${path}.${key} must be a non-empty string`);
  if (v.includes('\u0000')) throw new PayloadError(`${path}.${key} must not contain a NUL character`);
  return v;
}

/**
 * A string that may be empty; null (Go's nil) reads as ''. Free text (a title, a body): NUL
 * characters are dropped, because PostgreSQL text cannot hold them and the story must not be lost.
 */
function text<T>(o: Unchecked<T>, key: keyof T & string, path: string): string {
  const v = o[key];
  if (v === null) return '';
  if (typeof v !== 'string') throw new PayloadError(`${path}.${key} must be a string`);
  return withoutNul(v);
}

/** Free text from Gitea (a webhook or an API answer) made storable: PostgreSQL text cannot hold NUL. */
export function withoutNul(s: string): string {
  return s.replaceAll('\u0000', '');
}

function int<T>(o: Unchecked<T>, key: keyof T & string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new PayloadError(`${path}.${key} must be an integer`);
  return v;
}

function positiveInt<T>(o: Unchecked<T>, key: keyof T & string, path: string): number {
  const v = int(o, key, path);
  if (v < 1) throw new PayloadError(`${path}.${key} must be a positive integer`);
  return v;
}
