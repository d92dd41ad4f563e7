import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deriveWebhookSecret } from '../../src/shared/signing.js';
import { ROOT } from './cli.js';
import type { LooseJson } from './looseJson.js';

/** Our own captures: what Gitea 1.26.3 sent `damascus serve` in the live loop (tests/live/support/captures.ts). */
export const CAPTURE_DIR = join(ROOT, 'tests', 'fixtures', 'gitea-1.26.3', 'webhooks');
/** Older third-party captures (go-playground/webhooks, woodpecker) beside the repo; absent in a bare clone. */
export const SHARED_WEBHOOK_DIR = process.env.GITEA_WEBHOOKS_DIR ?? join(ROOT, '..', 'shared', 'gitea', 'webhooks');
export const sharedCapturesPresent = existsSync(join(SHARED_WEBHOOK_DIR, 'manifest.tsv'));
/** Why the tests of the third-party captures are skipped, when they are. */
export const SHARED_ABSENT = `${SHARED_WEBHOOK_DIR} is absent: the tests of the older third-party captures are skipped (our own Gitea 1.26.3 captures still run)`;

export interface Fixture {
  file: string;
  event: string;
  eventType: string;
  payload: Record<string, unknown>;
}

/** One of our captures by file name (`issues.issues.opened.json`), with the headers Gitea sent. */
export function ownCapture(file: string): Fixture {
  const c = JSON.parse(readFileSync(join(CAPTURE_DIR, file), 'utf8')) as { headers: Record<string, string>; payload: Record<string, unknown> };
  return { file, event: c.headers['x-gitea-event']!, eventType: c.headers['x-gitea-event-type']!, payload: c.payload };
}

export function ownCaptures(): Fixture[] {
  return readdirSync(CAPTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map(ownCapture);
}

/** The third-party captures with the X-Gitea-Event / X-Gitea-Event-Type their manifest derives from Gitea's source; [] when absent. */
export function sharedCaptures(): Fixture[] {
  if (!sharedCapturesPresent) return [];
  const manifest = readFileSync(join(SHARED_WEBHOOK_DIR, 'manifest.tsv'), 'utf8').trim().split('\n').slice(1);
  const byFile = new Map(
    manifest.map((l) => {
      const [file, event, type] = l.split('\t');
      return [file!, { event: event!, eventType: type! }];
    }),
  );
  return readdirSync(SHARED_WEBHOOK_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const h = byFile.get(file);
      if (!h) throw new Error(`${file} is not in manifest.tsv`);
      return { file, ...h, payload: JSON.parse(readFileSync(join(SHARED_WEBHOOK_DIR, file), 'utf8')) };
    });
}

/** Every real payload at hand: ours, then the third-party ones when they are beside the repo. */
export function loadFixtures(): Fixture[] {
  return [...ownCaptures(), ...sharedCaptures()];
}

/** The headers Gitea sends (FACTS §a), with signatures over the exact body bytes. */
export function giteaHeaders(body: string, secret: string, event: string, eventType: string, delivery: string = randomUUID()): Record<string, string> {
  const sha256 = createHmac('sha256', secret).update(body).digest('hex');
  const sha1 = createHmac('sha1', secret).update(body).digest('hex');
  return {
    'content-type': 'application/json',
    'user-agent': 'Go-http-client/1.1',
    'x-gitea-delivery': delivery,
    'x-gogs-delivery': delivery,
    'x-github-delivery': delivery,
    'x-gitea-event': event,
    'x-gogs-event': event,
    'x-github-event': event,
    'x-gitea-event-type': eventType,
    'x-gogs-event-type': eventType,
    'x-github-event-type': eventType,
    'x-gitea-signature': sha256,
    'x-gogs-signature': sha256,
    'x-hub-signature': `sha1=${sha1}`,
    'x-hub-signature-256': `sha256=${sha256}`,
    'x-gitea-hook-installation-target-type': 'repository',
    'x-github-hook-installation-target-type': 'repository',
  };
}

/**
 * The secret Gitea signs a payload with once `damascus setup` installed the hook: the one derived from `master`
 * (DAMASCUS_WEBHOOK_SECRET) for the repository the payload names. '' when it names none.
 */
export function hookSecretFor(master: string, payload: unknown): string {
  const r = (payload as { repository?: { name?: unknown; owner?: { login?: unknown } } } | null)?.repository;
  return typeof r?.name === 'string' && typeof r.owner?.login === 'string' ? deriveWebhookSecret(master, `${r.owner.login}/${r.name}`) : '';
}

/** Gitea's body: 2-space indented JSON. */
export const giteaBody = (payload: unknown) => JSON.stringify(payload, null, 2);

/** An `issues` payload (IssuePayload) built on our Gitea 1.26.3 `issues`/opened capture. */
export function issuePayload(opts: {
  action: string;
  number: number;
  labels: string[];
  sender?: string;
  state?: 'open' | 'closed';
  repo?: string;
  repoId?: number;
  title?: string;
  body?: string;
}): Record<string, unknown> {
  const base = structuredClone(ownCapture('issues.issues.opened.json').payload) as LooseJson;
  const [owner, name] = (opts.repo ?? 'acme/widgets').split('/');
  base.action = opts.action;
  base.number = opts.number;
  base.issue.number = opts.number;
  base.issue.title = opts.title ?? `story ${opts.number}`;
  base.issue.body = opts.body ?? 'As a user I want a widget.';
  base.issue.state = opts.state ?? 'open';
  base.issue.html_url = `http://localhost:3000/${owner}/${name}/issues/${opts.number}`;
  base.issue.labels = opts.labels.map((l, i) => ({ id: 100 + i, name: l, exclusive: false, is_archived: false, color: 'ee0701', description: '', url: '' }));
  base.repository.id = opts.repoId ?? 1;
  base.repository.name = name;
  base.repository.full_name = `${owner}/${name}`;
  base.repository.owner.login = owner;
  base.repository.owner.username = owner;
  base.sender.login = opts.sender ?? 'alice';
  base.sender.username = opts.sender ?? 'alice';
  return base;
}

/** An `issue_comment` payload (IssueCommentPayload) on a plain issue, built on our `issue_comment`/created capture. */
export function commentPayload(opts: { number: number; body: string; sender?: string; commentId?: number; repo?: string }): Record<string, unknown> {
  const issue = issuePayload({ action: 'opened', number: opts.number, labels: [], sender: opts.sender, repo: opts.repo });
  const base = structuredClone(ownCapture('issue_comment.issue_comment.created.json').payload) as LooseJson;
  const at = new Date().toISOString();
  return {
    ...base,
    action: 'created',
    issue: issue.issue,
    comment: { ...base.comment, id: opts.commentId ?? Math.floor(Math.random() * 1e6), user: issue.sender, body: opts.body, created_at: at, updated_at: at },
    repository: issue.repository,
    sender: issue.sender,
    is_pull: false,
  };
}
